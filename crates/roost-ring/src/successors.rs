//! The iterator behind [`Ring::successors`](crate::Ring::successors): distinct nodes in
//! ring order from a key's position, for replica sets and failover order.
//!
//! It walks points clockwise and skips nodes already yielded. Remembering them needs a
//! set; for up to 64 nodes that set is one `u64` on the stack, so the common case never
//! allocates. Larger rings spill to a `Vec<u64>` bitset, once per call.

use std::iter::FusedIterator;

use crate::points::PointTable;

/// Distinct node indices in clockwise order from a key, the owner first.
/// Yields every node of the ring exactly once, then stops.
#[derive(Clone, Debug)]
pub struct Successors<'a> {
    points: &'a PointTable,
    next_position: usize,
    /// Points not yet visited; bounds the walk to one lap.
    points_left: usize,
    /// Nodes not yet yielded; lets the walk stop as soon as all have been.
    nodes_left: usize,
    seen: SeenNodes,
}

impl<'a> Successors<'a> {
    /// `start` is the key's position on the ring, `None` for an empty ring.
    pub(crate) fn new(points: &'a PointTable, node_count: usize, start: Option<usize>) -> Self {
        let (next_position, points_left, nodes_left) = match start {
            Some(position) => (position, points.len(), node_count),
            None => (0, 0, 0),
        };
        Successors {
            points,
            next_position,
            points_left,
            nodes_left,
            seen: SeenNodes::for_node_count(node_count),
        }
    }
}

impl Iterator for Successors<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.nodes_left > 0 && self.points_left > 0 {
            let owner = self.points.owner_at(self.next_position);
            self.next_position += 1;
            if self.next_position == self.points.len() {
                self.next_position = 0;
            }
            self.points_left -= 1;
            if self.seen.insert(owner) {
                self.nodes_left -= 1;
                return Some(owner);
            }
        }
        None
    }

    /// Exact: every node has at least one point, so one lap meets them all.
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.nodes_left, Some(self.nodes_left))
    }
}

impl ExactSizeIterator for Successors<'_> {}

impl FusedIterator for Successors<'_> {}

/// A set of node indices; inline while they fit in one word.
#[derive(Clone, Debug)]
enum SeenNodes {
    Inline(u64),
    Spilled(Vec<u64>),
}

impl SeenNodes {
    fn for_node_count(node_count: usize) -> Self {
        if node_count <= 64 {
            SeenNodes::Inline(0)
        } else {
            SeenNodes::Spilled(vec![0; node_count.div_ceil(64)])
        }
    }

    /// Adds `index`; true if it was not already present.
    #[inline]
    fn insert(&mut self, index: usize) -> bool {
        let (word, bit) = match self {
            SeenNodes::Inline(word) => (word, index),
            SeenNodes::Spilled(words) => (&mut words[index / 64], index % 64),
        };
        let mask = 1u64 << bit;
        let was_absent = *word & mask == 0;
        *word |= mask;
        was_absent
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_nodes_reports_first_insertion_only() {
        for node_count in [1, 64, 65, 200] {
            let mut seen = SeenNodes::for_node_count(node_count);
            for index in 0..node_count {
                assert!(
                    seen.insert(index),
                    "first insert of {index} of {node_count}"
                );
            }
            for index in 0..node_count {
                assert!(
                    !seen.insert(index),
                    "second insert of {index} of {node_count}"
                );
            }
        }
    }

    #[test]
    fn seen_nodes_stays_inline_up_to_64() {
        assert!(matches!(
            SeenNodes::for_node_count(64),
            SeenNodes::Inline(_)
        ));
        assert!(matches!(SeenNodes::for_node_count(65), SeenNodes::Spilled(ref w) if w.len() == 2));
    }
}
