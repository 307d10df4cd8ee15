//! SCAN over the embedded shards. The cursor spans every shard: the top 16
//! bits are the shard's index, the low 48 bits a position inside the shard (a
//! hash of the key). A page returns the keys of one shard in position order
//! from the cursor on, so a key present for the whole iteration is returned
//! at least once however the shard's map moves underneath, and keys sharing a
//! position are never split across pages.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

use bytes::Bytes;

use super::Embedded;

/// Bits of a SCAN cursor that hold the position inside a shard.
const POSITION_BITS: u32 = 48;
const POSITION_MASK: u64 = (1 << POSITION_BITS) - 1;
/// A page visits at least this fraction of a shard (up to `MAX_BOOSTED_PAGE`),
/// so walking a big shard takes a bounded number of passes over it.
const MIN_PAGE_FRACTION: u64 = 16;
const MAX_BOOSTED_PAGE: usize = 10_000;

impl Embedded {
    /// One page of keys from `cursor` (0 starts), about `count` of them, and
    /// the cursor to continue from (0 when done).
    pub fn scan_page(&self, cursor: u64, count: usize) -> (u64, Vec<Bytes>) {
        let shards = self.store.shards().len();
        let mut shard = (cursor >> POSITION_BITS) as usize;
        let mut from = cursor & POSITION_MASK;
        let mut budget = count.max(1);
        let mut keys = Vec::new();
        while shard < shards && budget > 0 {
            let page = self.scan_shard(shard, from, budget);
            budget = budget.saturating_sub(page.keys.len());
            keys.extend(page.keys);
            match page.next {
                Some(next) => return (((shard as u64) << POSITION_BITS) | next, keys),
                None => (shard, from) = (shard + 1, 0),
            }
        }
        let next = if shard < shards {
            (shard as u64) << POSITION_BITS
        } else {
            0
        };
        (next, keys)
    }

    /// Keys of one shard from position `from` on, at least `budget` of them
    /// (more on a big shard, and never splitting keys that share a position).
    /// Linear in the shard's size: one visit and a selection, no full sort.
    fn scan_shard(&self, index: usize, from: u64, budget: usize) -> ShardPage {
        let shard = &self.store.shards()[index];
        let boost = (shard.len() / MIN_PAGE_FRACTION) as usize;
        let take = budget.max(boost.min(MAX_BOOSTED_PAGE));
        let mut ahead = Vec::new();
        shard.keys(|key, _| {
            let position = scan_position(key);
            if position >= from {
                ahead.push((position, key.clone()));
            }
        });
        let mut next = None;
        if ahead.len() > take {
            ahead.select_nth_unstable_by_key(take - 1, |(position, _)| *position);
            let cut = ahead[take - 1].0;
            next = ahead[take..]
                .iter()
                .map(|(position, _)| *position)
                .filter(|&position| position > cut)
                .min();
            ahead.retain(|(position, _)| *position <= cut);
        }
        ahead.sort_unstable_by_key(|(position, _)| *position);
        let keys = ahead.into_iter().map(|(_, key)| key).collect();
        ShardPage { keys, next }
    }
}

/// The keys of one shard from a position on, and where the next page starts
/// (`None` when the shard is done).
struct ShardPage {
    keys: Vec<Bytes>,
    next: Option<u64>,
}

/// Where a key sits in its shard's SCAN order: a 48-bit hash, stable for the
/// life of the process.
fn scan_position(key: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish() & POSITION_MASK
}
