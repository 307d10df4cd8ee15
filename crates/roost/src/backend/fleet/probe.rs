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
        if with_info && outcome.is_ok() {
            match node.link.info().await {
                Ok(info) => node.set_info(info),
                Err(err) => tracing::debug!(node = %node.id, error = %err, "INFO failed"),
            }
        }
    }

    /// Invalidates every key `node` missed while it was out, then puts it back
    /// in rotation. If the replay fails the node stays out, keeps what is left
    /// of its journal, and the next successful probes try again.
    async fn readmit(&self, node: &FleetNode) {
        let mut invalidated = 0u64;
        let mut flushed = false;
        let now = self.now_millis();
        loop {
            let missed = node.journal.take_or_admit(|| {
                node.health.readmit(now);
            });
            let replay = match &missed {
                Missed::Nothing => break,
                Missed::Keys(keys) => node.link.delete_many(keys).await.map(|_| keys.len() as u64),
                Missed::Everything => node.link.flush().await.map(|_| 0),
            };
            match replay {
                Ok(count) => {
                    invalidated += count;
                    flushed |= matches!(missed, Missed::Everything);
                }
                Err(err) => {
                    self.replay_failed(node, &err, missed);
                    return;
                }
            }
        }
        let what = if flushed {
            "flushed (too many missed writes to track)".to_owned()
        } else {
            format!("{invalidated} keys written while it was out invalidated")
        };
        tracing::info!(node = %node.id, invalidated, flushed, "redis node readmitted");
        self.record(
            EventKind::NodeReadmitted,
            format!("node {} readmitted; {what}", node.id),
        );
    }

    fn replay_failed(&self, node: &FleetNode, err: &CacheError, missed: Missed) {
        tracing::warn!(
            node = %node.id, error = %err,
            "invalidating missed writes failed; the node stays out of rotation"
        );
        node.journal.restore(missed);
        node.health
            .record_failure(&self.hysteresis(), self.now_millis());
    }
}
