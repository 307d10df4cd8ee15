//! The embedded backend: `roost-store` shards in this process, one per ring
//! node, plus the background task that sweeps expired entries.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use roost_store::{Clock, Store, StoreConfig, UnixMillis};
use tokio_util::sync::CancellationToken;

use super::{NodeStats, Stored};
use crate::error::CacheError;

/// How many entries one sweep of one shard may visit, so a sweep never holds
/// a shard for long however many keys expire at once.
const SWEEP_VISITS_PER_SHARD: usize = 2_000;

#[derive(Debug)]
pub struct Embedded {
    store: Arc<Store>,
}

impl Embedded {
    pub fn new(config: StoreConfig, clock: Arc<dyn Clock>) -> Embedded {
        Embedded {
            store: Arc::new(Store::new(config, clock)),
        }
    }

    pub fn now_millis(&self) -> UnixMillis {
        self.store.now_millis()
    }

    fn shard(&self, node: usize) -> Result<&roost_store::Shard, CacheError> {
        self.store.shards().get(node).ok_or(CacheError::NoNode)
    }

    pub fn get(&self, node: usize, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        Ok(self.shard(node)?.get(key).map(|hit| Stored {
            value: hit.value,
            expires_at: hit.expires_at,
        }))
    }

    pub fn set(
        &self,
        node: usize,
        key: Bytes,
        value: Bytes,
        expires_at: Option<UnixMillis>,
    ) -> Result<(), CacheError> {
        Ok(self.shard(node)?.set(key, value, expires_at)?)
    }

    pub fn delete(&self, node: usize, key: &[u8]) -> Result<bool, CacheError> {
        Ok(self.shard(node)?.delete(key))
    }

    pub fn flush(&self) -> u64 {
        self.store.clear()
    }

    pub fn max_memory_bytes(&self) -> u64 {
        self.store.max_memory_bytes()
    }

    pub fn node_stats(&self) -> Vec<NodeStats> {
        self.store
            .shards()
            .iter()
            .map(|s| NodeStats {
                keys: s.len(),
                used_bytes: s.used_bytes(),
                capacity_bytes: s.capacity_bytes(),
                evictions: s.evictions(),
                expirations: s.expirations(),
            })
            .collect()
    }

    /// Removes expired entries every `interval` until `cancel` fires. Runs on
    /// the blocking pool's terms: each sweep is bounded per shard.
    pub async fn sweep_expired(&self, interval: Duration, cancel: CancellationToken) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let removed: usize = self
                .store
                .shards()
                .iter()
                .map(|s| s.sweep_expired(SWEEP_VISITS_PER_SHARD))
                .sum();
            if removed > 0 {
                tracing::debug!(removed, "expired entries swept");
            }
        }
    }
}
