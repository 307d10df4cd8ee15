//! Backends: where entries actually live. The router has already picked the
//! node (by index into the ring's node list); a backend only stores and fetches.
//!
//! Enum dispatch rather than a trait object: the set of backends is closed and
//! known to this crate, and the embedded hot path stays a direct call.

mod embedded;
pub mod fleet;
pub mod redis_link;

pub use embedded::Embedded;
pub use fleet::Fleet;

use bytes::Bytes;
use roost_store::UnixMillis;

use crate::error::CacheError;

/// A plain write of a batch: key, value and absolute deadline.
pub type SetEntry = (Bytes, Bytes, Option<UnixMillis>);

/// A stored value with its absolute expiry time, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub value: Bytes,
    pub expires_at: Option<UnixMillis>,
}

/// When a conditional write may happen (Redis's NX / XX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Always,
    IfAbsent,
    IfPresent,
}

/// What a write does to the entry's deadline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// Keep the current entry's deadline (Redis's KEEPTTL); none for a new entry.
    Keep,
    /// This deadline; `None` means never expires.
    Set(Option<UnixMillis>),
}

/// What a conditional write found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetOutcome {
    pub written: bool,
    /// The live entry before the write, if there was one.
    pub previous: Option<Stored>,
}

/// When a deadline may be replaced (Redis's EXPIRE NX / XX / GT / LT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetimeCondition {
    Always,
    /// Only when the entry has no deadline.
    NoDeadline,
    /// Only when the entry has a deadline.
    HasDeadline,
    /// Only when the new deadline is later (no deadline counts as infinitely late).
    Later,
    /// Only when the new deadline is earlier (no deadline counts as infinitely late).
    Earlier,
}

impl RetimeCondition {
    /// Whether `new` may replace `current`.
    pub fn allows(self, current: Option<UnixMillis>, new: Option<UnixMillis>) -> bool {
        let late = |at: Option<UnixMillis>| at.unwrap_or(UnixMillis::MAX);
        match self {
            RetimeCondition::Always => true,
            RetimeCondition::NoDeadline => current.is_none(),
            RetimeCondition::HasDeadline => current.is_some(),
            RetimeCondition::Later => late(new) > late(current),
            RetimeCondition::Earlier => late(new) < late(current),
        }
    }
}

/// Counters of one node, for stats and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub keys: u64,
    pub used_bytes: u64,
    pub capacity_bytes: u64,
    pub evictions: u64,
    pub expirations: u64,
}

#[derive(Debug)]
pub enum Backend {
    Embedded(Embedded),
    /// Standalone Redis nodes sharded by the ring, with replicas and failover.
    Fleet(std::sync::Arc<Fleet>),
}

// Every Fleet operation is boxed where it leaves the backend: a fleet future
// (replica failover, read-repair, the Redis request and its timer) is about a
// kilobyte, and unboxed it would be copied into every future above it — the
// Cache call, the RESP handler, and each of a pipeline's concurrent commands —
// kilobytes per command moved and zeroed even on the embedded backend's path.
// One allocation per forwarded request costs less than those copies (measured
// with bench/fleet.sh; docs/benchmarks.md).
impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded(_) => "embedded",
            Backend::Fleet(_) => "redis",
        }
    }

    /// Whether operations wait on the network (a Redis backend), so that
    /// independent requests are worth running concurrently.
    pub fn is_remote(&self) -> bool {
        matches!(self, Backend::Fleet(_))
    }

    pub fn now_millis(&self) -> UnixMillis {
        match self {
            Backend::Embedded(b) => b.now_millis(),
            Backend::Fleet(f) => f.now_millis(),
        }
    }

    pub async fn get(&self, node: usize, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        match self {
            Backend::Embedded(b) => b.get(node, key),
            Backend::Fleet(f) => Box::pin(f.get(key)).await,
        }
    }

    /// Only the value: a Redis node is asked for GET without PTTL.
    pub async fn get_value(&self, node: usize, key: &[u8]) -> Result<Option<Bytes>, CacheError> {
        match self {
            Backend::Embedded(b) => Ok(b.get(node, key)?.map(|s| s.value)),
            Backend::Fleet(f) => Box::pin(f.get_value(key)).await,
        }
    }

    /// Several keys at once, in key order, each with its own outcome; a Redis
    /// fleet asks each node once for all its keys, and leaves the deadlines
    /// out unless `with_ttl`. `nodes[i]` is `keys[i]`'s node.
    pub async fn get_many(
        &self,
        nodes: &[usize],
        keys: &[&[u8]],
        with_ttl: bool,
    ) -> Vec<Result<Option<Stored>, CacheError>> {
        match self {
            Backend::Embedded(b) => b.get_many(nodes, keys),
            Backend::Fleet(f) => Box::pin(f.get_many(keys, with_ttl)).await,
        }
    }

    /// Several plain sets at once, each with its own outcome; a Redis fleet
    /// sends each node one request for all its keys. `nodes[i]` is the node
    /// of `entries[i]`, whose parts are key, value and deadline.
    pub async fn set_many(
        &self,
        nodes: &[usize],
        entries: Vec<SetEntry>,
    ) -> Vec<Result<(), CacheError>> {
        match self {
            Backend::Embedded(b) => b.set_many(nodes, entries),
            Backend::Fleet(f) => Box::pin(f.set_many(&entries)).await,
        }
    }

    pub async fn set(
        &self,
        node: usize,
        key: Bytes,
        value: Bytes,
        expires_at: Option<UnixMillis>,
    ) -> Result<(), CacheError> {
        match self {
            Backend::Embedded(b) => b.set(node, key, value, expires_at),
            Backend::Fleet(f) => Box::pin(f.set(key, value, expires_at)).await,
        }
    }

    pub async fn delete(&self, node: usize, key: &[u8]) -> Result<bool, CacheError> {
        match self {
            Backend::Embedded(b) => b.delete(node, key),
            Backend::Fleet(f) => Box::pin(f.delete(key)).await,
        }
    }

    /// Reads `key` without counting an access for the eviction policy.
    pub async fn peek(&self, node: usize, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        match self {
            Backend::Embedded(b) => b.peek(node, key),
            Backend::Fleet(f) => Box::pin(f.get(key)).await,
        }
    }

    /// Writes `value` if `condition` holds, atomically with reading what was there.
    pub async fn set_conditional(
        &self,
        node: usize,
        key: Bytes,
        value: Bytes,
        condition: Condition,
        deadline: Deadline,
    ) -> Result<SetOutcome, CacheError> {
        match self {
            Backend::Embedded(b) => b.set_conditional(node, key, value, condition, deadline),
            Backend::Fleet(f) => Box::pin(f.set_conditional(key, value, condition, deadline)).await,
        }
    }

    /// Removes `key` and returns what it held (GETDEL).
    pub async fn take(&self, node: usize, key: Bytes) -> Result<Option<Stored>, CacheError> {
        match self {
            Backend::Embedded(b) => b.take(node, key),
            Backend::Fleet(f) => Box::pin(f.take(key)).await,
        }
    }

    /// Reads `key` and gives it a new deadline in the same step (GETEX); returns
    /// the entry as it was.
    pub async fn get_and_retime(
        &self,
        node: usize,
        key: Bytes,
        deadline: Option<UnixMillis>,
    ) -> Result<Option<Stored>, CacheError> {
        match self {
            Backend::Embedded(b) => b.get_and_retime(node, key, deadline),
            Backend::Fleet(f) => Box::pin(f.get_and_retime(key, deadline)).await,
        }
    }

    /// Replaces the deadline of a live entry when `condition` allows; `true` when
    /// it was replaced (EXPIRE, PERSIST).
    pub async fn retime(
        &self,
        node: usize,
        key: Bytes,
        deadline: Option<UnixMillis>,
        condition: RetimeCondition,
    ) -> Result<bool, CacheError> {
        match self {
            Backend::Embedded(b) => b.retime(node, key, deadline, condition),
            Backend::Fleet(f) => Box::pin(f.retime(key, deadline, condition)).await,
        }
    }

    /// Adds `delta` to the integer stored at `key` (0 when missing), keeping its
    /// deadline; returns the new value (INCRBY).
    pub async fn incr_by(&self, node: usize, key: Bytes, delta: i64) -> Result<i64, CacheError> {
        match self {
            Backend::Embedded(b) => b.incr_by(node, key, delta),
            Backend::Fleet(f) => Box::pin(f.incr_by(key, delta)).await,
        }
    }

    /// Appends `suffix` to the value at `key` (creating it), keeping its deadline;
    /// refuses a result longer than `max_len`. Returns the new length (APPEND).
    pub async fn append(
        &self,
        node: usize,
        key: Bytes,
        suffix: &[u8],
        max_len: usize,
    ) -> Result<usize, CacheError> {
        match self {
            Backend::Embedded(b) => b.append(node, key, suffix, max_len),
            Backend::Fleet(f) => Box::pin(f.append(key, suffix, max_len)).await,
        }
    }

    /// Visits every live key of one node with its deadline.
    pub async fn visit_keys(
        &self,
        node: usize,
        visit: impl FnMut(&Bytes, Option<UnixMillis>),
    ) -> Result<(), CacheError> {
        match self {
            Backend::Embedded(b) => b.visit_keys(node, visit),
            Backend::Fleet(f) => Box::pin(f.visit_keys(node, visit)).await,
        }
    }

    /// A page of SCAN for backends that walk their nodes with native cursors
    /// (the Redis fleet); `None` for the embedded store, whose pages the Cache
    /// cuts itself.
    pub async fn scan_page(
        &self,
        cursor: u64,
        count: usize,
    ) -> Result<Option<(u64, Vec<Bytes>)>, CacheError> {
        match self {
            Backend::Embedded(_) => Ok(None),
            Backend::Fleet(f) => Box::pin(f.scan_page(cursor, count)).await.map(Some),
        }
    }

    /// Entries held on one node (expired ones not yet removed included).
    pub fn node_len(&self, node: usize) -> u64 {
        match self {
            Backend::Embedded(b) => b.node_len(node),
            Backend::Fleet(f) => f.node_len(node),
        }
    }

    /// Entries held across all nodes (DBSIZE); for a Redis fleet, from each
    /// node's last probe, each replicated key counted once.
    pub fn key_count(&self) -> u64 {
        match self {
            Backend::Embedded(b) => b.key_count(),
            Backend::Fleet(f) => f.key_count(),
        }
    }

    /// Entries with a deadline, across all nodes.
    pub fn deadlines(&self) -> u64 {
        match self {
            Backend::Embedded(b) => b.deadlines(),
            Backend::Fleet(f) => f.deadlines(),
        }
    }

    /// Removes every entry on every node; returns how many were removed.
    pub async fn flush(&self) -> Result<u64, CacheError> {
        match self {
            Backend::Embedded(b) => Ok(b.flush()),
            Backend::Fleet(f) => Box::pin(f.flush()).await,
        }
    }

    /// Per-node counters, in ring node order.
    pub fn node_stats(&self) -> Vec<NodeStats> {
        match self {
            Backend::Embedded(b) => b.node_stats(),
            Backend::Fleet(f) => f.node_stats(),
        }
    }

    /// Health and request counters of every node, keyed by id so they follow
    /// topology changes: the fleet's current nodes, then any still draining.
    /// `None` for embedded shards: they live in the process, are always up,
    /// have no failure mode, and the Cache counts their operations.
    pub fn node_health(&self) -> Option<Vec<fleet::NodeView>> {
        match self {
            Backend::Embedded(_) => None,
            Backend::Fleet(f) => Some(f.node_views()),
        }
    }

    /// The configured memory cap across all nodes, in bytes.
    pub fn max_memory_bytes(&self) -> u64 {
        match self {
            Backend::Embedded(b) => b.max_memory_bytes(),
            Backend::Fleet(f) => f.max_memory_bytes(),
        }
    }
}
