//! A sorted set: member to score in an `IndexMap`, and (score, member) in
//! `indexset`'s order-statistic B-tree, which answers ranks and positions in
//! O(log n) — what ZRANK and ZRANGE by index need — where a `BTreeSet` would
//! walk. A member's bytes are allocated once and shared by both (`Arc<[u8]>`).

use std::cmp::Ordering;
use std::sync::Arc;

use indexmap::IndexMap;

/// Bytes a member costs beyond its bytes: its map slot and index (handle and
/// score) and tree slot (score and handle), the shared allocation with its
/// counts, measured by `examples/collection_overhead.rs` (600 to 2,100
/// members of 8 and 16 bytes: 115.3 .. 150.2 bytes counted), plus 16 for the
/// allocation's malloc header; the worst point rounded up.
pub(crate) const MEMBER_OVERHEAD_BYTES: u64 = 168;

/// A score, ordered as Redis orders them. A sorted set never holds NaN (the
/// commands refuse it), so the order is total; -0 and 0 are equal, as in
/// Redis, and ties go to the member's bytes.
#[derive(Debug, Clone, Copy)]
pub struct Score(pub f64);

impl PartialEq for Score {
    fn eq(&self, other: &Score) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Score {}

impl PartialOrd for Score {
    fn partial_cmp(&self, other: &Score) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Score {
    fn cmp(&self, other: &Score) -> Ordering {
        self.0.partial_cmp(&other.0).unwrap_or(Ordering::Equal)
    }
}

type Member = Arc<[u8]>;

/// Elements per node of the order tree: `indexset`'s default (1,024) makes
/// every sorted set, however small, allocate a 24 KiB node; 32 keeps a small
/// one small, and per element it costs no more at the sizes measured
/// (`examples/collection_overhead.rs`).
const NODE_SIZE: usize = 32;

#[derive(Debug, Clone)]
pub struct SortedSet {
    /// Member to score; an `IndexMap`, so ZSCAN can walk it by position.
    scores: IndexMap<Member, f64, foldhash::fast::RandomState>,
    order: indexset::BTreeSet<(Score, Member)>,
    bytes: u64,
}

impl Default for SortedSet {
    fn default() -> SortedSet {
        SortedSet {
            scores: IndexMap::default(),
            order: indexset::BTreeSet::with_maximum_node_size(NODE_SIZE),
            bytes: 0,
        }
    }
}

impl SortedSet {
    pub fn len(&self) -> usize {
        self.scores.len()
    }

    pub fn is_empty(&self) -> bool {
        self.scores.is_empty()
    }

    /// Member bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        self.scores.get(member).copied()
    }

    /// Sets `member`'s score; answers the score it had. `score` must not be NaN.
    pub fn insert(&mut self, member: &[u8], score: f64) -> Option<f64> {
        debug_assert!(!score.is_nan());
        if let Some((shared, &old)) = self.scores.get_key_value(member) {
            let shared = Arc::clone(shared);
            if old != score || old.is_sign_negative() != score.is_sign_negative() {
                self.order.remove(&(Score(old), Arc::clone(&shared)));
                self.order.insert((Score(score), Arc::clone(&shared)));
                self.scores.insert(shared, score);
            }
            return Some(old);
        }
        let shared: Member = Arc::from(member);
        self.bytes += member.len() as u64;
        self.order.insert((Score(score), Arc::clone(&shared)));
        self.scores.insert(shared, score);
        None
    }

    /// Removes `member`; answers its score.
    pub fn remove(&mut self, member: &[u8]) -> Option<f64> {
        let (shared, score) = self.scores.swap_remove_entry(member)?;
        self.order.remove(&(Score(score), shared));
        self.bytes -= member.len() as u64;
        Some(score)
    }

    /// `member`'s position from the lowest score (0 first).
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        let (shared, &score) = self.scores.get_key_value(member)?;
        Some(self.order.rank(&(Score(score), Arc::clone(shared))))
    }

    /// The member and score at `index` from the lowest score.
    pub fn get_index(&self, index: usize) -> Option<(&[u8], f64)> {
        self.order.get_index(index).map(|(s, m)| (&m[..], s.0))
    }

    /// Members and scores at positions `start..end` (clamped), lowest first.
    pub fn range(&self, start: usize, end: usize) -> impl DoubleEndedIterator<Item = (&[u8], f64)> {
        let end = end.min(self.len());
        let start = start.min(end);
        self.order.range_idx(start..end).map(|(s, m)| (&m[..], s.0))
    }

    /// The position of the first member whose score is at least `min`
    /// (above it, when `exclusive`).
    pub fn first_at_or_above(&self, min: f64, exclusive: bool) -> usize {
        let mut at = self.order.rank(&(Score(min), Arc::from(&[][..])));
        if exclusive {
            while self
                .get_index(at)
                .is_some_and(|(_, s)| Score(s) == Score(min))
            {
                at += 1;
            }
        }
        at
    }

    /// The position of the first member at or after `member` in byte order
    /// (after it, when `exclusive`), among members of one score as the lex
    /// commands expect (Redis leaves sets of mixed scores unspecified there).
    pub fn first_lex_at_or_after(&self, member: &[u8], exclusive: bool) -> usize {
        let Some((_, score)) = self.get_index(0) else {
            return 0;
        };
        let at = self.order.rank(&(Score(score), Arc::from(member)));
        if exclusive && self.get_index(at).is_some_and(|(m, _)| m == member) {
            return at + 1;
        }
        at
    }

    pub fn pop_first(&mut self) -> Option<(Member, f64)> {
        let (score, member) = self.order.pop_first()?;
        self.scores.swap_remove(&member);
        self.bytes -= member.len() as u64;
        Some((member, score.0))
    }

    pub fn pop_last(&mut self) -> Option<(Member, f64)> {
        let (score, member) = self.order.pop_last()?;
        self.scores.swap_remove(&member);
        self.bytes -= member.len() as u64;
        Some((member, score.0))
    }

    /// The member and score at `index` in the score map's own order (ZSCAN's
    /// walk; a removal moves the last member into the hole).
    pub fn get_unordered(&self, index: usize) -> Option<(&[u8], f64)> {
        self.scores.get_index(index).map(|(m, &s)| (&m[..], s))
    }

    /// Members and scores, lowest first.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = (&[u8], f64)> {
        self.order.iter().map(|(s, m)| (&m[..], s.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn members(z: &SortedSet) -> Vec<(String, f64)> {
        z.iter()
            .map(|(m, s)| (String::from_utf8(m.to_vec()).unwrap_or_default(), s))
            .collect()
    }

    #[test]
    fn orders_by_score_then_member_and_ranks() {
        let mut z = SortedSet::default();
        assert_eq!(z.insert(b"b", 2.0), None);
        assert_eq!(z.insert(b"a", 2.0), None);
        assert_eq!(z.insert(b"c", 1.0), None);
        assert_eq!(z.insert(b"c", 3.0), Some(1.0));
        assert_eq!(
            members(&z),
            [("a".into(), 2.0), ("b".into(), 2.0), ("c".into(), 3.0)]
        );
        assert_eq!(z.rank(b"c"), Some(2));
        assert_eq!(z.rank(b"nope"), None);
        assert_eq!(z.first_at_or_above(2.0, false), 0);
        assert_eq!(z.first_at_or_above(2.0, true), 2);
        assert_eq!(z.first_at_or_above(9.0, false), 3);
        assert_eq!(z.bytes(), 3);
        assert_eq!(z.remove(b"a"), Some(2.0));
        assert_eq!(z.pop_last().map(|(_, s)| s), Some(3.0));
        assert_eq!(z.bytes(), 1);
        let ranged: Vec<_> = z.range(0, 9).collect();
        assert_eq!(ranged, [(&b"b"[..], 2.0)]);
    }

    #[test]
    fn lex_positions_among_equal_scores() {
        let mut z = SortedSet::default();
        for m in [&b"a"[..], b"b", b"c", b"d"] {
            z.insert(m, 0.0);
        }
        assert_eq!(z.first_lex_at_or_after(b"b", false), 1);
        assert_eq!(z.first_lex_at_or_after(b"b", true), 2);
        assert_eq!(z.first_lex_at_or_after(b"bb", true), 2);
        assert_eq!(z.first_lex_at_or_after(b"z", false), 4);
    }
}
