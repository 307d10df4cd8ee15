//! Strict least-recently-used, backed by the `lru` crate: a hit moves the entry to
//! the front and the back is evicted until the weight fits. Owns the weight
//! bookkeeping the `lru` crate lacks (it only bounds entry counts, so it runs
//! unbounded here and this file enforces the byte capacity).

use bytes::Bytes;
use lru::LruCache;
use parking_lot::Mutex;

use crate::policy::ShardMap;
use crate::weight::stored_weight;
use crate::Entry;

/// An `lru::LruCache` bounded by stored weight.
pub(crate) struct LruMap {
    /// A mutex because an LRU hit reorders the list, so even `get` mutates; writers
    /// hold the shard's write lock and use `get_mut`, so only readers contend here.
    cache: Mutex<LruCache<Bytes, Entry>>,
    capacity_bytes: u64,
    used_bytes: u64,
}

impl LruMap {
    pub(crate) fn new(capacity_bytes: u64) -> LruMap {
        LruMap {
            cache: Mutex::new(LruCache::unbounded()),
            capacity_bytes,
            used_bytes: 0,
        }
    }
}

impl ShardMap for LruMap {
    fn get(&self, key: &[u8]) -> Option<Entry> {
        self.cache.lock().get(key).cloned()
    }

    fn peek(&self, key: &[u8]) -> Option<Entry> {
        self.cache.lock().peek(key).cloned()
    }

    fn insert(
        &mut self,
        key: Bytes,
        hit: Entry,
        _replacing: bool,
        evicted: &mut Vec<(Bytes, Entry)>,
    ) {
        let cache = self.cache.get_mut();
        let weight = stored_weight(&key, &hit);
        if let Some((old_key, old_hit)) = cache.push(key, hit) {
            // `push` on an unbounded cache only ever returns the replaced value.
            self.used_bytes -= stored_weight(&old_key, &old_hit);
        }
        self.used_bytes += weight;
        while self.used_bytes > self.capacity_bytes {
            let Some((lru_key, lru_hit)) = cache.pop_lru() else {
                break;
            };
            self.used_bytes -= stored_weight(&lru_key, &lru_hit);
            evicted.push((lru_key, lru_hit));
        }
    }

    fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let removed = self.cache.get_mut().pop(key)?;
        self.used_bytes -= stored_weight(key, &removed);
        Some(removed)
    }

    fn clear(&mut self) {
        self.cache.get_mut().clear();
        self.used_bytes = 0;
    }

    fn for_each(&self, visit: &mut dyn FnMut(&Bytes, &Entry)) {
        for (key, hit) in self.cache.lock().iter() {
            visit(key, hit);
        }
    }
}
