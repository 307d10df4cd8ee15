//! The prober: every health interval it PINGs each node whose probe is due
//! (down nodes back off), ejects on failures, readmits after successes —
//! invalidating what a node missed first, and copying it back from the other
//! replicas after — and refreshes each node's INFO for stats, every
//! [`INFO_EVERY`] probes.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use futures_util::future::join_all;
use futures_util::{stream, StreamExt};
use tokio_util::sync::CancellationToken;

use super::health::{ProbeRecord, Transition};
use super::journal::Missed;
use super::topology::FleetNode;
use super::Fleet;
use crate::error::CacheError;
use crate::telemetry::EventKind;

/// INFO is gathered on every this many probe ticks.
const INFO_EVERY: u64 = 4;
/// Replays a rejoining node gets before it is admitted with what is left
/// still journaled (and skipped by reads).
const READMIT_PASSES: usize = 3;
/// Keys copied back to a rejoined node at once.
const REFILL_CONCURRENCY: usize = 32;

impl Fleet {
    /// Probes until `stop` is cancelled (shutdown).
    pub async fn run_prober(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.health_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut round: u64 = 0;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let with_info = round % INFO_EVERY == 0;
            round += 1;
            let nodes = self.topology().all_nodes();
            let now = self.now_millis();
            let due = nodes.iter().filter(|n| n.health.probe_due(now));
            join_all(due.map(|node| self.probe(node, with_info))).await;
        }
    }

    /// Probes one node and acts on what it shows.
    pub(super) async fn probe(self: &Arc<Self>, node: &Arc<FleetNode>, with_info: bool) {
        let started = Instant::now();
        let outcome = node.link.ping().await;
        let record = ProbeRecord {
            at_ms: self.now_millis(),
            ok: outcome.is_ok(),
            latency_us: started.elapsed().as_micros() as u64,
            error: outcome.as_ref().err().map(ToString::to_string),
        };
        let reason = record.error.clone().unwrap_or_default();
        match node
            .health
            .record_probe(&self.hysteresis(), self.now_millis(), record)
        {
            Transition::Ejected => self.on_ejected(node, &reason),
            Transition::ReadyToReadmit => self.readmit(node).await,
            Transition::None => {}
        }
        if outcome.is_ok() && node.health.is_up() && !node.journal.is_empty() {
            match self.replay(node).await {
                Ok(replayed) => self.refill(node, replayed.keys),
                Err(err) => {
                    tracing::debug!(node = %node.id, error = %err, "replaying failed writes failed");
                }
            }
        }
        if with_info && outcome.is_ok() {
            match node.link.info().await {
                Ok(info) => node.set_info(info),
                Err(err) => tracing::debug!(node = %node.id, error = %err, "INFO failed"),
            }
        }
    }

    /// Invalidates every key `node` missed while it was out, then puts it back
    /// in rotation. Writes keep arriving meanwhile, so after a few passes the
    /// node is admitted with whatever is still journaled: reads skip those
    /// keys on it until the prober's next replay deletes them. If a replay
    /// fails the node stays out and the next successful probes try again.
    /// Once it is back, the keys it missed are copied to it from their other
    /// replicas (see [`Fleet::refill`]).
    async fn readmit(self: &Arc<Self>, node: &Arc<FleetNode>) {
        let mut invalidated = Vec::new();
        let mut flushed = false;
        for _ in 0..READMIT_PASSES {
            match self.replay(node).await {
                Ok(replayed) => {
                    invalidated.extend(replayed.keys);
                    flushed |= replayed.flushed;
                }
                Err(err) => {
                    tracing::warn!(node = %node.id, error = %err,
                        "invalidating missed writes failed; the node stays out of rotation");
                    node.health
                        .record_failure(&self.hysteresis(), self.now_millis());
                    return;
                }
            }
            let now = self.now_millis();
            if node.journal.admit_if_empty(|| {
                node.health.readmit(now);
            }) {
                break;
            }
        }
        if !node.health.is_up() {
            node.health.readmit(self.now_millis());
        }
        let count = invalidated.len();
        let what = if flushed {
            "flushed (too many missed writes to track)".to_owned()
        } else if self.settings.replicas > 1 && count > 0 {
            format!("{count} keys written while it was out invalidated; copying them back from their other replicas")
        } else {
            format!("{count} keys written while it was out invalidated")
        };
        let left = node.journal.len();
        tracing::info!(node = %node.id, invalidated = count, flushed, left, "redis node readmitted");
        self.record(
            EventKind::NodeReadmitted,
            format!("node {} readmitted; {what}", node.id),
        );
        self.refill(node, invalidated);
        // It may have come back empty (a restart): its hot keys first, from
        // the other replicas, rather than one read-repair at a time.
        self.warm_up_readmitted(node);
    }

    /// Deletes on `node` what its journal holds now and forgets those keys;
    /// returns them, or that the node was flushed instead.
    pub(super) async fn replay(&self, node: &FleetNode) -> Result<Replayed, CacheError> {
        let missed = node.journal.snapshot();
        let flushed = match &missed {
            Missed::Nothing => return Ok(Replayed::default()),
            Missed::Keys(keys) => node.link.delete_many(keys).await.map(|_| false)?,
            Missed::Everything => node.link.flush().await.map(|_| true)?,
        };
        node.journal.settle(&missed);
        let keys = match missed {
            Missed::Keys(keys) => keys,
            Missed::Nothing | Missed::Everything => Vec::new(),
        };
        Ok(Replayed { keys, flushed })
    }

    /// Copies each of `keys`, just invalidated on `node`, back to it from
    /// another replica that holds it, in the background (at most
    /// [`REFILL_CONCURRENCY`] at a time; ended at shutdown). Without this a
    /// key written while `node` was out would have one copy until read, and a
    /// second failure would make it miss. Each copy is a read-repair: only
    /// where still absent, and undone if the source changed meanwhile.
    fn refill(self: &Arc<Self>, node: &Arc<FleetNode>, keys: Vec<Bytes>) {
        if keys.is_empty() || self.settings.replicas < 2 {
            return;
        }
        let (fleet, node) = (self.clone(), node.clone());
        self.tasks.spawn("refill", |stop| async move {
            let started = Instant::now();
            let count = keys.len();
            let copies = stream::iter(keys)
                .map(|key| fleet.refill_key(&node, key))
                .buffer_unordered(REFILL_CONCURRENCY)
                .filter(|copied| std::future::ready(*copied))
                .count();
            tokio::select! {
                _ = stop.cancelled() => {}
                copied = copies => {
                    let secs = started.elapsed().as_secs_f64();
                    tracing::info!(node = %node.id, keys = count, copied, secs,
                        "refilled keys a rejoined node missed from their other replicas");
                    // Until now a second failure could lose a key the node
                    // missed: a copy whose source stops answering before it
                    // is re-checked is undone (it might resurrect a delete).
                    fleet.record(
                        EventKind::NodeReadmitted,
                        format!("node {}: refill done, {copied} of {count} keys it missed copied back from their other replicas in {secs:.1} s", node.id),
                    );
                }
            }
            Ok(())
        });
    }

    /// Copies `key` to `node` from the first other up replica holding it;
    /// `true` when a copy was written.
    async fn refill_key(&self, node: &FleetNode, key: Bytes) -> bool {
        let topology = self.topology();
        let now = self.now_millis();
        let placement = topology.placement(&key, self.settings.replicas);
        let replicas: Vec<&Arc<FleetNode>> = placement.iter().map(|i| &topology.nodes[i]).collect();
        if !replicas.iter().any(|r| std::ptr::eq(r.as_ref(), node))
            || !node.health.is_up()
            || node.journal.may_be_stale(&key)
        {
            return false;
        }
        for source in replicas {
            if std::ptr::eq(source.as_ref(), node)
                || !source.health.is_up()
                || source.journal.may_be_stale(&key)
            {
                continue;
            }
            if let Ok(Some(stored)) = self.on_node(source, |link| link.get(&key, now)).await {
                return self.repair(node, source, &key, &stored, now).await;
            }
        }
        false
    }
}

/// What a replay invalidated on a node.
#[derive(Debug, Default)]
pub(super) struct Replayed {
    /// The keys deleted there (none when it was flushed).
    pub keys: Vec<Bytes>,
    /// The whole node was flushed: its journal had overflowed.
    pub flushed: bool,
}
