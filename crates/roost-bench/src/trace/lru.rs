//! Exact strict-LRU simulation over dense key ids: the reference floor for trace replay.
//!
//! A hit moves the key to the most-recently-used end; a miss inserts it there and, once
//! more than `capacity` keys are resident, evicts the least recently used. No sampling,
//! no sharding, so its figures match the trace README to the second decimal.

const NONE: u32 = u32::MAX;

/// Counts hits of a strict LRU cache of `capacity` entries replaying `ids`, where every
/// id is below `unique`.
pub fn lru_hits(ids: &[u32], unique: usize, capacity: usize) -> u64 {
    let mut list = RecencyList::new(unique);
    let mut hits = 0;
    for &id in ids {
        if list.contains(id) {
            hits += 1;
            list.unlink(id);
        } else if list.len == capacity {
            let oldest = list.tail;
            if oldest == NONE {
                continue; // capacity 0: nothing is ever resident
            }
            list.unlink(oldest);
        }
        list.push_front(id);
    }
    hits
}

/// A doubly linked list threaded through arrays indexed by dense id.
struct RecencyList {
    prev: Vec<u32>,
    next: Vec<u32>,
    resident: Vec<bool>,
    head: u32,
    tail: u32,
    len: usize,
}

impl RecencyList {
    fn new(unique: usize) -> Self {
        Self {
            prev: vec![NONE; unique],
            next: vec![NONE; unique],
            resident: vec![false; unique],
            head: NONE,
            tail: NONE,
            len: 0,
        }
    }

    fn contains(&self, id: u32) -> bool {
        self.resident[id as usize]
    }

    /// Removes a resident id from the list.
    fn unlink(&mut self, id: u32) {
        let (prev, next) = (self.prev[id as usize], self.next[id as usize]);
        match prev {
            NONE => self.head = next,
            prev => self.next[prev as usize] = next,
        }
        match next {
            NONE => self.tail = prev,
            next => self.prev[next as usize] = prev,
        }
        self.resident[id as usize] = false;
        self.len -= 1;
    }

    fn push_front(&mut self, id: u32) {
        self.prev[id as usize] = NONE;
        self.next[id as usize] = self.head;
        match self.head {
            NONE => self.tail = id,
            head => self.prev[head as usize] = id,
        }
        self.head = id;
        self.resident[id as usize] = true;
        self.len += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_refreshes_recency() {
        // capacity 2: 0 1 0 2 -> 2 evicts 1 (0 was refreshed), so 0 hits again, 1 misses
        let ids = [0, 1, 0, 2, 0, 1];
        assert_eq!(lru_hits(&ids, 3, 2), 2);
    }

    #[test]
    fn cyclic_scan_larger_than_cache_never_hits() {
        let ids: Vec<u32> = (0..10).cycle().take(100).collect();
        assert_eq!(lru_hits(&ids, 10, 9), 0);
        assert_eq!(lru_hits(&ids, 10, 10), 90);
    }

    #[test]
    fn zero_capacity_never_hits() {
        assert_eq!(lru_hits(&[0, 0, 0], 1, 0), 0);
    }
}
