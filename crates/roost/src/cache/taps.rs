//! What observes the Cache's traffic: read taps see every lookup of a value
//! (key, hit or miss, who asked), write taps every applied write (the typed
//! write, who caused it, and what it did). Hot-key tracking, prediction and a
//! cross-region replication log plug in here, and only here.
//!
//! Taps run inline on the request path after the operation: they must be
//! cheap and must not block (record into an atomic or a bounded buffer and let
//! a background task do the rest). With no taps installed, a request pays one
//! check of an empty list.

use std::fmt::Debug;
use std::sync::Arc;

use roost_store::UnixMillis;

use super::write::{Applied, Origin, Write};
use crate::error::CacheError;

/// Sees every lookup of a value: GET, MGET, GETEX and reads by internal callers.
pub trait ReadTap: Send + Sync + Debug {
    fn read(&self, key: &[u8], hit: bool, origin: Origin);

    /// After [`ReadTap::read`], for a client's hit whose deadline the read
    /// path knows (`expires_at`, unix ms; `now` from the backend's clock):
    /// refresh-ahead decides here. Only called when [`ReadTap::wants_deadlines`].
    fn hit_deadline(&self, _key: &[u8], _expires_at: UnixMillis, _now: UnixMillis) {}

    /// Whether [`ReadTap::hit_deadline`] does anything: without such a tap,
    /// a hit costs no clock read.
    fn wants_deadlines(&self) -> bool {
        false
    }
}

/// Sees every write after it was applied, or failed.
pub trait WriteTap: Send + Sync + Debug {
    fn write(&self, write: &Write, outcome: Result<&Applied, &CacheError>);
}

/// Where a region's acknowledged client writes go before the client is
/// answered (`crate::geo`'s durable change log). After a client write
/// succeeds, the Cache reads back every key it touched — the entry as stored,
/// a tombstone included, with its version — and hands those to `record`; the
/// write is acknowledged only when `record` resolves `Ok` (group commit is
/// the sink's business). An entry whose version another region stamped is
/// left out by the sink (it is that region's change, already in its log).
pub trait ChangeSink: Send + Sync + Debug {
    fn record(
        &self,
        entries: Vec<crate::backend::SetEntry>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), CacheError>> + Send + '_>>;

    /// Records `entries` with nobody waiting: the request that applied them
    /// was dropped (its client left, or its deadline passed) before its
    /// record was known to be in the log. The write stays applied here, so
    /// it must still reach the other regions; a record that was in fact
    /// already handed over is recorded twice, which applying by version
    /// makes harmless. Must not block: the caller is a `Drop`.
    fn record_detached(&self, entries: Vec<crate::backend::SetEntry>);
}

/// The taps a Cache tells; none by default.
#[derive(Debug, Default, Clone)]
pub struct Taps {
    pub reads: Vec<Arc<dyn ReadTap>>,
    pub writes: Vec<Arc<dyn WriteTap>>,
}

impl Taps {
    pub(super) fn read(&self, key: &[u8], hit: bool, origin: Origin) {
        for tap in &self.reads {
            tap.read(key, hit, origin);
        }
    }

    pub(super) fn watches_deadlines(&self) -> bool {
        self.reads.iter().any(|tap| tap.wants_deadlines())
    }

    pub(super) fn hit_deadline(&self, key: &[u8], expires_at: UnixMillis, now: UnixMillis) {
        for tap in &self.reads {
            tap.hit_deadline(key, expires_at, now);
        }
    }

    pub(super) fn watches_writes(&self) -> bool {
        !self.writes.is_empty()
    }

    pub(super) fn write(&self, write: &Write, outcome: Result<&Applied, &CacheError>) {
        for tap in &self.writes {
            tap.write(write, outcome);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use bytes::Bytes;
    use parking_lot::Mutex;
    use roost_store::ManualClock;

    use super::*;
    use crate::backend::RetimeCondition;
    use crate::cache::{Cache, Change, Expiry, Item, SetCondition, SetOptions};
    use crate::telemetry::Op;

    #[derive(Debug, Default)]
    struct Recorder {
        reads: Mutex<Vec<(Vec<u8>, bool, Origin)>>,
        writes: Mutex<Vec<(Write, bool)>>,
    }

    impl ReadTap for Recorder {
        fn read(&self, key: &[u8], hit: bool, origin: Origin) {
            self.reads.lock().push((key.to_vec(), hit, origin));
        }
    }

    impl WriteTap for Recorder {
        fn write(&self, write: &Write, outcome: Result<&Applied, &CacheError>) {
            self.writes.lock().push((write.clone(), outcome.is_ok()));
        }
    }

    fn tapped() -> (Cache, Arc<Recorder>) {
        let recorder = Arc::new(Recorder::default());
        let taps = Taps {
            reads: vec![recorder.clone()],
            writes: vec![recorder.clone()],
        };
        let clock = Arc::new(ManualClock::new(1_000));
        let cache = crate::cache::test_cache(clock).with_taps(taps);
        (cache, recorder)
    }

    fn b(text: &str) -> Bytes {
        Bytes::copy_from_slice(text.as_bytes())
    }

    #[tokio::test]
    async fn every_mutation_reaches_the_write_taps_once_with_its_origin() {
        let (cache, recorder) = tapped();
        let ttl = Expiry::After(Duration::from_secs(60));
        let entry = |k: &str| Item {
            key: b(k),
            value: b("1"),
            expiry: Expiry::Never,
        };
        cache.set(b("a"), b("1"), ttl).await.unwrap();
        cache.put(b("b"), b("2"), Expiry::Never).await.unwrap();
        let options = SetOptions {
            condition: SetCondition::IfAbsent,
            expiry: ttl,
            keep_ttl: false,
            returns_previous: false,
        };
        cache.set_with(b("c"), b("3"), options).await.unwrap();
        cache.put_many(vec![(b("d"), b("4"), Expiry::Never)]).await;
        cache.mset(vec![entry("e"), entry("f")]).await.unwrap();
        cache.msetnx(vec![entry("g")]).await.unwrap();
        cache.incr_by(b("n"), 2).await.unwrap();
        cache.append(b("a"), b"x").await.unwrap();
        cache.getex(b("a"), Some(Expiry::Never)).await.unwrap();
        let at = cache.deadline_in(60_000).unwrap();
        cache
            .expire_at(b("b"), at, RetimeCondition::Always)
            .await
            .unwrap();
        cache.persist(b("b")).await.unwrap();
        cache.getdel(b("c")).await.unwrap();
        cache.delete(b"d").await.unwrap();
        cache.delete_many(&[b("e"), b("f")]).await.unwrap();
        cache.flush().await.unwrap();
        let kinds: Vec<&'static str> = recorder
            .writes
            .lock()
            .iter()
            .map(|(write, ok)| {
                assert!(ok, "{write:?}");
                assert_eq!(write.origin, Origin::Client);
                match write.change {
                    Change::Put { .. } => "put",
                    Change::Set { .. } => "set",
                    Change::PutEach(_) => "put_each",
                    Change::Mset(_) => "mset",
                    Change::MsetNx(_) => "msetnx",
                    Change::Delete(_) => "delete",
                    Change::DeleteMany(_) => "delete_many",
                    Change::Take(_) => "take",
                    Change::Retime { .. } => "retime",
                    Change::ExpireAt { .. } => "expire_at",
                    Change::Persist(_) => "persist",
                    Change::IncrBy { .. } => "incr",
                    Change::Append { .. } => "append",
                    Change::Flush => "flush",
                    Change::Fill { .. } => "fill",
                    Change::Restore(_) => "restore",
                    Change::Replicate(_) => "replicate",
                    Change::DropOlder(_) => "drop_older",
                }
            })
            .collect();
        assert_eq!(
            kinds,
            [
                "put",
                "put",
                "set",
                "put_each",
                "mset",
                "msetnx",
                "incr",
                "append",
                "retime",
                "expire_at",
                "persist",
                "take",
                "delete",
                "delete_many",
                "flush"
            ]
        );
    }

    #[tokio::test]
    async fn every_lookup_reaches_the_read_hook_and_only_clients_are_counted() {
        let (cache, recorder) = tapped();
        cache.put(b("k"), b("v"), Expiry::Never).await.unwrap();
        cache.get(b"k").await.unwrap();
        cache.get_value(b"gone").await.unwrap();
        cache.get_values(&[b("k"), b("gone")]).await;
        let keys = [b("k"), b("gone")];
        let mut cursor = cache.mget_cursor(&keys).unwrap();
        while cache.mget_next(&mut cursor, &keys).await.is_some() {}
        cache.getex(b("k"), None).await.unwrap();
        assert_eq!((cache.metrics().hits(), cache.metrics().misses()), (4, 3));

        // Warming reads and writes are seen by the taps but are not requests.
        let requests = cache.metrics().requests(Op::Set);
        cache.read(b"k", Origin::Warming).await.unwrap();
        let warm = Write {
            change: Change::Put {
                key: b("w"),
                value: b("v"),
                expiry: Expiry::Never,
            },
            origin: Origin::Warming,
        };
        cache.apply(warm.clone()).await.unwrap();
        assert_eq!((cache.metrics().hits(), cache.metrics().misses()), (4, 3));
        assert_eq!(cache.metrics().requests(Op::Set), requests);

        let reads = recorder.reads.lock();
        let seen: Vec<(&[u8], bool, Origin)> =
            reads.iter().map(|(k, hit, o)| (&k[..], *hit, *o)).collect();
        let client = Origin::Client;
        assert_eq!(
            seen,
            [
                (&b"k"[..], true, client),
                (b"gone", false, client),
                (b"k", true, client),
                (b"gone", false, client),
                (b"k", true, client),
                (b"gone", false, client),
                (b"k", true, client),
                (b"k", true, Origin::Warming),
            ]
        );
        assert_eq!(recorder.writes.lock().last().unwrap().0, warm);
    }
}
