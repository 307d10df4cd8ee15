//! The ring itself: validation of the node list, key placement, the share of the hash
//! space each node owns, and the difference between two rings. A `Ring` is immutable;
//! adding or removing a node builds a new one, so a router can swap snapshots atomically.

use std::collections::HashSet;
use std::fmt;

use xxhash_rust::xxh3::xxh3_64;

use crate::error::RingError;
use crate::node::{Node, NodeId};
use crate::points::{self, PointTable, HASH_SPACE};
use crate::successors::Successors;

/// Virtual nodes (ring points) per unit of weight; a node of [`DEFAULT_WEIGHT`] has 4,000.
///
/// Why 40: a node's share of the ring is the sum of the arcs before its points, and
/// with `v` random points that sum has a relative standard deviation of about
/// `1/sqrt(v)`. At 4,000 points that is 1.6%, so across 16 nodes the largest deviation
/// from the mean is typically about 4%, leaving room inside the ±10% balance bar for
/// the sampling noise of 100k keys (1.2% per node at 16 nodes) and for unlucky names.
/// Ketama's 160 points per node would give 8% per node, which breaks the bar. The cost
/// is memory (about 14 bytes a point: 56 KB per default node) and build time (one
/// hash and a sort, a few milliseconds for 16 nodes); lookups stay near O(1).
///
/// [`DEFAULT_WEIGHT`]: crate::DEFAULT_WEIGHT
pub const POINTS_PER_WEIGHT_UNIT: u64 = 40;

/// The most points a ring may hold (about 60 MB): 1,000 nodes of default weight.
pub const MAX_POINTS: u64 = 1 << 22;

/// The hash of a key, as used by [`Ring::locate_hash`]. Exposed so that a caller who
/// needs both the owner and the replicas of a key hashes it only once. Only the key's
/// [`hash_tag`] is hashed, so keys that share a tag share their nodes, as in Redis
/// Cluster: a command on several of them can run on one node.
#[inline]
pub fn key_hash(key: &[u8]) -> u64 {
    xxh3_64(hash_tag(key))
}

/// The part of `key` that decides its placement, by Redis Cluster's rule: the bytes
/// between the first `{` and the first `}` after it, when there are any; otherwise
/// the whole key (`{}` and a `{` without a `}` tag nothing).
#[inline]
pub fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    match key[open + 1..].iter().position(|&b| b == b'}') {
        Some(len) if len > 0 => &key[open + 1..open + 1 + len],
        _ => key,
    }
}

/// A weighted consistent-hash ring over a set of nodes.
///
/// Cloning copies the point table; share one ring between threads with `Arc<Ring>`.
#[derive(Clone)]
pub struct Ring {
    nodes: Vec<Node>,
    points: PointTable,
}

impl Ring {
    /// Builds a ring. The order of `nodes` is kept for [`Ring::nodes`] and the indices
    /// this ring returns, but has no effect on which node owns a key.
    pub fn new(nodes: Vec<Node>) -> Result<Ring, RingError> {
        validate(&nodes)?;
        let points = PointTable::build(&nodes, points_for);
        Ok(Ring { nodes, points })
    }

    /// The nodes in the order they were given.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The number of virtual nodes on the ring.
    pub fn point_count(&self) -> usize {
        self.points.len()
    }

    /// The index in [`Ring::nodes`] of the node with this id (a linear scan).
    pub fn index_of(&self, id: &NodeId) -> Option<usize> {
        self.nodes.iter().position(|node| &node.id == id)
    }

    /// The index in [`Ring::nodes`] of the node that owns `key`; `None` on an empty ring.
    #[inline]
    pub fn locate(&self, key: &[u8]) -> Option<usize> {
        self.locate_hash(key_hash(key))
    }

    /// [`Ring::locate`] for a key already hashed with [`key_hash`].
    #[inline]
    pub fn locate_hash(&self, hash: u64) -> Option<usize> {
        self.points
            .position(hash)
            .map(|position| self.points.owner_at(position))
    }

    /// The node that owns `key`; `None` on an empty ring.
    pub fn node_for(&self, key: &[u8]) -> Option<&Node> {
        self.locate(key).map(|index| &self.nodes[index])
    }

    /// Every node exactly once, as indices in [`Ring::nodes`], in the order met going
    /// clockwise from `key`: the owner first, then the replicas and failover order.
    pub fn successors(&self, key: &[u8]) -> Successors<'_> {
        self.successors_of_hash(key_hash(key))
    }

    /// [`Ring::successors`] for a key already hashed with [`key_hash`].
    pub fn successors_of_hash(&self, hash: u64) -> Successors<'_> {
        Successors::new(&self.points, self.nodes.len(), self.points.position(hash))
    }

    /// The fraction of the hash space each node owns, in the order of [`Ring::nodes`].
    /// Sums to 1 (up to rounding) unless the ring is empty.
    pub fn shares(&self) -> Vec<f64> {
        let mut owned = vec![0u128; self.nodes.len()];
        for position in 0..self.points.len() {
            owned[self.points.owner_at(position)] += self.points.arc_len(position);
        }
        owned.into_iter().map(fraction_of_hash_space).collect()
    }

    /// A new ring with `node` added; the keys that move all move to `node`.
    pub fn with_node(&self, node: Node) -> Result<Ring, RingError> {
        let mut nodes = self.nodes.clone();
        nodes.push(node);
        Ring::new(nodes)
    }

    /// A new ring without the node `id`; only that node's keys move.
    pub fn without_node(&self, id: &NodeId) -> Result<Ring, RingError> {
        let index = self
            .index_of(id)
            .ok_or_else(|| RingError::UnknownNode(id.clone()))?;
        let mut nodes = self.nodes.clone();
        nodes.remove(index);
        Ring::new(nodes)
    }

    /// The fraction of the hash space whose owner (by node id) differs between `self`
    /// and `other`: what share of the keys a switch from one ring to the other moves.
    /// A key with an owner on one ring and none on the other (an empty ring) counts as moved.
    pub fn moved_fraction(&self, other: &Ring) -> f64 {
        match (self.is_empty(), other.is_empty()) {
            (true, true) => return 0.0,
            (true, false) | (false, true) => return 1.0,
            (false, false) => {}
        }
        // Between two consecutive points of either ring, both owners are constant, so
        // checking each such interval at its right end covers the whole space exactly.
        let mut boundaries: Vec<u64> = self.points.hashes().to_vec();
        boundaries.extend_from_slice(other.points.hashes());
        boundaries.sort_unstable();
        boundaries.dedup();
        let moved: u128 = (0..boundaries.len())
            .filter(|&i| self.owner_id(boundaries[i]) != other.owner_id(boundaries[i]))
            .map(|i| points::arc_len(&boundaries, i))
            .sum();
        fraction_of_hash_space(moved)
    }

    fn owner_id(&self, hash: u64) -> Option<&NodeId> {
        self.locate_hash(hash).map(|index| &self.nodes[index].id)
    }
}

impl fmt::Debug for Ring {
    /// The nodes and the point count; the points themselves would be thousands of lines.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ring")
            .field("nodes", &self.nodes)
            .field("points", &self.points.len())
            .finish()
    }
}

fn points_for(node: &Node) -> u64 {
    u64::from(node.weight) * POINTS_PER_WEIGHT_UNIT
}

fn validate(nodes: &[Node]) -> Result<(), RingError> {
    let mut seen = HashSet::with_capacity(nodes.len());
    let mut total_points = 0u64;
    for node in nodes {
        if node.id.as_str().is_empty() {
            return Err(RingError::EmptyId);
        }
        if node.weight == 0 {
            return Err(RingError::ZeroWeight(node.id.clone()));
        }
        if !seen.insert(node.id.as_str()) {
            return Err(RingError::DuplicateNode(node.id.clone()));
        }
        total_points = total_points.saturating_add(points_for(node));
    }
    if total_points > MAX_POINTS {
        return Err(RingError::TooManyPoints {
            points: total_points,
            max: MAX_POINTS,
        });
    }
    Ok(())
}

fn fraction_of_hash_space(hashes: u128) -> f64 {
    hashes as f64 / HASH_SPACE as f64
}

#[cfg(test)]
mod tests {
    #[test]
    fn hash_tags_follow_redis_cluster() {
        use super::hash_tag;
        assert_eq!(hash_tag(b"{user1000}.following"), b"user1000");
        assert_eq!(hash_tag(b"foo{bar}{zap}"), b"bar", "the first tag only");
        assert_eq!(
            hash_tag(b"foo{}{bar}"),
            b"foo{}{bar}",
            "an empty tag tags nothing"
        );
        assert_eq!(
            hash_tag(b"foo{{bar}}zap"),
            b"{bar",
            "up to the first closing brace"
        );
        assert_eq!(hash_tag(b"foo{bar"), b"foo{bar");
        assert_eq!(hash_tag(b"plain"), b"plain");
        assert_eq!(super::key_hash(b"a{t}"), super::key_hash(b"{t}b"));
    }

    use super::*;
    use crate::DEFAULT_WEIGHT;

    fn ring_of(names: &[&str]) -> Ring {
        Ring::new(
            names
                .iter()
                .map(|&n| Node::new(n, DEFAULT_WEIGHT))
                .collect(),
        )
        .expect("valid test nodes")
    }

    #[test]
    fn rejects_invalid_node_lists() {
        let dup = Ring::new(vec![
            Node::new("a", 1),
            Node::new("b", 1),
            Node::new("a", 2),
        ]);
        assert_eq!(dup.err(), Some(RingError::DuplicateNode(NodeId::from("a"))));
        let zero = Ring::new(vec![Node::new("a", 1), Node::new("b", 0)]);
        assert_eq!(zero.err(), Some(RingError::ZeroWeight(NodeId::from("b"))));
        let empty_id = Ring::new(vec![Node::new("", 1)]);
        assert_eq!(empty_id.err(), Some(RingError::EmptyId));
        let huge = Ring::new(vec![Node::new("a", u32::MAX), Node::new("b", u32::MAX)]);
        assert_eq!(
            huge.err(),
            Some(RingError::TooManyPoints {
                points: 2 * u64::from(u32::MAX) * POINTS_PER_WEIGHT_UNIT,
                max: MAX_POINTS
            })
        );
    }

    #[test]
    fn empty_ring_owns_nothing() {
        let ring = Ring::new(Vec::new()).expect("an empty ring is allowed");
        assert!(ring.is_empty());
        assert_eq!(ring.len(), 0);
        assert_eq!(ring.locate(b"k"), None);
        assert_eq!(ring.node_for(b"k"), None);
        assert_eq!(ring.successors(b"k").count(), 0);
        assert!(ring.shares().is_empty());
        assert_eq!(ring.moved_fraction(&ring), 0.0);
    }

    #[test]
    fn a_single_node_owns_everything() {
        let ring = ring_of(&["only"]);
        assert_eq!(ring.point_count(), 4_000);
        assert_eq!(ring.shares(), vec![1.0]);
        for key in [&b""[..], b"a", b"user:1", &[0xff; 300]] {
            assert_eq!(ring.locate(key), Some(0));
            assert_eq!(ring.successors(key).collect::<Vec<_>>(), vec![0]);
        }
    }

    #[test]
    fn indices_follow_the_given_order() {
        let ring = ring_of(&["c", "a", "b"]);
        let names: Vec<&str> = ring.nodes().iter().map(|n| n.id.as_str()).collect();
        assert_eq!(names, ["c", "a", "b"]);
        assert_eq!(ring.index_of(&NodeId::from("a")), Some(1));
        assert_eq!(ring.index_of(&NodeId::from("z")), None);
        let owner = ring.locate(b"some key").expect("non-empty");
        assert_eq!(ring.node_for(b"some key"), Some(&ring.nodes()[owner]));
    }

    #[test]
    fn membership_changes_validate_like_new() {
        let ring = ring_of(&["a", "b"]);
        assert_eq!(
            ring.with_node(Node::new("a", 5)).err(),
            Some(RingError::DuplicateNode(NodeId::from("a")))
        );
        assert_eq!(
            ring.without_node(&NodeId::from("x")).err(),
            Some(RingError::UnknownNode(NodeId::from("x")))
        );
        let smaller = ring
            .without_node(&NodeId::from("a"))
            .expect("a is on the ring");
        assert_eq!(smaller.nodes(), &[Node::new("b", DEFAULT_WEIGHT)]);
        let emptied = smaller
            .without_node(&NodeId::from("b"))
            .expect("b is on the ring");
        assert!(emptied.is_empty());
        assert_eq!(smaller.moved_fraction(&emptied), 1.0);
        assert_eq!(emptied.moved_fraction(&smaller), 1.0);
    }

    #[test]
    fn shares_sum_to_one_and_follow_weight() {
        let ring =
            Ring::new(vec![Node::new("light", 100), Node::new("heavy", 300)]).expect("valid");
        let shares = ring.shares();
        assert!(
            (shares.iter().sum::<f64>() - 1.0).abs() < 1e-12,
            "{shares:?}"
        );
        assert!((shares[1] - 0.75).abs() < 0.02, "{shares:?}");
    }

    #[test]
    fn moved_fraction_is_zero_to_itself_and_symmetric() {
        let before = ring_of(&["a", "b", "c"]);
        let after = ring_of(&["a", "b", "d"]);
        assert_eq!(before.moved_fraction(&before.clone()), 0.0);
        let forward = before.moved_fraction(&after);
        assert_eq!(forward, after.moved_fraction(&before));
        // c's third leaves and d's third arrives; they mostly cover different arcs.
        assert!(forward > 0.4 && forward < 0.6, "{forward}");
    }

    #[test]
    fn ring_can_be_shared_between_threads() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Ring>();
        assert_send_sync::<Successors<'static>>();
    }

    #[test]
    fn debug_is_short() {
        let text = format!("{:?}", ring_of(&["a", "b"]));
        assert!(text.contains("points: 8000"), "{text}");
        assert!(text.len() < 200, "{text}");
    }
}
