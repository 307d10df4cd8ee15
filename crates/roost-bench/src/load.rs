//! `roost-bench load`: closed-loop mixed traffic against a `Target`.
//!
//! Each of `connections` tasks owns a generator and a recorder and keeps exactly one
//! request in flight (closed loop); recorders are merged when the run ends, so the hot
//! path shares nothing but two atomic counters. Submodules: `workload` (what to send),
//! `target` (the transport seam), `http` (Roost's REST API), `report` (measurements).

pub mod http;
pub mod report;
pub mod target;
pub mod workload;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use tokio::sync::oneshot;

use report::{LoadReport, Recorder, RunHeader};
use target::Target;
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
    #[error("connections must be at least 1")]
    NoConnections,
    #[error("a load task failed: {0}")]
    TaskFailed(String),
}

/// Shared permission to issue one more request.
struct Budget {
    deadline: Option<Instant>,
    remaining: AtomicU64,
}

impl Budget {
    fn new(stop: StopCondition, started: Instant) -> Self {
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
        if self
            .deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
        {
            return false;
        }
        self.remaining
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                left.checked_sub(1)
            })
            .is_ok()
    }
}

/// Runs the workload against `target` until `options.stop`, then reports.
pub async fn run_load<T: Target>(
    target: Arc<T>,
    options: &LoadOptions,
) -> Result<LoadReport, LoadError> {
    if options.connections == 0 {
        return Err(LoadError::NoConnections);
    }
    let generators = (0..options.connections)
        .map(|i| OperationGenerator::new(Arc::clone(&options.workload), options.seed + i as u64))
        .collect::<Result<Vec<_>, _>>()?;
    let started = Instant::now();
    let budget = Arc::new(Budget::new(options.stop, started));
    let completed = Arc::new(AtomicU64::new(0));
    let (progress_done, progress_task) = spawn_progress(options, Arc::clone(&completed), started);

    let workers: Vec<_> = generators
        .into_iter()
        .map(|generator| {
            let (target, budget, completed) = (
                Arc::clone(&target),
                Arc::clone(&budget),
                Arc::clone(&completed),
            );
            tokio::spawn(drive_connection(target, generator, budget, completed))
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
    let _ = progress_done.send(());
    let _ = progress_task.await;
    if let Some(error) = failure {
        return Err(error);
    }
    Ok(merged.into_report(run_header(target.as_ref(), options), elapsed))
}

async fn drive_connection<T: Target>(
    target: Arc<T>,
    mut generator: OperationGenerator,
    budget: Arc<Budget>,
    completed: Arc<AtomicU64>,
) -> Recorder {
    let mut recorder = Recorder::default();
    while budget.take() {
        let operation = generator.next_operation();
        let sent = Instant::now();
        let result = target.execute(&operation).await;
        recorder.record(operation.kind(), sent.elapsed(), &result);
        completed.fetch_add(1, Ordering::Relaxed);
    }
    recorder
}

/// Starts the progress bar ticker; it stops when the returned sender fires.
fn spawn_progress(
    options: &LoadOptions,
    completed: Arc<AtomicU64>,
    started: Instant,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
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
    (done, task)
}

fn run_header(target: &impl Target, options: &LoadOptions) -> RunHeader {
    let workload = &options.workload;
    RunHeader {
        target: target.describe(),
        connections: options.connections,
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
