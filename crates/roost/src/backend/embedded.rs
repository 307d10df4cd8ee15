//! The embedded backend: `roost-store` shards in this process, one per ring
//! node, plus the background task that sweeps expired entries.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use roost_store::{Clock, Hit, Mutation, Store, StoreConfig, UnixMillis};
use tokio_util::sync::CancellationToken;

use super::{Condition, Deadline, NodeStats, RetimeCondition, SetOutcome, Stored};
use crate::error::CacheError;
use crate::integer::parse_i64;

/// How many entries one sweep of one shard may visit, so a sweep never holds
/// a shard for long however many keys expire at once.
const SWEEP_VISITS_PER_SHARD: usize = 2_000;

#[derive(Debug)]
pub struct Embedded {
    store: Arc<Store>,
}

impl Embedded {
    pub fn new(config: StoreConfig, clock: Arc<dyn Clock>) -> Embedded {
        Embedded {
            store: Arc::new(Store::new(config, clock)),
        }
    }

    pub fn now_millis(&self) -> UnixMillis {
        self.store.now_millis()
    }

    fn shard(&self, node: usize) -> Result<&roost_store::Shard, CacheError> {
        self.store.shards().get(node).ok_or(CacheError::NoNode)
    }

    pub fn get(&self, node: usize, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        Ok(self.shard(node)?.get(key).map(stored))
    }

    pub fn set(
        &self,
        node: usize,
        key: Bytes,
        value: Bytes,
        expires_at: Option<UnixMillis>,
    ) -> Result<(), CacheError> {
        Ok(self.shard(node)?.set(key, value, expires_at)?)
    }

    /// Several keys, each shard's under one hold of its read lock; answers in key
    /// order. `nodes[i]` is `keys[i]`'s node.
    pub fn get_many(
        &self,
        nodes: &[usize],
        keys: &[&[u8]],
    ) -> Vec<Result<Option<Stored>, CacheError>> {
        self.per_shard(nodes, keys.to_vec(), |shard, keys| {
            shard
                .get_many(keys)
                .into_iter()
                .map(|hit| Ok(hit.map(stored)))
                .collect()
        })
    }

    /// Several plain sets, each shard's under one hold of its write lock; outcomes
    /// in entry order. `nodes[i]` is `entries[i]`'s node.
    pub fn set_many(
        &self,
        nodes: &[usize],
        entries: Vec<(Bytes, Bytes, Option<UnixMillis>)>,
    ) -> Vec<Result<(), CacheError>> {
        self.per_shard(nodes, entries, |shard, entries| {
            shard
                .set_many(entries)
                .into_iter()
                .map(|outcome| Ok(outcome?))
                .collect()
        })
    }

    /// Runs `run` once per shard on that shard's items (in their order) and puts the
    /// answers back in item order; items of a node that does not exist get
    /// [`CacheError::NoNode`].
    fn per_shard<I, T>(
        &self,
        nodes: &[usize],
        items: Vec<I>,
        run: impl Fn(&roost_store::Shard, Vec<I>) -> Vec<Result<T, CacheError>>,
    ) -> Vec<Result<T, CacheError>> {
        let mut groups: Vec<(usize, Vec<usize>, Vec<I>)> = Vec::new();
        for (at, (&node, item)) in nodes.iter().zip(items).enumerate() {
            match groups.iter_mut().find(|(n, _, _)| *n == node) {
                Some((_, positions, group)) => {
                    positions.push(at);
                    group.push(item);
                }
                None => groups.push((node, vec![at], vec![item])),
            }
        }
        let mut answers: Vec<Option<Result<T, CacheError>>> =
            std::iter::repeat_with(|| None).take(nodes.len()).collect();
        for (node, positions, group) in groups {
            let outcomes = match self.shard(node) {
                Ok(shard) => run(shard, group),
                Err(err) => positions.iter().map(|_| Err(err.clone())).collect(),
            };
            for (at, outcome) in positions.into_iter().zip(outcomes) {
                answers[at] = Some(outcome);
            }
        }
        answers
            .into_iter()
            .map(|answer| answer.expect("invariant: every item belongs to one group"))
            .collect()
    }

    pub fn delete(&self, node: usize, key: &[u8]) -> Result<bool, CacheError> {
        Ok(self.shard(node)?.delete(key))
    }

    pub fn peek(&self, node: usize, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        Ok(self.shard(node)?.peek(key).map(stored))
    }

    pub fn set_conditional(
        &self,
        node: usize,
        key: Bytes,
        value: Bytes,
        condition: Condition,
        deadline: Deadline,
    ) -> Result<SetOutcome, CacheError> {
        let outcome = self.shard(node)?.update(key, |current| {
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
                previous: current.map(stored),
            };
            (mutation, outcome)
        })?;
        Ok(outcome)
    }

    pub fn take(&self, node: usize, key: Bytes) -> Result<Option<Stored>, CacheError> {
        let taken = self
            .shard(node)?
            .update(key, |current| (Mutation::Delete, current.map(stored)))?;
        Ok(taken)
    }

    pub fn get_and_retime(
        &self,
        node: usize,
        key: Bytes,
        deadline: Option<UnixMillis>,
    ) -> Result<Option<Stored>, CacheError> {
        let found = self.shard(node)?.update(key, |current| match current {
            None => (Mutation::Keep, None),
            Some(hit) => (
                Mutation::Set {
                    value: hit.value.clone(),
                    expires_at: deadline,
                },
                Some(stored(hit)),
            ),
        })?;
        Ok(found)
    }

    pub fn retime(
        &self,
        node: usize,
        key: Bytes,
        deadline: Option<UnixMillis>,
        condition: RetimeCondition,
    ) -> Result<bool, CacheError> {
        let changed = self.shard(node)?.update(key, |current| match current {
            Some(hit) if condition.allows(hit.expires_at, deadline) => (
                Mutation::Set {
                    value: hit.value,
                    expires_at: deadline,
                },
                true,
            ),
            _ => (Mutation::Keep, false),
        })?;
        Ok(changed)
    }

    pub fn incr_by(&self, node: usize, key: Bytes, delta: i64) -> Result<i64, CacheError> {
        self.shard(node)?.update(key, |current| {
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

    pub fn append(
        &self,
        node: usize,
        key: Bytes,
        suffix: &[u8],
        max_len: usize,
    ) -> Result<usize, CacheError> {
        self.shard(node)?.update(key, |current| {
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

    pub fn visit_keys(
        &self,
        node: usize,
        mut visit: impl FnMut(&Bytes, Option<UnixMillis>),
    ) -> Result<(), CacheError> {
        self.shard(node)?
            .keys(|key, hit| visit(key, hit.expires_at));
        Ok(())
    }

    pub fn node_len(&self, node: usize) -> u64 {
        self.store.shards().get(node).map_or(0, |s| s.len())
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

    pub fn node_stats(&self) -> Vec<NodeStats> {
        self.store
            .shards()
            .iter()
            .map(|s| NodeStats {
                keys: s.len(),
                used_bytes: s.used_bytes(),
                capacity_bytes: s.capacity_bytes(),
                evictions: s.evictions(),
                expirations: s.expirations(),
            })
            .collect()
    }

    /// Removes expired entries every `interval` until `cancel` fires. Runs on
    /// the blocking pool's terms: each sweep is bounded per shard.
    pub async fn sweep_expired(&self, interval: Duration, cancel: CancellationToken) {
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

fn stored(hit: Hit) -> Stored {
    Stored {
        value: hit.value,
        expires_at: hit.expires_at,
    }
}
