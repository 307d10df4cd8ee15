//! The prober: every health interval it PINGs each node whose probe is due
//! (down nodes back off), ejects on failures, readmits after successes —
//! invalidating what a node missed first — and refreshes each node's INFO for
//! stats, every [`INFO_EVERY`] probes.

use std::sync::Arc;
use std::time::Instant;

use futures_util::future::join_all;
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

impl Fleet {
    /// Probes until `stop` is cancelled, then stops any key move still
    /// running (see `changes.rs`).
    pub async fn run_prober(self: Arc<Self>, stop: CancellationToken) {
        let _stop_moves = self.stopping.clone().drop_guard();
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
    pub(super) async fn probe(&self, node: &FleetNode, with_info: bool) {
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
            if let Err(err) = self.replay(node).await {
                tracing::debug!(node = %node.id, error = %err, "replaying failed writes failed");
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
    async fn readmit(&self, node: &FleetNode) {
        let mut invalidated = 0u64;
        let mut flushed = false;
        for _ in 0..READMIT_PASSES {
            match self.replay(node).await {
                Ok((count, flush)) => {
                    invalidated += count;
                    flushed |= flush;
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
        let what = if flushed {
            "flushed (too many missed writes to track)".to_owned()
        } else {
            format!("{invalidated} keys written while it was out invalidated")
        };
        let left = node.journal.len();
        tracing::info!(node = %node.id, invalidated, flushed, left, "redis node readmitted");
        self.record(
            EventKind::NodeReadmitted,
            format!("node {} readmitted; {what}", node.id),
        );
    }

    /// Deletes on `node` what its journal holds now and forgets those keys;
    /// returns how many and whether the node was flushed instead.
    pub(super) async fn replay(&self, node: &FleetNode) -> Result<(u64, bool), CacheError> {
        let missed = node.journal.snapshot();
        let outcome = match &missed {
            Missed::Nothing => return Ok((0, false)),
            Missed::Keys(keys) => {
                let count = keys.len() as u64;
                node.link.delete_many(keys).await.map(|_| (count, false))
            }
            Missed::Everything => node.link.flush().await.map(|_| (0, true)),
        }?;
        node.journal.settle(&missed);
        Ok(outcome)
    }
}
