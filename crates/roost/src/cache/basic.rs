//! The basic operations both front doors offer: get, set, delete, mset and
//! flush (mget is `mget.rs`). `mset` validates every entry before writing any.

use std::time::Instant;

use bytes::Bytes;
use roost_ring::NodeId;
use roost_store::UnixMillis;

use super::{Cache, CacheHit, Expiry, Write};
use crate::backend::SetEntry;
use crate::error::CacheError;
use crate::telemetry::Op;

impl Cache {
    pub async fn get(&self, key: &[u8]) -> Result<Option<CacheHit>, CacheError> {
        let result = self
            .timed(Op::Get, async {
                self.check_key(key)?;
                self.lookup_checked(key).await
            })
            .await;
        if let Ok(found) = &result {
            let hit = u64::from(found.is_some());
            self.metrics.record_lookups(hit, 1 - hit);
        }
        result
    }

    /// [`Cache::get`] for a caller that needs only the bytes (RESP GET): the same
    /// checks, routing and metrics, without the node id and TTL a [`CacheHit`]
    /// carries — resolving those costs a shared refcount and a clock read per hit.
    pub async fn get_value(&self, key: &[u8]) -> Result<Option<Bytes>, CacheError> {
        let result = self
            .timed(Op::Get, async {
                self.check_key(key)?;
                let node = self.route(key)?;
                self.backend.get_value(node, key).await
            })
            .await;
        if let Ok(found) = &result {
            let hit = u64::from(found.is_some());
            self.metrics.record_lookups(hit, 1 - hit);
        }
        result
    }

    /// [`Cache::get_value`] for several independent GETs at once (a RESP
    /// pipeline's): each key is checked, counted and answered on its own — a
    /// bad key fails only its own GET — while a Redis fleet asks each node
    /// once for the whole batch.
    pub async fn get_values<'k>(
        &self,
        keys: &'k [Bytes],
    ) -> Vec<Result<Option<Bytes>, CacheError>> {
        let check = |key: &'k Bytes| -> Result<(usize, &'k [u8]), CacheError> {
            self.check_key(key)?;
            Ok((self.route(key)?, &key[..]))
        };
        let run = |accepted: Vec<(usize, &'k [u8])>| async move {
            let (nodes, keys): (Vec<usize>, Vec<&[u8]>) = accepted.into_iter().unzip();
            let found = self.backend.get_many(&nodes, &keys, false).await;
            found
                .into_iter()
                .map(|entry| entry.map(|stored| stored.map(|s| s.value)))
                .collect()
        };
        let results = self.batched(Op::Get, keys, check, run).await;
        for found in results.iter().flatten() {
            let hit = u64::from(found.is_some());
            self.metrics.record_lookups(hit, 1 - hit);
        }
        results
    }

    pub async fn set(
        &self,
        key: Bytes,
        value: Bytes,
        expiry: Expiry,
    ) -> Result<NodeId, CacheError> {
        let node = self.put(key, value, expiry).await?;
        Ok(self.node_id(node))
    }

    /// [`Cache::set`] for a caller that does not report the node (RESP SET):
    /// returns the node's index, sparing the id's shared refcount.
    pub async fn put(&self, key: Bytes, value: Bytes, expiry: Expiry) -> Result<usize, CacheError> {
        self.timed(Op::Set, async {
            let expires_at = self.check_write(&key, &value, expiry)?;
            self.store_checked(key, value, expires_at).await
        })
        .await
    }

    /// [`Cache::put`] for several plain sets at once (a RESP pipeline's): each
    /// entry is checked, counted and answered on its own, while the embedded
    /// store takes each shard's lock once and a Redis fleet sends each node one
    /// request for all its keys. Keys must be distinct in front of Redis (the
    /// pipeline groups only distinct keys there); the embedded store stores
    /// repeated keys in order.
    pub async fn put_many(
        &self,
        writes: Vec<(Bytes, Bytes, Expiry)>,
    ) -> Vec<Result<(), CacheError>> {
        let check = |(key, value, expiry): (Bytes, Bytes, Expiry)| {
            let expires_at = self.check_write(&key, &value, expiry)?;
            Ok((self.route(&key)?, (key, value, expires_at)))
        };
        let run = |accepted: Vec<(usize, SetEntry)>| async move {
            let (nodes, entries): (Vec<usize>, Vec<_>) = accepted.into_iter().unzip();
            self.backend.set_many(&nodes, entries).await
        };
        self.batched(Op::Set, writes, check, run).await
    }

    /// Independent operations of one kind run as a batch: `check` accepts or
    /// rejects each item on its own, `run` does the accepted ones together
    /// (answers in their order), and each outcome is recorded under `op` with
    /// the batch's latency. Outcomes in item order.
    async fn batched<I, A, T, Fut>(
        &self,
        op: Op,
        items: impl IntoIterator<Item = I>,
        check: impl Fn(I) -> Result<A, CacheError>,
        run: impl FnOnce(Vec<A>) -> Fut,
    ) -> Vec<Result<T, CacheError>>
    where
        Fut: std::future::Future<Output = Vec<Result<T, CacheError>>>,
    {
        let start = Instant::now();
        let mut outcomes: Vec<Option<Result<T, CacheError>>> = Vec::new();
        let mut accepted = Vec::new();
        for item in items {
            match check(item) {
                Ok(item) => {
                    accepted.push(item);
                    outcomes.push(None);
                }
                Err(err) => outcomes.push(Some(Err(err))),
            }
        }
        let mut answers = run(accepted).await.into_iter();
        let elapsed = start.elapsed();
        outcomes
            .into_iter()
            .map(|early| {
                let outcome = early.unwrap_or_else(|| {
                    answers
                        .next()
                        .expect("invariant: one answer per accepted item")
                });
                self.metrics.record(op, outcome.is_ok(), elapsed);
                outcome
            })
            .collect()
    }

    /// Removes `key`; `true` when it was present.
    pub async fn delete(&self, key: &[u8]) -> Result<bool, CacheError> {
        self.timed(Op::Delete, async {
            self.check_key(key)?;
            let node = self.route(key)?;
            self.backend.delete(node, key).await
        })
        .await
    }

    /// Writes several entries. Every entry is validated before any is written,
    /// so a bad entry leaves the cache untouched.
    pub async fn mset(&self, writes: Vec<Write>) -> Result<usize, CacheError> {
        self.timed(Op::Mset, async {
            let expiries = self.check_writes(&writes)?;
            let count = writes.len();
            // A key given twice ends with its last value, as when written in
            // order; the batch below may write its keys concurrently.
            let mut last = std::collections::HashMap::with_capacity(count);
            for (i, w) in writes.iter().enumerate() {
                last.insert(w.key.clone(), i);
            }
            let mut nodes = Vec::with_capacity(count);
            let mut entries = Vec::with_capacity(count);
            for (i, (w, expires_at)) in writes.into_iter().zip(expiries).enumerate() {
                if last.get(&w.key) == Some(&i) {
                    nodes.push(self.route(&w.key)?);
                    entries.push((w.key, w.value, expires_at));
                }
            }
            for result in self.backend.set_many(&nodes, entries).await {
                result?;
            }
            Ok(count)
        })
        .await
    }

    /// Removes every entry; returns how many were removed.
    pub async fn flush(&self) -> Result<u64, CacheError> {
        let result = self.timed(Op::Flush, self.backend.flush()).await;
        if let Ok(removed) = result {
            tracing::warn!(removed, "cache flushed");
        }
        result
    }

    pub(super) async fn lookup_checked(&self, key: &[u8]) -> Result<Option<CacheHit>, CacheError> {
        let node = self.route(key)?;
        let stored = self.backend.get(node, key).await?;
        Ok(stored.map(|s| CacheHit {
            value: s.value,
            ttl: self.ttl_of(s.expires_at),
            node: self.node_id(node),
        }))
    }

    pub(super) async fn store_checked(
        &self,
        key: Bytes,
        value: Bytes,
        expires_at: Option<UnixMillis>,
    ) -> Result<usize, CacheError> {
        let node = self.route(&key)?;
        self.backend.set(node, key, value, expires_at).await?;
        Ok(node)
    }

    /// Validates a whole batch of writes; returns each entry's deadline.
    pub(super) fn check_writes(
        &self,
        writes: &[Write],
    ) -> Result<Vec<Option<UnixMillis>>, CacheError> {
        self.check_batch(writes.len())?;
        writes
            .iter()
            .map(|w| self.check_write(&w.key, &w.value, w.expiry))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::num::NonZeroUsize;
    use std::sync::Arc;
    use std::time::Duration;

    use roost_store::{ManualClock, StoreConfig};

    use super::*;
    use crate::backend::{Backend, Embedded};
    use crate::config::Limits;
    use crate::router::Router;

    fn cache() -> Cache {
        let config = StoreConfig {
            shards: NonZeroUsize::new(2).unwrap(),
            max_memory_bytes: 1 << 20,
            policy: roost_store::PolicyKind::default(),
        };
        let clock = Arc::new(ManualClock::new(1_000));
        let limits = Limits {
            max_key_bytes: 64,
            max_value_bytes: 1024,
            max_batch_keys: 10,
            max_body_bytes: 4096,
        };
        let backend = Backend::Embedded(Embedded::new(config, clock));
        Cache::new(
            Arc::new(Router::for_shards(2)),
            backend,
            limits,
            None,
            Arc::default(),
        )
    }

    #[tokio::test]
    async fn get_value_answers_and_counts_like_get() {
        let cache = cache();
        let expiry = Expiry::After(Duration::from_secs(5));
        cache
            .set(Bytes::from("k"), Bytes::from("v"), expiry)
            .await
            .unwrap();
        let hit = cache.get(b"k").await.unwrap().unwrap();
        assert_eq!(cache.get_value(b"k").await.unwrap(), Some(hit.value));
        assert_eq!(cache.get_value(b"absent").await.unwrap(), None);
        assert!(matches!(
            cache.get_value(b"").await,
            Err(CacheError::EmptyKey)
        ));
        let too_long = [b'x'; 65];
        assert!(cache.get_value(&too_long).await.is_err());
        assert_eq!((cache.metrics().hits(), cache.metrics().misses()), (2, 1));
        assert_eq!(cache.metrics().requests(Op::Get), (3, 2));
        assert_eq!(
            cache.node_ops().iter().sum::<u64>(),
            4,
            "routed: one set, three gets"
        );
    }
}
