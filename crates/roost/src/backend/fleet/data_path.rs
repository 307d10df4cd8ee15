//! The fleet's intra-region data path: how one gateway reads and writes a
//! key's replicas on its own Redis nodes.
//!
//! - Reads go to the first up replica; a node failure moves on to the next.
//!   With more than one replica, a miss asks the next up replica too and, on a
//!   hit there, writes the entry back to the one that missed (read-repair: a
//!   node that rejoined empty fills up again; the keys it missed while out are
//!   also copied back to it right after it rejoins, see `probe.rs`).
//! - Writes go to every up replica at once and succeed when `write_quorum` of
//!   them acknowledge. A replica that is down, or whose write fails, has the
//!   key journaled so its copy is invalidated before it serves again.
//! - When every replica of a key is down, the key's range is served by the
//!   next up node: with the gutter on, writes there live at most `gutter_ttl`;
//!   with it off, they keep their TTL (eject and rehash).
//! - While keys move after a topology change, a miss is read through from the
//!   key's former holder, and a write removes the former holder's copy.
//! - Read-modify-write commands run on the first up replica (after a repair
//!   read) and the result is copied to the others.
//! - A batch of reads (MGET, a pipeline's GETs) asks each node once for all
//!   its keys; any key whose answer is not a plain hit or final miss takes the
//!   single-key path above. A batch of plain sets or deletes (MSET, a
//!   pipeline's SETs, DEL of many keys) sends each replica one request for all
//!   its keys and judges each key's quorum on its own.

use std::future::Future;
use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::join_all;
use roost_store::UnixMillis;

use super::health::Transition;
use super::topology::{FleetNode, Topology};
use super::Fleet;
use crate::backend::redis_link::{LinkWrite, RedisLink};
use crate::backend::{Condition, Deadline, RetimeCondition, SetOutcome, Stored};
use crate::error::CacheError;
use crate::telemetry::EventKind;

/// Applies one write to one node, capping the deadline on the gutter.
async fn apply(
    link: &RedisLink,
    key: &[u8],
    write: &LinkWrite<'_>,
    cap: Option<UnixMillis>,
    now: UnixMillis,
) -> Result<bool, CacheError> {
    match *write {
        LinkWrite::Set { value, expires_at } => {
            let expires_at = match (expires_at, cap) {
                (Some(at), Some(cap)) => Some(at.min(cap)),
                (at, cap) => at.or(cap),
            };
            link.set(key, value, expires_at, now).await.map(|()| true)
        }
        LinkWrite::Delete => link.delete(key).await,
    }
}

/// Adds `member` to `node`'s group in `groups`, starting the group if needed.
/// A batch touches a handful of nodes, so a linear search is the cheap way.
fn join_group<N>(
    groups: &mut Vec<(N, Vec<usize>)>,
    node: N,
    member: usize,
    same: impl Fn(&N, &N) -> bool,
) {
    match groups.iter_mut().find(|(n, _)| same(n, &node)) {
        Some((_, members)) => members.push(member),
        None => groups.push((node, vec![member])),
    }
}

impl Fleet {
    /// Runs `op` on `node`, counting it and feeding the node's health.
    pub(super) async fn on_node<'a, T, F, Fut>(
        &self,
        node: &'a FleetNode,
        op: F,
    ) -> Result<T, CacheError>
    where
        F: FnOnce(&'a RedisLink) -> Fut,
        Fut: Future<Output = Result<T, CacheError>>,
    {
        node.count_op();
        let result = op(&node.link).await;
        match &result {
            // An answer, even an error reply the request caused, shows the
            // node is serving; only the node's own faults count toward ejection.
            Ok(_) | Err(CacheError::Rejected { .. }) => node.health.record_request_success(),
            Err(err @ CacheError::NodeFailed { .. }) => {
                node.count_error();
                let now = self.now_millis();
                if node.health.record_failure(&self.hysteresis(), now) == Transition::Ejected {
                    self.on_ejected(node, &err.chain());
                }
            }
            Err(CacheError::Overloaded { .. }) => node.count_error(),
            Err(_) => {}
        }
        result
    }

    pub(super) fn on_ejected(&self, node: &FleetNode, reason: &str) {
        self.near_node_down(node);
        let rules = self.hysteresis();
        tracing::warn!(
            node = %node.id, address = %node.address().redacted(), reason,
            eject_after = rules.eject_after,
            "redis node ejected; its keys are served by the next replica or the gutter"
        );
        self.record(
            EventKind::NodeEjected,
            format!(
                "node {} ejected after {} consecutive failures: {reason}",
                node.id, rules.eject_after
            ),
        );
    }

    /// Reads `key`. `with_ttl` false asks the first replica for the value only
    /// (its `expires_at` is then `None`).
    pub(super) async fn read(
        &self,
        key: &[u8],
        with_ttl: bool,
    ) -> Result<Option<Stored>, CacheError> {
        // Read-repair and read-through from a former holder are rare (a replica
        // missed the key; a miss while keys move): both are boxed, so they stay
        // out of the state of every read's future.
        let topology = self.topology.load();
        let now = self.now_millis();
        let mut missed: Option<&Arc<FleetNode>> = None;
        let mut failure = None;
        let placement = topology.placement(key, self.settings.replicas);
        for node in placement.iter().map(|i| &topology.nodes[i]) {
            if !node.health.is_up() || node.journal.may_be_stale(key) {
                continue;
            }
            let found = if with_ttl || missed.is_some() {
                self.on_node(node, |link| link.get(key, now)).await
            } else {
                self.on_node(node, |link| link.get_value(key))
                    .await
                    .map(|v| v.map(|value| Stored::new(value, None)))
            };
            match found {
                Ok(Some(stored)) => {
                    if let Some(target) = missed {
                        Box::pin(self.repair(target, node, key, &stored, now)).await;
                    }
                    return Ok(Some(stored));
                }
                Ok(None) if self.settings.replicas == 1 => {
                    return self.read_through(&topology, node, key, now).await
                }
                Ok(None) => missed = missed.or(Some(node)),
                Err(err) if err.is_node_fault() => failure = Some(err),
                Err(err) => return Err(err),
            }
        }
        if let Some(owner) = missed {
            return self.read_through(&topology, owner, key, now).await;
        }
        match topology.fallback(key, self.settings.replicas) {
            Some(node) => self.on_node(node, |link| link.get(key, now)).await,
            None => Err(failure.unwrap_or(CacheError::NoNode)),
        }
    }

    /// [`Fleet::read`] for a batch of keys, in key order: each key's first
    /// readable replica is asked, with one pipelined request per node for all
    /// the keys it answers. A key whose answer is not final — a miss while
    /// other replicas or a former holder may have it, a node error, no readable
    /// replica — then takes the single-key path, so failover, read-repair and
    /// read-through behave exactly as for one key.
    pub(super) async fn read_many(
        &self,
        keys: &[&[u8]],
        with_ttl: bool,
    ) -> Vec<Result<Option<Stored>, CacheError>> {
        if let Some(near) = &self.near {
            return Box::pin(self.read_many_near(near, keys, with_ttl)).await;
        }
        self.read_many_direct(keys, with_ttl).await
    }

    /// [`Fleet::read_many`] without the near cache.
    pub(super) async fn read_many_direct(
        &self,
        keys: &[&[u8]],
        with_ttl: bool,
    ) -> Vec<Result<Option<Stored>, CacheError>> {
        // A Redis Cluster connection routes a pipeline by its first key.
        if self.cluster || keys.len() < 2 {
            return join_all(keys.iter().map(|key| self.read(key, with_ttl))).await;
        }
        let topology = self.topology.load();
        let now = self.now_millis();
        let miss_is_final = self.settings.replicas == 1 && topology.previous.is_none();
        let mut groups: Vec<(usize, Vec<usize>)> = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let readable = topology
                .placement(key, self.settings.replicas)
                .iter()
                .find(|&n| {
                    topology.nodes[n].health.is_up() && !topology.nodes[n].journal.may_be_stale(key)
                });
            if let Some(n) = readable {
                join_group(&mut groups, n, i, |a, b| a == b);
            }
        }
        let batches = groups.iter().map(|(n, members)| {
            let node = &topology.nodes[*n];
            let batch: Vec<&[u8]> = members.iter().map(|&i| keys[i]).collect();
            async move {
                self.on_node(node, |link| link.get_many(&batch, with_ttl, now))
                    .await
            }
        });
        let mut results: Vec<Option<Result<Option<Stored>, CacheError>>> =
            keys.iter().map(|_| None).collect();
        for ((_, members), answer) in groups.iter().zip(join_all(batches).await) {
            let Ok(entries) = answer else { continue };
            for (&i, entry) in members.iter().zip(entries) {
                if entry.is_some() || miss_is_final {
                    results[i] = Some(Ok(entry));
                }
            }
        }
        let unsettled = results
            .iter()
            .enumerate()
            .filter(|(_, result)| result.is_none())
            .map(|(i, _)| i)
            .collect::<Vec<_>>();
        let retried = join_all(unsettled.iter().map(|&i| self.read(keys[i], with_ttl))).await;
        for (i, result) in unsettled.into_iter().zip(retried) {
            results[i] = Some(result);
        }
        results
            .into_iter()
            .map(|result| result.expect("invariant: every key was answered or retried"))
            .collect()
    }

    /// [`Fleet::write`] for a batch of plain sets and deletes, in order: one
    /// pipelined request per node for every key it replicates, then each key's
    /// quorum judged from its replicas' answers exactly as for one write (a
    /// failed replica gets the key journaled). While keys move, on a Redis
    /// Cluster, and for a key with no up replica (the gutter), single writes,
    /// concurrently. Sets must be to distinct keys (two writes of one key may
    /// run in either order there); a delete may repeat a key (DEL a a counts it
    /// once either way).
    pub(super) async fn write_many(
        &self,
        writes: &[(&Bytes, LinkWrite<'_>)],
    ) -> Vec<Result<bool, CacheError>> {
        let topology = self.topology.load();
        if self.cluster || writes.len() < 2 || topology.previous.is_some() {
            return join_all(writes.iter().map(|&(key, write)| self.write(key, write))).await;
        }
        let now = self.now_millis();
        let targets: Vec<Vec<Arc<FleetNode>>> = writes
            .iter()
            .map(|(key, _)| self.write_targets(&topology, key))
            .collect();
        let mut groups: Vec<(&Arc<FleetNode>, Vec<usize>)> = Vec::new();
        for (i, replicas) in targets.iter().enumerate() {
            for node in replicas {
                join_group(&mut groups, node, i, |a, b| Arc::ptr_eq(a, b));
            }
        }
        let batches = groups.iter().map(|(node, members)| {
            let items: Vec<(&[u8], LinkWrite<'_>)> = members
                .iter()
                .map(|&i| (&writes[i].0[..], writes[i].1))
                .collect();
            async move {
                self.on_node(node, |link| link.write_many(&items, now))
                    .await
            }
        });
        let answers = join_all(batches).await;
        let unplaced: Vec<usize> = (0..writes.len())
            .filter(|&i| targets[i].is_empty())
            .collect();
        let mut gutter = join_all(
            unplaced
                .iter()
                .map(|&i| self.write(writes[i].0, writes[i].1)),
        )
        .await
        .into_iter();
        (0..writes.len())
            .map(|i| {
                if targets[i].is_empty() {
                    return gutter
                        .next()
                        .expect("invariant: one answer per unplaced key");
                }
                let results = targets[i]
                    .iter()
                    .map(|node| {
                        let g = groups
                            .iter()
                            .position(|(n, _)| Arc::ptr_eq(n, node))
                            .expect("invariant: every target has a group");
                        let member = groups[g]
                            .1
                            .iter()
                            .position(|&m| m == i)
                            .expect("invariant: a target's group holds the key");
                        match &answers[g] {
                            Ok(changed) => Ok(changed[member]),
                            Err(err) => Err(err.clone()),
                        }
                    })
                    .collect();
                self.quorum(writes[i].0, &targets[i], results)
            })
            .collect()
    }

    /// Writes a copy found on `source` back to the replica that missed it —
    /// only where it is still absent (a concurrent write wins), and dropped
    /// again if `source` no longer holds it afterwards and the copy is still
    /// there unchanged (a concurrent delete wins: a miss, never a resurrected
    /// key; a concurrent write is kept). `true` when the copy was written
    /// and kept.
    pub(super) async fn repair(
        &self,
        target: &FleetNode,
        source: &FleetNode,
        key: &[u8],
        stored: &Stored,
        now: UnixMillis,
    ) -> bool {
        match self.copy_if_absent(target, key, stored, now).await {
            Ok(outcome) if outcome.written => {
                let still = self.on_node(source, |link| link.get_value(key)).await;
                if matches!(&still, Ok(Some(v)) if *v == stored.value) {
                    return true;
                }
                let value = &stored.value;
                let undone = self
                    .on_node(target, |link| link.delete_if_value(key, value))
                    .await;
                if let Err(err) = undone {
                    // The copy may outlive the source's delete: the journal
                    // keeps the target from serving the key until it is rechecked.
                    target.journal.record(key);
                    tracing::warn!(
                        node = %target.id, error = %err.chain(),
                        "undoing a read-repair copy failed; the key is journaled on the node"
                    );
                }
                false
            }
            Ok(_) => false,
            Err(err) => {
                tracing::debug!(node = %target.id, error = %err, "read-repair failed");
                false
            }
        }
    }

    /// Writes `entry` (value and deadline) for `key` on `node` only where the
    /// key is absent there: a copy never overwrites a newer write.
    pub(super) async fn copy_if_absent(
        &self,
        node: &FleetNode,
        key: &[u8],
        entry: &Stored,
        now: UnixMillis,
    ) -> Result<SetOutcome, CacheError> {
        self.on_node(node, |link| {
            link.set_conditional(
                key,
                &entry.value,
                Condition::IfAbsent,
                Deadline::Set(entry.expires_at),
                now,
            )
        })
        .await
    }

    /// A miss on the current owner `owner`: while keys move, a former holder
    /// may still have it. When none has, the mover may have copied it to
    /// `owner` and deleted the old copy between the two reads (it copies
    /// first), so `owner` is asked once more.
    async fn read_through(
        &self,
        topology: &Topology,
        owner: &FleetNode,
        key: &[u8],
        now: UnixMillis,
    ) -> Result<Option<Stored>, CacheError> {
        let former = topology.former_holders(key, self.settings.replicas);
        if former.is_empty() {
            return Ok(None);
        }
        Box::pin(async move {
            for node in former {
                if let Ok(Some(stored)) = self.on_node(&node, |link| link.get(key, now)).await {
                    return Ok(Some(stored));
                }
            }
            self.on_node(owner, |link| link.get(key, now)).await
        })
        .await
    }

    /// Applies `write` to every up replica of `key`; succeeds once the quorum
    /// acknowledged. `true` when any replica reported a change (a delete
    /// that found the key; always for a set).
    pub(super) async fn write(
        &self,
        key: &Bytes,
        write: LinkWrite<'_>,
    ) -> Result<bool, CacheError> {
        let topology = self.topology.load();
        let now = self.now_millis();
        // Former holders first: a key being moved is copied by the mover only
        // while its old copy is unchanged, so removing that copy before the
        // new replicas are written means no move can bring an older value back.
        self.invalidate_former(&topology, key).await;
        let targets = self.write_targets(&topology, key);
        if targets.is_empty() {
            let needed = self.settings.write_quorum;
            if needed > 1 {
                return Err(CacheError::NoQuorum { acked: 0, needed });
            }
            let node = topology
                .fallback(key, self.settings.replicas)
                .ok_or(CacheError::NoNode)?;
            let cap = self.gutter_cap(now);
            return self
                .on_node(node, |l| apply(l, key, &write, cap, now))
                .await;
        }
        let results = if let [only] = &targets[..] {
            vec![
                self.on_node(only, |l| apply(l, key, &write, None, now))
                    .await,
            ]
        } else {
            let writes = targets
                .iter()
                .map(|node| self.on_node(node, |l| apply(l, key, &write, None, now)));
            join_all(writes).await
        };
        self.quorum(key, &targets, results)
    }

    /// The up replicas of `key`; down ones get the key journaled instead.
    pub(super) fn write_targets(&self, topology: &Topology, key: &[u8]) -> Vec<Arc<FleetNode>> {
        topology
            .placement(key, self.settings.replicas)
            .iter()
            .map(|i| &topology.nodes[i])
            .filter(|node| {
                // Up (the common case) needs no lock; a node that looks down is
                // re-checked under its journal's lock, where readmission flips it.
                node.health.is_up() || !node.journal.record_if(key, || !node.health.is_up())
            })
            .cloned()
            .collect()
    }

    fn quorum(
        &self,
        key: &Bytes,
        targets: &[Arc<FleetNode>],
        results: Vec<Result<bool, CacheError>>,
    ) -> Result<bool, CacheError> {
        let mut changed = false;
        let mut acked = 0;
        let mut failure = None;
        let mut refusal = None;
        let mut refused = Vec::new();
        for (node, result) in targets.iter().zip(results) {
            match result {
                Ok(found) => {
                    acked += 1;
                    changed |= found;
                }
                Err(err) if err.is_node_fault() => {
                    node.journal.record(key);
                    failure = Some(err);
                }
                Err(err) => {
                    refused.push(node);
                    refusal.get_or_insert(err);
                }
            }
        }
        // A replica that refused what another applied now holds something
        // else: journaled, it is not read until the replay removes its copy.
        if acked > 0 {
            for node in refused {
                node.journal.record(key);
            }
        }
        let needed = self.settings.write_quorum;
        match (refusal, failure) {
            _ if acked >= needed => Ok(changed),
            (Some(refusal), _) => Err(refusal),
            (None, Some(err)) if acked == 0 && needed == 1 => Err(err),
            _ => Err(CacheError::NoQuorum { acked, needed }),
        }
    }

    /// The latest deadline a gutter write may have, when the gutter is on.
    pub(super) fn gutter_cap(&self, now: UnixMillis) -> Option<UnixMillis> {
        self.settings
            .gutter_ttl
            .map(|ttl| now + ttl.as_millis() as u64)
    }

    /// Removes `key` from nodes that held it before the last topology change.
    pub(super) async fn invalidate_former(&self, topology: &Topology, key: &[u8]) {
        let former = topology.former_holders(key, self.settings.replicas);
        if former.is_empty() {
            return;
        }
        let deletes = former
            .iter()
            .map(|node| self.on_node(node, |l| l.delete(key)));
        for result in join_all(deletes).await {
            if let Err(err) = result {
                tracing::debug!(error = %err, "invalidating a moved key's old copy failed");
            }
        }
    }

    /// Copies the entry `key` now has on its first up replica to the others
    /// (after a read-modify-write ran there), or removes it where it is gone.
    pub(super) async fn propagate(&self, key: &Bytes, now: UnixMillis) -> Result<(), CacheError> {
        if self.settings.replicas == 1 {
            return Ok(());
        }
        let topology = self.topology();
        let targets = self.write_targets(&topology, key);
        let Some((first, rest)) = targets.split_first() else {
            return Ok(());
        };
        let entry = self.on_node(first, |l| l.get(key, now)).await?;
        let copies = rest.iter().map(|node| {
            self.on_node(node, |link| async {
                match &entry {
                    Some(s) => link.set(key, &s.value, s.expires_at, now).await,
                    None => link.delete(key).await.map(|_| ()),
                }
            })
        });
        for (node, result) in rest.iter().zip(join_all(copies).await) {
            if result.is_err() {
                node.journal.record(key);
            }
        }
        Ok(())
    }

    /// The first up replica of `key` (after a repair read when there are
    /// several), or the gutter node with its deadline cap.
    pub(super) async fn primary(
        &self,
        key: &Bytes,
    ) -> Result<(Arc<FleetNode>, Option<UnixMillis>), CacheError> {
        if self.settings.replicas > 1 {
            self.read(key, true).await?;
        }
        let topology = self.topology();
        let placement = topology.placement(key, self.settings.replicas);
        if let Some(node) = placement
            .iter()
            .map(|i| &topology.nodes[i])
            .find(|n| n.health.is_up())
        {
            return Ok((node.clone(), None));
        }
        if self.versions.is_some() {
            // A region keeps each key's version on its node: no other
            // node may take the write (`versions.rs`).
            return Err(CacheError::NoNode);
        }
        for index in placement.iter() {
            topology.nodes[index].journal.record(key);
        }
        let node = topology
            .fallback(key, self.settings.replicas)
            .cloned()
            .ok_or(CacheError::NoNode)?;
        Ok((node, self.gutter_cap(self.now_millis())))
    }

    /// Applies the gutter's deadline cap after a read-modify-write.
    pub(super) async fn cap_deadline(
        &self,
        node: &FleetNode,
        key: &[u8],
        cap: Option<UnixMillis>,
        now: UnixMillis,
    ) -> Result<(), CacheError> {
        if let Some(cap) = cap {
            self.on_node(node, |l| {
                l.retime(key, Some(cap), RetimeCondition::Earlier, now)
            })
            .await?;
        }
        Ok(())
    }
}
