//! The basic operations both front doors offer: get, set, delete, mset and
//! flush (mget is `mget.rs`). Reads end in the read hook; writes are typed
//! [`Write`]s through [`Cache::apply`]. A client's miss is loaded from the
//! origin when there is one (`read_through.rs`): one branch on the miss path.

use bytes::Bytes;
use roost_ring::NodeId;

use super::{Cache, CacheHit, Change, Expiry, Found, Item, Origin, Write};
use crate::error::CacheError;
use crate::telemetry::Op;

impl Cache {
    pub async fn get(&self, key: &[u8]) -> Result<Option<CacheHit>, CacheError> {
        self.read(key, Origin::Client).await
    }

    /// A lookup on behalf of `origin`: counted as a request only for a client,
    /// seen by the read taps whoever asked.
    pub async fn read(&self, key: &[u8], origin: Origin) -> Result<Option<CacheHit>, CacheError> {
        let lookup = async {
            self.check_key(key)?;
            self.lookup_checked(key, origin).await
        };
        match origin {
            Origin::Client => self.timed(Op::Get, lookup).await,
            _ => lookup.await,
        }
    }

    /// [`Cache::get`] for a caller that needs only the bytes (RESP GET): the same
    /// checks and metrics, without the node id and TTL a [`CacheHit`]
    /// carries — resolving those costs a shared refcount and a clock read per hit.
    pub async fn get_value(&self, key: &[u8]) -> Result<Option<Bytes>, CacheError> {
        self.timed(Op::Get, async {
            self.check_key(key)?;
            let found = self.backend.get_value(key).await?;
            self.looked_up(key, Found::of(found.as_ref()), Origin::Client);
            match (found, &self.origin) {
                (None, Some(origin)) => Ok(self.load(origin, key).await?.into_value()),
                (found, _) => Ok(found.map(|stored| stored.value)),
            }
        })
        .await
    }

    /// [`Cache::get_value`] for several independent GETs at once (a RESP
    /// pipeline's): each key is checked, counted and answered on its own — a
    /// bad key fails only its own GET — while a Redis fleet asks each node
    /// once for the whole batch.
    pub async fn get_values<'k>(
        &self,
        keys: &'k [Bytes],
    ) -> Vec<Result<Option<Bytes>, CacheError>> {
        let check = |key: &'k Bytes| -> Result<&'k [u8], CacheError> {
            self.check_key(key)?;
            Ok(&key[..])
        };
        let run = |accepted: Vec<&'k [u8]>| async move {
            let found = self.backend.get_many(&accepted, false).await;
            let mut answers: Vec<Result<Option<Bytes>, CacheError>> = accepted
                .iter()
                .zip(found)
                .map(|(key, entry)| {
                    let entry = entry?;
                    self.looked_up(key, Found::of(entry.as_ref()), Origin::Client);
                    Ok(entry.map(|stored| stored.value))
                })
                .collect();
            if let Some(origin) = &self.origin {
                self.load_misses(origin, &accepted, &mut answers, |_, loaded| {
                    loaded.into_value()
                })
                .await;
            }
            answers
        };
        self.batched(Op::Get, Origin::Client, keys, check, run)
            .await
    }

    /// Stores `value` under `key`; answers the node that owns the key.
    pub async fn set(
        &self,
        key: Bytes,
        value: Bytes,
        expiry: Expiry,
    ) -> Result<NodeId, CacheError> {
        let owner = key.clone();
        self.put(key, value, expiry).await?;
        Ok(self.owner(&owner))
    }

    /// [`Cache::set`] for a caller that does not report the node (RESP SET).
    pub async fn put(&self, key: Bytes, value: Bytes, expiry: Expiry) -> Result<(), CacheError> {
        let change = Change::Put { key, value, expiry };
        self.apply(Write::client(change)).await.map(|_| ())
    }

    /// [`Cache::put`] for several plain sets at once (a RESP pipeline's): see
    /// [`Change::PutEach`].
    pub async fn put_many(
        &self,
        writes: Vec<(Bytes, Bytes, Expiry)>,
    ) -> Vec<Result<(), CacheError>> {
        let count = writes.len();
        let entries = writes
            .into_iter()
            .map(|(key, value, expiry)| Item { key, value, expiry })
            .collect();
        match self.apply(Write::client(Change::PutEach(entries))).await {
            Ok(applied) => applied.into_each(),
            Err(err) => vec![Err(err); count],
        }
    }

    /// Removes `key`; `true` when it was present.
    pub async fn delete(&self, key: &[u8]) -> Result<bool, CacheError> {
        let change = Change::Delete(Bytes::copy_from_slice(key));
        Ok(self.apply(Write::client(change)).await?.into_done())
    }

    /// Writes several entries. Every entry is validated before any is written,
    /// so a bad entry leaves the cache untouched.
    pub async fn mset(&self, entries: Vec<Item>) -> Result<usize, CacheError> {
        let applied = self.apply(Write::client(Change::Mset(entries))).await?;
        Ok(applied.into_count() as usize)
    }

    /// Removes every entry; returns how many were removed.
    pub async fn flush(&self) -> Result<u64, CacheError> {
        Ok(self.apply(Write::client(Change::Flush)).await?.into_count())
    }

    pub(super) async fn lookup_checked(
        &self,
        key: &[u8],
        origin: Origin,
    ) -> Result<Option<CacheHit>, CacheError> {
        let stored = self.backend.get(key).await?;
        self.looked_up(key, Found::of(stored.as_ref()), origin);
        match (stored, &self.origin, origin) {
            (None, Some(read_through), Origin::Client) => self.load_hit(read_through, key).await,
            (stored, _, _) => Ok(stored.map(|s| self.hit_of(key, s))),
        }
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
            rest_max_ttl: crate::config::MAX_TTL,
        };
        let metrics: Arc<crate::telemetry::Metrics> = Arc::default();
        let backend = Backend::Embedded(Embedded::new(config, clock, metrics.clone(), None));
        Cache::new(backend, limits, None, metrics)
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
            cache.metrics().node_op_counts().iter().sum::<u64>(),
            4,
            "routed: one set, three gets"
        );
    }
}
