//! What a versioned shard offers the replication between regions (issue 16):
//! applying another region's entry only if it is newer than what the key
//! holds ([`Shard::apply_newer`]), reading back what a local write stored,
//! tombstones included ([`Shard::peek_entry`]), and dropping everything older
//! than a version after a resync ([`Shard::drop_older_than`]).
//!
//! The rules, all under the shard's write lock:
//! - a change applies iff its version is greater than the version the key
//!   holds, a tombstone's included; an expired entry counts as absent (its
//!   removal raises the forgotten floor first);
//! - on an absent key, a change at or below the forgotten floor is refused:
//!   the shard may have forgotten a newer version of that key;
//! - an entry applied this way keeps its own version (it is not re-stamped);
//! - a change whose deadline has already passed is the key's removal at its
//!   version: it removes an older entry and raises the floor, and stores nothing.

use bytes::Bytes;

use super::{Entry, Shard, ShardState, Version};
use crate::expiry::is_expired;
use crate::UnixMillis;

/// What [`Shard::apply_newer`] did with another region's entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaApply {
    /// Newer than what the key held: stored (or, already expired, the older
    /// entry removed).
    Applied,
    /// The key holds this version or a newer one: nothing changed.
    Older,
    /// The key is absent and the version is at or below the forgotten floor:
    /// it cannot be proven fresh, nothing stored.
    Forgotten,
    /// Heavier than the whole shard: nothing stored.
    Refused,
}

impl Shard {
    /// Stores another region's `hit` (a value or a tombstone, at its own
    /// version) only if it is newer than what `key` holds; see the module
    /// docs for the rules. Not an access for the eviction policy's
    /// frequencies beyond the insert itself.
    pub fn apply_newer(&self, key: Bytes, hit: Entry) -> ReplicaApply {
        self.apply_newer_over(key, hit, true)
    }

    /// Stores a value loaded from the origin at the version its miss took
    /// before asking (`hit`'s), by the same rules as [`Shard::apply_newer`]:
    /// so a change made after the miss began — another region's write or
    /// delete applied here meanwhile, a tombstone included — wins over an
    /// answer the origin may have given before it. Unless `replace` (a
    /// refresh-ahead), only where the key holds no live value. `true` when
    /// stored.
    pub fn fill_newer(&self, key: Bytes, hit: Entry, replace: bool) -> bool {
        self.apply_newer_over(key, hit, replace) == ReplicaApply::Applied
    }

    /// [`Shard::apply_newer`]; a live value older than `hit` is replaced
    /// only with `over_live` (a tombstone always is).
    fn apply_newer_over(&self, key: Bytes, hit: Entry, over_live: bool) -> ReplicaApply {
        if self.check_fits(&key, &hit).is_err() {
            return ReplicaApply::Refused;
        }
        let now = self.clock.now_millis();
        let mut state = self.state.write();
        let current = self.live_or_tombstone(&mut state, &key, now);
        match &current {
            Some(held) if hit.version() <= held.version() => return ReplicaApply::Older,
            Some(held) if !over_live && !held.is_tombstone() => return ReplicaApply::Older,
            None if hit.version() <= state.forgotten => return ReplicaApply::Forgotten,
            _ => {}
        }
        if is_expired(hit.expires_at, now) {
            if current.is_some() {
                state.take(&self.counters, &key);
            }
            state.raise_floor(hit.version());
            return ReplicaApply::Applied;
        }
        state.put(&self.counters, key, hit, current.as_ref(), false);
        ReplicaApply::Applied
    }

    /// What `key` holds as a replicated change would carry it: a live value or
    /// a tombstone not yet run out, with its version and deadline; `None` when
    /// absent. An expired entry is removed (raising the floor) and reads as
    /// absent. Not an access for the eviction policy.
    pub fn peek_entry(&self, key: &[u8]) -> Option<Entry> {
        let found = self.state.read().map.peek(key)?;
        let Some(deadline) = found.expires_at else {
            return Some(found);
        };
        let now = self.clock.now_millis();
        if !is_expired(Some(deadline), now) {
            return Some(found);
        }
        self.remove_expired(key, now);
        None
    }

    /// Removes every value and tombstone whose version is older than
    /// `version` (unversioned entries included) and raises the floor to just
    /// below `version` whether or not anything was removed: a resync drops
    /// what a peer's trimmed log may have changed, and a change older than
    /// the trim arriving later (from another peer) must not land on the now
    /// absent key either. Answers how many were removed. Holds the write
    /// lock for one pass over the shard.
    pub fn drop_older_than(&self, version: Version) -> u64 {
        let mut state = self.state.write();
        if let Some(below) = version.get().checked_sub(1).and_then(Version::new) {
            state.raise_floor(below);
        }
        let mut older = Vec::new();
        state.map.for_each(&mut |key, hit| {
            if hit.version() < version {
                older.push(key.clone());
            }
        });
        let mut removed = 0;
        for key in older {
            removed += u64::from(state.let_go(&self.counters, &key).is_some());
        }
        removed
    }

    /// What `key` holds under the held write lock, an expired entry removed
    /// first (counted as an expiration when it was a value; its version
    /// raises the floor) and answered as absent.
    fn live_or_tombstone(
        &self,
        state: &mut ShardState,
        key: &[u8],
        now: UnixMillis,
    ) -> Option<Entry> {
        let held = state.map.peek(key)?;
        if !is_expired(held.expires_at, now) {
            return Some(held);
        }
        state.let_go(&self.counters, key);
        if !held.is_tombstone() {
            self.counters
                .expirations
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use super::*;
    use crate::{entry_weight, ManualClock, Mutation, PolicyKind, Versioning};

    const TOMBSTONE_TTL: u64 = 60_000;

    /// A versioned shard whose stamps count up from 1_000 (so versions below
    /// that are "another region's, older"), and the stamp counter.
    fn versioned(policy: PolicyKind, capacity: u64) -> (Shard, ManualClock, Arc<AtomicU64>) {
        let clock = ManualClock::new(1_000);
        let next = Arc::new(AtomicU64::new(1_000));
        let counter = Arc::clone(&next);
        let versioning = Versioning {
            stamp: Arc::new(move || Version::new(counter.fetch_add(1, Ordering::SeqCst)).unwrap()),
            tombstone_ttl_ms: TOMBSTONE_TTL,
        };
        let shard =
            Shard::with_versioning(policy, capacity, Arc::new(clock.clone()), Some(versioning));
        (shard, clock, next)
    }

    fn bytes(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    fn v(n: u64) -> Version {
        Version::new(n).unwrap()
    }

    fn value_at(value: &str, version: u64) -> Entry {
        Entry::versioned(bytes(value), None, v(version))
    }

    #[test]
    fn every_local_write_is_stamped_in_order() {
        for policy in PolicyKind::ALL {
            let (shard, _clock, _) = versioned(policy, 1 << 20);
            shard.set(bytes("a"), bytes("1"), None).unwrap();
            shard.put(bytes("b"), Entry::new(bytes("2"), None)).unwrap();
            let outcomes = shard.set_many([
                (bytes("c"), Entry::new(bytes("3"), None)),
                (bytes("d"), Entry::new(bytes("4"), Some(9_000))),
            ]);
            assert!(outcomes.iter().all(Result::is_ok));
            shard
                .update(bytes("e"), |_| {
                    let set = Mutation::Set {
                        value: bytes("5"),
                        expires_at: None,
                    };
                    (set, ())
                })
                .unwrap();
            let restored = shard.insert_absent_many([(bytes("f"), Entry::new(bytes("6"), None))]);
            assert_eq!(restored.inserted, 1);
            let versions: Vec<u64> = ["a", "b", "c", "d", "e", "f"]
                .iter()
                .map(|k| shard.peek_entry(k.as_bytes()).unwrap().version().get())
                .collect();
            assert_eq!(
                versions,
                [1_000, 1_001, 1_002, 1_003, 1_004, 1_005],
                "{policy}"
            );
            // A write given a version keeps it; get answers the stamped entry.
            shard.put(bytes("g"), value_at("7", 7)).unwrap();
            assert_eq!(shard.get(b"g").unwrap().version(), v(7), "{policy}");
            assert_eq!(shard.get(b"a").unwrap().version(), v(1_000), "{policy}");
        }
    }

    #[test]
    fn a_delete_leaves_a_tombstone_even_for_an_absent_key() {
        for policy in PolicyKind::ALL {
            let (shard, clock, _) = versioned(policy, 1 << 20);
            shard.set(bytes("k"), bytes("v"), None).unwrap();
            assert!(shard.delete(b"k"), "{policy}: a live value was removed");
            let buried = shard.peek_entry(b"k").unwrap();
            assert!(buried.is_tombstone(), "{policy}");
            assert_eq!(buried.version(), v(1_001), "{policy}");
            assert_eq!(buried.expires_at, Some(1_000 + TOMBSTONE_TTL), "{policy}");
            assert_eq!(shard.get(b"k"), None, "{policy}: never read");
            assert!(!shard.delete(b"absent"), "{policy}: nothing live removed");
            let absent = shard.peek_entry(b"absent").unwrap();
            assert!(
                absent.is_tombstone() && absent.version() == v(1_002),
                "{policy}"
            );
            // update's Delete and a take of an absent key bury too.
            let taken = shard
                .update(bytes("never"), |current| (Mutation::Delete, current))
                .unwrap();
            assert_eq!(taken, None);
            assert!(
                shard.peek_entry(b"never").unwrap().is_tombstone(),
                "{policy}"
            );
            assert_eq!(shard.len(), 3, "{policy}: three tombstones held");
            // Tombstones run out: removed, and the floor remembers them.
            clock.set(1_000 + TOMBSTONE_TTL);
            assert_eq!(shard.sweep_expired(10), 3, "{policy}");
            assert_eq!((shard.len(), shard.used_bytes()), (0, 0), "{policy}");
            assert_eq!(shard.forgotten_floor(), v(1_003), "{policy}");
            assert_eq!(shard.expirations(), 0, "{policy}: no value expired");
        }
    }

    #[test]
    fn a_write_already_expired_is_stored_as_its_removal() {
        let (shard, _clock, _) = versioned(PolicyKind::default(), 1 << 20);
        shard.set(bytes("k"), bytes("old"), None).unwrap();
        shard.set(bytes("k"), bytes("new"), Some(999)).unwrap();
        assert_eq!(shard.get(b"k"), None);
        let stored = shard.peek_entry(b"k").unwrap();
        assert!(stored.is_tombstone());
        assert_eq!(stored.version(), v(1_001));
        assert_eq!(stored.expires_at, Some(1_000 + TOMBSTONE_TTL));
    }

    #[test]
    fn apply_newer_stores_only_what_is_newer_and_keeps_its_version() {
        for policy in PolicyKind::ALL {
            let (shard, _clock, _) = versioned(policy, 1 << 20);
            assert_eq!(
                shard.apply_newer(bytes("k"), value_at("remote", 50)),
                ReplicaApply::Applied,
                "{policy}"
            );
            assert_eq!(shard.get(b"k").unwrap(), value_at("remote", 50), "{policy}");
            assert_eq!(
                shard.apply_newer(bytes("k"), value_at("again", 50)),
                ReplicaApply::Older,
                "{policy}: the same version twice is a no-op"
            );
            assert_eq!(
                shard.apply_newer(bytes("k"), value_at("late", 40)),
                ReplicaApply::Older,
                "{policy}"
            );
            assert_eq!(shard.get(b"k").unwrap().value, bytes("remote"));
            // A tombstone counts: an older value does not resurrect the key.
            let tombstone = Entry::tombstone(v(60), Some(50_000));
            assert_eq!(
                shard.apply_newer(bytes("k"), tombstone.clone()),
                ReplicaApply::Applied
            );
            assert_eq!(shard.get(b"k"), None, "{policy}");
            assert_eq!(shard.peek_entry(b"k"), Some(tombstone), "{policy}");
            assert_eq!(
                shard.apply_newer(bytes("k"), value_at("resurrected", 55)),
                ReplicaApply::Older,
                "{policy}"
            );
            assert_eq!(
                shard.apply_newer(bytes("k"), value_at("newer", 70)),
                ReplicaApply::Applied,
                "{policy}"
            );
            assert_eq!(shard.get(b"k").unwrap().value, bytes("newer"));
            // A local write after it is stamped from the store's clock and wins.
            shard.set(bytes("k"), bytes("local"), None).unwrap();
            assert_eq!(
                shard.apply_newer(bytes("k"), value_at("remote", 999)),
                ReplicaApply::Older,
                "{policy}"
            );
            assert_eq!(shard.len(), 1, "{policy}");
        }
    }

    /// A fill carries the version its miss took before asking the origin: a
    /// delete (a tombstone) or write applied since then wins over it, one
    /// applied before it does not; without `replace` it never lands on a
    /// live value.
    #[test]
    fn a_fill_loses_to_a_change_newer_than_its_miss() {
        for policy in PolicyKind::ALL {
            let (shard, _clock, _) = versioned(policy, 1 << 20);
            // Another region's delete, stamped after the miss (version 40)
            // began, arrives before the origin's answer.
            assert_eq!(
                shard.apply_newer(bytes("k"), Entry::tombstone(v(50), Some(50_000))),
                ReplicaApply::Applied
            );
            assert!(
                !shard.fill_newer(bytes("k"), value_at("origin", 40), false),
                "{policy}: the fill must not resurrect a newer delete"
            );
            assert_eq!(shard.get(b"k"), None, "{policy}");
            // A miss that began after the delete stores over its tombstone.
            assert!(shard.fill_newer(bytes("k"), value_at("origin", 60), false));
            assert_eq!(shard.get(b"k").unwrap(), value_at("origin", 60), "{policy}");
            // A live value stays unless the fill is a refresh (and newer).
            assert!(!shard.fill_newer(bytes("k"), value_at("fill", 70), false));
            assert!(!shard.fill_newer(bytes("k"), value_at("refresh", 55), true));
            assert!(shard.fill_newer(bytes("k"), value_at("refresh", 70), true));
            assert_eq!(
                shard.get(b"k").unwrap(),
                value_at("refresh", 70),
                "{policy}"
            );
            // A change newer than the fill, arriving after it, still applies.
            assert_eq!(
                shard.apply_newer(bytes("k"), Entry::tombstone(v(80), Some(50_000))),
                ReplicaApply::Applied,
                "{policy}"
            );
            assert_eq!(shard.get(b"k"), None, "{policy}");
        }
    }

    #[test]
    fn an_expired_entry_counts_as_absent_and_raises_the_floor() {
        let (shard, clock, _) = versioned(PolicyKind::default(), 1 << 20);
        let dying = Entry::versioned(bytes("v"), Some(1_500), v(80));
        assert_eq!(shard.apply_newer(bytes("k"), dying), ReplicaApply::Applied);
        clock.set(1_500);
        assert_eq!(
            shard.apply_newer(bytes("k"), value_at("older", 70)),
            ReplicaApply::Forgotten,
            "the expired entry is gone, but it was newer"
        );
        assert_eq!(shard.forgotten_floor(), v(80));
        assert_eq!(shard.expirations(), 1);
        assert_eq!(
            shard.apply_newer(bytes("k"), value_at("newer", 90)),
            ReplicaApply::Applied
        );
    }

    #[test]
    fn an_already_expired_change_removes_the_older_entry() {
        let (shard, _clock, _) = versioned(PolicyKind::default(), 1 << 20);
        shard.apply_newer(bytes("k"), value_at("v", 10));
        let expired = Entry::versioned(bytes("gone"), Some(900), v(20));
        assert_eq!(
            shard.apply_newer(bytes("k"), expired),
            ReplicaApply::Applied
        );
        assert_eq!(shard.peek_entry(b"k"), None);
        assert_eq!(shard.forgotten_floor(), v(20));
        assert_eq!(
            shard.apply_newer(bytes("k"), value_at("v", 15)),
            ReplicaApply::Forgotten
        );
    }

    #[test]
    fn eviction_raises_the_floor_under_every_policy() {
        for policy in PolicyKind::ALL {
            let capacity = 20 * entry_weight(6, 8);
            let (shard, _clock, _) = versioned(policy, capacity);
            for i in 0..200u64 {
                let outcome = shard.apply_newer(
                    Bytes::from(format!("key{i:03}")),
                    Entry::versioned(Bytes::from_static(b"12345678"), None, v(10 + i)),
                );
                assert_eq!(outcome, ReplicaApply::Applied, "{policy}: {i}");
            }
            assert!(shard.evictions() > 0, "{policy}");
            let floor = shard.forgotten_floor();
            let mut newest_evicted = Version::NONE;
            for i in 0..200u64 {
                let key = format!("key{i:03}");
                if shard.peek_entry(key.as_bytes()).is_none() {
                    newest_evicted = newest_evicted.max(v(10 + i));
                }
            }
            assert_eq!(
                floor, newest_evicted,
                "{policy}: the newest version evicted"
            );
            // An evicted key: a change at or below the floor is forgotten, a
            // newer one applies.
            let evicted = (0..200u64)
                .map(|i| format!("key{i:03}"))
                .find(|key| shard.peek_entry(key.as_bytes()).is_none())
                .unwrap();
            assert_eq!(
                shard.apply_newer(Bytes::from(evicted.clone()), value_at("x", floor.get())),
                ReplicaApply::Forgotten,
                "{policy}"
            );
            assert_eq!(
                shard.apply_newer(Bytes::from(evicted), value_at("x", floor.get() + 1)),
                ReplicaApply::Applied,
                "{policy}"
            );
        }
    }

    #[test]
    fn a_local_value_evicted_at_once_reads_back_as_its_removal() {
        // Strict LRU holds an entry that fills the shard; s3fifo evicts one
        // heavier than its main queue at once.
        let capacity = entry_weight(1, 1_000);
        let (shard, _clock, _) = versioned(PolicyKind::S3Fifo, capacity);
        shard.set(bytes("k"), vec![0; 1_000].into(), None).unwrap();
        let stored = shard.peek_entry(b"k").unwrap();
        assert!(stored.is_tombstone(), "{stored:?}");
        assert_eq!(stored.version(), v(1_000));
    }

    #[test]
    fn a_remote_entry_heavier_than_the_shard_is_refused() {
        for policy in PolicyKind::ALL {
            let (shard, _clock, _) = versioned(policy, 1_000);
            let heavy = Entry::versioned(vec![0; 1_000].into(), None, v(5));
            assert_eq!(shard.apply_newer(bytes("k"), heavy), ReplicaApply::Refused);
            assert_eq!(shard.len(), 0, "{policy}");
        }
    }

    #[test]
    fn drop_older_than_removes_values_and_tombstones_below_the_version() {
        for policy in PolicyKind::ALL {
            let (shard, _clock, _) = versioned(policy, 1 << 20);
            shard.apply_newer(bytes("old"), value_at("v", 10));
            shard.apply_newer(bytes("buried"), Entry::tombstone(v(20), Some(90_000)));
            shard.apply_newer(bytes("edge"), value_at("v", 30));
            shard.apply_newer(bytes("new"), value_at("v", 40));
            // An unversioned entry (a shard that was not versioned could not
            // hold one with versioning on, so put one in under the lock).
            let unversioned = Entry::new(bytes("v"), None);
            shard
                .state
                .write()
                .put(&shard.counters, bytes("plain"), unversioned, None, false);
            assert_eq!(shard.drop_older_than(v(30)), 3, "{policy}");
            assert!(shard.peek_entry(b"old").is_none(), "{policy}");
            assert!(shard.peek_entry(b"buried").is_none(), "{policy}");
            assert!(shard.peek_entry(b"plain").is_none(), "{policy}");
            assert_eq!(shard.peek_entry(b"edge").unwrap().version(), v(30));
            assert_eq!(shard.peek_entry(b"new").unwrap().version(), v(40));
            assert_eq!(shard.forgotten_floor(), v(29), "{policy}");
            assert_eq!(shard.len(), 2, "{policy}");
            // A late change older than the drop no longer lands on an absent key.
            assert_eq!(
                shard.apply_newer(bytes("old"), value_at("late", 25)),
                ReplicaApply::Forgotten,
                "{policy}"
            );
            assert!(shard.peek_entry(b"old").is_none(), "{policy}");
        }
    }

    #[test]
    fn drop_older_than_raises_the_floor_even_when_nothing_is_removed() {
        let (shard, _clock, _) = versioned(PolicyKind::default(), 1 << 20);
        assert_eq!(shard.drop_older_than(v(50)), 0);
        assert_eq!(shard.forgotten_floor(), v(49));
        assert_eq!(
            shard.apply_newer(bytes("k"), value_at("v", 49)),
            ReplicaApply::Forgotten
        );
        assert_eq!(
            shard.apply_newer(bytes("k"), value_at("v", 50)),
            ReplicaApply::Applied
        );
    }

    #[test]
    fn clear_raises_the_floor_to_the_newest_version_held() {
        let (shard, _clock, _) = versioned(PolicyKind::default(), 1 << 20);
        shard.apply_newer(bytes("a"), value_at("v", 10));
        shard.apply_newer(bytes("b"), value_at("v", 30));
        assert_eq!(shard.clear(), 2);
        assert_eq!(shard.forgotten_floor(), v(30));
        assert_eq!(
            shard.apply_newer(bytes("a"), value_at("v", 20)),
            ReplicaApply::Forgotten
        );
    }

    #[test]
    fn peek_entry_removes_an_expired_value_and_counts_it() {
        let (shard, clock, _) = versioned(PolicyKind::default(), 1 << 20);
        shard.set(bytes("k"), bytes("v"), Some(2_000)).unwrap();
        assert_eq!(shard.peek_entry(b"k").unwrap().version(), v(1_000));
        clock.set(2_000);
        assert_eq!(shard.peek_entry(b"k"), None);
        assert_eq!((shard.expirations(), shard.len()), (1, 0));
        assert_eq!(shard.forgotten_floor(), v(1_000));
    }

    #[test]
    fn a_restore_never_replaces_a_remembered_delete() {
        let (shard, _clock, _) = versioned(PolicyKind::default(), 1 << 20);
        assert!(!shard.delete(b"k"));
        let restored = shard.insert_absent_many([(bytes("k"), Entry::new(bytes("old"), None))]);
        assert_eq!((restored.inserted, restored.present), (0, 1));
        assert!(shard.peek_entry(b"k").unwrap().is_tombstone());
    }

    #[test]
    fn a_delete_whose_tombstone_cannot_fit_is_remembered_by_the_floor() {
        // Strict LRU holds an entry as heavy as the shard; the tombstone, with
        // its deadline slot, is heavier than this one-byte value.
        let capacity = entry_weight(1, 1);
        let (shard, _clock, _) = versioned(PolicyKind::Lru, capacity);
        shard.set(bytes("k"), bytes("v"), None).unwrap();
        assert!(shard.delete(b"k"));
        assert_eq!((shard.len(), shard.used_bytes()), (0, 0));
        assert_eq!(shard.forgotten_floor(), v(1_001));
        assert_eq!(
            shard.apply_newer(bytes("k"), value_at("o", 1_000)),
            ReplicaApply::Forgotten
        );
    }

    #[test]
    fn without_versioning_nothing_is_stamped_or_remembered() {
        let clock = ManualClock::new(1_000);
        let shard = Shard::new(PolicyKind::default(), 1 << 20, Arc::new(clock));
        shard.set(bytes("k"), bytes("v"), None).unwrap();
        assert_eq!(shard.peek_entry(b"k").unwrap().version(), Version::NONE);
        assert!(shard.delete(b"k"));
        assert_eq!(shard.peek_entry(b"k"), None, "no tombstone");
        assert_eq!(shard.len(), 0);
        assert!(!shard.is_versioned());
    }
}
