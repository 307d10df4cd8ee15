//! `roost-bench fill`: bulk-loads `<prefix>0 .. <prefix>(keys-1)` with `mset` batches
//! over Roost's REST API (RESP targets use pipelined SETs: `crate::resp::fill`).
//!
//! Used to pre-warm a server before `load` and by `bench/memory.sh` to put a known
//! number of entries into Roost. Any failed batch stops the fill with an error, since
//! a partial fill would make every figure measured after it wrong.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::load::http::{HttpTarget, MSetEntry};
use crate::load::target::TargetError;
use crate::load::workload::{random_text, KeyFormat};

/// What to load.
#[derive(Debug, Clone)]
pub struct FillOptions {
    pub keys: u64,
    pub value_size: usize,
    pub batch: usize,
    pub prefix: String,
    /// Zero-pad key indexes to this many digits (0: none).
    pub key_digits: usize,
    pub connections: usize,
    pub show_progress: bool,
}

impl FillOptions {
    /// How keys are named, matching `load` with the same prefix and digits.
    pub fn key_format(&self) -> KeyFormat {
        KeyFormat {
            prefix: self.prefix.clone(),
            digits: self.key_digits,
        }
    }
}

/// What a finished fill did.
#[derive(Debug, Clone, PartialEq)]
pub struct FillReport {
    pub keys: u64,
    pub elapsed: Duration,
}

impl FillReport {
    pub fn keys_per_second(&self) -> f64 {
        self.keys as f64 / self.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
    }
}

/// Why a fill stopped early.
#[derive(Debug, thiserror::Error)]
pub enum FillError {
    #[error("batch size and connections must be at least 1")]
    ZeroSized,
    #[error("cannot connect: {0}")]
    Connect(TargetError),
    #[error("mset of keys {first}..{end} failed: {source}")]
    Batch {
        first: u64,
        end: u64,
        source: TargetError,
    },
    #[error("a fill task failed: {0}")]
    TaskFailed(String),
}

/// Loads every key once, `options.connections` batches in flight at a time.
pub async fn run_fill(target: &HttpTarget, options: &FillOptions) -> Result<FillReport, FillError> {
    if options.batch == 0 || options.connections == 0 {
        return Err(FillError::ZeroSized);
    }
    let value: Arc<str> = random_text(&mut SmallRng::seed_from_u64(1), options.value_size).into();
    let next_batch = Arc::new(AtomicU64::new(0));
    let bar = progress_bar(options);
    let started = Instant::now();
    let workers: Vec<_> = (0..options.connections)
        .map(|_| {
            let worker = FillWorker {
                target: target.clone(),
                options: options.clone(),
                value: Arc::clone(&value),
                next_batch: Arc::clone(&next_batch),
                bar: bar.clone(),
            };
            tokio::spawn(worker.run())
        })
        .collect();
    finish_fill(workers, &bar, options.keys, started).await
}

struct FillWorker {
    target: HttpTarget,
    options: FillOptions,
    value: Arc<str>,
    next_batch: Arc<AtomicU64>,
    bar: ProgressBar,
}

impl FillWorker {
    async fn run(self) -> Result<(), FillError> {
        let batch = self.options.batch as u64;
        loop {
            let first = self
                .next_batch
                .fetch_add(1, Ordering::Relaxed)
                .saturating_mul(batch);
            if first >= self.options.keys {
                return Ok(());
            }
            let end = (first + batch).min(self.options.keys);
            let format = self.options.key_format();
            let keys: Vec<String> = (first..end).map(|i| format.key(i)).collect();
            let entries: Vec<MSetEntry<'_>> = keys
                .iter()
                .map(|key| MSetEntry {
                    key,
                    value: &self.value,
                    ttl: None,
                })
                .collect();
            if let Err(source) = self.target.mset(&entries).await {
                // Stop the other workers too: no batch after a failure is worth sending.
                self.next_batch.store(u64::MAX / batch, Ordering::Relaxed);
                return Err(FillError::Batch { first, end, source });
            }
            self.bar.inc(end - first);
        }
    }
}

/// The fill's progress bar (hidden unless asked for).
/// Waits for every fill worker, clears the bar, and reports the first error or
/// the filled count. Shared by the HTTP and RESP fills.
pub(crate) async fn finish_fill(
    workers: Vec<tokio::task::JoinHandle<Result<(), FillError>>>,
    bar: &ProgressBar,
    keys: u64,
    started: Instant,
) -> Result<FillReport, FillError> {
    let mut first_error = None;
    for worker in workers {
        let outcome = worker
            .await
            .map_err(|error| FillError::TaskFailed(error.to_string()));
        if let Err(error) = outcome.and_then(|result| result) {
            first_error.get_or_insert(error);
        }
    }
    bar.finish_and_clear();
    match first_error {
        Some(error) => Err(error),
        None => Ok(FillReport {
            keys,
            elapsed: started.elapsed(),
        }),
    }
}

pub(crate) fn progress_bar(options: &FillOptions) -> ProgressBar {
    let bar = if options.show_progress {
        ProgressBar::new(options.keys)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:40}] {pos}/{len} keys ({per_sec})")
            .expect("invariant: constant progress template is valid")
            .progress_chars("=> "),
    );
    bar
}
