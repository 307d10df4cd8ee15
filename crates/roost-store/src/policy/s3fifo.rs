//! The S3-FIFO-like policy, backed by `quick_cache`'s single-threaded cache (the
//! shard's lock already serialises writers, so the concurrent variant's internal
//! shards and locks would be pure overhead). Owns only the adaptation to
//! [`ShardMap`]: weights, and turning `quick_cache` eviction callbacks into the
//! `evicted` list. Note: `quick_cache` admits one entry only up to its main-queue
//! share of the capacity (97 %); a heavier entry that still fits the shard is
//! accepted and evicted at once, which the shard counts as an eviction.

use bytes::Bytes;
use quick_cache::unsync::Cache;
use quick_cache::{DefaultHashBuilder, Lifecycle, OptionsBuilder, Weighter};

use crate::policy::ShardMap;
use crate::weight::{entry_weight, stored_weight};
use crate::Entry;

/// Charges each entry its [`stored_weight`].
#[derive(Debug, Clone, Copy)]
struct StoredWeighter;

impl Weighter<Bytes, Entry> for StoredWeighter {
    fn weight(&self, key: &Bytes, hit: &Entry) -> u64 {
        stored_weight(key, hit)
    }
}

/// Collects every entry `quick_cache` takes out during one insert into the request
/// state, so the caller sees them after the call instead of inside a callback.
#[derive(Debug, Clone, Copy)]
struct EvictionCollector;

impl Lifecycle<Bytes, Entry> for EvictionCollector {
    type RequestState = Vec<(Bytes, Entry)>;

    fn on_evict(&self, taken_out: &mut Vec<(Bytes, Entry)>, key: Bytes, hit: Entry) {
        taken_out.push((key, hit));
    }
}

type QuickCache = Cache<Bytes, Entry, StoredWeighter, DefaultHashBuilder, EvictionCollector>;

/// A `quick_cache` bounded by stored weight.
pub(crate) struct S3FifoMap {
    cache: QuickCache,
}

impl S3FifoMap {
    pub(crate) fn new(capacity_bytes: u64) -> S3FifoMap {
        // quick_cache sizes its ghost queue (recently evicted keys) from the expected
        // entry count; small entries are the common case for a cache tier.
        let estimated_items = (capacity_bytes / entry_weight(16, 32)).max(1);
        let options = OptionsBuilder::new()
            .estimated_items_capacity(usize::try_from(estimated_items).unwrap_or(usize::MAX))
            .weight_capacity(capacity_bytes)
            .build()
            .expect("invariant: both required quick_cache options are set");
        S3FifoMap {
            cache: Cache::with_options(
                options,
                StoredWeighter,
                DefaultHashBuilder::default(),
                EvictionCollector,
            ),
        }
    }
}

impl ShardMap for S3FifoMap {
    fn get(&self, key: &[u8]) -> Option<Entry> {
        self.cache.get(key).cloned()
    }

    fn peek(&self, key: &[u8]) -> Option<Entry> {
        self.cache.peek(key).cloned()
    }

    fn insert(
        &mut self,
        key: Bytes,
        hit: Entry,
        replacing: bool,
        evicted: &mut Vec<(Bytes, Entry)>,
    ) {
        // quick_cache reports the replaced old value through the same callback as an
        // eviction; keep the key (a cheap refcount clone) to tell them apart.
        let replaced_key = replacing.then(|| key.clone());
        let mut taken_out = Vec::new();
        self.cache.insert_with_lifecycle(key, hit, &mut taken_out);
        if let Some(replaced_key) = replaced_key {
            if let Some(at) = taken_out.iter().position(|(k, _)| *k == replaced_key) {
                taken_out.swap_remove(at);
            }
        }
        evicted.append(&mut taken_out);
    }

    fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        self.cache.remove(key).map(|(_, hit)| hit)
    }

    fn clear(&mut self) {
        self.cache.clear();
    }

    fn for_each(&self, visit: &mut dyn FnMut(&Bytes, &Entry)) {
        for (key, hit) in self.cache.iter() {
            visit(key, hit);
        }
    }
}
