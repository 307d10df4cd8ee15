//! The embedded backend: `roost-store` shards in this process, one per ring
//! node, plus the background task that sweeps expired entries. It owns its
//! placement (`placement.rs`: which shard holds a key) and counts each
//! shard's operations; `scan.rs` walks the shards for SCAN.

mod placement;
mod scan;
mod types;
mod waiters;

pub use types::redis_score;

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use roost_ring::NodeId;
use roost_store::{
    AbsentInserts, Clock, Mutation, ReplicaApply, Shard, Store, StoreConfig, UnixMillis, Version,
    Versioning,
};
use tokio_util::sync::CancellationToken;

use self::placement::Placement;
use super::{
    Condition, Deadline, NodeReport, NodeStatus, RetimeCondition, SetEntry, SetOutcome, Stored,
};
use crate::error::CacheError;
use crate::integer::parse_i64;
use crate::telemetry::Metrics;

/// How many entries one sweep of one shard may visit, so a sweep never holds
/// a shard for long however many keys expire at once.
const SWEEP_VISITS_PER_SHARD: usize = 2_000;

#[derive(Debug)]
pub struct Embedded {
    store: Arc<Store>,
    placement: Placement,
    /// Where each shard's operations are counted (`roost_node_operations_total`).
    metrics: Arc<Metrics>,
    /// Clients blocked on keys (BLPOP …), woken by writes to them.
    waiters: waiters::Waiters,
    /// Cancelled at shutdown (the background task's token, kept when it
    /// starts): ends the waits of blocked clients.
    stopping: std::sync::OnceLock<CancellationToken>,
}

impl Embedded {
    /// The store's shards on their ring. With `versioning` (a region) every
    /// write is stamped and every delete leaves a tombstone; `None` elsewhere.
    pub fn new(
        config: StoreConfig,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        versioning: Option<Versioning>,
    ) -> Embedded {
        let placement = Placement::for_shards(config.shards.get());
        let ids: Vec<&str> = placement
            .ring()
            .nodes()
            .iter()
            .map(|n| n.id.as_str())
            .collect();
        metrics.track_nodes(&ids);
        Embedded {
            store: Arc::new(Store::with_versioning(config, clock, versioning)),
            placement,
            metrics,
            waiters: waiters::Waiters::default(),
            stopping: std::sync::OnceLock::new(),
        }
    }

    /// The shutdown token blocked clients watch (never cancelled before the
    /// background task started).
    fn stopping(&self) -> CancellationToken {
        self.stopping.get().cloned().unwrap_or_default()
    }

    pub fn now_millis(&self) -> UnixMillis {
        self.store.now_millis()
    }

    /// The shard that owns `key`, counting one operation on it.
    fn shard(&self, key: &[u8]) -> &Shard {
        let index = self.placement.shard_of(key);
        self.metrics.count_node_op(index);
        &self.store.shards()[index]
    }

    /// The id of the shard that owns `key`.
    pub fn owner(&self, key: &[u8]) -> NodeId {
        let index = self.placement.shard_of(key);
        self.placement.ring().nodes()[index].id.clone()
    }

    /// The string at `key`; WRONGTYPE when it holds a collection.
    pub fn get(&self, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        string(self.shard(key).get(key))
    }

    /// Whatever `key` holds, a collection included, counting an access.
    pub fn get_any(&self, key: &[u8]) -> Option<Stored> {
        self.shard(key).get(key)
    }

    pub fn set(
        &self,
        key: Bytes,
        value: Bytes,
        expires_at: Option<UnixMillis>,
    ) -> Result<(), CacheError> {
        Ok(self.shard(&key).set(key, value, expires_at)?)
    }

    /// Several keys, each shard's under one hold of its read lock; answers in key
    /// order.
    pub fn get_many(&self, keys: &[&[u8]]) -> Vec<Result<Option<Stored>, CacheError>> {
        let shards = keys
            .iter()
            .map(|key| self.placement.shard_of(key))
            .collect();
        // A collection reads as absent here, as MGET answers nil for it.
        self.per_shard(shards, keys.to_vec(), |shard, keys| {
            let strings = shard.get_many(keys).into_iter();
            strings
                .map(|hit| Ok(hit.filter(|hit| hit.collection().is_none())))
                .collect()
        })
    }

    /// Several plain sets, each shard's under one hold of its write lock; outcomes
    /// in entry order.
    pub fn set_many(&self, entries: Vec<SetEntry>) -> Vec<Result<(), CacheError>> {
        let shards = entries
            .iter()
            .map(|(key, _)| self.placement.shard_of(key))
            .collect();
        self.per_shard(shards, entries, |shard, entries| {
            shard
                .set_many(entries)
                .into_iter()
                .map(|outcome| Ok(outcome?))
                .collect()
        })
    }

    /// Runs `run` once per shard on that shard's items (in their order) and puts the
    /// answers back in item order. `shards[i]` is `items[i]`'s shard; each item
    /// counts one operation on it.
    fn per_shard<I, T>(
        &self,
        shards: Vec<usize>,
        items: Vec<I>,
        run: impl Fn(&Shard, Vec<I>) -> Vec<Result<T, CacheError>>,
    ) -> Vec<Result<T, CacheError>> {
        let count = shards.len();
        let mut groups: Vec<(usize, Vec<usize>, Vec<I>)> = Vec::new();
        for (at, (node, item)) in shards.into_iter().zip(items).enumerate() {
            self.metrics.count_node_op(node);
            match groups.iter_mut().find(|(n, _, _)| *n == node) {
                Some((_, positions, group)) => {
                    positions.push(at);
                    group.push(item);
                }
                None => groups.push((node, vec![at], vec![item])),
            }
        }
        let mut answers: Vec<Option<Result<T, CacheError>>> =
            std::iter::repeat_with(|| None).take(count).collect();
        for (node, positions, group) in groups {
            let outcomes = run(&self.store.shards()[node], group);
            for (at, outcome) in positions.into_iter().zip(outcomes) {
                answers[at] = Some(outcome);
            }
        }
        answers
            .into_iter()
            .map(|answer| answer.expect("invariant: every item belongs to one group"))
            .collect()
    }

    pub fn delete(&self, key: &[u8]) -> bool {
        self.shard(key).delete(key)
    }

    pub fn peek(&self, key: &[u8]) -> Option<Stored> {
        self.shard(key).peek(key)
    }

    pub fn set_conditional(
        &self,
        key: Bytes,
        value: Bytes,
        condition: Condition,
        deadline: Deadline,
        returns_previous: bool,
    ) -> Result<SetOutcome, CacheError> {
        let outcome = self.shard(&key).update(key, |current| {
            if returns_previous && current.as_ref().is_some_and(|c| c.collection().is_some()) {
                return (Mutation::Keep, Err(CacheError::wrong_type()));
            }
            let allowed = match condition {
                Condition::Always => true,
                Condition::IfAbsent => current.is_none(),
                Condition::IfPresent => current.is_some(),
            };
            let expires_at = match deadline {
                Deadline::Keep => current.as_ref().and_then(|hit| hit.expires_at),
                Deadline::Set(at) => at,
            };
            let mutation = if allowed {
                Mutation::Set { value, expires_at }
            } else {
                Mutation::Keep
            };
            let outcome = SetOutcome {
                written: allowed,
                previous: current,
            };
            (mutation, Ok(outcome))
        })?;
        outcome
    }

    pub fn take(&self, key: Bytes) -> Result<Option<Stored>, CacheError> {
        self.shard(&key)
            .update(key, |current| match string(current) {
                Ok(current) => (Mutation::Delete, Ok(current)),
                Err(err) => (Mutation::Keep, Err(err)),
            })?
    }

    pub fn get_and_retime(
        &self,
        key: Bytes,
        deadline: Option<UnixMillis>,
    ) -> Result<Option<Stored>, CacheError> {
        self.shard(&key)
            .update(key, |current| match string(current) {
                Ok(None) => (Mutation::Keep, Ok(None)),
                Ok(Some(hit)) => (
                    Mutation::Retime {
                        expires_at: deadline,
                    },
                    Ok(Some(hit)),
                ),
                Err(err) => (Mutation::Keep, Err(err)),
            })?
    }

    pub fn retime(
        &self,
        key: Bytes,
        deadline: Option<UnixMillis>,
        condition: RetimeCondition,
    ) -> Result<bool, CacheError> {
        let changed = self.shard(&key).update(key, |current| match current {
            Some(hit) if condition.allows(hit.expires_at, deadline) => (
                Mutation::Retime {
                    expires_at: deadline,
                },
                true,
            ),
            _ => (Mutation::Keep, false),
        })?;
        Ok(changed)
    }

    pub fn incr_by(&self, key: Bytes, delta: i64) -> Result<i64, CacheError> {
        self.shard(&key).update(key, |current| {
            let current = match string(current) {
                Ok(current) => current,
                Err(err) => return (Mutation::Keep, Err(err)),
            };
            let (base, expires_at) = match &current {
                None => (Some(0), None),
                Some(hit) => (parse_i64(&hit.value), hit.expires_at),
            };
            let Some(base) = base else {
                return (Mutation::Keep, Err(CacheError::NotAnInteger));
            };
            let Some(sum) = base.checked_add(delta) else {
                return (Mutation::Keep, Err(CacheError::IncrementOverflow));
            };
            let value = Bytes::copy_from_slice(itoa::Buffer::new().format(sum).as_bytes());
            (Mutation::Set { value, expires_at }, Ok(sum))
        })?
    }

    pub fn append(&self, key: Bytes, suffix: &[u8], max_len: usize) -> Result<usize, CacheError> {
        self.shard(&key).update(key, |current| {
            let current = match string(current) {
                Ok(current) => current,
                Err(err) => return (Mutation::Keep, Err(err)),
            };
            let (old, expires_at) = match &current {
                None => (&b""[..], None),
                Some(hit) => (&hit.value[..], hit.expires_at),
            };
            let len = old.len() + suffix.len();
            if len > max_len {
                let too_large = CacheError::ValueTooLarge { len, max: max_len };
                return (Mutation::Keep, Err(too_large));
            }
            let mut value = BytesMut::with_capacity(len);
            value.extend_from_slice(old);
            value.extend_from_slice(suffix);
            let value = value.freeze();
            (Mutation::Set { value, expires_at }, Ok(len))
        })?
    }

    /// Visits every live key of every shard with its deadline.
    pub fn visit_keys(&self, mut visit: impl FnMut(&Bytes, Option<UnixMillis>)) {
        for shard in self.store.shards() {
            shard.keys(|key, hit| visit(key, hit.expires_at));
        }
    }

    /// A snapshot restore: each entry stored only where its key holds no
    /// live value, each shard's entries under one hold of its write lock.
    pub fn restore(&self, entries: Vec<SetEntry>) -> AbsentInserts {
        let mut by_shard: Vec<Vec<SetEntry>> = Vec::new();
        by_shard.resize_with(self.store.shards().len(), Vec::new);
        for (key, hit) in entries {
            let index = self.placement.shard_of(&key);
            self.metrics.count_node_op(index);
            by_shard[index].push((key, hit));
        }
        let mut done = AbsentInserts::default();
        for (shard, entries) in self.store.shards().iter().zip(by_shard) {
            if !entries.is_empty() {
                done.add(shard.insert_absent_many(entries));
            }
        }
        done
    }

    /// Every live entry of one shard after the other, each shard's copied
    /// (refcounts, not bytes) and then visited outside its lock, so a
    /// snapshot never holds more than one shard's handles at once; `visit`
    /// answers false to stop.
    pub fn export(&self, mut visit: impl FnMut(&Bytes, &Stored) -> bool) {
        for shard in self.store.shards() {
            let mut going = true;
            shard.keys(|key, hit| {
                if going {
                    going = visit(key, hit);
                }
            });
            if !going {
                return;
            }
        }
    }

    /// The live entry at `key` without counting an access for the policy
    /// or an operation on the shard (a snapshot reading the hottest keys).
    pub fn peek_quietly(&self, key: &[u8]) -> Option<Stored> {
        self.store.shards()[self.placement.shard_of(key)].peek(key)
    }

    pub fn is_versioned(&self) -> bool {
        self.store.is_versioned()
    }

    /// Another region's entries, each stored only if newer than what its key
    /// holds ([`Shard::apply_newer`]), each shard's under its own lock per
    /// entry; outcomes in entry order.
    pub fn apply_versioned(&self, entries: Vec<SetEntry>) -> Vec<ReplicaApply> {
        let shards = entries
            .iter()
            .map(|(key, _)| self.placement.shard_of(key))
            .collect();
        self.per_shard(shards, entries, |shard, entries| {
            entries
                .into_iter()
                .map(|(key, hit)| Ok(shard.apply_newer(key, hit)))
                .collect()
        })
        .into_iter()
        .map(|outcome| outcome.unwrap_or(ReplicaApply::Refused))
        .collect()
    }

    /// A tombstone at a fresh version ([`Store::fresh_tombstone`]); `None`
    /// outside a region.
    pub fn fresh_tombstone(&self) -> Option<Stored> {
        self.store.fresh_tombstone()
    }

    /// A fresh version ([`Store::stamp`]); `None` outside a region.
    pub fn stamp(&self) -> Option<roost_store::Version> {
        self.store.stamp()
    }

    /// Stores a value loaded from the origin at the version its miss took
    /// ([`roost_store::Shard::fill_newer`]); `true` when stored.
    pub fn fill_newer(
        &self,
        key: Bytes,
        value: Bytes,
        expires_at: Option<UnixMillis>,
        version: roost_store::Version,
        replace: bool,
    ) -> bool {
        let shard = &self.store.shards()[self.placement.shard_of(&key)];
        shard.fill_newer(key, Stored::versioned(value, expires_at, version), replace)
    }

    /// What each key holds, tombstones included ([`Shard::peek_entry`]),
    /// without counting an access or an operation: Roost reading back its own
    /// write for a region's change log.
    pub fn peek_entries(&self, keys: &[Bytes]) -> Vec<Option<Stored>> {
        keys.iter()
            .map(|key| self.store.shards()[self.placement.shard_of(key)].peek_entry(key))
            .collect()
    }

    /// Removes every value and tombstone older than `version` on every shard.
    pub fn drop_older_than(&self, version: Version) -> u64 {
        self.store.drop_older_than(version)
    }

    /// Entries across all shards.
    pub fn key_count(&self) -> u64 {
        self.store.shards().iter().map(|s| s.len()).sum()
    }

    pub fn deadlines(&self) -> u64 {
        self.store.shards().iter().map(|s| s.deadlines()).sum()
    }

    pub fn flush(&self) -> u64 {
        self.store.clear()
    }

    pub fn policy(&self) -> roost_store::PolicyKind {
        self.store.policy()
    }

    pub fn max_memory_bytes(&self) -> u64 {
        self.store.max_memory_bytes()
    }

    /// Every shard as a node: always up, with its counters and its
    /// operations so far.
    pub fn nodes(&self) -> Vec<NodeReport> {
        let ring = self.placement.ring();
        let shares = ring.shares();
        let ops = self.metrics.node_op_counts();
        ring.nodes()
            .iter()
            .zip(self.store.shards())
            .enumerate()
            .map(|(i, (node, s))| NodeReport {
                id: node.id.to_string(),
                address: None,
                status: NodeStatus::Up,
                weight: node.weight,
                ring_share: shares.get(i).copied().unwrap_or(0.0),
                keys: s.len(),
                used_bytes: s.used_bytes(),
                capacity_bytes: s.capacity_bytes(),
                evictions: s.evictions(),
                expirations: s.expirations(),
                ops: ops.get(i).copied().unwrap_or(0),
                errors: 0,
                missed_writes: 0,
                status_since_ms: None,
                last_probe: None,
            })
            .collect()
    }

    /// Removes expired entries every `interval` until `cancel` fires. Runs on
    /// the blocking pool's terms: each sweep is bounded per shard.
    /// `cancel` also ends the waits of clients blocked on keys at shutdown.
    pub async fn sweep_expired(&self, interval: Duration, cancel: CancellationToken) {
        // Set once: the store has one background task.
        let _ = self.stopping.set(cancel.clone());
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = cancel.cancelled() => return,
                _ = tick.tick() => {}
            }
            let removed: usize = self
                .store
                .shards()
                .iter()
                .map(|s| s.sweep_expired(SWEEP_VISITS_PER_SHARD))
                .sum();
            if removed > 0 {
                tracing::debug!(removed, "expired entries swept");
            }
        }
    }
}

/// A string entry as it is; a collection is Redis's WRONGTYPE for a
/// command on strings.
fn string(found: Option<Stored>) -> Result<Option<Stored>, CacheError> {
    match found {
        Some(hit) if hit.collection().is_some() => Err(CacheError::wrong_type()),
        found => Ok(found),
    }
}
