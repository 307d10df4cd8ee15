//! Window-TinyLFU over byte weights, with a window size that can be changed at any
//! time: a recency window (LRU) in front of a segmented LRU main space (probation and
//! protected). A new entry enters the window; an entry the window pushes out duels
//! with main's next victim and the one the frequency sketch has seen less often is
//! evicted. A window of the whole capacity is strict LRU; a 1 % window is Caffeine's
//! default W-TinyLFU. Generic over key and value so the same code runs the real map
//! and the key-only miniature simulations that pick the window size.
//!
//! Storage: nodes live densely in one `Vec` (a removal moves the last node into the
//! hole), linked into three lists by `u32` indices; a `hashbrown::HashTable<u32>`
//! finds a node by its key's hash. Owns neither the sketch nor the window choice.

use std::borrow::Borrow;

use hashbrown::HashTable;

use super::sketch::FrequencySketch;

/// The end of a list.
const NIL: u32 = u32::MAX;

/// Per mille of main space kept for entries hit twice.
const PROTECTED_PER_MILLE: u64 = 800;

/// A candidate at least this frequent that loses its duel is still admitted with
/// probability 1/`JITTER_ODDS`, so an attacker cannot pin main's victim forever by
/// keeping its counter high (Caffeine's hash-flooding guard).
const JITTER_MIN_FREQUENCY: u8 = 6;
const JITTER_ODDS: u64 = 128;

/// Entries moved from an oversized window into probation per write when main still
/// has room, so shrinking the window never costs one write O(n).
const MIGRATIONS_PER_WRITE: usize = 4;

/// Which list a node is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Segment {
    Window = 0,
    Probation = 1,
    Protected = 2,
}

#[derive(Debug, Clone, Copy)]
struct Links {
    prev: u32,
    next: u32,
}

#[derive(Debug)]
struct Node<K, V> {
    key: K,
    value: V,
    hash: u64,
    weight: u64,
    links: Links,
    segment: Segment,
}

/// A doubly linked list of node indices: `head` is most recent, `tail` the next victim.
#[derive(Debug, Clone, Copy)]
struct List {
    head: u32,
    tail: u32,
    bytes: u64,
}

impl List {
    const EMPTY: List = List {
        head: NIL,
        tail: NIL,
        bytes: 0,
    };
}

/// A W-TinyLFU map bounded by the sum of its entries' weights.
#[derive(Debug)]
pub(super) struct WindowedLfu<K, V> {
    nodes: Vec<Node<K, V>>,
    index: HashTable<u32>,
    lists: [List; 3],
    capacity: u64,
    window_quota: u64,
    protected_quota: u64,
    /// xorshift state for the admission jitter; fixed seed, so replays are repeatable.
    rng: u64,
}

impl<K, V> WindowedLfu<K, V> {
    /// An empty map holding at most `capacity` weight, `window_per_mille` of it windowed.
    pub(super) fn new(capacity: u64, window_per_mille: u64) -> WindowedLfu<K, V> {
        let mut map = WindowedLfu {
            nodes: Vec::new(),
            index: HashTable::new(),
            lists: [List::EMPTY; 3],
            capacity,
            window_quota: 0,
            protected_quota: 0,
            rng: 0x2545_F491_4F6C_DD1D,
        };
        map.set_window(window_per_mille);
        map
    }

    /// Resizes the window to `per_mille` of the capacity; entries move lazily.
    pub(super) fn set_window(&mut self, per_mille: u64) {
        self.window_quota = share(self.capacity, per_mille.min(1000));
        self.protected_quota = share(self.capacity - self.window_quota, PROTECTED_PER_MILLE);
    }

    pub(super) fn len(&self) -> usize {
        self.nodes.len()
    }

    /// The summed weight of the resident entries.
    pub(super) fn used(&self) -> u64 {
        self.lists.iter().map(|list| list.bytes).sum()
    }

    /// Finds `key` and records the hit in the lists (not in the sketch); returns the
    /// value and its weight.
    pub(super) fn get<Q>(&mut self, hash: u64, key: &Q) -> Option<(&V, u64)>
    where
        K: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        let at = self.find(hash, key)?;
        self.touch(at);
        let node = &self.nodes[at as usize];
        Some((&node.value, node.weight))
    }

    /// Finds `key` without recording anything.
    pub(super) fn peek<Q>(&self, hash: u64, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        let at = self.find(hash, key)?;
        Some(&self.nodes[at as usize].value)
    }

    /// Inserts or replaces `key` (a replacement is a hit and never reported), then
    /// evicts until the weights fit, passing every evicted entry to `evicted`.
    pub(super) fn insert(
        &mut self,
        hash: u64,
        key: K,
        value: V,
        weight: u64,
        sketch: &FrequencySketch,
        evicted: &mut impl FnMut(K, V),
    ) where
        K: PartialEq,
    {
        if let Some(at) = self.find(hash, &key) {
            let node = &mut self.nodes[at as usize];
            node.value = value;
            let old_weight = std::mem::replace(&mut node.weight, weight);
            let list = &mut self.lists[node.segment as usize];
            list.bytes = list.bytes - old_weight + weight;
            self.touch(at);
        } else {
            let at = u32::try_from(self.nodes.len()).expect("invariant: under 2^32 entries");
            self.nodes.push(Node {
                key,
                value,
                hash,
                weight,
                links: Links {
                    prev: NIL,
                    next: NIL,
                },
                segment: Segment::Window,
            });
            let nodes = &self.nodes;
            self.index
                .insert_unique(hash, at, |&i| nodes[i as usize].hash);
            self.push_head(Segment::Window, at);
        }
        self.make_room(sketch, evicted);
    }

    /// Removes `key`, returning its entry.
    pub(super) fn remove<Q>(&mut self, hash: u64, key: &Q) -> Option<(K, V)>
    where
        K: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        let at = self.find(hash, key)?;
        Some(self.take(at))
    }

    pub(super) fn clear(&mut self) {
        self.nodes.clear();
        self.index.clear();
        self.lists = [List::EMPTY; 3];
    }

    pub(super) fn for_each(&self, visit: &mut dyn FnMut(&K, &V)) {
        for node in &self.nodes {
            visit(&node.key, &node.value);
        }
    }

    fn find<Q>(&self, hash: u64, key: &Q) -> Option<u32>
    where
        K: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        let nodes = &self.nodes;
        self.index
            .find(hash, |&i| nodes[i as usize].key.borrow() == key)
            .copied()
    }

    /// A hit: window entries, and main entries while the window is under its quota
    /// (it was just grown), move to the window's head; otherwise a probation entry is
    /// promoted to protected (demoting protected's tail while protected is too big) and
    /// a protected one moves to its head. Filling a grown window with the entries being
    /// hit makes main's leftovers the next victims, so a switch to a whole-capacity
    /// window behaves as strict LRU at once instead of after main has drained.
    fn touch(&mut self, at: u32) {
        let segment = self.nodes[at as usize].segment;
        self.unlink(at);
        let window = self.lists[Segment::Window as usize].bytes;
        let window_has_room = window + self.nodes[at as usize].weight <= self.window_quota;
        match segment {
            Segment::Window => self.push_head(Segment::Window, at),
            _ if window_has_room => self.push_head(Segment::Window, at),
            Segment::Probation | Segment::Protected => {
                self.push_head(Segment::Protected, at);
                self.demote_protected_overflow();
            }
        }
    }

    fn demote_protected_overflow(&mut self) {
        while self.lists[Segment::Protected as usize].bytes > self.protected_quota {
            let tail = self.lists[Segment::Protected as usize].tail;
            if tail == NIL {
                break;
            }
            self.unlink(tail);
            self.push_head(Segment::Probation, tail);
        }
    }

    /// Evicts until the weights fit: while the window is over its quota its tail is
    /// the candidate and duels with main's tail; otherwise main's tail goes directly.
    fn make_room(&mut self, sketch: &FrequencySketch, evicted: &mut impl FnMut(K, V)) {
        while self.used() > self.capacity {
            let victim = self.main_victim();
            let window_tail = self.lists[Segment::Window as usize].tail;
            let window_over = self.lists[Segment::Window as usize].bytes > self.window_quota;
            let doomed = if victim == NIL {
                window_tail
            } else if window_over && window_tail != NIL {
                if self.admit(sketch, window_tail, victim) {
                    self.unlink(window_tail);
                    self.push_head(Segment::Probation, window_tail);
                    victim
                } else {
                    window_tail
                }
            } else {
                victim
            };
            if doomed == NIL {
                break;
            }
            let (key, value) = self.take(doomed);
            evicted(key, value);
        }
        for _ in 0..MIGRATIONS_PER_WRITE {
            let window = self.lists[Segment::Window as usize];
            if window.bytes <= self.window_quota || window.tail == NIL {
                break;
            }
            self.unlink(window.tail);
            self.push_head(Segment::Probation, window.tail);
        }
    }

    /// Main's next victim: probation's tail, else protected's, else `NIL`.
    fn main_victim(&self) -> u32 {
        let probation = self.lists[Segment::Probation as usize].tail;
        if probation != NIL {
            probation
        } else {
            self.lists[Segment::Protected as usize].tail
        }
    }

    /// TinyLFU admission: the candidate wins when the sketch saw it more often.
    fn admit(&mut self, sketch: &FrequencySketch, candidate: u32, victim: u32) -> bool {
        let candidate_frequency = sketch.frequency(self.nodes[candidate as usize].hash);
        let victim_frequency = sketch.frequency(self.nodes[victim as usize].hash);
        if candidate_frequency > victim_frequency {
            return true;
        }
        candidate_frequency >= JITTER_MIN_FREQUENCY && self.next_random() % JITTER_ODDS == 0
    }

    fn next_random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }

    /// Unlinks and removes node `at`; the last node moves into its slot.
    fn take(&mut self, at: u32) -> (K, V) {
        self.unlink(at);
        let hash = self.nodes[at as usize].hash;
        if let Ok(entry) = self.index.find_entry(hash, |&i| i == at) {
            entry.remove();
        }
        let last = u32::try_from(self.nodes.len() - 1).expect("invariant: under 2^32 entries");
        if last != at {
            let moved_hash = self.nodes[last as usize].hash;
            if let Some(slot) = self.index.find_mut(moved_hash, |&i| i == last) {
                *slot = at;
            }
            let Links { prev, next } = self.nodes[last as usize].links;
            let segment = self.nodes[last as usize].segment as usize;
            match prev {
                NIL => self.lists[segment].head = at,
                prev => self.nodes[prev as usize].links.next = at,
            }
            match next {
                NIL => self.lists[segment].tail = at,
                next => self.nodes[next as usize].links.prev = at,
            }
        }
        let node = self.nodes.swap_remove(at as usize);
        (node.key, node.value)
    }

    fn unlink(&mut self, at: u32) {
        let node = &self.nodes[at as usize];
        let Links { prev, next } = node.links;
        let (segment, weight) = (node.segment as usize, node.weight);
        match prev {
            NIL => self.lists[segment].head = next,
            prev => self.nodes[prev as usize].links.next = next,
        }
        match next {
            NIL => self.lists[segment].tail = prev,
            next => self.nodes[next as usize].links.prev = prev,
        }
        self.lists[segment].bytes -= weight;
    }

    fn push_head(&mut self, segment: Segment, at: u32) {
        let list = &mut self.lists[segment as usize];
        let old_head = list.head;
        list.head = at;
        if old_head == NIL {
            list.tail = at;
        }
        list.bytes += self.nodes[at as usize].weight;
        if old_head != NIL {
            self.nodes[old_head as usize].links.prev = at;
        }
        let node = &mut self.nodes[at as usize];
        node.links = Links {
            prev: NIL,
            next: old_head,
        };
        node.segment = segment;
    }
}

/// `per_mille` thousandths of `total`, without overflow.
fn share(total: u64, per_mille: u64) -> u64 {
    (u128::from(total) * u128::from(per_mille) / 1000) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Inserts `key` (weight 1) and returns what was evicted.
    fn put(map: &mut WindowedLfu<u64, ()>, sketch: &mut FrequencySketch, key: u64) -> Vec<u64> {
        let mut evicted = Vec::new();
        sketch.increment(key);
        map.insert(key, key, (), 1, sketch, &mut |key, ()| evicted.push(key));
        evicted
    }

    #[test]
    fn a_whole_capacity_window_is_strict_lru() {
        let mut sketch = FrequencySketch::with_capacity(16);
        let mut map = WindowedLfu::new(3, 1000);
        for key in [1, 2, 3] {
            assert!(put(&mut map, &mut sketch, key).is_empty());
        }
        assert!(map.get(1, &1).is_some());
        assert_eq!(put(&mut map, &mut sketch, 4), vec![2]);
        assert_eq!(put(&mut map, &mut sketch, 5), vec![3]);
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn a_grown_window_takes_main_hits_so_eviction_is_lru_at_once() {
        let mut sketch = FrequencySketch::with_capacity(16);
        // One-entry window: 1 stays in main (probation) once 2, 3, 4 arrive.
        let mut map = WindowedLfu::new(4, 250);
        for key in [1, 2, 3, 4] {
            assert!(put(&mut map, &mut sketch, key).is_empty());
        }
        map.set_window(1000);
        assert!(map.get(1, &1).is_some());
        let evicted: Vec<u64> = (5..9)
            .flat_map(|key| put(&mut map, &mut sketch, key))
            .collect();
        // Strict LRU order after the hit on 1: 2, 3, 4, 1 (main would have kept 1
        // in protected and evicted it before 4).
        assert_eq!(evicted, vec![2, 3, 4, 1]);
    }

    #[test]
    fn a_small_window_keeps_frequent_keys_through_a_scan() {
        let mut sketch = FrequencySketch::with_capacity(64);
        let mut map = WindowedLfu::new(10, 100);
        for _ in 0..5 {
            for key in 0..9 {
                put(&mut map, &mut sketch, key);
                sketch.increment(key);
                map.get(key, &key);
            }
        }
        for scanned in 1_000..1_100 {
            put(&mut map, &mut sketch, scanned);
            assert!(map.used() <= 10);
        }
        let kept = (0..9).filter(|key| map.peek(*key, key).is_some()).count();
        assert_eq!(kept, 9, "the scan displaced frequent keys");
    }

    #[test]
    fn weights_stay_within_capacity_and_removal_keeps_the_index_whole() {
        let mut sketch = FrequencySketch::with_capacity(64);
        let mut map: WindowedLfu<u64, ()> = WindowedLfu::new(100, 200);
        let mut evicted = 0;
        for key in 0..500u64 {
            sketch.increment(key % 37);
            let weight = 1 + key % 13;
            map.insert(key % 37, key % 37, (), weight, &sketch, &mut |_, ()| {
                evicted += 1
            });
            assert!(map.used() <= 100, "above capacity at {key}");
            if key % 5 == 0 {
                map.remove(key % 11, &(key % 11));
            }
            map.set_window(key * 7 % 1001);
        }
        assert!(evicted > 0);
        let mut visited = 0;
        map.for_each(&mut |key, ()| {
            visited += 1;
            assert!(map.peek(*key, key).is_some(), "{key} not findable");
        });
        assert_eq!(visited, map.len());
    }
}
