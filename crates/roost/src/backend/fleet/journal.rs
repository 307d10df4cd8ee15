//! The missed-write journal of one node: keys written or deleted while the node
//! was out of rotation (or while a write to it failed), so that when it rejoins
//! none of its old copies is served stale.
//!
//! A key stays journaled until a replay has deleted it on the node, and reads
//! skip a node whose journal holds the key, so a journaled copy is never
//! served — whether the node is down, rejoining, or up after a write to it
//! failed. A writer that skips a down node records the key and confirms the
//! node is still down under the journal's lock, and readmission flips the node
//! up under that lock. Past [`JOURNAL_LIMIT`] keys the journal gives up on
//! detail and asks for the whole node to be flushed instead.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::{Mutex, MutexGuard};

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
    /// Keys held plus one while overflowed: lets the read path skip the lock
    /// when the journal is empty, which is almost always.
    pending: AtomicUsize,
}

impl Journal {
    /// Records `key` if `still_down()` holds under the journal lock; returns
    /// whether it was recorded (when not, the node is up and must be written).
    pub fn record_if(&self, key: &[u8], still_down: impl FnOnce() -> bool) -> bool {
        let mut entries = self.lock();
        if !still_down() {
            return false;
        }
        self.insert(&mut entries, key);
        true
    }

    /// Records `key` unconditionally (a write to this node failed).
    pub fn record(&self, key: &[u8]) {
        self.insert(&mut self.lock(), key);
    }

    /// Whether this node's copy of `key` may be stale: reads skip it until a
    /// replay has deleted it there.
    pub fn may_be_stale(&self, key: &[u8]) -> bool {
        if self.pending.load(Ordering::Acquire) == 0 {
            return false;
        }
        let entries = self.lock();
        entries.overflowed || entries.keys.contains(key)
    }

    /// What is to be replayed now; the keys stay journaled until
    /// [`Journal::settle`] says their deletion succeeded.
    pub fn snapshot(&self) -> Missed {
        let entries = self.lock();
        if entries.overflowed {
            Missed::Everything
        } else if entries.keys.is_empty() {
            Missed::Nothing
        } else {
            Missed::Keys(entries.keys.iter().cloned().collect())
        }
    }

    /// Forgets what a successful replay deleted on the node.
    pub fn settle(&self, replayed: &Missed) {
        let mut entries = self.lock();
        match replayed {
            Missed::Nothing => {}
            Missed::Everything => {
                entries.overflowed = false;
                entries.keys.clear();
            }
            Missed::Keys(keys) => keys.iter().for_each(|k| {
                entries.keys.remove(k);
            }),
        }
        self.pending.store(count(&entries), Ordering::Release);
    }

    /// Runs `admit` under the journal lock if nothing is left to replay, so
    /// no write can be journaled between the check and the node turning up.
    pub fn admit_if_empty(&self, admit: impl FnOnce()) -> bool {
        let entries = self.lock();
        let empty = count(&entries) == 0;
        if empty {
            admit();
        }
        empty
    }

    /// Asks for the whole node to be flushed before it serves again.
    pub fn overflow(&self) {
        let mut entries = self.lock();
        entries.overflowed = true;
        entries.keys.clear();
        self.pending.store(count(&entries), Ordering::Release);
    }

    /// Keys journaled (a flush pending counts as the limit).
    pub fn len(&self) -> usize {
        let entries = self.lock();
        if entries.overflowed {
            JOURNAL_LIMIT
        } else {
            entries.keys.len()
        }
    }

    pub fn is_empty(&self) -> bool {
        self.pending.load(Ordering::Acquire) == 0
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock()
    }

    fn insert(&self, entries: &mut Entries, key: &[u8]) {
        insert(entries, key);
        self.pending.store(count(entries), Ordering::Release);
    }
}

fn count(entries: &Entries) -> usize {
    entries.keys.len() + usize::from(entries.overflowed)
}

/// Stores a copy of `key`: a key handed in by a front door may be a slice of
/// a whole read buffer, which the journal must not keep alive.
fn insert(entries: &mut Entries, key: &[u8]) {
    if entries.overflowed {
        return;
    }
    if entries.keys.len() >= JOURNAL_LIMIT {
        entries.keys.clear();
        entries.overflowed = true;
        return;
    }
    entries.keys.insert(Bytes::copy_from_slice(key));
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    #[test]
    fn records_only_while_the_node_is_down_and_copies_keys() {
        let journal = Journal::default();
        assert!(journal.is_empty());
        let buffer = Bytes::from_static(b"a-and-the-rest-of-a-read-buffer");
        assert!(journal.record_if(&buffer[..1], || true));
        assert!(!journal.record_if(b"b", || false));
        journal.record(b"c");
        journal.record(b"a");
        assert_eq!(journal.len(), 2);
        assert!(journal.may_be_stale(b"a") && !journal.may_be_stale(b"b"));
    }

    #[test]
    fn keys_stay_journaled_until_their_replay_settles_and_admission_waits_for_that() {
        let journal = Journal::default();
        journal.record(b"a");
        let admitted = Cell::new(false);
        assert!(!journal.admit_if_empty(|| admitted.set(true)));
        let replay = journal.snapshot();
        assert_eq!(replay, Missed::Keys(vec![Bytes::from("a")]));
        assert!(
            journal.may_be_stale(b"a"),
            "still skipped while the DEL runs"
        );
        journal.record(b"late");
        journal.settle(&replay);
        assert!(!journal.may_be_stale(b"a"));
        assert!(journal.may_be_stale(b"late"));
        journal.settle(&journal.snapshot());
        assert!(journal.admit_if_empty(|| admitted.set(true)));
        assert!(admitted.get() && journal.is_empty());
    }

    #[test]
    fn a_journal_past_its_limit_asks_for_a_flush() {
        let journal = Journal::default();
        journal
            .lock()
            .keys
            .extend((0..JOURNAL_LIMIT).map(|i| Bytes::from(i.to_string())));
        journal.record(b"one more");
        assert_eq!(journal.len(), JOURNAL_LIMIT);
        assert!(journal.may_be_stale(b"anything"));
        let replay = journal.snapshot();
        assert_eq!(replay, Missed::Everything);
        journal.settle(&replay);
        assert!(journal.is_empty());
        journal.overflow();
        assert_eq!(journal.snapshot(), Missed::Everything);
    }
}
