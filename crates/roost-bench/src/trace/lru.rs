//! Exact strict-LRU simulation over dense key ids: the reference floor for trace replay.
//!
//! A hit moves the key to the most-recently-used end; a miss inserts it there and, once
//! more than `capacity` keys are resident, evicts the least recently used. No sampling,
//! no sharding, so its figures match the trace README to the second decimal.

use super::id_list::IdList;

/// Counts hits of a strict LRU cache of `capacity` entries replaying `ids`, where every
/// id is below `unique`.
pub fn lru_hits(ids: &[u32], unique: usize, capacity: usize) -> u64 {
    if capacity == 0 {
        return 0;
    }
    let mut list = IdList::new(unique);
    let mut hits = 0;
    for &id in ids {
        if list.contains(id) {
            hits += 1;
        } else if list.len() == capacity {
            list.pop_back();
        }
        list.push_front(id);
    }
    hits
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
