//! The missed-write journal of one node: keys written or deleted while the node
//! was out of rotation (or while a write to it failed), so that when it rejoins
//! none of its old copies is served stale.
//!
//! The journal and the node's up/down flip are decided under one lock: a writer
//! that skips a down node records the key *and* confirms the node is still down
//! in the same critical section, and readmission flips the node up only when
//! the journal is empty under that lock. So no write can slip between "journal
//! replayed" and "node serving". Past [`JOURNAL_LIMIT`] keys the journal gives
//! up on detail and asks for the whole node to be flushed on rejoin instead.

use std::collections::HashSet;
use std::sync::Mutex;

use bytes::Bytes;

/// Most keys remembered per node before rejoin means a full flush instead.
pub const JOURNAL_LIMIT: usize = 1_000_000;

/// What a rejoining node must drop before it serves again.
#[derive(Debug, PartialEq, Eq)]
pub enum Missed {
    /// Nothing: the node may be flipped up.
    Nothing,
    /// These keys changed while it was out.
    Keys(Vec<Bytes>),
    /// Too much changed to track: flush the node.
    Everything,
}

#[derive(Debug, Default)]
struct Entries {
    keys: HashSet<Bytes>,
    overflowed: bool,
}

#[derive(Debug, Default)]
pub struct Journal {
    entries: Mutex<Entries>,
}

impl Journal {
    /// Records `key` if `still_down()` holds under the journal lock; returns
    /// whether it was recorded (when not, the node is up and must be written).
    pub fn record_if(&self, key: &Bytes, still_down: impl FnOnce() -> bool) -> bool {
        let mut entries = self.lock();
        if !still_down() {
            return false;
        }
        insert(&mut entries, key);
        true
    }

    /// Records `key` unconditionally (a write to this node failed).
    pub fn record(&self, key: &Bytes) {
        insert(&mut self.lock(), key);
    }

    /// Takes what the node missed so far. When nothing is left, runs `admit`
    /// under the lock, so no write can be journaled after the last take.
    pub fn take_or_admit(&self, admit: impl FnOnce()) -> Missed {
        let mut entries = self.lock();
        if entries.overflowed {
            entries.overflowed = false;
            entries.keys.clear();
            return Missed::Everything;
        }
        if entries.keys.is_empty() {
            admit();
            return Missed::Nothing;
        }
        Missed::Keys(entries.keys.drain().collect())
    }

    /// Puts keys back after a replay that failed part-way.
    pub fn restore(&self, missed: Missed) {
        let mut entries = self.lock();
        match missed {
            Missed::Nothing => {}
            Missed::Everything => entries.overflowed = true,
            Missed::Keys(keys) => keys.iter().for_each(|k| insert(&mut entries, k)),
        }
    }

    pub fn len(&self) -> usize {
        self.lock().keys.len()
    }

    pub fn is_empty(&self) -> bool {
        let entries = self.lock();
        entries.keys.is_empty() && !entries.overflowed
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn insert(entries: &mut Entries, key: &Bytes) {
    if entries.overflowed {
        return;
    }
    if entries.keys.len() >= JOURNAL_LIMIT {
        entries.keys.clear();
        entries.overflowed = true;
        return;
    }
    entries.keys.insert(key.clone());
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn records_only_while_the_node_is_down() {
        let journal = Journal::default();
        assert!(journal.record_if(&Bytes::from("a"), || true));
        assert!(!journal.record_if(&Bytes::from("b"), || false));
        journal.record(&Bytes::from("c"));
        journal.record(&Bytes::from("a"));
        assert_eq!(journal.len(), 2);
    }

    #[test]
    fn admits_only_once_every_missed_key_was_taken() {
        let journal = Journal::default();
        journal.record(&Bytes::from("a"));
        let admitted = Cell::new(false);
        let first = journal.take_or_admit(|| admitted.set(true));
        assert_eq!(first, Missed::Keys(vec![Bytes::from("a")]));
        assert!(!admitted.get(), "keys were still to replay");
        journal.record(&Bytes::from("late"));
        let second = journal.take_or_admit(|| admitted.set(true));
        assert_eq!(second, Missed::Keys(vec![Bytes::from("late")]));
        assert_eq!(
            journal.take_or_admit(|| admitted.set(true)),
            Missed::Nothing
        );
        assert!(admitted.get());
    }

    #[test]
    fn a_journal_past_its_limit_asks_for_a_flush_and_a_failed_replay_is_kept() {
        let journal = Journal::default();
        journal
            .lock()
            .keys
            .extend((0..JOURNAL_LIMIT).map(|i| Bytes::from(i.to_string())));
        journal.record(&Bytes::from("one more"));
        assert_eq!(journal.len(), 0);
        assert!(!journal.is_empty());
        let missed = journal.take_or_admit(|| panic!("must not admit"));
        assert_eq!(missed, Missed::Everything);
        journal.restore(missed);
        assert_eq!(journal.take_or_admit(|| ()), Missed::Everything);
        journal.restore(Missed::Keys(vec![Bytes::from("k")]));
        assert_eq!(journal.len(), 1);
    }
}
