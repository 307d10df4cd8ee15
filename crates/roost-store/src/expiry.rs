//! The per-shard expiry index: which keys have a deadline, ordered by deadline, so a
//! sweep visits only entries that are due instead of scanning the map. It is kept
//! exact by the shard (every insert, replace, delete and eviction updates it under
//! the shard's write lock); it never touches the map itself.

use std::collections::BTreeSet;

use bytes::Bytes;

use crate::UnixMillis;

/// True when an entry with `expires_at` is expired at `now`: a deadline is the first
/// millisecond at which the entry is gone.
pub(crate) fn is_expired(expires_at: Option<UnixMillis>, now: UnixMillis) -> bool {
    expires_at.is_some_and(|deadline| deadline <= now)
}

/// Deadlines of the shard's entries that have one, earliest first.
#[derive(Debug, Default)]
pub(crate) struct ExpiryIndex {
    deadlines: BTreeSet<(UnixMillis, Bytes)>,
}

impl ExpiryIndex {
    /// Records that `key` expires at `deadline`.
    pub(crate) fn insert(&mut self, deadline: UnixMillis, key: Bytes) {
        self.deadlines.insert((deadline, key));
    }

    /// Forgets the deadline of `key`, if it is the one recorded.
    pub(crate) fn remove(&mut self, deadline: UnixMillis, key: &[u8]) {
        // The set's element owns a `Bytes`; copying the key for the probe keeps the
        // index type simple, and only entries with a deadline pay for it.
        self.deadlines
            .remove(&(deadline, Bytes::copy_from_slice(key)));
    }

    /// Takes out up to `max` keys whose deadline is at or before `now`, earliest first.
    pub(crate) fn pop_due(&mut self, now: UnixMillis, max: usize) -> Vec<(UnixMillis, Bytes)> {
        let mut due = Vec::new();
        while due.len() < max {
            match self.deadlines.first() {
                Some((deadline, _)) if *deadline <= now => {}
                _ => break,
            }
            if let Some(entry) = self.deadlines.pop_first() {
                due.push(entry);
            }
        }
        due
    }

    pub(crate) fn len(&self) -> usize {
        self.deadlines.len()
    }

    pub(crate) fn clear(&mut self) {
        self.deadlines.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_is_at_the_deadline_not_after() {
        assert!(!is_expired(None, u64::MAX));
        assert!(!is_expired(Some(100), 99));
        assert!(is_expired(Some(100), 100));
        assert!(is_expired(Some(100), 101));
    }

    #[test]
    fn pop_due_takes_only_due_keys_earliest_first_and_bounded() {
        let mut index = ExpiryIndex::default();
        index.insert(30, Bytes::from_static(b"c"));
        index.insert(10, Bytes::from_static(b"a"));
        index.insert(20, Bytes::from_static(b"b"));
        index.insert(99, Bytes::from_static(b"later"));
        let first = index.pop_due(50, 2);
        assert_eq!(
            first,
            vec![
                (10, Bytes::from_static(b"a")),
                (20, Bytes::from_static(b"b"))
            ]
        );
        assert_eq!(index.pop_due(50, 10), vec![(30, Bytes::from_static(b"c"))]);
        assert!(index.pop_due(50, 10).is_empty());
        assert_eq!(index.len(), 1);
    }

    #[test]
    fn remove_needs_the_matching_deadline() {
        let mut index = ExpiryIndex::default();
        index.insert(10, Bytes::from_static(b"k"));
        index.remove(11, b"k");
        assert_eq!(index.len(), 1);
        index.remove(10, b"k");
        assert_eq!(index.len(), 0);
    }
}
