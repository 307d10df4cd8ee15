//! Space-Saving (Metwally, Agrawal, El Abbadi 2005) with exponential time
//! decay: a fixed number of counters, each a key (its hash and first
//! [`KEY_CAPTURE`] bytes), a count and the over-estimate it may carry. A
//! tracked key adds its weight; an untracked one takes over the smallest
//! counter, inheriting its count as the error bound. Decay multiplies every
//! count (and the total) by the same factor, which keeps the counters' order,
//! so the min-heap stays valid and the guarantees carry over to the decayed
//! stream: a key's count over-estimates its decayed weight by at most its
//! `error`, and every key whose decayed weight exceeds `total / capacity` is
//! tracked.
//!
//! Hand-written rather than the `heavykeeper` crate (0.7.2): its counts only
//! grow (its "decay" is HeavyKeeper's probabilistic decrement on collisions,
//! not ageing), so a key hot an hour ago would stay on top; emulating ageing
//! with rotating sketches would double the memory and make rates step.
//!
//! Pure: no time, no I/O, no locks; the fold task owns it.

use std::collections::HashMap;

use super::ring::KEY_CAPTURE;
use super::IdentityHash;

/// One counter.
#[derive(Debug, Clone)]
pub struct Counter {
    pub hash: u64,
    /// The whole key's length (the key is `key[..len.min(KEY_CAPTURE)]`).
    pub len: usize,
    pub key: [u8; KEY_CAPTURE],
    /// Decayed weight, an over-estimate by at most `error`.
    pub count: f64,
    pub error: f64,
}

impl Counter {
    pub fn key(&self) -> &[u8] {
        &self.key[..self.len.min(KEY_CAPTURE)]
    }
}

#[derive(Debug)]
pub struct TopK {
    capacity: usize,
    /// A binary min-heap on `count`.
    heap: Vec<Counter>,
    /// Hash → position in `heap`.
    index: HashMap<u64, usize, IdentityHash>,
    /// Decayed weight of everything recorded, tracked or not.
    total: f64,
}

impl TopK {
    /// A table of `capacity` counters (at least one), allocated up front.
    pub fn new(capacity: usize) -> TopK {
        let capacity = capacity.max(1);
        TopK {
            capacity,
            heap: Vec::with_capacity(capacity),
            index: HashMap::with_capacity_and_hasher(capacity, IdentityHash),
            total: 0.0,
        }
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Keys tracked now.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Decayed weight of all traffic recorded.
    pub fn total(&self) -> f64 {
        self.total
    }

    /// Adds `weight` to the key with this hash (`len` its whole length).
    pub fn record(&mut self, hash: u64, key: &[u8], len: usize, weight: f64) {
        self.total += weight;
        if let Some(&at) = self.index.get(&hash) {
            self.heap[at].count += weight;
            self.sift_down(at);
            return;
        }
        let mut counter = Counter {
            hash,
            len,
            key: [0; KEY_CAPTURE],
            count: weight,
            error: 0.0,
        };
        let kept = key.len().min(KEY_CAPTURE);
        counter.key[..kept].copy_from_slice(&key[..kept]);
        if self.heap.len() < self.capacity {
            self.heap.push(counter);
            let at = self.heap.len() - 1;
            self.index.insert(hash, at);
            self.sift_up(at);
            return;
        }
        // Take over the smallest counter: its count becomes the error bound.
        let evicted = &self.heap[0];
        self.index.remove(&evicted.hash);
        counter.error = evicted.count;
        counter.count += evicted.count;
        self.heap[0] = counter;
        self.index.insert(hash, 0);
        self.sift_down(0);
    }

    /// Adds traffic that no key is known for (samples lost before a fold):
    /// it counts in the total, so shares stay shares of all traffic.
    pub fn record_untracked(&mut self, weight: f64) {
        self.total += weight;
    }

    /// Multiplies every count by `factor` (in `0..=1`): ageing keeps the order.
    pub fn decay(&mut self, factor: f64) {
        for counter in &mut self.heap {
            counter.count *= factor;
            counter.error *= factor;
        }
        self.total *= factor;
    }

    /// The counters in no order.
    pub fn counters(&self) -> impl Iterator<Item = &Counter> {
        self.heap.iter()
    }

    /// The counters, largest count first.
    pub fn ranked(&self) -> Vec<&Counter> {
        let mut all: Vec<&Counter> = self.heap.iter().collect();
        all.sort_unstable_by(|a, b| b.count.total_cmp(&a.count));
        all
    }

    /// The smallest count tracked (0 while the table is not full): a key can
    /// hold this much by churn alone.
    pub fn floor(&self) -> f64 {
        if self.heap.len() < self.capacity {
            0.0
        } else {
            self.heap.first().map_or(0.0, |c| c.count)
        }
    }

    /// The counter of the key with this hash, if tracked.
    #[cfg(test)]
    pub fn get(&self, hash: u64) -> Option<&Counter> {
        self.index.get(&hash).map(|&at| &self.heap[at])
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.index.insert(self.heap[a].hash, a);
        self.index.insert(self.heap[b].hash, b);
    }

    fn sift_up(&mut self, mut at: usize) {
        while at > 0 {
            let parent = (at - 1) / 2;
            if self.heap[at].count >= self.heap[parent].count {
                break;
            }
            self.swap(at, parent);
            at = parent;
        }
    }

    fn sift_down(&mut self, mut at: usize) {
        loop {
            let (left, right) = (2 * at + 1, 2 * at + 2);
            let mut least = at;
            if left < self.heap.len() && self.heap[left].count < self.heap[least].count {
                least = left;
            }
            if right < self.heap.len() && self.heap[right].count < self.heap[least].count {
                least = right;
            }
            if least == at {
                return;
            }
            self.swap(at, least);
            at = least;
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn add(top: &mut TopK, key: u64, weight: f64) {
        top.record(key, &key.to_le_bytes(), 8, weight);
    }

    #[test]
    fn heavy_keys_survive_a_stream_of_distinct_ones() {
        let mut top = TopK::new(16);
        for i in 0..10_000u64 {
            add(&mut top, 1, 1.0);
            if i % 2 == 0 {
                add(&mut top, 2, 1.0);
            }
            add(&mut top, 1_000 + i, 1.0);
        }
        assert_eq!(top.len(), 16, "never more counters than the capacity");
        let ranked = top.ranked();
        assert_eq!((ranked[0].hash, ranked[1].hash), (1, 2));
        // Space-Saving's bound: the count over-estimates by at most the error.
        assert!(ranked[0].count - ranked[0].error <= 10_000.0);
        assert!(ranked[0].count >= 10_000.0);
        assert_eq!(top.total(), 25_000.0);
        assert_eq!(top.get(1).unwrap().key(), &1u64.to_le_bytes());
    }

    #[test]
    fn decay_lets_a_new_hot_key_overtake_an_old_one() {
        let mut top = TopK::new(8);
        add(&mut top, 1, 1_000.0);
        for _ in 0..10 {
            top.decay(0.5);
            add(&mut top, 2, 100.0);
        }
        let ranked = top.ranked();
        assert_eq!(ranked[0].hash, 2);
        assert!(ranked[1].count < 1.0, "{}", ranked[1].count);
        assert!((top.total() - (1_000.0 / 1024.0 + 199.8)).abs() < 0.1);
    }

    #[test]
    fn the_heap_stays_a_heap_under_churn() {
        let mut top = TopK::new(64);
        let mut x = 7u64;
        for _ in 0..50_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            add(&mut top, x % 300, (x % 5) as f64 + 1.0);
        }
        for at in 1..top.heap.len() {
            assert!(top.heap[(at - 1) / 2].count <= top.heap[at].count);
            assert_eq!(top.index[&top.heap[at].hash], at);
        }
        assert_eq!(top.floor(), top.heap[0].count);
    }
}
