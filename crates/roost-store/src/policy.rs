//! The eviction-policy seam: [`PolicyKind`] names the candidates, and the
//! crate-private `ShardMap` trait is what a shard needs from a bounded map.
//! One file per implementation under `policy/`. This module must not know about
//! expiry or counters: those live in the shard, above the trait.

mod adaptive;
mod lru;
mod s3fifo;
mod tinylfu;

use std::fmt;
use std::str::FromStr;

use bytes::Bytes;

use crate::Entry;

/// An eviction policy a shard can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyKind {
    /// S3-FIFO-like clock policy with a ghost queue (`quick_cache`).
    S3Fifo,
    /// Window TinyLFU admission with a segmented LRU (`moka`).
    TinyLfu,
    /// Strict least-recently-used (`lru` crate): every hit moves the entry to the front.
    Lru,
    /// Window-TinyLFU whose window (1 % .. 100 % of the capacity) is picked by
    /// miniature simulations of the candidates (hand-written, `policy/adaptive.rs`).
    Adaptive,
}

impl PolicyKind {
    /// Every policy, in a stable order (the order of replay tables).
    pub const ALL: [PolicyKind; 4] = [
        PolicyKind::S3Fifo,
        PolicyKind::TinyLfu,
        PolicyKind::Lru,
        PolicyKind::Adaptive,
    ];

    /// The lower-case name used in configuration and reports.
    pub fn name(self) -> &'static str {
        match self {
            PolicyKind::S3Fifo => "s3fifo",
            PolicyKind::TinyLfu => "tinylfu",
            PolicyKind::Lru => "lru",
            PolicyKind::Adaptive => "adaptive",
        }
    }
}

/// Chosen by measured hit ratio over the shared traces (`examples/replay.rs`); the
/// table behind the choice is in the crate docs.
impl Default for PolicyKind {
    fn default() -> PolicyKind {
        PolicyKind::S3Fifo
    }
}

impl fmt::Display for PolicyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A policy name that is not one of [`PolicyKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown eviction policy {given:?} (expected one of: s3fifo, tinylfu, lru, adaptive)")]
pub struct UnknownPolicy {
    /// The name that was given.
    pub given: String,
}

impl FromStr for PolicyKind {
    type Err = UnknownPolicy;

    fn from_str(s: &str) -> Result<PolicyKind, UnknownPolicy> {
        PolicyKind::ALL
            .into_iter()
            .find(|kind| kind.name().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| UnknownPolicy {
                given: s.to_owned(),
            })
    }
}

/// A bounded key/value map that evicts by its policy. Implementations are wrapped by a
/// shard's lock: `&mut self` methods run under the write lock, `&self` ones may run
/// concurrently under the read lock. Weights come from [`crate::weight::stored_weight`]
/// and the map never holds more than its capacity in that weight.
pub(crate) trait ShardMap: Send + Sync {
    /// Looks up `key` and records an access for the policy.
    fn get(&self, key: &[u8]) -> Option<Entry>;
    /// Looks up `key` without recording an access.
    fn peek(&self, key: &[u8]) -> Option<Entry>;
    /// Inserts or replaces `key`; `replacing` says whether `key` is resident right now.
    /// Every entry the policy removes to make room is pushed onto `evicted` (possibly the
    /// new entry itself, when the policy refuses it); the replaced old value never is.
    /// The caller guarantees the entry's weight is at most the capacity.
    fn insert(
        &mut self,
        key: Bytes,
        hit: Entry,
        replacing: bool,
        evicted: &mut Vec<(Bytes, Entry)>,
    );
    /// Removes `key`, returning what it held.
    fn remove(&mut self, key: &[u8]) -> Option<Entry>;
    /// Removes everything.
    fn clear(&mut self);
    /// Visits every resident entry (expired ones included).
    fn for_each(&self, visit: &mut dyn FnMut(&Bytes, &Entry));
}

/// Builds an empty map of `kind` holding at most `capacity_bytes` of stored weight.
pub(crate) fn new_shard_map(kind: PolicyKind, capacity_bytes: u64) -> Box<dyn ShardMap> {
    match kind {
        PolicyKind::S3Fifo => Box::new(s3fifo::S3FifoMap::new(capacity_bytes)),
        PolicyKind::TinyLfu => Box::new(tinylfu::TinyLfuMap::new(capacity_bytes)),
        PolicyKind::Lru => Box::new(lru::LruMap::new(capacity_bytes)),
        PolicyKind::Adaptive => Box::new(adaptive::AdaptiveMap::new(capacity_bytes)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::weight::stored_weight;

    fn hit(value: &'static [u8]) -> Entry {
        Entry::new(Bytes::from_static(value), None)
    }

    #[test]
    fn names_round_trip_and_are_lower_case() {
        for kind in PolicyKind::ALL {
            let name = kind.to_string();
            assert_eq!(name, name.to_lowercase());
            assert_eq!(name.parse::<PolicyKind>().unwrap(), kind);
        }
        assert_eq!(" LRU ".parse::<PolicyKind>().unwrap(), PolicyKind::Lru);
        let err = "arc".parse::<PolicyKind>().unwrap_err();
        assert!(err
            .to_string()
            .starts_with("unknown eviction policy \"arc\""));
    }

    #[test]
    fn every_map_stays_within_capacity_and_reports_evictions() {
        let per_entry = stored_weight(b"key-00", &hit(b"value"));
        let capacity = per_entry * 10;
        for kind in PolicyKind::ALL {
            let mut map = new_shard_map(kind, capacity);
            let mut evicted = Vec::new();
            for i in 0..100u32 {
                let key = Bytes::from(format!("key-{i:02}"));
                map.insert(key, hit(b"value"), false, &mut evicted);
            }
            let mut resident = 0u64;
            map.for_each(&mut |_, _| resident += 1);
            assert!(resident <= 10, "{kind}: {resident} resident");
            assert_eq!(resident + evicted.len() as u64, 100, "{kind}");
        }
    }

    #[test]
    fn every_map_replaces_without_reporting_an_eviction() {
        for kind in PolicyKind::ALL {
            let mut map = new_shard_map(kind, 10_000);
            let mut evicted = Vec::new();
            map.insert(Bytes::from_static(b"k"), hit(b"one"), false, &mut evicted);
            map.insert(Bytes::from_static(b"k"), hit(b"two"), true, &mut evicted);
            assert!(evicted.is_empty(), "{kind}: {evicted:?}");
            assert_eq!(map.peek(b"k").unwrap().value, Bytes::from_static(b"two"));
            assert_eq!(map.remove(b"k").unwrap().value, Bytes::from_static(b"two"));
            assert!(map.get(b"k").is_none(), "{kind}");
        }
    }
}
