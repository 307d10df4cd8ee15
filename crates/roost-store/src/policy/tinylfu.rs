//! The window-TinyLFU policy, backed by `moka`'s sync cache. Owns the adaptation
//! to [`ShardMap`]: `moka` applies its policy in deferred housekeeping, so every
//! write runs the pending tasks before returning, which is what keeps the shard
//! within its capacity at all times (at a throughput cost that the bench shows).
//! `moka` has no peek that skips its frequency sketch, so `peek` here counts as an
//! access; and its weigher is `u32`, so an entry above 4 GiB is charged 4 GiB.

use std::sync::Arc;

use bytes::Bytes;
use moka::notification::RemovalCause;
use moka::sync::Cache;
use parking_lot::Mutex;

use crate::policy::ShardMap;
use crate::weight::stored_weight;
use crate::Entry;

/// A `moka` cache bounded by stored weight.
pub(crate) struct TinyLfuMap {
    cache: Cache<Bytes, Entry>,
    /// Entries `moka` evicted for size, filled by its listener during housekeeping.
    size_evicted: Arc<Mutex<Vec<(Bytes, Entry)>>>,
}

impl TinyLfuMap {
    pub(crate) fn new(capacity_bytes: u64) -> TinyLfuMap {
        let size_evicted = Arc::new(Mutex::new(Vec::new()));
        let listener_sink = Arc::clone(&size_evicted);
        let cache = Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|key: &Bytes, hit: &Entry| {
                u32::try_from(stored_weight(key, hit)).unwrap_or(u32::MAX)
            })
            .eviction_listener(move |key: Arc<Bytes>, hit: Entry, cause| {
                // Replaced and Explicit removals are the shard's own doing; Expired never
                // happens because moka is given no TTL.
                if cause == RemovalCause::Size {
                    listener_sink.lock().push((Bytes::clone(&key), hit));
                }
            })
            .build();
        TinyLfuMap {
            cache,
            size_evicted,
        }
    }
}

impl ShardMap for TinyLfuMap {
    fn get(&self, key: &[u8]) -> Option<Entry> {
        self.cache.get(key)
    }

    fn peek(&self, key: &[u8]) -> Option<Entry> {
        self.cache.get(key)
    }

    fn insert(
        &mut self,
        key: Bytes,
        hit: Entry,
        _replacing: bool,
        evicted: &mut Vec<(Bytes, Entry)>,
    ) {
        self.cache.insert(key, hit);
        self.cache.run_pending_tasks();
        evicted.append(&mut self.size_evicted.lock());
    }

    fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let removed = self.cache.remove(key);
        self.cache.run_pending_tasks();
        removed
    }

    fn clear(&mut self) {
        self.cache.invalidate_all();
        self.cache.run_pending_tasks();
        self.size_evicted.lock().clear();
    }

    fn for_each(&self, visit: &mut dyn FnMut(&Bytes, &Entry)) {
        for (key, hit) in self.cache.iter() {
            visit(&key, &hit);
        }
    }
}
