//! New-node warm-up and trend preload, while warming is on (`ROOST_WARMING`).
//!
//! - Warm-up: when a node is added ([`Fleet::change`]) or re-admitted (the
//!   prober), the hottest keys ([`HotSet::hottest`], up to the tracker's
//!   capacity) whose placement now includes it are copied to it from a node
//!   that holds them — a former holder while keys move, else another replica —
//!   hottest first, at most [`WARMUP_KEYS_PER_SEC`]. For an added node this
//!   runs before the key mover starts, so the keys that take most reads are in
//!   place first; read-through from former holders covers everything until
//!   the mover is done, as without warm-up. Each copy is a read-repair: only
//!   where absent (a client write wins) and undone if the source changed
//!   meanwhile (a client delete wins), so a warm-up never serves a stale value.
//! - Trend preload: every [`TREND_EVERY`] the keys whose rate rises fast
//!   ([`HotSet::rising`]) are read into the near cache before they are hot
//!   and, with replicas > 1, a replica that lacks one gets it copied.
//!
//! One warm-up per node at a time: a node that flaps (re-admitted while its
//! warm-up still copies) or is removed and added back meanwhile does not get
//! a second one beside the first, which would double [`WARMUP_KEYS_PER_SEC`]
//! on it. The request is folded into the running warm-up instead: when that
//! one ends, it runs once more (if the node is still up), since the node may
//! have lost what was copied before it went away. A warm-up cut short at
//! shutdown is shown `stopped`.
//!
//! Must not: copy to a node that no longer owns a key (each copy checks the
//! current placement), or run with warming off (no [`Warmer`] then).

use std::collections::hash_map::Entry;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::join_all;
use parking_lot::Mutex;
use prometheus::{IntCounterVec, Opts};
use roost_store::UnixMillis;
use serde::Serialize;

use super::topology::{FleetNode, Topology};
use super::Fleet;
use crate::hot::{key_hash, HotSet};
use crate::telemetry::{EventKind, Metrics};

/// The most keys a warm-up copies per second. Each copy is three round trips
/// (read the source, SET NX on the node, re-read the source): 2,000 keys/s is
/// 6,000 Redis commands/s spread over the nodes, little beside client
/// traffic, and the tracker's 1,000 listed keys are in place in half a second.
pub const WARMUP_KEYS_PER_SEC: u32 = 2_000;
/// Keys copied at once (also the most started ahead of the pace).
const WARMUP_CONCURRENCY: usize = 16;
/// Finished warm-ups kept for [`Fleet::warmups`].
const WARMUPS_KEPT: usize = 16;
/// How often rising keys are preloaded.
pub const TREND_EVERY: Duration = Duration::from_millis(500);
/// Rising keys looked at per round.
const TREND_KEYS: usize = 32;
/// Rising keys remembered as done, so a key rising over several rounds is
/// preloaded once.
const TREND_REMEMBERED: usize = 1024;

/// Why a node is warmed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WarmupReason {
    Added,
    Readmitted,
}

/// Where a warm-up is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum WarmupState {
    Copying,
    Done,
    /// The node left the topology, went down, or the gateway shut down.
    Stopped,
}

/// One warm-up as `GET /api/cache/warming` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WarmupStatus {
    pub node: String,
    pub reason: WarmupReason,
    pub state: WarmupState,
    /// Keys written to the node.
    pub copied: u64,
    /// Keys it already held, or that no other node held any more.
    pub skipped: u64,
    /// Hot keys whose placement includes the node.
    pub total: u64,
    pub started_at_ms: UnixMillis,
    pub finished_at_ms: Option<UnixMillis>,
}

/// One warm-up's progress, updated by its task.
#[derive(Debug)]
struct Progress {
    node: String,
    reason: WarmupReason,
    total: u64,
    started_at_ms: UnixMillis,
    copied: AtomicU64,
    skipped: AtomicU64,
    state: AtomicU8,
    finished_at_ms: AtomicU64,
}

impl Progress {
    fn status(&self) -> WarmupStatus {
        let state = match self.state.load(Ordering::Acquire) {
            0 => WarmupState::Copying,
            1 => WarmupState::Done,
            _ => WarmupState::Stopped,
        };
        let finished = self.finished_at_ms.load(Ordering::Acquire);
        WarmupStatus {
            node: self.node.clone(),
            reason: self.reason,
            state,
            copied: self.copied.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            total: self.total,
            started_at_ms: self.started_at_ms,
            finished_at_ms: (state != WarmupState::Copying).then_some(finished),
        }
    }

    fn finish(&self, state: WarmupState, at: UnixMillis) {
        self.finished_at_ms.store(at, Ordering::Release);
        let code = if state == WarmupState::Done { 1 } else { 2 };
        self.state.store(code, Ordering::Release);
    }
}

/// What warming keeps in a fleet: where the hot keys come from, the
/// warm-ups so far, and their counters.
#[derive(Debug)]
pub(super) struct Warmer {
    hot: Arc<dyn HotSet>,
    /// The most keys one warm-up copies: the tracker's capacity.
    limit: usize,
    warmups: Mutex<VecDeque<Arc<Progress>>>,
    /// The nodes with a warm-up running.
    running: Running,
    keys: IntCounterVec,
    preloads: IntCounterVec,
}

/// A warm-up asked for while one runs for the same node: run once more, for
/// this node (the latest asked; it may be a new one with the same id) and
/// reason, when the running one ends.
#[derive(Debug)]
struct Again {
    node: Arc<FleetNode>,
    reason: WarmupReason,
}

/// The nodes (by id) with a warm-up running, each with any request folded
/// into it.
#[derive(Debug, Default)]
struct Running {
    nodes: Mutex<HashMap<String, Option<Again>>>,
}

impl Running {
    /// Claims `node` for a warm-up; `None` when one already runs for it, the
    /// request then remembered for that one to run once more.
    fn claim(&self, node: &Arc<FleetNode>, reason: WarmupReason) -> Option<Claim<'_>> {
        let id = node.id.to_string();
        match self.nodes.lock().entry(id.clone()) {
            Entry::Occupied(mut running) => {
                running.insert(Some(Again {
                    node: node.clone(),
                    reason,
                }));
                None
            }
            Entry::Vacant(free) => {
                free.insert(None);
                Some(Claim {
                    running: self,
                    id,
                    held: true,
                })
            }
        }
    }
}

/// A node's warm-up slot, freed when the warm-up ends (or is dropped at
/// shutdown).
#[derive(Debug)]
struct Claim<'a> {
    running: &'a Running,
    id: String,
    held: bool,
}

impl Claim<'_> {
    /// The request folded in while the warm-up ran, if any (the slot is kept
    /// for it); else frees the slot, in the same step, so a request arriving
    /// now starts a warm-up of its own rather than being folded into one that
    /// is over.
    fn again(&mut self) -> Option<Again> {
        let mut nodes = self.running.nodes.lock();
        let again = nodes.get_mut(&self.id).and_then(Option::take);
        if again.is_none() {
            nodes.remove(&self.id);
            self.held = false;
        }
        again
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if self.held {
            self.running.nodes.lock().remove(&self.id);
        }
    }
}

impl Warmer {
    /// Marks the warm-up of `node` still copying, if any, stopped at `now`:
    /// its task was ended (shutdown) between two chunks.
    fn stopped(&self, node: &str, now: UnixMillis) {
        for progress in self.warmups.lock().iter() {
            if progress.node == node && progress.state.load(Ordering::Acquire) == 0 {
                progress.finish(WarmupState::Stopped, now);
            }
        }
    }

    fn begin(
        &self,
        node: &FleetNode,
        reason: WarmupReason,
        total: usize,
        now: UnixMillis,
    ) -> Arc<Progress> {
        let progress = Arc::new(Progress {
            node: node.id.to_string(),
            reason,
            total: total as u64,
            started_at_ms: now,
            copied: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            state: AtomicU8::new(0),
            finished_at_ms: AtomicU64::new(0),
        });
        let mut warmups = self.warmups.lock();
        warmups.push_back(progress.clone());
        while warmups.len() > WARMUPS_KEPT {
            warmups.pop_front();
        }
        progress
    }
}

impl Fleet {
    /// Turns node warm-up and trend preload on (warming on, standalone
    /// nodes): `hot` names the keys, `limit` caps one warm-up (the tracker's
    /// capacity). Registers `roost_node_warmup_keys_total` and
    /// `roost_trend_preloads_total`.
    pub fn enable_warmup(&mut self, hot: Arc<dyn HotSet>, limit: usize, metrics: &Metrics) {
        if self.cluster {
            return;
        }
        let keys = IntCounterVec::new(
            Opts::new(
                "roost_node_warmup_keys_total",
                "hot keys a node warm-up handled, by outcome (copied to the node, or skipped: already there or gone)",
            ),
            &["outcome"],
        )
        .expect("invariant: valid metric");
        let preloads = IntCounterVec::new(
            Opts::new(
                "roost_trend_preloads_total",
                "rising keys preloaded, by action (read into the near cache, or copied to a replica that lacked it)",
            ),
            &["action"],
        )
        .expect("invariant: valid metric");
        for outcome in ["copied", "skipped"] {
            keys.with_label_values(&[outcome]);
        }
        for action in ["near", "repair"] {
            preloads.with_label_values(&[action]);
        }
        metrics.register(Box::new(keys.clone()));
        metrics.register(Box::new(preloads.clone()));
        self.warmer = Some(Arc::new(Warmer {
            hot,
            limit,
            warmups: Mutex::new(VecDeque::new()),
            running: Running::default(),
            keys,
            preloads,
        }));
    }

    /// The node warm-ups so far (the last [`WARMUPS_KEPT`]), oldest first;
    /// empty with warming off.
    pub fn warmups(&self) -> Vec<WarmupStatus> {
        self.warmer.as_ref().map_or_else(Vec::new, |warmer| {
            warmer.warmups.lock().iter().map(|p| p.status()).collect()
        })
    }

    /// Warms each of `nodes`, just added, one after the other; the key mover
    /// starts after (see the module documentation).
    pub(super) async fn warm_up_added(&self, nodes: &[Arc<FleetNode>]) {
        for node in nodes {
            self.warm_up(node, WarmupReason::Added).await;
        }
    }

    /// Warms `node`, just re-admitted, in the background (ended at shutdown).
    pub(super) fn warm_up_readmitted(self: &Arc<Self>, node: &Arc<FleetNode>) {
        if self.warmer.is_none() {
            return;
        }
        if self.settings.replicas < 2 && self.topology().previous.is_none() {
            tracing::info!(node = %node.id,
                "readmitted node not warmed: with one replica no other node holds its keys");
            return;
        }
        let (fleet, node) = (self.clone(), node.clone());
        self.tasks.spawn("node-warmup", |stop| async move {
            tokio::select! {
                _ = stop.cancelled() => fleet.stop_warm_up(&node),
                _ = fleet.warm_up(&node, WarmupReason::Readmitted) => {}
            }
            Ok(())
        });
    }

    /// At shutdown, for a warm-up task ended before it finished: shows the
    /// warm-up of `node`, if one was copying, `stopped`.
    pub(super) fn stop_warm_up(&self, node: &FleetNode) {
        if let Some(warmer) = &self.warmer {
            warmer.stopped(node.id.as_ref(), self.now_millis());
        }
    }

    /// Warms `node` unless a warm-up already runs for it (one per node at a
    /// time); then this one is folded into it, which runs once more when it
    /// ends.
    async fn warm_up(&self, node: &Arc<FleetNode>, reason: WarmupReason) {
        let Some(warmer) = &self.warmer else {
            return;
        };
        let Some(mut claim) = warmer.running.claim(node, reason) else {
            tracing::info!(node = %node.id, reason = reason_name(reason),
                "node warm-up already running: this one is folded into it (it runs once more when done)");
            return;
        };
        let mut next = Some((node.clone(), reason));
        while let Some((node, reason)) = next.take() {
            self.warm_up_once(warmer, &node, reason).await;
            while let Some(again) = claim.again() {
                if self.still_serves(&again.node) {
                    tracing::info!(node = %again.node.id, reason = reason_name(again.reason),
                        "node warm-up asked for again while it ran: running it once more");
                    next = Some((again.node, again.reason));
                    break;
                }
                tracing::info!(node = %again.node.id,
                    "node warm-up asked for again while it ran, but the node is gone or down now: not run");
            }
        }
    }

    /// Copies the hot keys `node` now holds a replica of, hottest first,
    /// paced to [`WARMUP_KEYS_PER_SEC`].
    async fn warm_up_once(&self, warmer: &Warmer, node: &Arc<FleetNode>, reason: WarmupReason) {
        let started = Instant::now();
        let topology = self.topology();
        let keys: Vec<Bytes> = warmer
            .hot
            .hottest(warmer.limit)
            .into_iter()
            .filter(|key| self.gains(&topology, node, key))
            .collect();
        let progress = warmer.begin(node, reason, keys.len(), self.now_millis());
        self.record(
            EventKind::Warming,
            format!(
                "warming node {} ({}): copying its {} hottest keys, hottest first, at most {} keys/s",
                node.id,
                reason_name(reason),
                keys.len(),
                WARMUP_KEYS_PER_SEC
            ),
        );
        let mut state = WarmupState::Done;
        for (index, chunk) in keys.chunks(WARMUP_CONCURRENCY).enumerate() {
            if !self.still_serves(node) {
                state = WarmupState::Stopped;
                break;
            }
            let due = pace(index * WARMUP_CONCURRENCY, WARMUP_KEYS_PER_SEC);
            tokio::time::sleep_until((started + due).into()).await;
            let copies = join_all(chunk.iter().map(|key| self.warm_key(node, key))).await;
            for copied in copies {
                let (counter, outcome) = if copied {
                    (&progress.copied, "copied")
                } else {
                    (&progress.skipped, "skipped")
                };
                counter.fetch_add(1, Ordering::Relaxed);
                warmer.keys.with_label_values(&[outcome]).inc();
            }
        }
        progress.finish(state, self.now_millis());
        let status = progress.status();
        let secs = started.elapsed().as_secs_f64();
        let verb = if state == WarmupState::Done {
            "done"
        } else {
            "stopped"
        };
        tracing::info!(node = %node.id, copied = status.copied, skipped = status.skipped,
            total = status.total, secs, "node warm-up {verb}");
        self.record(
            EventKind::Warming,
            format!(
                "node {} warm-up {verb}: {} of {} hot keys copied, {} skipped (already there or gone) in {secs:.1} s",
                node.id, status.copied, status.total, status.skipped
            ),
        );
    }

    /// Whether `key`'s replicas in `topology` newly include `node`: all its
    /// replicas for a re-admitted node, those it did not have before a change.
    fn gains(&self, topology: &Topology, node: &Arc<FleetNode>, key: &[u8]) -> bool {
        let replicas = self.settings.replicas;
        let holds = |t: &Topology| {
            t.placement(key, replicas)
                .iter()
                .any(|i| Arc::ptr_eq(&t.nodes[i], node))
        };
        holds(topology) && !topology.previous.as_deref().is_some_and(holds)
    }

    /// Whether `node` is still in the topology and up.
    fn still_serves(&self, node: &Arc<FleetNode>) -> bool {
        node.health.is_up() && self.topology().nodes.iter().any(|n| Arc::ptr_eq(n, node))
    }

    /// Copies `key` to `node` from the first node that holds it: a former
    /// holder, then the other replicas. `true` when a copy was written.
    async fn warm_key(&self, node: &Arc<FleetNode>, key: &Bytes) -> bool {
        let topology = self.topology();
        let replicas = self.settings.replicas;
        let placement = topology.placement(key, replicas);
        if !placement
            .iter()
            .any(|i| Arc::ptr_eq(&topology.nodes[i], node))
            || node.journal.may_be_stale(key)
        {
            return false;
        }
        let mut sources = topology.former_holders(key, replicas);
        sources.extend(
            placement
                .iter()
                .map(|i| topology.nodes[i].clone())
                .filter(|n| !Arc::ptr_eq(n, node) && n.health.is_up()),
        );
        let now = self.now_millis();
        for source in sources {
            if source.journal.may_be_stale(key) {
                continue;
            }
            if let Ok(Some(stored)) = self.on_node(&source, |link| link.get(key, now)).await {
                return self.repair(node, &source, key, &stored, now).await;
            }
        }
        false
    }

    /// Starts the trend preload task when it has something to do: a near
    /// cache to fill, or replicas to check.
    pub fn spawn_trend_preload(self: &Arc<Self>) {
        if self.warmer.is_none() || (self.near.is_none() && self.settings.replicas < 2) {
            return;
        }
        let fleet = self.clone();
        self.tasks.spawn("trend-preload", |stop| async move {
            let mut tick = tokio::time::interval(TREND_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut done = Remembered::default();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = tick.tick() => fleet.preload_rising(&mut done).await,
                }
            }
        });
    }

    /// One round: each rising key not handled yet is read into the near
    /// cache (if it is not there) and, with replicas > 1, copied to a replica
    /// that lacks it.
    async fn preload_rising(&self, done: &mut Remembered) {
        let Some(warmer) = &self.warmer else {
            return;
        };
        for key in warmer.hot.rising(TREND_KEYS) {
            if !done.insert(key_hash(&key)) {
                continue;
            }
            if let Some(near) = &self.near {
                if !near.holds(&key, self.now_millis())
                    && matches!(self.fill(near, &key).await, Some(Some(_)))
                {
                    warmer.preloads.with_label_values(&["near"]).inc();
                }
            }
            if self.settings.replicas > 1 {
                let repaired = self.check_replicas(&key).await;
                warmer
                    .preloads
                    .with_label_values(&["repair"])
                    .inc_by(repaired);
            }
        }
    }

    /// Reads `key` on each up replica and copies it to those that lack it;
    /// how many copies were written.
    async fn check_replicas(&self, key: &Bytes) -> u64 {
        let topology = self.topology();
        let now = self.now_millis();
        let placement = topology.placement(key, self.settings.replicas);
        let replicas: Vec<&Arc<FleetNode>> = placement
            .iter()
            .map(|i| &topology.nodes[i])
            .filter(|n| n.health.is_up() && !n.journal.may_be_stale(key))
            .collect();
        let found = join_all(
            replicas
                .iter()
                .map(|n| self.on_node(n, |link| link.get(key, now))),
        )
        .await;
        let holder = replicas
            .iter()
            .zip(&found)
            .find_map(|(n, f)| f.as_ref().ok().and_then(|s| s.as_ref()).map(|s| (*n, s)));
        let Some((source, stored)) = holder else {
            return 0;
        };
        let mut repaired = 0;
        for (node, answer) in replicas.iter().zip(&found) {
            if matches!(answer, Ok(None)) && self.repair(node, source, key, stored, now).await {
                repaired += 1;
            }
        }
        repaired
    }
}

/// When the key at `index` of a warm-up may start: `index / rate` seconds in.
fn pace(index: usize, per_sec: u32) -> Duration {
    Duration::from_secs_f64(index as f64 / f64::from(per_sec.max(1)))
}

fn reason_name(reason: WarmupReason) -> &'static str {
    match reason {
        WarmupReason::Added => "added",
        WarmupReason::Readmitted => "readmitted",
    }
}

/// A bounded set of key hashes, forgetting the oldest.
#[derive(Debug, Default)]
struct Remembered {
    set: HashSet<u64>,
    order: VecDeque<u64>,
}

impl Remembered {
    /// `false` when `hash` was already there.
    fn insert(&mut self, hash: u64) -> bool {
        if !self.set.insert(hash) {
            return false;
        }
        self.order.push_back(hash);
        if self.order.len() > TREND_REMEMBERED {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::topology::test_node as node;
    use super::*;

    fn progress(node: &str) -> Progress {
        Progress {
            node: node.into(),
            reason: WarmupReason::Readmitted,
            total: 3,
            started_at_ms: 10,
            copied: AtomicU64::new(1),
            skipped: AtomicU64::new(0),
            state: AtomicU8::new(0),
            finished_at_ms: AtomicU64::new(0),
        }
    }

    #[derive(Debug)]
    struct NoHotKeys;

    impl HotSet for NoHotKeys {
        fn is_hot(&self, _key: &[u8]) -> bool {
            false
        }
        fn hottest(&self, _limit: usize) -> Vec<Bytes> {
            Vec::new()
        }
        fn rising(&self, _limit: usize) -> Vec<Bytes> {
            Vec::new()
        }
    }

    #[test]
    fn a_second_warm_up_of_a_node_is_folded_into_the_running_one() {
        let running = Running::default();
        let (first, flapped, other) = (node(7001), node(7001), node(7002));
        let mut claim = running
            .claim(&first, WarmupReason::Added)
            .expect("the first warm-up runs");
        assert!(
            running.claim(&flapped, WarmupReason::Readmitted).is_none(),
            "no second warm-up of the same node beside the first"
        );
        assert!(
            running.claim(&flapped, WarmupReason::Readmitted).is_none(),
            "nor a third: requests fold into one"
        );
        let other_claim = running.claim(&other, WarmupReason::Added);
        assert!(other_claim.is_some(), "another node warms meanwhile");

        let again = claim.again().expect("the folded request runs after");
        assert!(Arc::ptr_eq(&again.node, &flapped), "the latest node asked");
        assert_eq!(again.reason, WarmupReason::Readmitted);
        assert!(
            running.claim(&first, WarmupReason::Readmitted).is_none(),
            "the slot is kept while it runs once more"
        );
        assert!(claim.again().is_some(), "folded into the second run");
        assert!(
            claim.again().is_none(),
            "nothing more asked: the slot is freed"
        );
        let next = running.claim(&first, WarmupReason::Readmitted);
        assert!(next.is_some(), "a later request starts its own warm-up");
        drop(claim);
        assert!(
            running.claim(&first, WarmupReason::Readmitted).is_none(),
            "dropping a released claim frees nobody else's slot"
        );
    }

    #[test]
    fn a_warm_up_ended_midway_frees_its_node() {
        let running = Running::default();
        let n = node(7003);
        let claim = running.claim(&n, WarmupReason::Readmitted);
        assert!(claim.is_some());
        assert!(running.claim(&n, WarmupReason::Readmitted).is_none());
        drop(claim);
        assert!(running.nodes.lock().is_empty());
        assert!(running.claim(&n, WarmupReason::Readmitted).is_some());
    }

    #[test]
    fn a_warm_up_stopped_at_shutdown_says_stopped_and_a_finished_one_keeps_its_state() {
        let warmer = Warmer {
            hot: Arc::new(NoHotKeys),
            limit: 10,
            warmups: Mutex::new(VecDeque::new()),
            running: Running::default(),
            keys: IntCounterVec::new(Opts::new("k", "k"), &["outcome"]).unwrap(),
            preloads: IntCounterVec::new(Opts::new("p", "p"), &["action"]).unwrap(),
        };
        let done = Arc::new(progress("n1"));
        done.finish(WarmupState::Done, 15);
        let copying = Arc::new(progress("n1"));
        let elsewhere = Arc::new(progress("n2"));
        warmer
            .warmups
            .lock()
            .extend([done.clone(), copying.clone(), elsewhere.clone()]);
        warmer.stopped("n1", 30);
        assert_eq!(
            (copying.status().state, copying.status().finished_at_ms),
            (WarmupState::Stopped, Some(30))
        );
        assert_eq!(
            (done.status().state, done.status().finished_at_ms),
            (WarmupState::Done, Some(15))
        );
        assert_eq!(elsewhere.status().state, WarmupState::Copying);
    }

    #[test]
    fn the_pace_spreads_keys_at_the_rate() {
        assert_eq!(pace(0, 2_000), Duration::ZERO);
        assert_eq!(pace(2_000, 2_000), Duration::from_secs(1));
        assert_eq!(pace(16, 2_000), Duration::from_millis(8));
    }

    #[test]
    fn remembered_forgets_the_oldest_beyond_its_bound() {
        let mut done = Remembered::default();
        assert!(done.insert(1));
        assert!(!done.insert(1));
        for hash in 2..=(TREND_REMEMBERED as u64 + 1) {
            assert!(done.insert(hash));
        }
        assert_eq!(done.set.len(), TREND_REMEMBERED);
        assert!(done.insert(1), "the oldest was forgotten");
    }

    #[test]
    fn a_status_says_finished_only_once_finished() {
        let progress = Progress {
            node: "n4".into(),
            reason: WarmupReason::Added,
            total: 3,
            started_at_ms: 10,
            copied: AtomicU64::new(2),
            skipped: AtomicU64::new(1),
            state: AtomicU8::new(0),
            finished_at_ms: AtomicU64::new(0),
        };
        assert_eq!(progress.status().finished_at_ms, None);
        progress.finish(WarmupState::Done, 20);
        let status = progress.status();
        assert_eq!(
            (status.state, status.finished_at_ms),
            (WarmupState::Done, Some(20))
        );
        let json = serde_json::to_value(&status).unwrap_or_default();
        assert_eq!(json["reason"], "added");
        assert_eq!(json["state"], "done");
    }
}
