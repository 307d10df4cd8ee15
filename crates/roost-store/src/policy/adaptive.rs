//! The adaptive policy (hand-written): window-TinyLFU whose window size is chosen
//! continuously by miniature simulations of the candidate sizes, from a 1 % window
//! (frequency decides, scan resistant, Caffeine's default) up to the whole capacity
//! (strict LRU, for workloads where frequency is a negative signal). Owns the
//! adaptation to [`ShardMap`]: hashing keys, counting accesses in the sketch, feeding
//! the simulations, and applying their choice.
//!
//! A read that misses is usually followed by a write of the same key (cache-aside);
//! the sketch counts that pair as one access by remembering the last missed hash.
//! Reads take a mutex (a hit reorders lists, as in strict LRU); writers hold the
//! shard's write lock and reach the state without locking.

mod segments;
mod shadow;
mod sketch;

use std::hash::BuildHasher;

use bytes::Bytes;
use foldhash::fast::FixedState;
use parking_lot::Mutex;

use crate::policy::ShardMap;
use crate::weight::{entry_weight, stored_weight};
use crate::Entry;
use segments::WindowedLfu;
use shadow::WindowChooser;
use sketch::FrequencySketch;

/// Fixed so that hit ratios and evictions are the same on every run.
const HASH_SEED: u64 = 0x005E_ED0F_A110_CA7E;

/// The adaptive W-TinyLFU map bounded by stored weight.
pub(crate) struct AdaptiveMap {
    state: Mutex<AdaptiveState>,
}

struct AdaptiveState {
    map: WindowedLfu<Bytes, Entry>,
    sketch: FrequencySketch,
    chooser: WindowChooser,
    hasher: FixedState,
    /// The hash of the last read that missed, so its follow-up write is not counted twice.
    last_miss: Option<u64>,
}

impl AdaptiveMap {
    pub(crate) fn new(capacity_bytes: u64) -> AdaptiveMap {
        // Small entries are the common case for a cache tier; the estimate only sizes
        // the simulations' sample.
        let expected_entries = (capacity_bytes / entry_weight(16, 32)).max(1);
        let chooser = WindowChooser::new(capacity_bytes, expected_entries);
        AdaptiveMap {
            state: Mutex::new(AdaptiveState {
                map: WindowedLfu::new(capacity_bytes, chooser.window_per_mille()),
                sketch: FrequencySketch::with_capacity(expected_entries),
                chooser,
                hasher: FixedState::with_seed(HASH_SEED),
                last_miss: None,
            }),
        }
    }
}

impl AdaptiveState {
    fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }
}

impl ShardMap for AdaptiveMap {
    fn get(&self, key: &[u8]) -> Option<Entry> {
        let mut guard = self.state.lock();
        let state = &mut *guard;
        let hash = state.hash(key);
        state.sketch.increment(hash);
        let found = state
            .map
            .get(hash, key)
            .map(|(hit, weight)| (hit.clone(), weight));
        let resident_weight = found.as_ref().map(|&(_, weight)| weight);
        if let Some(window) = state.chooser.on_get(hash, resident_weight, &state.sketch) {
            state.map.set_window(window);
        }
        state.last_miss = found.is_none().then_some(hash);
        found.map(|(hit, _)| hit)
    }

    fn peek(&self, key: &[u8]) -> Option<Entry> {
        let state = self.state.lock();
        state.map.peek(state.hash(key), key).cloned()
    }

    fn insert(
        &mut self,
        key: Bytes,
        hit: Entry,
        _replacing: bool,
        evicted: &mut Vec<(Bytes, Entry)>,
    ) {
        let state = self.state.get_mut();
        let hash = state.hash(&key);
        if state.last_miss.take() != Some(hash) {
            state.sketch.increment(hash);
        }
        let weight = stored_weight(&key, &hit);
        state.chooser.on_insert(hash, weight, &state.sketch);
        state
            .map
            .insert(hash, key, hit, weight, &state.sketch, &mut |key, hit| {
                evicted.push((key, hit));
            });
        state.sketch.ensure_capacity(state.map.len());
    }

    fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let state = self.state.get_mut();
        let hash = state.hash(key);
        state.chooser.on_remove(hash);
        state.map.remove(hash, key).map(|(_, hit)| hit)
    }

    fn clear(&mut self) {
        let state = self.state.get_mut();
        state.map.clear();
        state.sketch.clear();
        state.chooser.clear();
        state.map.set_window(state.chooser.window_per_mille());
        state.last_miss = None;
    }

    fn for_each(&self, visit: &mut dyn FnMut(&Bytes, &Entry)) {
        self.state.lock().map.for_each(visit);
    }
}
