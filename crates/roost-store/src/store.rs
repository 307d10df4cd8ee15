//! The store: N shards sharing one clock and an even split of the memory cap.
//! Owns construction and the store-wide sums; which shard a key lives in is the
//! caller's choice (the server's router), never decided here.

use std::num::NonZeroUsize;
use std::sync::Arc;

use crate::{Clock, PolicyKind, Shard, UnixMillis};

/// How to build a [`Store`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreConfig {
    /// Number of shards (nodes on the ring).
    pub shards: NonZeroUsize,
    /// Memory cap over all shards, in [`crate::entry_weight`] bytes; split evenly.
    pub max_memory_bytes: u64,
    /// Eviction policy of every shard.
    pub policy: PolicyKind,
}

/// Where a store's versions come from and how long a delete is remembered
/// (geographic coherence, issue 16). Without it (the default) writes carry
/// [`crate::Version::NONE`] and a delete removes the key.
///
/// With it, every write a shard performs (set, put, set_many, update,
/// insert) stores the version `stamp` gives it, under the shard's write lock;
/// every delete leaves a tombstone at a fresh version that expires
/// `tombstone_ttl_ms` later, even when the key was absent; and every removal
/// the shard decides on its own (eviction, expiry, a tombstone running out, a
/// clear) raises its forgotten floor ([`crate::Shard::apply_newer`]).
#[derive(Clone)]
pub struct Versioning {
    /// The next version (a hybrid logical clock): each call answers a
    /// version greater than every earlier answer and every version observed.
    pub stamp: Arc<dyn Fn() -> crate::Version + Send + Sync>,
    /// How long a tombstone is kept, in milliseconds.
    pub tombstone_ttl_ms: u64,
}

impl std::fmt::Debug for Versioning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Versioning")
            .field("tombstone_ttl_ms", &self.tombstone_ttl_ms)
            .finish_non_exhaustive()
    }
}

/// N in-process shards. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug)]
pub struct Store {
    shards: Box<[Shard]>,
    config: StoreConfig,
    clock: Arc<dyn Clock>,
    versioning: Option<Versioning>,
}

impl Store {
    /// Empty shards, each with `max_memory_bytes / shards` capacity (the remainder of
    /// the division is left unused, so the shards never add up to more than the cap).
    pub fn new(config: StoreConfig, clock: Arc<dyn Clock>) -> Store {
        Store::with_versioning(config, clock, None)
    }

    /// [`Store::new`] whose shards all stamp their writes and remember their
    /// deletes with `versioning` (none: the same as [`Store::new`]).
    pub fn with_versioning(
        config: StoreConfig,
        clock: Arc<dyn Clock>,
        versioning: Option<Versioning>,
    ) -> Store {
        let shard_capacity = config.max_memory_bytes / config.shards.get() as u64;
        let shards = (0..config.shards.get())
            .map(|_| {
                Shard::with_versioning(
                    config.policy,
                    shard_capacity,
                    Arc::clone(&clock),
                    versioning.clone(),
                )
            })
            .collect();
        Store {
            shards,
            config,
            clock,
            versioning,
        }
    }

    /// Whether the shards stamp their writes ([`Store::with_versioning`]).
    pub fn is_versioned(&self) -> bool {
        self.shards.iter().any(Shard::is_versioned)
    }

    /// A tombstone at a fresh version, remembered for the tombstone TTL from
    /// now; `None` without versioning. For a key a versioned write left
    /// holding nothing (its value was evicted or expired before it could be
    /// read back): what the write's record says instead, so the other
    /// regions drop their older value as this one did.
    pub fn fresh_tombstone(&self) -> Option<crate::Entry> {
        let versioning = self.versioning.as_ref()?;
        let until = self
            .clock
            .now_millis()
            .saturating_add(versioning.tombstone_ttl_ms);
        Some(crate::Entry::tombstone((versioning.stamp)(), Some(until)))
    }

    /// A fresh version from the clock the shards stamp with, newer than every
    /// version stamped or observed before; `None` without versioning. What a
    /// read-through miss takes before asking the origin, so its fill can
    /// lose to any change made after it ([`Shard::fill_newer`]).
    pub fn stamp(&self) -> Option<crate::Version> {
        Some((self.versioning.as_ref()?.stamp)())
    }

    /// [`Shard::drop_older_than`] on every shard; answers how many entries
    /// (values and tombstones) were removed.
    pub fn drop_older_than(&self, version: crate::Version) -> u64 {
        self.shards
            .iter()
            .map(|shard| shard.drop_older_than(version))
            .sum()
    }

    /// The shards, in ring order (index = node position the router uses).
    pub fn shards(&self) -> &[Shard] {
        &self.shards
    }

    /// The store's clock reading, for turning TTLs into deadlines.
    pub fn now_millis(&self) -> UnixMillis {
        self.clock.now_millis()
    }

    /// Entries held over all shards.
    pub fn len(&self) -> u64 {
        self.shards.iter().map(Shard::len).sum()
    }

    /// True when no shard holds an entry.
    pub fn is_empty(&self) -> bool {
        self.shards.iter().all(Shard::is_empty)
    }

    /// Bytes charged over all shards; never above [`Store::max_memory_bytes`].
    pub fn used_bytes(&self) -> u64 {
        self.shards.iter().map(Shard::used_bytes).sum()
    }

    /// The configured memory cap.
    pub fn max_memory_bytes(&self) -> u64 {
        self.config.max_memory_bytes
    }

    /// Policy evictions over all shards.
    pub fn evictions(&self) -> u64 {
        self.shards.iter().map(Shard::evictions).sum()
    }

    /// Expirations over all shards.
    pub fn expirations(&self) -> u64 {
        self.shards.iter().map(Shard::expirations).sum()
    }

    /// Empties every shard; returns how many entries were removed.
    pub fn clear(&self) -> u64 {
        self.shards.iter().map(Shard::clear).sum()
    }

    /// The eviction policy every shard runs.
    pub fn policy(&self) -> PolicyKind {
        self.config.policy
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::{entry_weight, ManualClock};
    use bytes::Bytes;

    fn store(shards: usize, max_memory_bytes: u64) -> Store {
        let config = StoreConfig {
            shards: NonZeroUsize::new(shards).unwrap(),
            max_memory_bytes,
            policy: PolicyKind::default(),
        };
        Store::new(config, Arc::new(ManualClock::new(0)))
    }

    #[test]
    fn memory_is_split_evenly_and_never_sums_above_the_cap() {
        let store = store(3, 10_000);
        assert_eq!(store.shards().len(), 3);
        for shard in store.shards() {
            assert_eq!(shard.capacity_bytes(), 3_333);
        }
        assert_eq!(store.max_memory_bytes(), 10_000);
        assert_eq!(store.policy(), PolicyKind::default());
    }

    #[test]
    fn totals_sum_the_shards_and_clear_empties_all() {
        let store = store(4, 1_000_000);
        assert!(store.is_empty());
        for (i, shard) in store.shards().iter().enumerate() {
            for j in 0..=i {
                let key = Bytes::from(format!("{i}-{j}"));
                shard.set(key, Bytes::from_static(b"v"), None).unwrap();
            }
        }
        assert_eq!(store.len(), 1 + 2 + 3 + 4);
        assert_eq!(store.used_bytes(), 10 * entry_weight(3, 1));
        assert_eq!(store.clear(), 10);
        assert!(store.is_empty());
        assert_eq!(store.used_bytes(), 0);
    }

    #[test]
    fn store_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Store>();
    }
}
