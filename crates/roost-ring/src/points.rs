//! The sorted table of virtual-node points and the lookup from a 64-bit hash to the
//! point that owns it. Knows nothing of node ids beyond using them to break ties while
//! building; owners are stored as indices into the ring's node list.
//!
//! The table is three flat arrays rather than one array of structs so that the search
//! touches only the hashes (8 bytes each) and reads one owner at the end.

use std::fmt;

use xxhash_rust::xxh3::Xxh3;

use crate::node::Node;

/// The hash of point `index` of the node with id `id`: XXH3 of the id's bytes followed
/// by the index as eight little-endian bytes. Part of the placement contract: changing
/// it moves every key of every deployed cluster.
///
/// The index is hashed as input, not passed as XXH3's seed: for inputs of up to three
/// bytes XXH3 folds the seed in with an XOR before one avalanche, so short ids such as
/// `"0"` and `"_"` placed many identical points and a ring of them was badly skewed.
pub(crate) fn point_hash(id: &str, index: u64) -> u64 {
    let mut hasher = Xxh3::new();
    hasher.update(id.as_bytes());
    hasher.update(&index.to_le_bytes());
    hasher.digest()
}

/// 2^64 as a `u128`: the size of the hash space.
pub(crate) const HASH_SPACE: u128 = 1 << 64;

/// Points sorted by hash, with a coarse index over the high bits of the hash.
#[derive(Clone)]
pub(crate) struct PointTable {
    /// Point hashes, ascending. Equal hashes are ordered by node id.
    hashes: Box<[u64]>,
    /// `owners[i]` is the index, in the ring's node list, of the node that placed point `i`.
    owners: Box<[u32]>,
    /// `bucket_starts[b]` is the first point whose hash has `b` in its top `bucket_bits`
    /// bits; one extra entry at the end holds the point count.
    bucket_starts: Box<[u32]>,
    bucket_bits: u32,
}

impl PointTable {
    /// Places `points_per_node[n]` points for each `nodes[n]` and sorts them.
    /// The caller has validated the nodes and bounded the total below `u32::MAX`.
    pub(crate) fn build(nodes: &[Node], points_per_node: impl Fn(&Node) -> u64) -> PointTable {
        let mut points: Vec<(u64, u32)> = Vec::new();
        for (node_index, node) in nodes.iter().enumerate() {
            let owner = u32::try_from(node_index)
                .expect("invariant: node count bounded by the point limit");
            let id = node.id.as_str();
            points.extend((0..points_per_node(node)).map(|i| (point_hash(id, i), owner)));
        }
        // Ties go to the smaller id, so the order of `nodes` never matters.
        points.sort_unstable_by(|a, b| {
            a.0.cmp(&b.0)
                .then_with(|| nodes[a.1 as usize].id.cmp(&nodes[b.1 as usize].id))
        });
        let hashes: Box<[u64]> = points.iter().map(|p| p.0).collect();
        let owners: Box<[u32]> = points.iter().map(|p| p.1).collect();
        let bucket_bits = bucket_bits_for(hashes.len());
        let bucket_starts = bucket_starts(&hashes, bucket_bits);
        PointTable {
            hashes,
            owners,
            bucket_starts,
            bucket_bits,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.hashes.len()
    }

    /// The position of the first point at or after `hash` going clockwise, wrapping
    /// past the top of the hash space; `None` for an empty table. Allocation-free: one
    /// bucket lookup, then a binary search over the few points in that bucket.
    #[inline]
    pub(crate) fn position(&self, hash: u64) -> Option<usize> {
        if self.hashes.is_empty() {
            return None;
        }
        let bucket = self.bucket_of(hash);
        let start = self.bucket_starts[bucket] as usize;
        let end = self.bucket_starts[bucket + 1] as usize;
        // Every point in a later bucket is > hash, so if none in this bucket is >= hash
        // the answer is `end`, the first point of the next non-empty bucket.
        let found = start + self.hashes[start..end].partition_point(|&h| h < hash);
        Some(if found == self.hashes.len() { 0 } else { found })
    }

    /// The node index that owns the point at `position`.
    #[inline]
    pub(crate) fn owner_at(&self, position: usize) -> usize {
        self.owners[position] as usize
    }

    pub(crate) fn hashes(&self) -> &[u64] {
        &self.hashes
    }

    /// The number of hashes the point at `position` owns: those after the previous
    /// point, up to and including its own hash.
    pub(crate) fn arc_len(&self, position: usize) -> u128 {
        arc_len(&self.hashes, position)
    }

    #[inline]
    fn bucket_of(&self, hash: u64) -> usize {
        // `checked_shr` yields None for a shift of 64, i.e. a single bucket.
        hash.checked_shr(64 - self.bucket_bits).unwrap_or(0) as usize
    }
}

impl fmt::Debug for PointTable {
    /// The point count only; the points themselves would be thousands of lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PointTable")
            .field("points", &self.hashes.len())
            .finish()
    }
}

/// The arc owned by `sorted[position]` of a sorted, non-empty slice of ring points.
/// The first point also owns the wrap-around past `u64::MAX`; when every point has
/// the same hash it owns the whole circle.
pub(crate) fn arc_len(sorted: &[u64], position: usize) -> u128 {
    let previous = if position == 0 {
        sorted.len() - 1
    } else {
        position - 1
    };
    let length = sorted[position].wrapping_sub(sorted[previous]);
    if position == 0 && length == 0 {
        HASH_SPACE
    } else {
        u128::from(length)
    }
}

/// Four to eight points per bucket keeps the in-bucket search within one or two cache
/// lines while the bucket index stays a sixteenth to an eighth of the size of the hashes.
fn bucket_bits_for(point_count: usize) -> u32 {
    const MAX_BUCKET_BITS: u32 = 20;
    let buckets_wanted = (point_count / 4).max(1);
    buckets_wanted.ilog2().min(MAX_BUCKET_BITS)
}

fn bucket_starts(hashes: &[u64], bucket_bits: u32) -> Box<[u32]> {
    let bucket_count = 1usize << bucket_bits;
    let mut starts = Vec::with_capacity(bucket_count + 1);
    let mut next_point = 0usize;
    for bucket in 0..bucket_count {
        while next_point < hashes.len() && bucket_index(hashes[next_point], bucket_bits) < bucket {
            next_point += 1;
        }
        starts.push(u32::try_from(next_point).expect("invariant: point count below u32::MAX"));
    }
    starts.push(u32::try_from(hashes.len()).expect("invariant: point count below u32::MAX"));
    starts.into_boxed_slice()
}

fn bucket_index(hash: u64, bucket_bits: u32) -> usize {
    hash.checked_shr(64 - bucket_bits).unwrap_or(0) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table_of(hashes: &[u64], bucket_bits: u32) -> PointTable {
        PointTable {
            hashes: hashes.into(),
            owners: (0..hashes.len() as u32).collect(),
            bucket_starts: bucket_starts(hashes, bucket_bits),
            bucket_bits,
        }
    }

    /// The reference answer: a linear scan for the first point >= hash, wrapping to 0.
    fn linear_position(hashes: &[u64], hash: u64) -> usize {
        hashes.iter().position(|&h| h >= hash).unwrap_or(0)
    }

    #[test]
    fn position_matches_a_linear_scan_for_every_bucket_size() {
        let hashes: Vec<u64> = (1..=40u64)
            .map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
            .collect();
        let mut sorted = hashes.clone();
        sorted.sort_unstable();
        let probes = sorted
            .iter()
            .flat_map(|&h| [h.wrapping_sub(1), h, h.wrapping_add(1)])
            .chain([0, u64::MAX, 1 << 63]);
        for bucket_bits in [0, 1, 3, 8] {
            let table = table_of(&sorted, bucket_bits);
            for probe in probes.clone() {
                assert_eq!(
                    table.position(probe),
                    Some(linear_position(&sorted, probe)),
                    "bits {bucket_bits}, probe {probe}"
                );
            }
        }
    }

    #[test]
    fn empty_table_has_no_position() {
        assert_eq!(table_of(&[], 0).position(42), None);
    }

    #[test]
    fn arcs_cover_the_whole_hash_space() {
        let sorted = [10u64, 20, u64::MAX - 5];
        assert_eq!(arc_len(&sorted, 1), 10);
        assert_eq!(arc_len(&sorted, 2), u128::from(u64::MAX - 25));
        assert_eq!(arc_len(&sorted, 0), 16); // (MAX-5, MAX] is 5 hashes, [0, 10] is 11
        let total: u128 = (0..sorted.len()).map(|p| arc_len(&sorted, p)).sum();
        assert_eq!(total, HASH_SPACE);
    }

    #[test]
    fn a_lone_or_repeated_hash_owns_the_whole_circle() {
        assert_eq!(arc_len(&[7], 0), HASH_SPACE);
        assert_eq!(arc_len(&[7, 7, 7], 0), HASH_SPACE);
        assert_eq!(arc_len(&[7, 7, 7], 2), 0);
    }

    #[test]
    fn bucket_count_tracks_point_count() {
        assert_eq!(bucket_bits_for(0), 0);
        assert_eq!(bucket_bits_for(7), 0);
        assert_eq!(bucket_bits_for(64_000), 13);
        assert_eq!(bucket_bits_for(usize::MAX), 20);
    }

    #[test]
    fn short_similar_ids_place_distinct_points() {
        // The ids of a proptest case that found the seeded-hash skew: with the index as
        // XXH3's seed these three shared hundreds of points.
        let ids = ["0", "_", "__", "a", "b"];
        let mut seen = std::collections::HashSet::new();
        for id in ids {
            for index in 0..4_000 {
                assert!(
                    seen.insert(point_hash(id, index)),
                    "{id:?} point {index} repeats"
                );
            }
        }
    }

    #[test]
    fn point_hash_is_pinned() {
        // Part of the placement contract: XXH3 of the id bytes then the index, LE.
        let mut input = b"shard-0".to_vec();
        input.extend_from_slice(&7u64.to_le_bytes());
        assert_eq!(point_hash("shard-0", 7), xxhash_rust::xxh3::xxh3_64(&input));
    }
}
