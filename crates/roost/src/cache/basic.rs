//! The basic operations both front doors offer: get, set, delete, mget, mset and
//! flush. `mset` validates every entry before writing any.

use bytes::Bytes;
use roost_ring::NodeId;
use roost_store::UnixMillis;

use super::{Cache, CacheHit, Expiry, Write};
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

    pub async fn set(
        &self,
        key: Bytes,
        value: Bytes,
        expiry: Expiry,
    ) -> Result<NodeId, CacheError> {
        self.timed(Op::Set, async {
            let expires_at = self.check_write(&key, &value, expiry)?;
            self.store_checked(key, value, expires_at).await
        })
        .await
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

    /// Looks up several keys; the answer is in request order.
    pub async fn mget(&self, keys: &[Bytes]) -> Result<Vec<Option<CacheHit>>, CacheError> {
        let result = self
            .timed(Op::Mget, async {
                self.check_keys(keys)?;
                let mut found = Vec::with_capacity(keys.len());
                for key in keys {
                    found.push(self.lookup_checked(key).await?);
                }
                Ok(found)
            })
            .await;
        if let Ok(found) = &result {
            let hits = found.iter().filter(|f| f.is_some()).count() as u64;
            self.metrics.record_lookups(hits, found.len() as u64 - hits);
        }
        result
    }

    /// Writes several entries. Every entry is validated before any is written,
    /// so a bad entry leaves the cache untouched.
    pub async fn mset(&self, writes: Vec<Write>) -> Result<usize, CacheError> {
        self.timed(Op::Mset, async {
            let expiries = self.check_writes(&writes)?;
            let count = writes.len();
            for (w, expires_at) in writes.into_iter().zip(expiries) {
                self.store_checked(w.key, w.value, expires_at).await?;
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
    ) -> Result<NodeId, CacheError> {
        let node = self.route(&key)?;
        self.backend.set(node, key, value, expires_at).await?;
        Ok(self.node_id(node))
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
