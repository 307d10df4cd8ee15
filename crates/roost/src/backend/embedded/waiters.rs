//! Clients blocked on keys of the embedded store (BLPOP, BZPOPMIN …): each
//! waiter registers a `Notify` of its own under every key it waits on, and a
//! write to a list or sorted set wakes the waiters of its key. A wake is a
//! stored permit (`notify_one`), so one that lands between a waiter's
//! attempt and its wait is not lost. Every waiter of a key is woken and
//! tries again; whoever runs first takes the element (not necessarily the
//! longest waiting, as Redis would serve them).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub(super) struct Waiters {
    /// Waiters registered, so a write with nobody waiting skips the lock.
    count: AtomicUsize,
    keys: Mutex<HashMap<Bytes, Vec<Arc<Notify>>>>,
}

impl Waiters {
    /// Wakes every client waiting on `key`.
    pub(super) fn wake(&self, key: &[u8]) {
        if self.count.load(Ordering::Acquire) == 0 {
            return;
        }
        if let Some(waiting) = self.keys.lock().get(key) {
            waiting.iter().for_each(|n| n.notify_one());
        }
    }

    /// Registers a waiter on `keys` until the answer is dropped.
    pub(super) fn register<'a>(&'a self, keys: &[&[u8]]) -> Waiter<'a> {
        let notify = Arc::new(Notify::new());
        let keys: Vec<Bytes> = keys.iter().map(|k| Bytes::copy_from_slice(k)).collect();
        {
            let mut map = self.keys.lock();
            for key in &keys {
                map.entry(key.clone())
                    .or_default()
                    .push(Arc::clone(&notify));
            }
        }
        self.count.fetch_add(1, Ordering::AcqRel);
        Waiter {
            waiters: self,
            keys,
            notify,
        }
    }
}

/// One blocked client's registration; dropping it unregisters.
pub(super) struct Waiter<'a> {
    waiters: &'a Waiters,
    keys: Vec<Bytes>,
    notify: Arc<Notify>,
}

impl Waiter<'_> {
    /// Until a write to one of the keys (at once if one came since the last wait).
    pub(super) async fn woken(&self) {
        self.notify.notified().await;
    }
}

impl Drop for Waiter<'_> {
    fn drop(&mut self) {
        let mut map = self.waiters.keys.lock();
        for key in &self.keys {
            if let Some(waiting) = map.get_mut(key) {
                waiting.retain(|n| !Arc::ptr_eq(n, &self.notify));
                if waiting.is_empty() {
                    map.remove(key);
                }
            }
        }
        self.waiters.count.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wake_before_the_wait_is_kept_and_a_drop_unregisters() {
        let waiters = Waiters::default();
        let waiter = waiters.register(&[b"a", b"b"]);
        waiters.wake(b"b");
        tokio::time::timeout(std::time::Duration::from_secs(1), waiter.woken())
            .await
            .expect("the permit was kept");
        drop(waiter);
        assert!(waiters.keys.lock().is_empty());
        assert_eq!(waiters.count.load(Ordering::Acquire), 0);
    }
}
