//! `roost-bench load`: mixed traffic against a `Target` (HTTP; RESP has its own
//! pipelined engine in `crate::resp::engine` sharing the options, budget and report).
//!
//! Each of `connections` tasks owns a generator and a recorder and keeps exactly one
//! request in flight: HTTP/1.1 cannot have more than one in flight per connection, so
//! HTTP always runs at pipeline depth 1. Closed loop by default; with `rate` each
//! connection follows an open-loop `Schedule` and latency runs from the intended send
//! time. Recorders are merged when the run ends, so the hot path shares nothing but two
//! atomic counters. Submodules: `workload` (what to send), `target` (the transport
//! seam), `http` (Roost's REST API and webdis), `schedule` (open-loop pacing), `timer`
//! (sub-millisecond sleeps), `report` (measurements).

pub mod http;
pub mod report;
pub mod schedule;
pub mod target;
pub mod timer;
pub mod workload;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::oneshot;

use report::{LoadReport, Recorder, RunHeader};
use schedule::Schedule;
use target::{Target, TargetError};
use timer::PreciseSleep;
use workload::{KeyDistribution, OperationGenerator, WorkloadError, WorkloadSpec};

/// When a run ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCondition {
    After(Duration),
    Requests(u64),
}

/// Everything `run_load` needs besides the target.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    pub connections: usize,
    /// Commands written per batch on RESP; HTTP ignores it (always 1).
    pub pipeline: usize,
    /// Client OS threads for RESP; HTTP uses the ambient runtime.
    pub threads: usize,
    /// Open loop at this many requests/s overall; `None` is closed loop.
    pub rate: Option<f64>,
    pub stop: StopCondition,
    pub workload: Arc<WorkloadSpec>,
    pub show_progress: bool,
    /// Connection `i` draws from seed `seed + i`, so runs are repeatable.
    pub seed: u64,
}

/// Why a run could not complete.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error("connections, pipeline and threads must be at least 1")]
    NoConnections,
    #[error("rate must be a positive number of requests per second, not {0}")]
    BadRate(f64),
    #[error("cannot connect to {0}")]
    Connect(String),
    #[error("a load task failed: {0}")]
    TaskFailed(String),
}

impl LoadOptions {
    /// Checks what the types cannot.
    pub fn validate(&self) -> Result<(), LoadError> {
        if self.connections == 0 || self.pipeline == 0 || self.threads == 0 {
            return Err(LoadError::NoConnections);
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) {
                return Err(LoadError::BadRate(rate));
            }
        }
        Ok(())
    }

    /// "closed" or "open 5000/s", for reports.
    pub fn mode(&self) -> String {
        match self.rate {
            Some(rate) => format!("open {rate:.0}/s"),
            None => "closed".into(),
        }
    }
}

/// Shared permission to issue more requests.
pub(crate) struct Budget {
    deadline: Option<Instant>,
    remaining: AtomicU64,
}

impl Budget {
    pub(crate) fn new(stop: StopCondition, started: Instant) -> Self {
        match stop {
            StopCondition::After(duration) => Self {
                deadline: Some(started + duration),
                remaining: AtomicU64::new(u64::MAX),
            },
            StopCondition::Requests(count) => Self {
                deadline: None,
                remaining: AtomicU64::new(count),
            },
        }
    }

    fn take(&self) -> bool {
        self.take_up_to(1) == 1
    }

    /// Takes up to `wanted` permits; 0 once the run is over.
    pub(crate) fn take_up_to(&self, wanted: usize) -> usize {
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return 0;
        }
        let wanted = wanted as u64;
        match self
            .remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                (left > 0).then(|| left - left.min(wanted))
            }) {
            Ok(left) => left.min(wanted) as usize,
            Err(_) => 0,
        }
    }
}

/// Runs the workload against `target` until `options.stop`, then reports.
pub async fn run_load<T: Target>(
    target: Arc<T>,
    options: &LoadOptions,
) -> Result<LoadReport, LoadError> {
    options.validate()?;
    let generators = (0..options.connections)
        .map(|i| OperationGenerator::new(Arc::clone(&options.workload), options.seed + i as u64))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let budget = Arc::new(Budget::new(options.stop, started));
    let completed = Arc::new(AtomicU64::new(0));
    let progress = ProgressTicker::start(options, Arc::clone(&completed), started);

    let workers: Vec<_> = generators
        .into_iter()
        .enumerate()
        .map(|(index, generator)| {
            let schedule = options
                .rate
                .map(|rate| Schedule::new(started, rate, options.connections, index));
            let connection = HttpConnection {
                target: Arc::clone(&target),
                generator,
                schedule,
                budget: Arc::clone(&budget),
                completed: Arc::clone(&completed),
            };
            tokio::spawn(connection.run())
        })
        .collect();
    let mut merged = Recorder::default();
    let mut failure = None;
    for worker in workers {
        match worker.await {
            Ok(recorder) => merged.merge(&recorder),
            Err(error) => failure = Some(LoadError::TaskFailed(error.to_string())),
        }
    }
    let elapsed = started.elapsed();
    progress.stop().await;
    if let Some(error) = failure {
        return Err(error);
    }
    let header = run_header(target.describe(), "http", options);
    Ok(merged.into_report(header, elapsed))
}

/// One HTTP connection's loop: one request in flight, paced by `schedule` if open loop.
struct HttpConnection<T> {
    target: Arc<T>,
    generator: OperationGenerator,
    schedule: Option<Schedule>,
    budget: Arc<Budget>,
    completed: Arc<AtomicU64>,
}

impl<T: Target> HttpConnection<T> {
    async fn run(mut self) -> Recorder {
        let mut recorder = Recorder::default();
        let mut sleep = match self.schedule.is_some().then(PreciseSleep::new).transpose() {
            Ok(sleep) => sleep,
            Err(error) => {
                let failed = Err(TargetError::Transport(format!("no timer: {error}")));
                recorder.record(workload::OperationKind::Get, Duration::ZERO, &failed);
                return recorder;
            }
        };
        let mut intended = Vec::with_capacity(1);
        loop {
            intended.clear();
            if let (Some(schedule), Some(sleep)) = (&mut self.schedule, &mut sleep) {
                wait_for_due(schedule, sleep, 1, &mut intended).await;
            }
            if !self.budget.take() {
                break;
            }
            let operation = self.generator.next_operation();
            let sent = intended.first().copied().unwrap_or_else(Instant::now);
            let result = self.target.execute(&operation).await;
            recorder.record(operation.kind(), sent.elapsed(), &result);
            self.completed.fetch_add(1, Ordering::Relaxed);
        }
        recorder
    }
}

/// Sleeps until at least one request of `schedule` is due, then hands out up to `max`
/// of them (their intended send times go to `intended`); returns how many, never 0.
pub(crate) async fn wait_for_due(
    schedule: &mut Schedule,
    sleep: &mut PreciseSleep,
    max: usize,
    intended: &mut Vec<Instant>,
) -> usize {
    loop {
        // A failed timer only costs precision: the loop then polls the clock instead.
        let _ = sleep.until(schedule.next_due()).await;
        let taken = schedule.take_due(Instant::now(), max, intended);
        if taken > 0 {
            return taken;
        }
        // Woken a hair early: the next `until` is too close to arm and returns at once.
    }
}

/// The progress bar: a ticker task that redraws every 250 ms until stopped.
pub(crate) struct ProgressTicker {
    done: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

impl ProgressTicker {
    /// Starts ticking on the current runtime (hidden unless `options.show_progress`).
    pub(crate) fn start(
        options: &LoadOptions,
        completed: Arc<AtomicU64>,
        started: Instant,
    ) -> Self {
        let (length, by_time) = match options.stop {
            StopCondition::After(duration) => (duration.as_millis() as u64, true),
            StopCondition::Requests(count) => (count, false),
        };
        let bar = if options.show_progress {
            ProgressBar::new(length)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {percent:>3}% {msg}")
                .expect("invariant: constant progress template is valid")
                .progress_chars("=> "),
        );
        let (done, mut finished) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(Duration::from_millis(250));
            loop {
                tokio::select! {
                    _ = &mut finished => break,
                    _ = ticks.tick() => {}
                }
                let ops = completed.load(Ordering::Relaxed);
                let seconds = started.elapsed().as_secs_f64().max(1e-3);
                bar.set_position(if by_time {
                    started.elapsed().as_millis() as u64
                } else {
                    ops
                });
                bar.set_message(format!("{ops} ops, {:.0} ops/s", ops as f64 / seconds));
            }
            bar.finish_and_clear();
        });
        Self { done, task }
    }

    /// Stops and clears the bar.
    pub(crate) async fn stop(self) {
        let _ = self.done.send(());
        let _ = self.task.await;
    }
}

/// What was run against what, for the report.
pub(crate) fn run_header(target: String, protocol: &str, options: &LoadOptions) -> RunHeader {
    let workload = &options.workload;
    RunHeader {
        target,
        protocol: protocol.into(),
        connections: options.connections,
        pipeline: if protocol == "resp" {
            options.pipeline
        } else {
            1
        },
        threads: options.threads,
        mode: options.mode(),
        keyspace: workload.keyspace,
        distribution: match workload.distribution {
            KeyDistribution::Zipf { exponent } => format!("zipf {exponent}"),
            KeyDistribution::Uniform => "uniform".into(),
        },
        value_size: workload.value_size,
        mix: workload.mix.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_budget_hands_out_exactly_n_permits() {
        let budget = Budget::new(StopCondition::Requests(3), Instant::now());
        let granted = (0..10).filter(|_| budget.take()).count();
        assert_eq!(granted, 3);
    }

    #[test]
    fn batches_take_what_is_left_and_then_nothing() {
        let budget = Budget::new(StopCondition::Requests(10), Instant::now());
        assert_eq!(budget.take_up_to(4), 4);
        assert_eq!(budget.take_up_to(4), 4);
        assert_eq!(budget.take_up_to(4), 2);
        assert_eq!(budget.take_up_to(4), 0);
    }

    #[test]
    fn open_loop_rates_must_be_positive() {
        let mut options = crate::cli::tests::load_options(&["load"]);
        assert!(options.validate().is_ok());
        options.rate = Some(0.0);
        assert!(matches!(options.validate(), Err(LoadError::BadRate(_))));
        options.rate = Some(f64::NAN);
        assert!(options.validate().is_err());
        options.rate = Some(250.0);
        assert_eq!(options.mode(), "open 250/s");
        options.pipeline = 0;
        assert!(matches!(options.validate(), Err(LoadError::NoConnections)));
    }

    #[test]
    fn time_budget_closes_at_the_deadline() {
        let open = Budget::new(
            StopCondition::After(Duration::from_secs(60)),
            Instant::now(),
        );
        assert!(open.take());
        let closed = Budget::new(StopCondition::After(Duration::ZERO), Instant::now());
        assert!(!closed.take());
    }
}
