//! One shard: a policy map and its expiry index behind one lock, plus atomic
//! counters that readers use without touching the lock. Owns expiry on access,
//! background sweeping, the capacity check, and atomic read-modify-write. It never
//! picks which shard a key belongs to (the server's router does).
//!
//! Locking: one `parking_lot::RwLock` per shard around the map and the index.
//! Lookups take it shared (the map may still serialise inside, as strict LRU must);
//! every mutation takes it exclusively, which is also what makes [`Shard::update`]
//! atomic: `quick_cache`'s entry API cannot insert a missing key in the same
//! critical section, so the shard lock provides the read-modify-write guarantee for
//! every policy alike.
//!
//! Versioning (issue 16, installed with [`Shard::with_versioning`]): every local
//! write is stamped under the write lock, a delete leaves a tombstone, and every
//! physical removal the shard decides on its own (eviction, expiry, a tombstone
//! running out, a clear) raises the shard's *forgotten floor*. Applying another
//! region's entries against those versions is `replica.rs`.

mod collections;
mod replica;

pub use replica::ReplicaApply;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use crate::collection::Held;
use crate::expiry::{is_expired, ExpiryIndex};
use crate::policy::{new_shard_map, PolicyKind, ShardMap};
use crate::weight::stored_weight;
use crate::{Clock, StoreError, UnixMillis, Versioning};

/// What a shard stores for a key: the value, its deadline, and its version.
/// Reads return live entries only; a tombstone (a delete remembered at a
/// version, so an older write arriving later can be refused) is held and
/// charged like an entry but never read.
///
/// The version and the tombstone flag share one word (the flag is its top
/// bit), so versioning costs each entry 8 bytes, not 16.
///
/// A hash, list, set or sorted set is an entry whose `value` is empty and
/// which holds its collection ([`Entry::collection`]); every copy of the
/// entry shares the collection, which only [`Shard::update_collection`]
/// changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The stored bytes (empty for a tombstone and a collection).
    pub value: Bytes,
    /// When the entry expires (unix millis), if it does.
    pub expires_at: Option<UnixMillis>,
    meta: u64,
    collection: Option<Held>,
}

/// The top bit of `Entry::meta`: the entry is a tombstone.
const TOMBSTONE: u64 = 1 << 63;

impl Entry {
    /// A value written without a version.
    pub fn new(value: Bytes, expires_at: Option<UnixMillis>) -> Entry {
        Entry {
            value,
            expires_at,
            meta: 0,
            collection: None,
        }
    }

    /// A value written at `version`.
    pub fn versioned(value: Bytes, expires_at: Option<UnixMillis>, version: Version) -> Entry {
        Entry {
            value,
            expires_at,
            meta: version.0,
            collection: None,
        }
    }

    /// A delete remembered at `version` until `expires_at`.
    pub fn tombstone(version: Version, expires_at: Option<UnixMillis>) -> Entry {
        Entry {
            value: Bytes::new(),
            expires_at,
            meta: version.0 | TOMBSTONE,
            collection: None,
        }
    }

    /// The hash, list, set or sorted set this entry holds; `None` for a
    /// string (and a tombstone).
    pub fn collection(&self) -> Option<&Held> {
        self.collection.as_ref()
    }

    /// Redis's name for what the entry holds: `string`, or the collection's.
    pub fn type_name(&self) -> &'static str {
        self.collection
            .as_ref()
            .map_or("string", |c| c.kind().name())
    }

    /// The same entry at `version` (a tombstone stays one).
    fn at_version(self, version: Version) -> Entry {
        Entry {
            meta: version.0 | (self.meta & TOMBSTONE),
            ..self
        }
    }

    /// Which write made it; [`Version::NONE`] for a write that carried none.
    pub fn version(&self) -> Version {
        Version(self.meta & !TOMBSTONE)
    }

    /// A delete remembered at [`Entry::version`], not a value.
    pub fn is_tombstone(&self) -> bool {
        self.meta & TOMBSTONE != 0
    }
}

/// The version of a write: a 63-bit timestamp (a hybrid logical clock, for
/// ordering writes across regions), compared as a number. A shard with
/// [`Versioning`] stamps every write it performs; without it every entry
/// carries [`Version::NONE`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Version(u64);

impl Version {
    /// No version: older than every versioned write.
    pub const NONE: Version = Version(0);
    /// The newest version an entry can carry (63 bits).
    pub const MAX: Version = Version(!TOMBSTONE);

    /// `stamp` as a version; `None` past [`Version::MAX`].
    pub fn new(stamp: u64) -> Option<Version> {
        (stamp <= Version::MAX.0).then_some(Version(stamp))
    }

    pub fn get(self) -> u64 {
        self.0
    }

    pub fn is_none(self) -> bool {
        self == Version::NONE
    }
}

/// What an [`Shard::update`] closure wants done to its key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mutation {
    /// Leave the key as it is.
    Keep,
    /// Store this entry as given (a versioned write or a tombstone).
    Put(Entry),
    /// Store this value and deadline (replacing any current entry): without a
    /// version, or at a fresh one when the shard has [`Versioning`].
    Set {
        /// The new bytes.
        value: Bytes,
        /// The new deadline; `None` keeps the entry until it is evicted or deleted.
        expires_at: Option<UnixMillis>,
    },
    /// Remove the key (with [`Versioning`]: leave a tombstone at a fresh
    /// version, even when the key held nothing).
    Delete,
    /// Keep what the key holds (a string or a collection) with this deadline
    /// instead: without a version, or at a fresh one with [`Versioning`].
    Retime {
        /// The new deadline; `None` removes it.
        expires_at: Option<UnixMillis>,
    },
}

/// What [`Shard::insert_absent_many`] did with its entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AbsentInserts {
    /// Stored (the key held no live value).
    pub inserted: u64,
    /// Left alone: the key already held a live value.
    pub present: u64,
    /// Skipped: the entry's deadline had passed.
    pub expired: u64,
    /// Skipped: heavier than the whole shard.
    pub too_large: u64,
}

impl AbsentInserts {
    /// Adds another batch's counts.
    pub fn add(&mut self, other: AbsentInserts) {
        self.inserted += other.inserted;
        self.present += other.present;
        self.expired += other.expired;
        self.too_large += other.too_large;
    }
}

/// Counters readers load without the lock; written only under the write lock.
#[derive(Debug, Default)]
struct ShardCounters {
    len: AtomicU64,
    used_bytes: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
}

/// The lock-protected part of a shard.
struct ShardState {
    map: Box<dyn ShardMap>,
    expiry: ExpiryIndex,
    /// The newest version this shard removed on its own (evicted, expired, a
    /// tombstone run out, cleared, dropped): an absent key may have held
    /// anything up to it, so another region's change at or below it cannot be
    /// proven fresh (`replica.rs`). Stays [`Version::NONE`] without versioning.
    forgotten: Version,
}

impl ShardState {
    /// Stores `key`; `old` is what the map holds for it right now (read under the same lock).
    /// With `watch`, answers the key when the policy evicted the new entry at
    /// once (copying the key only then); `None` otherwise.
    fn put(
        &mut self,
        counters: &ShardCounters,
        key: Bytes,
        hit: Entry,
        old: Option<&Entry>,
        watch: bool,
    ) -> Option<Bytes> {
        // Counters are read without the lock, so they move once, by the net change:
        // adding the new weight before subtracting the evicted ones would briefly
        // show a shard above its capacity.
        let mut removed = Removed::default();
        if let Some(old) = old {
            removed.add(self.forget(&key, old));
        }
        let added_weight = stored_weight(&key, &hit);
        let deadline = hit.expires_at;
        let watched = (watch || deadline.is_some()).then(|| key.clone());
        let mut evicted = Vec::new();
        self.map.insert(key, hit, old.is_some(), &mut evicted);
        let mut new_entry_evicted = false;
        for (evicted_key, evicted_hit) in &evicted {
            removed.add(self.forget(evicted_key, evicted_hit));
            self.raise_floor(evicted_hit.version());
            if let Some(key) = &watched {
                new_entry_evicted |= evicted_key == key;
            }
        }
        counters.apply(1, added_weight, removed);
        counters
            .evictions
            .fetch_add(evicted.len() as u64, Ordering::Relaxed);
        let key = watched?;
        match (deadline, new_entry_evicted) {
            (_, true) => watch.then_some(key),
            (Some(at), false) => {
                self.expiry.insert(at, key);
                None
            }
            (None, false) => None,
        }
    }

    /// Removes `key` because the shard let it go (expired, run out, dropped):
    /// booked like [`ShardState::take`], and its version raises the floor.
    fn let_go(&mut self, counters: &ShardCounters, key: &[u8]) -> Option<Entry> {
        let hit = self.take(counters, key)?;
        self.raise_floor(hit.version());
        Some(hit)
    }

    /// Remembers that something at `version` was forgotten.
    fn raise_floor(&mut self, version: Version) {
        self.forgotten = self.forgotten.max(version);
    }

    /// Removes `key` from the map, the index and the counters.
    fn take(&mut self, counters: &ShardCounters, key: &[u8]) -> Option<Entry> {
        let hit = self.map.remove(key)?;
        self.account_removed(counters, key, &hit);
        Some(hit)
    }

    /// Books an entry that has left the map: counters down, deadline forgotten.
    fn account_removed(&mut self, counters: &ShardCounters, key: &[u8], hit: &Entry) {
        let removed = self.forget(key, hit);
        counters.apply(0, 0, removed);
    }

    /// Forgets the deadline of an entry that has left the map; returns what it weighed.
    fn forget(&mut self, key: &[u8], hit: &Entry) -> Removed {
        if let Some(at) = hit.expires_at {
            self.expiry.remove(at, key);
        }
        Removed {
            entries: 1,
            weight: stored_weight(key, hit),
        }
    }
}

/// Entries and weight that left a map during one operation.
#[derive(Debug, Default, Clone, Copy)]
struct Removed {
    entries: u64,
    weight: u64,
}

impl Removed {
    fn add(&mut self, other: Removed) {
        self.entries += other.entries;
        self.weight += other.weight;
    }
}

impl ShardCounters {
    /// Moves `len` and `used_bytes` by the net of what was added and removed, one
    /// atomic step each, so a lock-free reader never sees an intermediate state.
    fn apply(&self, added_entries: u64, added_weight: u64, removed: Removed) {
        move_by(&self.len, added_entries, removed.entries);
        move_by(&self.used_bytes, added_weight, removed.weight);
    }
}

/// Adds `up - down` to `counter` without passing through a wrapped value.
fn move_by(counter: &AtomicU64, up: u64, down: u64) {
    if up >= down {
        counter.fetch_add(up - down, Ordering::Relaxed);
    } else {
        counter.fetch_sub(down - up, Ordering::Relaxed);
    }
}

/// One node on the ring: a bounded, expiring map with its own policy and counters.
pub struct Shard {
    state: RwLock<ShardState>,
    counters: ShardCounters,
    capacity_bytes: u64,
    clock: Arc<dyn Clock>,
    /// Where versions come from; `None`: writes carry no version and a delete
    /// removes the key.
    versioning: Option<Versioning>,
}

impl std::fmt::Debug for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shard")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

impl Shard {
    /// An empty shard holding at most `capacity_bytes` of [`crate::entry_weight`].
    pub fn new(policy: PolicyKind, capacity_bytes: u64, clock: Arc<dyn Clock>) -> Shard {
        Shard::with_versioning(policy, capacity_bytes, clock, None)
    }

    /// [`Shard::new`] stamping its writes and remembering its deletes with
    /// `versioning` (none: the same as [`Shard::new`]).
    pub fn with_versioning(
        policy: PolicyKind,
        capacity_bytes: u64,
        clock: Arc<dyn Clock>,
        versioning: Option<Versioning>,
    ) -> Shard {
        Shard {
            state: RwLock::new(ShardState {
                map: new_shard_map(policy, capacity_bytes),
                expiry: ExpiryIndex::default(),
                forgotten: Version::NONE,
            }),
            counters: ShardCounters::default(),
            capacity_bytes,
            clock,
            versioning,
        }
    }

    /// Whether this shard stamps its writes ([`Shard::with_versioning`]).
    pub fn is_versioned(&self) -> bool {
        self.versioning.is_some()
    }

    /// The forgotten floor: the newest version this shard removed on its own
    /// (evicted, expired, a tombstone run out, cleared or dropped).
    pub fn forgotten_floor(&self) -> Version {
        self.state.read().forgotten
    }

    /// Reads `key` and counts the access for the eviction policy. An expired entry is
    /// removed, counted as an expiration, and reported as absent.
    pub fn get(&self, key: &[u8]) -> Option<Entry> {
        let found = self.state.read().map.get(key);
        self.unless_expired(key, found)
    }

    /// [`Shard::get`] for several keys under one hold of the read lock. Answers in
    /// key order.
    pub fn get_many<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>) -> Vec<Option<Entry>> {
        let keys: Vec<&[u8]> = keys.into_iter().collect();
        let found: Vec<Option<Entry>> = {
            let state = self.state.read();
            keys.iter().map(|key| state.map.get(key)).collect()
        };
        keys.into_iter()
            .zip(found)
            .map(|(key, found)| self.unless_expired(key, found))
            .collect()
    }

    /// Like [`Shard::get`] but not an access for the eviction policy (still honours
    /// expiry). Under `tinylfu` it is an access all the same: `moka` has no peek.
    pub fn peek(&self, key: &[u8]) -> Option<Entry> {
        let found = self.state.read().map.peek(key);
        self.unless_expired(key, found)
    }

    /// Stores `value` under `key`, evicting by policy to stay within capacity.
    pub fn set(
        &self,
        key: Bytes,
        value: Bytes,
        expires_at: Option<UnixMillis>,
    ) -> Result<(), StoreError> {
        self.put(key, Entry::new(value, expires_at))
    }

    /// Stores `entry` under `key`. With versioning, an entry without a
    /// version is stamped (a versioned one keeps its version).
    pub fn put(&self, key: Bytes, hit: Entry) -> Result<(), StoreError> {
        if self.versioning.is_none() {
            // Refused before the lock is taken.
            self.check_fits(&key, &hit)?;
            let mut state = self.state.write();
            self.store(&mut state, key, hit);
            return Ok(());
        }
        // Stamped under the lock, so versions follow the order of writes.
        let mut state = self.state.write();
        let hit = self.local(hit);
        self.check_fits(&key, &hit)?;
        self.store(&mut state, key, hit);
        Ok(())
    }

    /// [`Shard::put`] for several entries under one hold of the write lock, stored
    /// in order; each is checked on its own. Outcomes in entry order.
    pub fn set_many(
        &self,
        entries: impl IntoIterator<Item = (Bytes, Entry)>,
    ) -> Vec<Result<(), StoreError>> {
        let mut state = self.state.write();
        entries
            .into_iter()
            .map(|(key, hit)| {
                let hit = self.local(hit);
                self.check_fits(&key, &hit)?;
                self.store(&mut state, key, hit);
                Ok(())
            })
            .collect()
    }

    /// The entry a local write stores, under the held write lock. Without
    /// versioning: `hit` as given. With it: stamped with a fresh version
    /// unless it carries one; a tombstone without a deadline gets the
    /// tombstone deadline; a value whose deadline has already passed is
    /// stored as a tombstone at its version (it is the key's removal, and
    /// must be remembered and read back as one).
    fn local(&self, hit: Entry) -> Entry {
        let Some(versioning) = &self.versioning else {
            return hit;
        };
        let version = match hit.version() {
            Version::NONE => (versioning.stamp)(),
            given => given,
        };
        if hit.is_tombstone() {
            let deadline = hit
                .expires_at
                .unwrap_or_else(|| self.tombstone_deadline(versioning));
            return Entry::tombstone(version, Some(deadline));
        }
        if hit
            .expires_at
            .is_some_and(|at| is_expired(Some(at), self.clock.now_millis()))
        {
            return Entry::tombstone(version, Some(self.tombstone_deadline(versioning)));
        }
        hit.at_version(version)
    }

    /// When a tombstone made now runs out.
    fn tombstone_deadline(&self, versioning: &Versioning) -> UnixMillis {
        self.clock
            .now_millis()
            .saturating_add(versioning.tombstone_ttl_ms)
    }

    /// Stores a checked entry under the held write lock; replacing an entry that had
    /// expired counts an expiration.
    fn store(&self, state: &mut ShardState, key: Bytes, hit: Entry) {
        let old = state.map.peek(&key);
        // The clock is read only when the replaced entry has a deadline to
        // compare. A tombstone that runs out is no entry expiring.
        let old_deadline = old
            .as_ref()
            .filter(|old| !old.is_tombstone())
            .and_then(|old| old.expires_at);
        if old_deadline.is_some_and(|at| is_expired(Some(at), self.clock.now_millis())) {
            self.counters.expirations.fetch_add(1, Ordering::Relaxed);
        }
        self.settle(state, key, hit, old.as_ref());
    }

    /// Puts a local write's (checked, stamped) entry where the key holds
    /// `old`. With versioning, a value the policy evicts at once (refused
    /// admission, or heavier than its queue) is replaced by a tombstone at its
    /// version: the write still reads back as the key's removal at that
    /// version, so the regions that held an older value drop it.
    fn settle(&self, state: &mut ShardState, key: Bytes, hit: Entry, old: Option<&Entry>) {
        let Some(versioning) = &self.versioning else {
            state.put(&self.counters, key, hit, old, false);
            return;
        };
        let version = hit.version();
        let watch = !hit.is_tombstone();
        if let Some(key) = state.put(&self.counters, key, hit, old, watch) {
            let tombstone = Entry::tombstone(version, Some(self.tombstone_deadline(versioning)));
            if self.check_fits(&key, &tombstone).is_ok() {
                state.put(&self.counters, key, tombstone, None, false);
            }
        }
    }

    /// Removes `key`; true when a live entry was removed (an expired one counts as an
    /// expiration and returns false). With versioning the key is left holding a
    /// tombstone at a fresh version, whatever it held.
    pub fn delete(&self, key: &[u8]) -> bool {
        if let Some(versioning) = &self.versioning {
            return self.delete_versioned(key, versioning);
        }
        let now = self.clock.now_millis();
        let removed = self.state.write().take(&self.counters, key);
        match removed {
            Some(hit) if hit.is_tombstone() => false,
            Some(hit) if is_expired(hit.expires_at, now) => {
                self.counters.expirations.fetch_add(1, Ordering::Relaxed);
                false
            }
            Some(hit) => !hit.is_tombstone(),
            None => false,
        }
    }

    /// [`Shard::delete`] with versioning: a tombstone replaces whatever the key holds.
    fn delete_versioned(&self, key: &[u8], versioning: &Versioning) -> bool {
        let now = self.clock.now_millis();
        let mut state = self.state.write();
        let current = state.map.peek(key);
        let live = match &current {
            Some(hit) if hit.is_tombstone() => false,
            Some(hit) if is_expired(hit.expires_at, now) => {
                self.counters.expirations.fetch_add(1, Ordering::Relaxed);
                false
            }
            Some(_) => true,
            None => false,
        };
        self.bury(
            &mut state,
            Bytes::copy_from_slice(key),
            current.as_ref(),
            versioning,
        );
        live
    }

    /// Leaves a tombstone at a fresh version where the key holds `current`. A
    /// tombstone the shard cannot hold (a key near the shard's size) removes
    /// the key and raises the floor to the delete's version instead: the
    /// delete is then remembered as forgotten, which refuses older changes too.
    fn bury(
        &self,
        state: &mut ShardState,
        key: Bytes,
        current: Option<&Entry>,
        versioning: &Versioning,
    ) {
        let version = (versioning.stamp)();
        let tombstone = Entry::tombstone(version, Some(self.tombstone_deadline(versioning)));
        if self.check_fits(&key, &tombstone).is_ok() {
            state.put(&self.counters, key, tombstone, current, false);
        } else {
            if current.is_some() {
                state.take(&self.counters, &key);
            }
            state.raise_floor(version);
        }
    }

    /// Atomic read-modify-write of one key: `f` sees the live entry (or `None`) and
    /// decides; no other writer to this shard runs between the read and the write.
    /// The read counts as an access. `f` runs under the shard's write lock, so it must
    /// be short and must not call back into this shard (that would deadlock). A `Set`
    /// too large for the shard is refused with [`StoreError::EntryTooLarge`] after `f`
    /// ran, and its result is dropped.
    pub fn update<R>(
        &self,
        key: Bytes,
        f: impl FnOnce(Option<Entry>) -> (Mutation, R),
    ) -> Result<R, StoreError> {
        let mut state = self.state.write();
        let current = self.resident_for_write(&mut state, &key);
        // A tombstone is no value: `f` sees the key as absent.
        let (mutation, result) = f(current.clone().filter(|hit| !hit.is_tombstone()));
        let hit = match mutation {
            Mutation::Keep => return Ok(result),
            Mutation::Put(hit) => hit,
            Mutation::Set { value, expires_at } => Entry::new(value, expires_at),
            Mutation::Retime { expires_at } => match current.clone() {
                Some(hit) if !hit.is_tombstone() => Entry {
                    expires_at,
                    ..hit.at_version(Version::NONE)
                },
                _ => return Ok(result),
            },
            Mutation::Delete => {
                self.remove_for_write(&mut state, key, current.as_ref());
                return Ok(result);
            }
        };
        let hit = self.local(hit);
        self.check_fits(&key, &hit)?;
        self.settle(&mut state, key, hit, current.as_ref());
        Ok(result)
    }

    /// What `key` holds for a write under the held write lock, a tombstone
    /// included, counting an access; an expired entry is removed first (an
    /// expiration, the floor raised) and reads as absent.
    fn resident_for_write(&self, state: &mut ShardState, key: &[u8]) -> Option<Entry> {
        let current = state.map.get(key)?;
        if !is_expired(current.expires_at, self.clock.now_millis()) {
            return Some(current);
        }
        let gone = state.let_go(&self.counters, key);
        if gone.is_some_and(|hit| !hit.is_tombstone()) {
            self.counters.expirations.fetch_add(1, Ordering::Relaxed);
        }
        None
    }

    /// A write's delete of `key`, which holds `current`, under the held
    /// write lock: with versioning a tombstone at a fresh version.
    fn remove_for_write(&self, state: &mut ShardState, key: Bytes, current: Option<&Entry>) {
        if let Some(versioning) = &self.versioning {
            self.bury(state, key, current, versioning);
        } else if current.is_some() {
            state.take(&self.counters, &key);
        }
    }

    /// Entries held (including expired ones not yet removed, and tombstones).
    pub fn len(&self) -> u64 {
        self.counters.len.load(Ordering::Relaxed)
    }

    /// True when the shard holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes charged for the entries held; never above [`Shard::capacity_bytes`].
    pub fn used_bytes(&self) -> u64 {
        self.counters.used_bytes.load(Ordering::Relaxed)
    }

    /// The most this shard may hold, in [`crate::entry_weight`] bytes.
    pub fn capacity_bytes(&self) -> u64 {
        self.capacity_bytes
    }

    /// Entries removed by the policy to make room, since creation.
    pub fn evictions(&self) -> u64 {
        self.counters.evictions.load(Ordering::Relaxed)
    }

    /// Entries removed because their deadline passed, since creation.
    pub fn expirations(&self) -> u64 {
        self.counters.expirations.load(Ordering::Relaxed)
    }

    /// Entries that carry a deadline (expired ones not yet removed included): Redis's
    /// `expires=` figure. Takes the read lock briefly.
    pub fn deadlines(&self) -> u64 {
        self.state.read().expiry.len() as u64
    }

    /// Removes every entry; returns how many there were. With versioning the
    /// newest version removed raises the forgotten floor.
    pub fn clear(&self) -> u64 {
        let mut state = self.state.write();
        if self.versioning.is_some() {
            let mut newest = Version::NONE;
            state
                .map
                .for_each(&mut |_, hit| newest = newest.max(hit.version()));
            state.raise_floor(newest);
        }
        let removed = self.counters.len.swap(0, Ordering::Relaxed);
        self.counters.used_bytes.store(0, Ordering::Relaxed);
        state.map.clear();
        state.expiry.clear();
        removed
    }

    /// Background expiry: removes up to `max_visits` entries whose deadline has
    /// passed, visiting only those (the index is ordered by deadline), and returns how
    /// many it removed. The write lock is held for at most `max_visits` removals.
    pub fn sweep_expired(&self, max_visits: usize) -> usize {
        let now = self.clock.now_millis();
        let mut state = self.state.write();
        let due = state.expiry.pop_due(now, max_visits);
        let (mut removed, mut expired) = (0, 0);
        for (deadline, key) in due {
            let still_due = state
                .map
                .peek(&key)
                .is_some_and(|hit| hit.expires_at == Some(deadline));
            if !still_due {
                continue;
            }
            if let Some(hit) = state.let_go(&self.counters, &key) {
                removed += 1;
                // A tombstone running out forgets a delete; no entry expired.
                expired += u64::from(!hit.is_tombstone());
            }
        }
        self.counters
            .expirations
            .fetch_add(expired, Ordering::Relaxed);
        removed
    }

    /// Visits every live entry. The entries are copied (refcounts, not bytes) under
    /// the read lock and visited after it is released, so `f` may call into the store.
    pub fn keys(&self, mut f: impl FnMut(&Bytes, &Entry)) {
        let now = self.clock.now_millis();
        let mut live = Vec::with_capacity(usize::try_from(self.len()).unwrap_or(0));
        self.state.read().map.for_each(&mut |key, hit| {
            if !hit.is_tombstone() && !is_expired(hit.expires_at, now) {
                live.push((key.clone(), hit.clone()));
            }
        });
        for (key, hit) in &live {
            f(key, hit);
        }
    }

    /// Stores each entry only where its key holds no live value (an expired
    /// entry counts as absent; a tombstone too, unless the shard is versioned:
    /// then it is a remembered delete and counts as present), under one hold
    /// of the write lock: a restore that must never overwrite a newer write.
    /// Entries whose deadline has already passed, and entries heavier than
    /// the shard, are skipped. With versioning, what is stored is stamped.
    /// Counts in the answer.
    pub fn insert_absent_many(
        &self,
        entries: impl IntoIterator<Item = (Bytes, Entry)>,
    ) -> AbsentInserts {
        let now = self.clock.now_millis();
        let mut outcome = AbsentInserts::default();
        let mut state = self.state.write();
        for (key, hit) in entries {
            if is_expired(hit.expires_at, now) {
                outcome.expired += 1;
                continue;
            }
            if self.check_fits(&key, &hit).is_err() {
                outcome.too_large += 1;
                continue;
            }
            let versioned = self.versioning.is_some();
            let live = state.map.peek(&key).is_some_and(|old| {
                (versioned || !old.is_tombstone()) && !is_expired(old.expires_at, now)
            });
            if live {
                outcome.present += 1;
                continue;
            }
            let hit = self.local(hit);
            self.store(&mut state, key, hit);
            outcome.inserted += 1;
        }
        outcome
    }

    /// Refuses an entry no eviction could make room for.
    fn check_fits(&self, key: &[u8], hit: &Entry) -> Result<(), StoreError> {
        let weight = stored_weight(key, hit);
        if weight > self.capacity_bytes {
            return Err(StoreError::EntryTooLarge {
                weight,
                shard_capacity: self.capacity_bytes,
            });
        }
        Ok(())
    }

    /// Passes `found` through unless it is expired, in which case it is removed.
    fn unless_expired(&self, key: &[u8], found: Option<Entry>) -> Option<Entry> {
        let hit = found.filter(|hit| !hit.is_tombstone())?;
        // Most entries never expire: reading the clock only for those that can
        // saves a clock read on every such hit.
        let Some(deadline) = hit.expires_at else {
            return Some(hit);
        };
        let now = self.clock.now_millis();
        if !is_expired(Some(deadline), now) {
            return Some(hit);
        }
        self.remove_expired(key, now);
        None
    }

    /// Removes `key` if what it holds is still expired at `now` (between a read
    /// and this write lock another writer may have stored a fresh value),
    /// counting an expiration for a value (not a tombstone) and raising the floor.
    fn remove_expired(&self, key: &[u8], now: UnixMillis) {
        let mut state = self.state.write();
        let still_expired = state
            .map
            .peek(key)
            .is_some_and(|current| is_expired(current.expires_at, now));
        if !still_expired {
            return;
        }
        if state
            .let_go(&self.counters, key)
            .is_some_and(|hit| !hit.is_tombstone())
        {
            self.counters.expirations.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{entry_weight, ManualClock, EXPIRY_OVERHEAD_BYTES};
    use std::time::Duration;

    fn shard(policy: PolicyKind, capacity: u64) -> (Shard, ManualClock) {
        let clock = ManualClock::new(1_000);
        (Shard::new(policy, capacity, Arc::new(clock.clone())), clock)
    }

    fn bytes(s: &str) -> Bytes {
        Bytes::copy_from_slice(s.as_bytes())
    }

    /// Sum of stored weights and count of what the map really holds, expired included.
    fn resident(shard: &Shard) -> (u64, u64) {
        let mut totals = (0, 0);
        shard.state.read().map.for_each(&mut |key, hit| {
            totals.0 += stored_weight(key, hit);
            totals.1 += 1;
        });
        totals
    }

    #[test]
    fn expired_entry_is_a_miss_on_get_and_is_removed() {
        let (shard, clock) = shard(PolicyKind::default(), 1 << 20);
        shard.set(bytes("k"), bytes("v"), Some(1_500)).unwrap();
        shard.set(bytes("forever"), bytes("v"), None).unwrap();
        assert_eq!(shard.get(b"k").unwrap().expires_at, Some(1_500));
        assert_eq!(
            shard.deadlines(),
            1,
            "only the entry with a deadline counts"
        );
        clock.advance(Duration::from_millis(499));
        assert!(shard.get(b"k").is_some());
        clock.advance(Duration::from_millis(1));
        assert_eq!(shard.get(b"k"), None);
        assert_eq!(shard.expirations(), 1);
        assert_eq!(shard.len(), 1);
        assert_eq!(shard.used_bytes(), entry_weight(7, 1));
        assert_eq!(shard.state.read().expiry.len(), 0);
        assert_eq!(shard.deadlines(), 0);
        // A second miss is not a second expiration.
        assert_eq!(shard.get(b"k"), None);
        assert_eq!(shard.expirations(), 1);
    }

    #[test]
    fn insert_absent_keeps_live_values_and_skips_expired_and_oversized() {
        for policy in PolicyKind::ALL {
            let (shard, clock) = shard(policy, entry_weight(1, 50) * 8);
            shard.set(bytes("live"), bytes("client"), None).unwrap();
            shard
                .set(bytes("stale"), bytes("old"), Some(1_100))
                .unwrap();
            clock.set(1_200);
            let outcome = shard.insert_absent_many([
                (bytes("live"), Entry::new(bytes("restored"), None)),
                (bytes("stale"), Entry::new(bytes("restored"), Some(9_000))),
                (bytes("new"), Entry::new(bytes("restored"), None)),
                (bytes("gone"), Entry::new(bytes("restored"), Some(1_200))),
                (bytes("big"), Entry::new(vec![0; 5_000].into(), None)),
            ]);
            let expected = AbsentInserts {
                inserted: 2,
                present: 1,
                expired: 1,
                too_large: 1,
            };
            assert_eq!(outcome, expected, "{policy}");
            assert_eq!(shard.peek(b"live").unwrap().value, bytes("client"));
            assert_eq!(shard.peek(b"stale").unwrap().expires_at, Some(9_000));
            assert_eq!(shard.peek(b"new").unwrap().value, bytes("restored"));
            assert_eq!(shard.peek(b"gone"), None);
            assert_eq!(resident(&shard), (shard.used_bytes(), 3), "{policy}");
        }
    }

    #[test]
    fn batches_store_in_order_and_answer_like_single_calls() {
        for policy in PolicyKind::ALL {
            let (shard, clock) = shard(policy, entry_weight(1, 50) * 4);
            let outcomes = shard.set_many([
                (bytes("a"), Entry::new(bytes("1"), None)),
                (bytes("big"), Entry::new(vec![0; 5_000].into(), None)),
                (bytes("b"), Entry::new(bytes("2"), Some(1_500))),
                (bytes("a"), Entry::new(bytes("3"), None)),
            ]);
            assert!(outcomes[0].is_ok() && outcomes[2].is_ok() && outcomes[3].is_ok());
            assert!(
                matches!(outcomes[1], Err(StoreError::EntryTooLarge { .. })),
                "{policy}: the heavy entry fails alone"
            );
            assert_eq!(shard.peek(b"a").unwrap().value, bytes("3"), "{policy}");
            assert_eq!(shard.len(), 2, "{policy}: the repeated key is one entry");
            assert_eq!(resident(&shard), (shard.used_bytes(), 2), "{policy}");
            assert_eq!(shard.deadlines(), 1, "{policy}");
            clock.set(1_500);
            let found = shard.get_many([&b"b"[..], b"a", b"none"]);
            assert_eq!(found[0], None, "{policy}: expired");
            assert_eq!(found[1].as_ref().unwrap().value, bytes("3"), "{policy}");
            assert_eq!(found[2], None, "{policy}");
            assert_eq!((shard.expirations(), shard.len()), (1, 1), "{policy}");
        }
    }

    #[test]
    fn peek_honours_expiry_too() {
        let (shard, clock) = shard(PolicyKind::default(), 1 << 20);
        shard.set(bytes("k"), bytes("v"), Some(2_000)).unwrap();
        clock.set(2_000);
        assert_eq!(shard.peek(b"k"), None);
        assert_eq!((shard.expirations(), shard.len()), (1, 0));
    }

    #[test]
    fn sweep_removes_only_due_entries_bounded_per_call() {
        let (shard, clock) = shard(PolicyKind::default(), 1 << 20);
        for i in 0..10u64 {
            let deadline = 1_000 + 100 * (i + 1);
            shard
                .set(bytes(&format!("k{i}")), bytes("v"), Some(deadline))
                .unwrap();
        }
        shard.set(bytes("forever"), bytes("v"), None).unwrap();
        assert_eq!(shard.sweep_expired(100), 0);
        clock.set(1_500); // k0..k4 are due
        assert_eq!(shard.sweep_expired(3), 3);
        assert_eq!(shard.sweep_expired(100), 2);
        assert_eq!(shard.expirations(), 5);
        assert_eq!(shard.len(), 6);
        assert!(shard.peek(b"k4").is_none() && shard.peek(b"k5").is_some());
        assert_eq!(resident(&shard), (shard.used_bytes(), 6));
    }

    #[test]
    fn replacing_a_deadline_forgets_the_old_one() {
        let (shard, clock) = shard(PolicyKind::default(), 1 << 20);
        shard.set(bytes("k"), bytes("v1"), Some(1_100)).unwrap();
        shard.set(bytes("k"), bytes("v2"), None).unwrap();
        clock.set(5_000);
        assert_eq!(shard.sweep_expired(10), 0);
        assert_eq!(shard.get(b"k").unwrap().value, bytes("v2"));
        assert_eq!(shard.used_bytes(), entry_weight(1, 2));
        assert_eq!(shard.state.read().expiry.len(), 0);
    }

    #[test]
    fn deadline_is_charged_its_index_slot() {
        let (shard, _clock) = shard(PolicyKind::default(), 1 << 20);
        shard.set(bytes("k"), bytes("v"), Some(9_999)).unwrap();
        assert_eq!(
            shard.used_bytes(),
            entry_weight(1, 1) + EXPIRY_OVERHEAD_BYTES
        );
    }

    #[test]
    fn never_above_capacity_under_varied_sizes_for_every_policy() {
        for policy in PolicyKind::ALL {
            let capacity = 40 * entry_weight(8, 64);
            let (shard, _clock) = shard(policy, capacity);
            let mut accepted = 0u64;
            for i in 0..2_000u64 {
                let value = vec![b'x'; ((i * 37) % 300) as usize];
                let ttl = (i % 3 == 0).then_some(1_000_000 + i);
                shard
                    .set(bytes(&format!("key-{}", i % 700)), value.into(), ttl)
                    .unwrap();
                accepted += 1;
                assert!(shard.used_bytes() <= capacity, "{policy}: above cap at {i}");
            }
            let (weight, count) = resident(&shard);
            assert_eq!(weight, shard.used_bytes(), "{policy}: used_bytes drifted");
            assert_eq!(count, shard.len(), "{policy}: len drifted");
            assert!(shard.evictions() > 0, "{policy}: nothing evicted");
            // Every set either still resides, was replaced by a later set of its key, or
            // was evicted: evictions can never exceed the sets that were accepted.
            assert!(shard.evictions() + shard.len() <= accepted, "{policy}");
            assert_eq!(
                shard.state.read().expiry.len() as u64,
                {
                    let mut with_deadline = 0;
                    shard.keys(|_, hit| with_deadline += u64::from(hit.expires_at.is_some()));
                    with_deadline
                },
                "{policy}: expiry index out of step with the map"
            );
        }
    }

    #[test]
    fn entry_heavier_than_the_shard_is_refused() {
        let capacity = entry_weight(1, 100);
        // Strict LRU keeps an entry that fills the whole shard; s3fifo admits at most
        // its main-queue share (97 %) and evicts a heavier one at once.
        let (shard, _clock) = shard(PolicyKind::Lru, capacity);
        shard.set(bytes("k"), vec![0; 100].into(), None).unwrap();
        let err = shard
            .set(bytes("k"), vec![0; 101].into(), None)
            .unwrap_err();
        assert_eq!(
            err,
            StoreError::EntryTooLarge {
                weight: capacity + 1,
                shard_capacity: capacity
            }
        );
        let err = shard
            .update(bytes("k"), |_| {
                let value = Bytes::from(vec![0; 200]);
                (
                    Mutation::Set {
                        value,
                        expires_at: None,
                    },
                    (),
                )
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::EntryTooLarge { .. }));
        // The refused writes left the old entry in place.
        assert_eq!(shard.get(b"k").unwrap().value.len(), 100);
        for policy in PolicyKind::ALL {
            let (small, _clock) = self::shard(policy, 1_000);
            let refused = small.set(bytes("k"), vec![0; 1_000].into(), None);
            assert!(
                matches!(refused, Err(StoreError::EntryTooLarge { .. })),
                "{policy}"
            );
            assert_eq!((small.len(), small.used_bytes()), (0, 0), "{policy}");
        }
    }

    #[test]
    fn concurrent_updates_never_lose_an_increment() {
        for policy in PolicyKind::ALL {
            let (shard, _clock) = shard(policy, 1 << 20);
            std::thread::scope(|scope| {
                for _ in 0..4 {
                    scope.spawn(|| {
                        for _ in 0..10_000 {
                            shard
                                .update(bytes("counter"), |current| {
                                    let n: u64 = current.map_or(0, |hit| {
                                        std::str::from_utf8(&hit.value).unwrap().parse().unwrap()
                                    });
                                    let value = Bytes::from((n + 1).to_string());
                                    (
                                        Mutation::Set {
                                            value,
                                            expires_at: None,
                                        },
                                        (),
                                    )
                                })
                                .unwrap();
                        }
                    });
                }
            });
            assert_eq!(
                shard.get(b"counter").unwrap().value,
                bytes("40000"),
                "{policy}"
            );
            assert_eq!(shard.len(), 1, "{policy}");
        }
    }

    #[test]
    fn update_sees_expired_as_absent_and_can_keep_or_delete() {
        let (shard, clock) = shard(PolicyKind::default(), 1 << 20);
        shard.set(bytes("k"), bytes("v"), Some(1_010)).unwrap();
        let seen = shard
            .update(bytes("k"), |hit| (Mutation::Keep, hit))
            .unwrap();
        assert_eq!(seen.unwrap().value, bytes("v"));
        clock.set(1_010);
        let seen = shard
            .update(bytes("k"), |hit| (Mutation::Keep, hit))
            .unwrap();
        assert_eq!(seen, None);
        assert_eq!((shard.expirations(), shard.len()), (1, 0));
        shard.set(bytes("k"), bytes("v"), None).unwrap();
        assert!(shard
            .update(bytes("k"), |hit| (Mutation::Delete, hit.is_some()))
            .unwrap());
        assert_eq!((shard.len(), shard.used_bytes()), (0, 0));
    }

    #[test]
    fn delete_reports_live_removals_only() {
        let (shard, clock) = shard(PolicyKind::default(), 1 << 20);
        shard.set(bytes("live"), bytes("v"), None).unwrap();
        shard.set(bytes("dying"), bytes("v"), Some(1_001)).unwrap();
        clock.set(2_000);
        assert!(shard.delete(b"live"));
        assert!(!shard.delete(b"live"));
        assert!(!shard.delete(b"dying"));
        assert_eq!(shard.expirations(), 1);
        assert_eq!((shard.len(), shard.used_bytes()), (0, 0));
    }

    #[test]
    fn clear_reports_and_removes_everything() {
        let (shard, _clock) = shard(PolicyKind::default(), 1 << 20);
        for i in 0..25 {
            shard
                .set(bytes(&i.to_string()), bytes("v"), Some(5_000))
                .unwrap();
        }
        assert_eq!(shard.clear(), 25);
        assert_eq!((shard.len(), shard.used_bytes()), (0, 0));
        assert_eq!(shard.state.read().expiry.len(), 0);
        assert!(shard.get(b"3").is_none());
        assert_eq!(shard.clear(), 0);
    }

    #[test]
    fn peek_does_not_protect_from_lru_eviction_but_get_does() {
        let capacity = 2 * entry_weight(1, 1);
        for (read, survivor, victim) in [("peek", "b", "a"), ("get", "a", "b")] {
            let (shard, _clock) = shard(PolicyKind::Lru, capacity);
            shard.set(bytes("a"), bytes("1"), None).unwrap();
            shard.set(bytes("b"), bytes("2"), None).unwrap();
            match read {
                "peek" => assert!(shard.peek(b"a").is_some()),
                _ => assert!(shard.get(b"a").is_some()),
            }
            shard.set(bytes("c"), bytes("3"), None).unwrap();
            assert!(shard.peek(survivor.as_bytes()).is_some(), "{read}");
            assert!(shard.peek(victim.as_bytes()).is_none(), "{read}");
            assert_eq!(shard.evictions(), 1);
        }
    }

    #[test]
    fn a_versioned_entry_reads_back_with_its_version() {
        let (shard, _clock) = shard(PolicyKind::default(), 1 << 20);
        let version = Version::new(42).unwrap();
        let entry = Entry::versioned(bytes("v"), None, version);
        shard.put(bytes("k"), entry.clone()).unwrap();
        assert_eq!(shard.get(b"k"), Some(entry));
        assert_eq!(shard.get(b"k").unwrap().version(), version);
        shard.set(bytes("k"), bytes("w"), None).unwrap();
        assert_eq!(shard.get(b"k").unwrap().version(), Version::NONE);
        let tombstone = Entry::tombstone(Version::MAX, None);
        assert!(tombstone.is_tombstone());
        assert_eq!(tombstone.version(), Version::MAX);
        assert_eq!(Version::new(Version::MAX.get() + 1), None);
    }

    #[test]
    fn a_tombstone_is_charged_and_held_but_never_read() {
        for policy in PolicyKind::ALL {
            let (shard, clock) = shard(policy, 1 << 20);
            shard.set(bytes("k"), bytes("value"), None).unwrap();
            shard
                .put(
                    bytes("k"),
                    Entry::tombstone(Version::new(9).unwrap(), Some(2_000)),
                )
                .unwrap();
            assert_eq!(shard.get(b"k"), None, "{policy}");
            assert_eq!(shard.peek(b"k"), None);
            assert_eq!(shard.get_many([&b"k"[..]]), [None]);
            let mut seen = 0;
            shard.keys(|_, _| seen += 1);
            assert_eq!(seen, 0, "keys skip tombstones");
            let saw = shard.update(bytes("k"), |current| (Mutation::Keep, current));
            assert_eq!(saw.unwrap(), None, "a read-modify-write sees no value");
            assert_eq!(shard.len(), 1, "held");
            assert_eq!(
                shard.used_bytes(),
                entry_weight(1, 0) + EXPIRY_OVERHEAD_BYTES,
                "charged"
            );
            assert!(!shard.delete(b"k"), "deleting a tombstone deletes no value");
            shard
                .put(
                    bytes("k"),
                    Entry::tombstone(Version::new(9).unwrap(), Some(2_000)),
                )
                .unwrap();
            clock.advance(Duration::from_secs(2));
            let expirations = shard.expirations();
            assert_eq!(shard.sweep_expired(10), 1, "a tombstone runs out");
            assert_eq!((shard.len(), shard.used_bytes()), (0, 0));
            assert_eq!(shard.expirations(), expirations, "no entry expired");
        }
    }

    #[test]
    fn keys_visits_live_entries_only() {
        let (shard, clock) = shard(PolicyKind::default(), 1 << 20);
        shard.set(bytes("a"), bytes("1"), None).unwrap();
        shard.set(bytes("b"), bytes("2"), Some(1_500)).unwrap();
        shard.set(bytes("c"), bytes("3"), Some(9_000)).unwrap();
        clock.set(2_000);
        let mut seen = Vec::new();
        shard.keys(|key, hit| seen.push((key.clone(), hit.value.clone())));
        seen.sort();
        assert_eq!(
            seen,
            vec![(bytes("a"), bytes("1")), (bytes("c"), bytes("3"))]
        );
        // The visitor may call back into the shard: nothing is locked while it runs.
        shard.keys(|key, _| {
            shard.delete(key);
        });
        assert_eq!(shard.len(), 1); // only the expired "b" is left for the sweeper
    }
}
