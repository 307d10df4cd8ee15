//! Warming: Roost keeping the hit ratio through the moments a cache loses
//! it — a hot key expiring, a user's next read going to data nobody asked for
//! yet, a hot key lost to eviction — within one origin budget that never
//! delays a client. docs/warming.md ("Warming") explains each mechanism and
//! when to turn it off (`ROOST_WARMING=off`: none of this runs; read-through
//! and single-flight stay).
//!
//! [`Warming`] is a read tap on the Cache. On the request path it only looks
//! and hands work over (a bounded channel, `try_send`): a client hit of a hot
//! key close to its deadline queues a refresh-ahead; a client miss queues a
//! prediction of what comes next; every client read feeds the predictor. The
//! `warming-jobs` task turns each job into background fetches (each its own
//! task, a flight through `Cache::fetch_ahead`), and the `warming` task runs
//! the cycle: the predictor's learning and the prefetch bookkeeping every
//! [`TICK`], the rates every second, and every `WARMING_INTERVAL` the
//! warm-up of hot keys the backend lost.
//!
//! One file per concern:
//! - `budget.rs`: the `ROOST_ORIGIN_MAX_RPS` token bucket;
//! - `refresh.rs`: when a hit starts a refresh-ahead (lead and XFetch draw);
//! - `prefetch.rs`: following each prefetched key to its use or waste;
//! - `predict.rs`: the model of what is read next;
//! - `status.rs`: the counters and what `GET /api/cache/warming` answers.

mod budget;
pub mod predict;
mod prefetch;
mod refresh;
mod status;

pub use budget::Budget;
pub use status::WarmingStatus;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use parking_lot::Mutex;
use roost_store::{Clock, UnixMillis};
use tokio::sync::mpsc;

use crate::cache::{AheadOutcome, Cache, Origin, ReadTap};
use crate::config::WarmingSettings;
use crate::hot::HotSet;
use crate::origin::Purpose;
use crate::tasks::Tasks;
use crate::telemetry::{EventKind, Events, Metrics};
use predict::{Predictor, PredictorConfig};
use prefetch::{Prefetched, UNUSED_AFTER};
use status::{ratio, BudgetStatus, FetchStatus, PrefetchStatus, Rate, Tally, WarmupStatus};

/// How often the predictor learns and unused prefetches are swept.
pub const TICK: Duration = Duration::from_millis(200);
/// Jobs waiting for the `warming-jobs` task; a full queue drops the job (a
/// refresh is asked again by the next hit, a prediction is not worth a wait).
const QUEUE: usize = 4096;
/// Hot keys the warm-up checks each cycle, hottest first.
const WARMUP_KEYS: usize = 256;
/// Warm-up fetches at once (each also needs a budget token and a free slot).
const WARMUP_AT_ONCE: usize = 8;
/// Prefetch tasks at once: each does a backend look before its budget
/// check, so misses beyond this skip their predictions rather than pile up
/// tasks and backend round trips.
const PREFETCHES_AT_ONCE: usize = 256;
/// Hot keys whose last refreshed TTL is remembered (a lead is at most half
/// of it); past it the memory starts over.
const REMEMBERED_TTLS: usize = 4096;

/// Refresh-ahead's bookkeeping: keys with a refresh queued or in flight (a
/// hot key's reads queue one), and the TTL each key's last refresh stored,
/// so a key whose TTL is shorter than the latency-based lead is refreshed
/// at half its TTL, not again as soon as a refresh lands.
#[derive(Debug, Default)]
struct Refreshing {
    queued: HashSet<Bytes>,
    ttl_ms: HashMap<Bytes, u64>,
}

/// Work the request path hands the `warming-jobs` task.
#[derive(Debug)]
enum Job {
    /// A hot key's hit close to its deadline (`seen`).
    Refresh { key: Bytes, seen: UnixMillis },
    /// A client's miss: predict what comes next and fetch it.
    Miss(Bytes),
}

#[derive(Debug)]
pub struct Warming {
    settings: WarmingSettings,
    interval: Duration,
    has_origin: bool,
    hot: Arc<dyn HotSet>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    budget: Budget,
    predictor: Predictor,
    prefetched: Prefetched,
    refresh: Tally,
    prefetch: Tally,
    warmup: Tally,
    used: AtomicU64,
    wasted: AtomicU64,
    /// Client misses of keys the predictor calls follow-ups (coverage's rest).
    follow_up_misses: AtomicU64,
    refreshing: Mutex<Refreshing>,
    /// Prefetches that a client's miss caught up with and joined: right,
    /// though the read waited (precision counts them, coverage does not).
    joined: AtomicU64,
    /// Prefetch tasks running now (at most [`PREFETCHES_AT_ONCE`]).
    prefetching: Arc<AtomicUsize>,
    jobs: mpsc::Sender<Job>,
    inbox: Mutex<Option<mpsc::Receiver<Job>>>,
    /// Budget tokens taken per second.
    budget_rate: Rate,
    warmup_running: AtomicBool,
}

impl Warming {
    pub fn new(
        settings: WarmingSettings,
        interval: Duration,
        has_origin: bool,
        hot: Arc<dyn HotSet>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Arc<Warming> {
        let (jobs, inbox) = mpsc::channel(QUEUE);
        Arc::new(Warming {
            budget: Budget::new(settings.origin_max_rps),
            settings,
            interval,
            has_origin,
            hot,
            clock,
            metrics,
            predictor: Predictor::new(PredictorConfig::default()),
            prefetched: Prefetched::default(),
            refresh: Tally::default(),
            prefetch: Tally::default(),
            warmup: Tally::default(),
            used: AtomicU64::new(0),
            wasted: AtomicU64::new(0),
            follow_up_misses: AtomicU64::new(0),
            refreshing: Mutex::new(Refreshing::default()),
            joined: AtomicU64::new(0),
            prefetching: Arc::new(AtomicUsize::new(0)),
            jobs,
            inbox: Mutex::new(Some(inbox)),
            budget_rate: Rate::default(),
            warmup_running: AtomicBool::new(false),
        })
    }

    pub fn is_enabled(&self) -> bool {
        self.settings.enabled
    }

    /// Whether anything here runs: warming on, and an origin to fetch from.
    /// Otherwise the tap is not installed and no task starts.
    pub fn is_active(&self) -> bool {
        self.settings.enabled && self.has_origin
    }

    /// Starts the `warming` and `warming-jobs` tasks (once; only when active).
    pub fn spawn(self: &Arc<Self>, tasks: &Tasks, cache: Cache, events: &Events) {
        if !self.settings.enabled {
            tracing::info!(
                "warming off (ROOST_WARMING=off): no refresh-ahead, prefetch or warm-up"
            );
            return;
        }
        if !self.has_origin {
            tracing::debug!("no origin (ROOST_ORIGIN_URL): no refresh-ahead, prefetch or warm-up");
            return;
        }
        let Some(mut inbox) = self.inbox.lock().take() else {
            return;
        };
        let message = format!(
            "warming on: warm-up every {} ms, origin budget {} requests/s",
            self.interval.as_millis(),
            self.budget.max_rps(),
        );
        tracing::info!(%message);
        events.record(EventKind::Warming, message);
        let (warming, jobs_cache, jobs_tasks) = (self.clone(), cache.clone(), tasks.clone());
        tasks.spawn("warming-jobs", move |stop| async move {
            loop {
                let job = tokio::select! {
                    () = stop.cancelled() => return Ok(()),
                    job = inbox.recv() => job,
                };
                let Some(job) = job else { return Ok(()) };
                warming.dispatch(job, &jobs_cache, &jobs_tasks);
            }
        });
        let (warming, tasks_for_cycle) = (self.clone(), tasks.clone());
        tasks.spawn("warming", move |stop| async move {
            warming.cycle(stop, cache, tasks_for_cycle).await;
            Ok(())
        });
    }

    /// The cycle: learning and sweeping every [`TICK`], rates every second,
    /// the warm-up every `WARMING_INTERVAL`.
    async fn cycle(
        self: Arc<Self>,
        stop: tokio_util::sync::CancellationToken,
        cache: Cache,
        tasks: Tasks,
    ) {
        let mut ticker = tokio::time::interval(TICK);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let (mut last_fold, mut last_warmup) = (Instant::now(), Instant::now());
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = ticker.tick() => {}
            }
            let now = self.clock.now_millis();
            self.predictor.learn(now);
            for rule in self.prefetched.sweep(now) {
                self.ended(rule, false);
            }
            let secs = last_fold.elapsed().as_secs_f64();
            if secs >= 1.0 {
                last_fold = Instant::now();
                for tally in [&self.refresh, &self.prefetch, &self.warmup] {
                    tally.fold(secs);
                }
                self.budget_rate.fold(self.budget.taken_total(), secs);
            }
            if last_warmup.elapsed() >= self.interval {
                last_warmup = Instant::now();
                self.start_warmup(&cache, &tasks);
            }
        }
    }

    /// Hot keys the backend lost, fetched again (reason `warmup`), hottest
    /// first, within the budget; one warm-up at a time.
    fn start_warmup(self: &Arc<Self>, cache: &Cache, tasks: &Tasks) {
        if self.warmup_running.swap(true, Ordering::AcqRel) {
            return;
        }
        let (warming, cache) = (self.clone(), cache.clone());
        tasks.spawn("warming-warmup", move |stop| async move {
            let keys = warming.hot.hottest(WARMUP_KEYS);
            let fetches =
                futures_util::stream::iter(keys).for_each_concurrent(WARMUP_AT_ONCE, |key| {
                    let warming = &warming;
                    let cache = &cache;
                    async move {
                        let outcome = cache
                            .fetch_ahead(key, Purpose::Warmup, || warming.take_token())
                            .await;
                        warming.count(&warming.warmup, outcome);
                    }
                });
            tokio::select! {
                () = stop.cancelled() => {}
                () = fetches => {}
            }
            warming.warmup_running.store(false, Ordering::Release);
            Ok(())
        });
    }

    fn dispatch(self: &Arc<Self>, job: Job, cache: &Cache, tasks: &Tasks) {
        match job {
            Job::Refresh { key, seen } => {
                let (warming, cache) = (self.clone(), cache.clone());
                tasks.spawn("warming-fetch", move |stop| async move {
                    let fetch = cache.fetch_ahead(key.clone(), Purpose::Refresh { seen }, || {
                        warming.take_token()
                    });
                    let outcome = tokio::select! {
                        () = stop.cancelled() => None,
                        outcome = fetch => Some(outcome),
                    };
                    let mut refreshing = warming.refreshing.lock();
                    refreshing.queued.remove(&key);
                    if let Some(AheadOutcome::Stored { ttl: Some(ttl), .. }) = outcome {
                        if refreshing.ttl_ms.len() >= REMEMBERED_TTLS {
                            refreshing.ttl_ms.clear();
                        }
                        refreshing.ttl_ms.insert(key, ttl.as_millis() as u64);
                    }
                    drop(refreshing);
                    if let Some(outcome) = outcome {
                        warming.count(&warming.refresh, outcome);
                    }
                    Ok(())
                });
            }
            Job::Miss(key) => {
                if self.predictor.is_follow_up(&key) {
                    self.follow_up_misses.fetch_add(1, Ordering::Relaxed);
                }
                let now = self.clock.now_millis();
                for prediction in self.predictor.predict(&key, now) {
                    if self.prefetched.contains(&prediction.key) {
                        continue;
                    }
                    if self.prefetching.fetch_add(1, Ordering::AcqRel) >= PREFETCHES_AT_ONCE {
                        self.prefetching.fetch_sub(1, Ordering::AcqRel);
                        Tally::add(&self.prefetch.skipped);
                        continue;
                    }
                    let running = PrefetchRunning(self.prefetching.clone());
                    let (warming, cache) = (self.clone(), cache.clone());
                    tasks.spawn("warming-fetch", move |stop| async move {
                        let _running = running;
                        let key = prediction.key.clone();
                        let fetch = cache
                            .fetch_ahead(key.clone(), Purpose::Prefetch, || warming.take_token());
                        let outcome = tokio::select! {
                            () = stop.cancelled() => return Ok(()),
                            outcome = fetch => outcome,
                        };
                        warming.count(&warming.prefetch, outcome);
                        match outcome {
                            // The follow-up read came while it was fetched
                            // and waited for it: the prediction was right.
                            AheadOutcome::Stored { joined: true, .. } => {
                                warming.joined.fetch_add(1, Ordering::Relaxed);
                                warming.metrics.warming().prefetches_used.inc();
                                warming.predictor.feedback(prediction.rule, true);
                            }
                            AheadOutcome::Stored { ttl, .. } => {
                                let now = warming.clock.now_millis();
                                let until = ttl
                                    .map_or(now + UNUSED_AFTER, |ttl| now + ttl.as_millis() as u64);
                                warming.prefetched.insert(key, prediction.rule, until);
                            }
                            _ => {}
                        }
                        Ok(())
                    });
                }
            }
        }
    }

    fn take_token(&self) -> bool {
        let granted = self.budget.take();
        if !granted {
            self.metrics.warming().budget_denied.inc();
        }
        granted
    }

    fn count(&self, tally: &Tally, outcome: AheadOutcome) {
        match outcome {
            AheadOutcome::Stored { .. } => {
                Tally::add(&tally.issued);
                Tally::add(&tally.stored);
            }
            AheadOutcome::NotStored => Tally::add(&tally.issued),
            AheadOutcome::Failed => {
                Tally::add(&tally.issued);
                Tally::add(&tally.failed);
            }
            AheadOutcome::Skipped | AheadOutcome::Reserved | AheadOutcome::Denied => {
                Tally::add(&tally.skipped)
            }
        }
    }

    /// A followed prefetch was used or wasted.
    fn ended(&self, rule: predict::RuleId, used: bool) {
        if used {
            self.used.fetch_add(1, Ordering::Relaxed);
            self.metrics.warming().prefetches_used.inc();
        } else {
            self.wasted.fetch_add(1, Ordering::Relaxed);
            self.metrics.warming().prefetches_wasted.inc();
        }
        self.predictor.feedback(rule, used);
    }

    /// What `GET /api/cache/warming` answers.
    pub fn status(&self) -> WarmingStatus {
        let used = self.used.load(Ordering::Relaxed);
        let joined = self.joined.load(Ordering::Relaxed);
        let issued = Tally::get(&self.prefetch.issued);
        let follow_ups = self.follow_up_misses.load(Ordering::Relaxed);
        let stats = self.predictor.stats();
        WarmingStatus {
            enabled: self.settings.enabled,
            interval_ms: self.interval.as_millis() as u64,
            origin: self.has_origin,
            budget: BudgetStatus {
                max_rps: self.budget.max_rps(),
                used_per_sec: self.budget_rate.per_sec(),
                denied_total: self.budget.denied_total(),
            },
            refresh: FetchStatus::of(&self.refresh),
            prefetch: PrefetchStatus {
                issued_total: issued,
                used_total: used + joined,
                wasted_total: self.wasted.load(Ordering::Relaxed),
                per_sec: self.prefetch.per_sec(),
                precision: ratio(used + joined, issued),
                coverage: ratio(used, used + follow_ups),
                successor_rules: stats.successor_rules,
                pattern_rules: stats.pattern_rules,
            },
            warmup: WarmupStatus {
                issued_total: Tally::get(&self.warmup.issued),
            },
            snapshot: None,
            node_warmups: Vec::new(),
        }
    }
}

/// Counts a prefetch task as running until it ends, however it ends.
struct PrefetchRunning(Arc<AtomicUsize>);

impl Drop for PrefetchRunning {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl ReadTap for Warming {
    fn read(&self, key: &[u8], hit: bool, origin: Origin) {
        if origin != Origin::Client {
            return;
        }
        self.predictor.observe(key, self.clock.now_millis());
        if let Some(ended) = self.prefetched.read(key, hit) {
            self.ended(ended.rule, ended.used);
        }
        if !hit {
            // Dropped when the queue is full: see QUEUE.
            let _ = self.jobs.try_send(Job::Miss(Bytes::copy_from_slice(key)));
        }
    }

    fn hit_deadline(&self, key: &[u8], expires_at: UnixMillis, now: UnixMillis) {
        let gap = expires_at.saturating_sub(now);
        let latency = self.metrics.origin().latency_average();
        let mut lead = refresh::lead(latency);
        if gap > lead.as_millis() as u64 || !self.hot.is_hot(key) {
            return;
        }
        let mut refreshing = self.refreshing.lock();
        if refreshing.queued.contains(key) {
            return;
        }
        if let Some(&ttl_ms) = refreshing.ttl_ms.get(key) {
            lead = lead.min(Duration::from_millis(ttl_ms / 2));
        }
        if !refresh::due(gap, lead, latency, refresh::draw()) {
            return;
        }
        let key = Bytes::copy_from_slice(key);
        refreshing.queued.insert(key.clone());
        drop(refreshing);
        let seen = expires_at;
        if self
            .jobs
            .try_send(Job::Refresh {
                key: key.clone(),
                seen,
            })
            .is_err()
        {
            self.refreshing.lock().queued.remove(&key);
        }
    }

    fn wants_deadlines(&self) -> bool {
        self.is_active()
    }
}
