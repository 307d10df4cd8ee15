//! Backends: where entries actually live. Each backend owns its placement —
//! the embedded store its ring of shards, the fleet its topology of Redis
//! nodes — so its operations take keys, never node indices, and the per-node
//! view ([`NodeReport`]) comes from the one place that knows the nodes.
//!
//! Enum dispatch rather than a trait object: the set of backends is closed and
//! known to this crate, and the embedded hot path stays a direct call.

mod embedded;
pub mod fleet;
mod lease;
pub mod redis_link;

pub use embedded::{redis_score, Embedded};
pub use fleet::Fleet;
pub use lease::{LeaseGrant, LeaseHeld};
pub use redis_link::Pinned;

use bytes::Bytes;
use roost_ring::NodeId;
use roost_store::{ReplicaApply, UnixMillis, Version};

use crate::error::CacheError;

/// A plain write of a batch: the key and the entry to store under it.
pub type SetEntry = (Bytes, Stored);

/// A Redis node's reply to a forwarded command, as redis-rs read it.
pub use redis::Value as NodeReply;

/// A command Roost does not interpret, forwarded to the node that holds its
/// keys in front of Redis (hashes, lists, sets, sorted sets, streams…; see
/// `api/resp/forward.rs` and `backend/fleet/forward.rs`).
#[derive(Debug, Clone, Copy)]
pub struct Forwarded<'a> {
    /// The command's name, lower-case, as Redis names it in errors.
    pub name: &'static str,
    /// The whole command as the client sent it, name first.
    pub argv: &'a [Bytes],
    /// Its keys, by its key spec; none for OBJECT HELP and the like.
    pub keys: &'a [&'a [u8]],
    /// It may change its keys (flag `write`): other copies are dropped.
    pub write: bool,
    /// Where it runs: where its keys live, or everywhere.
    pub spread: Spread,
    /// Whether it blocks, and for how long (BLPOP, XREAD BLOCK…).
    pub block: Block,
    /// The client speaks RESP3: ask the node over RESP3 too, so its reply has
    /// RESP3's shapes (maps, sets, doubles).
    pub resp3: bool,
}

/// Where a forwarded command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spread {
    /// On the node of its keys (keys apart: CROSSSLOT); without keys, on one
    /// node of Roost's choice.
    One,
    /// Its keys may lie on several nodes: it runs once per node on that
    /// node's keys and the integer replies are added up (TOUCH).
    Sum,
    /// On every node, every master of a cluster (SCRIPT, FUNCTION, CONFIG SET).
    Everywhere,
}

/// How long a forwarded command may wait on its node: a blocking command
/// waits on a connection of its own (`redis_link/blocking.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// It answers at once, on the shared connections.
    No,
    /// It may wait this long (its timeout argument).
    For(std::time::Duration),
    /// A timeout of 0: as long as Redis waits.
    Forever,
}

/// What a backend stores for a key: the value, its absolute deadline and its
/// version (the embedded store's own entry type; its versions are stamped only
/// in a region, issue 16; a Redis node's entries carry `Version::NONE`).
pub type Stored = roost_store::Entry;

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
    /// Only when the entry has a deadline and the new one is earlier (EXPIRE's
    /// `LT XX`; `GT XX` is [`RetimeCondition::Later`], which a key without a
    /// deadline never passes anyway).
    EarlierDeadline,
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
            RetimeCondition::EarlierDeadline => current.is_some() && late(new) < late(current),
        }
    }
}

/// One node as the backend that owns it sees it: what the stats overview,
/// the metrics, the topology API and INFO are built from.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeReport {
    pub id: String,
    /// Where the node is reached (a Redis node's URL, password redacted);
    /// `None` for an in-process shard.
    pub address: Option<String>,
    pub status: NodeStatus,
    pub weight: u32,
    pub ring_share: f64,
    pub keys: u64,
    pub used_bytes: u64,
    /// The node's memory cap (0: none set).
    pub capacity_bytes: u64,
    pub evictions: u64,
    pub expirations: u64,
    /// Requests to the node so far.
    pub ops: u64,
    /// Failed requests to the node so far.
    pub errors: u64,
    /// Keys the node missed while out, to be invalidated before it serves.
    pub missed_writes: usize,
    /// When the node's status last changed (unix ms), where tracked.
    pub status_since_ms: Option<UnixMillis>,
    pub last_probe: Option<fleet::ProbeRecord>,
}

/// Whether a node is serving its share of keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    Up,
    /// Ejected after failures; its keys are served by others until it returns.
    Down,
    /// Leaving the topology: its keys are being moved off it.
    Draining,
}

impl NodeStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Up => "up",
            NodeStatus::Down => "down",
            NodeStatus::Draining => "draining",
        }
    }
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

    /// The embedded store, when that is the backend.
    pub fn embedded(&self) -> Option<&Embedded> {
        match self {
            Backend::Embedded(b) => Some(b),
            Backend::Fleet(_) => None,
        }
    }

    pub fn now_millis(&self) -> UnixMillis {
        match self {
            Backend::Embedded(b) => b.now_millis(),
            Backend::Fleet(f) => f.now_millis(),
        }
    }

    /// The id of the node that owns `key` now (its first replica on a fleet).
    pub fn owner(&self, key: &[u8]) -> Option<NodeId> {
        match self {
            Backend::Embedded(b) => Some(b.owner(key)),
            Backend::Fleet(f) => f.owner(key),
        }
    }

    /// Whether `key` is held in this gateway's near cache now (hot keys over a
    /// Redis fleet). The embedded store has none: its entries are in process.
    pub fn is_near_cached(&self, key: &[u8]) -> bool {
        match self {
            Backend::Embedded(_) => false,
            Backend::Fleet(f) => f.is_near_cached(key),
        }
    }

    pub async fn get(&self, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        match self {
            Backend::Embedded(b) => b.get(key),
            // A near-cache hit is answered here, before the boxed future.
            Backend::Fleet(f) => match f.near_hit(key) {
                Some(hit) => Ok(Some(hit)),
                None => Box::pin(f.get_past_near(key)).await,
            },
        }
    }

    /// [`Backend::get`] without the near cache: neither served nor counted
    /// there. For Roost's own look right after a client's lookup missed it
    /// (origin read-through), which must not count a second near miss.
    pub async fn get_past_near(&self, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        match self {
            Backend::Embedded(b) => b.get(key),
            Backend::Fleet(f) => Box::pin(f.get_past_near(key)).await,
        }
    }

    /// The value, with its deadline only where knowing it costs nothing (the
    /// embedded store, a near-cache hit): a Redis node is asked for GET
    /// without PTTL, and its entry says "no deadline" (`expires_at: None`).
    pub async fn get_value(&self, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        match self {
            Backend::Embedded(b) => b.get(key),
            Backend::Fleet(f) => match f.near_hit(key) {
                Some(hit) => Ok(Some(hit)),
                None => Box::pin(f.get_value_past_near(key)).await,
            },
        }
    }

    /// Several keys at once, in key order, each with its own outcome; a Redis
    /// fleet asks each node once for all its keys, and leaves the deadlines
    /// out unless `with_ttl`.
    pub async fn get_many(
        &self,
        keys: &[&[u8]],
        with_ttl: bool,
    ) -> Vec<Result<Option<Stored>, CacheError>> {
        match self {
            Backend::Embedded(b) => b.get_many(keys),
            Backend::Fleet(f) => Box::pin(f.get_many(keys, with_ttl)).await,
        }
    }

    /// Several plain sets at once, each with its own outcome; a Redis fleet
    /// sends each node one request for all its keys.
    pub async fn set_many(&self, entries: Vec<SetEntry>) -> Vec<Result<(), CacheError>> {
        match self {
            Backend::Embedded(b) => b.set_many(entries),
            Backend::Fleet(f) => Box::pin(f.set_many(&entries)).await,
        }
    }

    pub async fn set(
        &self,
        key: Bytes,
        value: Bytes,
        expires_at: Option<UnixMillis>,
    ) -> Result<(), CacheError> {
        match self {
            Backend::Embedded(b) => b.set(key, value, expires_at),
            Backend::Fleet(f) => Box::pin(f.set(key, value, expires_at)).await,
        }
    }

    pub async fn delete(&self, key: &[u8]) -> Result<bool, CacheError> {
        match self {
            Backend::Embedded(b) => Ok(b.delete(key)),
            Backend::Fleet(f) => Box::pin(f.delete(key)).await,
        }
    }

    /// Removes several keys, each with its own outcome (`true`: it existed);
    /// a Redis fleet sends each node one request for all its keys.
    pub async fn delete_many(&self, keys: &[Bytes]) -> Vec<Result<bool, CacheError>> {
        match self {
            Backend::Embedded(b) => keys.iter().map(|key| Ok(b.delete(key))).collect(),
            Backend::Fleet(f) => Box::pin(f.delete_many(keys)).await,
        }
    }

    /// Reads `key` without counting an access for the eviction policy.
    pub async fn peek(&self, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        match self {
            Backend::Embedded(b) => Ok(b.peek(key)),
            Backend::Fleet(f) => Box::pin(f.get(key)).await,
        }
    }

    /// Whether each key exists, without counting an access; a Redis fleet
    /// asks each node once for all its keys.
    pub async fn peek_many(&self, keys: &[&[u8]]) -> Vec<Result<bool, CacheError>> {
        match self {
            Backend::Embedded(b) => keys.iter().map(|key| Ok(b.peek(key).is_some())).collect(),
            Backend::Fleet(f) => Box::pin(f.get_many(keys, false))
                .await
                .into_iter()
                .map(|found| found.map(|entry| entry.is_some()))
                .collect(),
        }
    }

    /// Writes `value` if `condition` holds, atomically with reading what was there.
    /// With `returns_previous` (SET … GET) the embedded store refuses a key
    /// that holds a collection with WRONGTYPE, writing nothing; a Redis node
    /// answers WRONGTYPE itself.
    pub async fn set_conditional(
        &self,
        key: Bytes,
        value: Bytes,
        condition: Condition,
        deadline: Deadline,
        returns_previous: bool,
    ) -> Result<SetOutcome, CacheError> {
        match self {
            Backend::Embedded(b) => {
                b.set_conditional(key, value, condition, deadline, returns_previous)
            }
            Backend::Fleet(f) => Box::pin(f.set_conditional(key, value, condition, deadline)).await,
        }
    }

    /// Removes `key` and returns what it held (GETDEL).
    pub async fn take(&self, key: Bytes) -> Result<Option<Stored>, CacheError> {
        match self {
            Backend::Embedded(b) => b.take(key),
            Backend::Fleet(f) => Box::pin(f.take(key)).await,
        }
    }

    /// Reads `key` and gives it a new deadline in the same step (GETEX); returns
    /// the entry as it was.
    pub async fn get_and_retime(
        &self,
        key: Bytes,
        deadline: Option<UnixMillis>,
    ) -> Result<Option<Stored>, CacheError> {
        match self {
            Backend::Embedded(b) => b.get_and_retime(key, deadline),
            Backend::Fleet(f) => Box::pin(f.get_and_retime(key, deadline)).await,
        }
    }

    /// Replaces the deadline of a live entry when `condition` allows; `true` when
    /// it was replaced (EXPIRE, PERSIST).
    pub async fn retime(
        &self,
        key: Bytes,
        deadline: Option<UnixMillis>,
        condition: RetimeCondition,
    ) -> Result<bool, CacheError> {
        match self {
            Backend::Embedded(b) => b.retime(key, deadline, condition),
            Backend::Fleet(f) => Box::pin(f.retime(key, deadline, condition)).await,
        }
    }

    /// Adds `delta` to the integer stored at `key` (0 when missing), keeping its
    /// deadline; returns the new value (INCRBY).
    pub async fn incr_by(&self, key: Bytes, delta: i64) -> Result<i64, CacheError> {
        match self {
            Backend::Embedded(b) => b.incr_by(key, delta),
            Backend::Fleet(f) => Box::pin(f.incr_by(key, delta)).await,
        }
    }

    /// Appends `suffix` to the value at `key` (creating it), keeping its deadline;
    /// refuses a result longer than `max_len`. Returns the new length (APPEND).
    pub async fn append(
        &self,
        key: Bytes,
        suffix: &[u8],
        max_len: usize,
    ) -> Result<usize, CacheError> {
        match self {
            Backend::Embedded(b) => b.append(key, suffix, max_len),
            Backend::Fleet(f) => Box::pin(f.append(key, suffix, max_len)).await,
        }
    }

    /// Visits every live key on every node, each once, with its deadline (KEYS).
    pub async fn visit_keys(
        &self,
        visit: impl FnMut(&Bytes, Option<UnixMillis>),
    ) -> Result<(), CacheError> {
        match self {
            Backend::Embedded(b) => {
                b.visit_keys(visit);
                Ok(())
            }
            Backend::Fleet(f) => Box::pin(f.visit_keys(visit)).await,
        }
    }

    /// One page of SCAN from `cursor` (0 starts): the cursor to continue from
    /// (0 when done) and about `count` keys. A key present for the whole
    /// iteration is returned at least once.
    pub async fn scan_page(
        &self,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<Bytes>), CacheError> {
        match self {
            Backend::Embedded(b) => Ok(b.scan_page(cursor, count)),
            Backend::Fleet(f) => Box::pin(f.scan_page(cursor, count)).await,
        }
    }

    /// Stores each entry only where its key holds no live value (a snapshot
    /// restore). The embedded store does it under one lock per shard; a Redis
    /// fleet persists itself, so nothing is written there (snapshots are never
    /// loaded in front of Redis; every entry is counted as present).
    pub fn restore(&self, entries: Vec<SetEntry>) -> roost_store::AbsentInserts {
        match self {
            Backend::Embedded(b) => b.restore(entries),
            Backend::Fleet(_) => roost_store::AbsentInserts {
                present: entries.len() as u64,
                ..Default::default()
            },
        }
    }

    /// Whether writes are stamped with versions and deletes leave tombstones
    /// (the embedded store built with a `roost_store::Versioning`, in a region).
    pub fn is_versioned(&self) -> bool {
        match self {
            Backend::Embedded(b) => b.is_versioned(),
            Backend::Fleet(f) => f.is_versioned(),
        }
    }

    /// Another region's entries (values and tombstones at their versions),
    /// each stored only if newer than what its key holds; one outcome per
    /// entry, in order. Outside a region a Redis fleet answers
    /// [`CacheError::Unsupported`].
    pub async fn apply_versioned(
        &self,
        entries: Vec<SetEntry>,
    ) -> Result<Vec<ReplicaApply>, CacheError> {
        match self {
            Backend::Embedded(b) => Ok(b.apply_versioned(entries)),
            Backend::Fleet(f) => Box::pin(f.apply_versioned(entries)).await,
        }
    }

    /// What each key holds, tombstones included, with versions and
    /// deadlines: reading back what a write stored, for a region's change
    /// log (a Redis key of another type than a string reads as a tombstone
    /// at its version). Not an access for the eviction policy. A Redis key
    /// in `receipts` is not read again (see [`fleet::Receipts`]).
    pub async fn versioned_entries(
        &self,
        keys: &[Bytes],
        receipts: Option<&fleet::Receipts>,
    ) -> Result<Vec<Option<Stored>>, CacheError> {
        match self {
            Backend::Embedded(b) => Ok(b.peek_entries(keys)),
            Backend::Fleet(f) => Box::pin(f.peek_entries(keys, receipts)).await,
        }
    }

    /// What each key holds, tombstones included, with versions and deadlines:
    /// reading back what a write stored, for a region's change log. Not an
    /// access for the eviction policy. The embedded store only; see
    /// [`Backend::versioned_entries`] for both.
    pub fn peek_entries(&self, keys: &[Bytes]) -> Result<Vec<Option<Stored>>, CacheError> {
        match self {
            Backend::Embedded(b) => Ok(b.peek_entries(keys)),
            Backend::Fleet(_) => Err(self.unsupported("reading back versioned entries")),
        }
    }

    /// A tombstone at a fresh version, for a versioned write whose value was
    /// gone (evicted, expired) before it could be read back; `None` outside
    /// a region.
    pub fn fresh_tombstone(&self) -> Option<Stored> {
        match self {
            Backend::Embedded(b) => b.fresh_tombstone(),
            Backend::Fleet(f) => f.fresh_tombstone(),
        }
    }

    /// A fresh version from the region's clock, newer than everything
    /// stamped or observed so far: what a read-through miss takes before
    /// asking the origin. `None` outside a region.
    pub fn stamp(&self) -> Option<Version> {
        match self {
            Backend::Embedded(b) => b.stamp(),
            Backend::Fleet(f) => f.stamp(),
        }
    }

    /// Removes every value and tombstone older than `version` (a resync);
    /// answers how many were removed. The embedded store only (it runs on
    /// the blocking pool); a fleet's is `Fleet::drop_older_than`.
    pub fn drop_older_than(&self, version: Version) -> Result<u64, CacheError> {
        match self {
            Backend::Embedded(b) => Ok(b.drop_older_than(version)),
            Backend::Fleet(_) => Err(self.unsupported("dropping entries older than a version")),
        }
    }

    fn unsupported(&self, operation: &'static str) -> CacheError {
        CacheError::Unsupported {
            operation,
            backend: self.name(),
        }
    }

    /// Runs a forwarded command on the node that holds its keys; the
    /// embedded store runs the hash, list, set and sorted-set commands on its
    /// own collections and refuses the rest (`CacheError::NeedsRedis`).
    /// `max_value` bounds the string values the embedded store's string
    /// commands may leave (`ROOST_MAX_VALUE_BYTES`).
    pub async fn forward(
        &self,
        command: Forwarded<'_>,
        max_value: usize,
    ) -> Result<NodeReply, CacheError> {
        match self {
            Backend::Embedded(b) => b.forward(command, max_value).await,
            Backend::Fleet(f) => Box::pin(f.forward(command)).await,
        }
    }

    /// Whether two keys live on the same node(s), so one transaction may name
    /// both; the embedded store holds every key in one process.
    pub fn colocated(&self, a: &[u8], b: &[u8]) -> bool {
        match self {
            Backend::Embedded(_) => true,
            Backend::Fleet(f) => f.colocated(a, b),
        }
    }

    /// WATCH in front of Redis (`fleet/transaction.rs`).
    pub async fn watch(
        &self,
        keys: &[&[u8]],
        pinned: Option<Pinned>,
        resp3: bool,
    ) -> Result<Pinned, CacheError> {
        match self {
            Backend::Embedded(_) => Err(CacheError::NeedsRedis { command: "watch" }),
            Backend::Fleet(f) => Box::pin(f.watch(keys, pinned, resp3)).await,
        }
    }

    /// EXEC in front of Redis (`fleet/transaction.rs`).
    pub async fn exec(
        &self,
        commands: &[Vec<Bytes>],
        keys: &[Bytes],
        writes: bool,
        pinned: Option<Pinned>,
        resp3: bool,
    ) -> Result<NodeReply, CacheError> {
        match self {
            Backend::Embedded(_) => Err(CacheError::NeedsRedis { command: "exec" }),
            Backend::Fleet(f) => Box::pin(f.exec(commands, keys, writes, pinned, resp3)).await,
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

    /// Every node: a fleet's current nodes, then any still draining; the
    /// embedded store's shards in ring order.
    pub fn nodes(&self) -> Vec<NodeReport> {
        match self {
            Backend::Embedded(b) => b.nodes(),
            Backend::Fleet(f) => f.nodes(),
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
