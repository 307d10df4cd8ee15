//! The keys clients wrote while a snapshot loads, so the load never undoes
//! them. A restore stores only where a key holds no live value; without this,
//! a key a client deleted (or set with a TTL that already ran out) during the
//! load would come back with its old value from a later block.
//!
//! While a [`LoadFence`] watches, every client write records the keys it
//! touches *before* it is applied, and each restored block drops those keys
//! under the same lock it is stored under: a client write either lands
//! before the block (its key is filtered out) or after it (and overrides the
//! restored value itself). A flush, whose keys are unknown, breaks the fence,
//! as does a set past [`MAX_KEYS`] keys or [`MAX_KEY_BYTES`] bytes: the load
//! then stops at its next block (it keeps what came before) instead of
//! growing the set without limit.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use roost_store::AbsentInserts;

use super::write::Change;
use crate::backend::SetEntry;

/// The most keys recorded before the fence breaks and the load stops.
pub const MAX_KEYS: usize = 1_000_000;
/// The most key bytes recorded before the fence breaks and the load stops.
pub const MAX_KEY_BYTES: usize = 64 << 20;

/// Client-written keys during a snapshot load; see the module docs.
#[derive(Debug)]
pub struct LoadFence {
    /// Whether client writes must be recorded: one atomic load per client
    /// write once the load has ended.
    watching: AtomicBool,
    state: Mutex<State>,
}

#[derive(Debug)]
enum State {
    Watching {
        keys: HashSet<Bytes>,
        bytes: usize,
    },
    /// A client write the fence cannot follow: the load must stop.
    Broken(String),
    /// The load has ended.
    Off,
}

impl LoadFence {
    /// A fence that watches from now on, until [`LoadFence::finish`].
    pub fn new() -> LoadFence {
        LoadFence {
            watching: AtomicBool::new(true),
            state: Mutex::new(State::Watching {
                keys: HashSet::new(),
                bytes: 0,
            }),
        }
    }

    /// Records the keys of a client write about to be applied; a flush (or a
    /// set past its bound) breaks the fence.
    pub(super) fn client_write(&self, change: &Change) {
        if !self.watching.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.state.lock();
        let State::Watching { keys, bytes } = &mut *state else {
            return;
        };
        if matches!(change, Change::Flush) {
            *state = State::Broken("a client flushed the cache during the load".to_owned());
            return;
        }
        let mut over = false;
        change.each_key(|key| {
            if over || keys.contains(key) {
                return;
            }
            *bytes += key.len();
            keys.insert(Bytes::copy_from_slice(key));
            over = keys.len() > MAX_KEYS || *bytes > MAX_KEY_BYTES;
        });
        if over {
            *state = State::Broken(format!(
                "clients wrote more than {MAX_KEYS} keys or {} MiB of keys during the load",
                MAX_KEY_BYTES >> 20
            ));
        }
    }

    /// Restores `entries` through `restore`, minus the keys clients wrote
    /// (counted as `present`: a client's value, or its delete, wins), all
    /// under the fence's lock. A broken fence restores nothing.
    pub(super) fn restore(
        &self,
        entries: Vec<SetEntry>,
        restore: impl FnOnce(Vec<SetEntry>) -> AbsentInserts,
    ) -> AbsentInserts {
        let state = self.state.lock();
        match &*state {
            State::Off => restore(entries),
            State::Broken(_) => AbsentInserts {
                present: entries.len() as u64,
                ..AbsentInserts::default()
            },
            State::Watching { keys, .. } => {
                let count = entries.len() as u64;
                let kept: Vec<SetEntry> = if keys.is_empty() {
                    entries
                } else {
                    entries
                        .into_iter()
                        .filter(|(key, _)| !keys.contains(key))
                        .collect()
                };
                let dropped = count - kept.len() as u64;
                let mut done = restore(kept);
                done.present += dropped;
                done
            }
        }
    }

    /// Why the load must stop, once a client write broke the fence.
    pub fn broken(&self) -> Option<String> {
        match &*self.state.lock() {
            State::Broken(why) => Some(why.clone()),
            _ => None,
        }
    }

    /// The load has ended: stop recording and free the keys.
    pub fn finish(&self) {
        self.watching.store(false, Ordering::Release);
        *self.state.lock() = State::Off;
    }
}

impl Default for LoadFence {
    fn default() -> LoadFence {
        LoadFence::new()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use roost_store::ManualClock;

    use super::*;
    use crate::backend::Stored;
    use crate::cache::{Cache, Expiry, Origin, Write};

    fn fenced() -> (Cache, Arc<LoadFence>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_000));
        let fence = Arc::new(LoadFence::new());
        let cache = crate::cache::test_cache(clock.clone()).with_load_fence(fence.clone());
        (cache, fence, clock)
    }

    fn b(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    async fn restore(cache: &Cache, keys: &[&str]) -> AbsentInserts {
        let entries = keys
            .iter()
            .map(|k| (b(k), Stored::new(b("old"), None)))
            .collect();
        let write = Write {
            change: Change::Restore(entries),
            origin: Origin::Warming,
        };
        cache.apply(write).await.unwrap().into_restored()
    }

    #[tokio::test]
    async fn keys_clients_deleted_or_let_expire_are_not_restored() {
        let (cache, fence, clock) = fenced();
        cache.delete(b"deleted").await.unwrap();
        let ttl = Expiry::After(Duration::from_secs(1));
        cache.set(b("expired"), b("new"), ttl).await.unwrap();
        clock.advance(Duration::from_secs(2));
        let done = restore(&cache, &["deleted", "expired", "other"]).await;
        assert_eq!((done.inserted, done.present), (1, 2));
        assert_eq!(cache.get_value(b"deleted").await.unwrap(), None);
        assert_eq!(cache.get_value(b"expired").await.unwrap(), None);
        assert_eq!(cache.get_value(b"other").await.unwrap(), Some(b("old")));
        assert_eq!(fence.broken(), None);

        // Once the load has ended, client writes are no longer recorded.
        fence.finish();
        cache.delete(b"late").await.unwrap();
        assert_eq!(restore(&cache, &["deleted", "late"]).await.inserted, 2);
    }

    #[tokio::test]
    async fn a_flush_breaks_the_fence_and_nothing_more_is_restored() {
        let (cache, fence, _) = fenced();
        assert_eq!(restore(&cache, &["a"]).await.inserted, 1);
        cache.flush().await.unwrap();
        assert!(fence.broken().unwrap().contains("flushed"));
        let done = restore(&cache, &["a", "b"]).await;
        assert_eq!((done.inserted, done.present), (0, 2));
        assert_eq!(cache.get_value(b"a").await.unwrap(), None);
    }

    #[test]
    fn past_its_bound_the_fence_breaks_and_frees_its_keys() {
        let fence = LoadFence::new();
        for i in 0..=MAX_KEYS {
            let key = Bytes::from(format!("k{i}"));
            fence.client_write(&Change::Delete(key));
        }
        assert!(fence.broken().unwrap().contains("more than"));
        assert!(matches!(*fence.state.lock(), State::Broken(_)));
    }
}
