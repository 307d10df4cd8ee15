//! The RESP load engine: `--threads` OS threads, each running a current-thread tokio
//! runtime that drives its share of the connections, each connection pipelining up to
//! `--pipeline` commands per write.
//!
//! A thread per runtime keeps every connection's state on one core with no
//! cross-thread wake-ups; the threads share only the request budget and a progress
//! counter (atomics). Closed loop: a connection sends P commands, reads P replies,
//! repeats; latency runs from the write. Open loop (`--rate`): each connection follows
//! its `Schedule`, sends whatever is due (at most P at once), and latency runs from the
//! intended send time, so a stalled server is charged for the requests it delayed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

use super::connection::{error_text, RespConnection};
use super::scan::Reply;
use crate::load::report::{LoadReport, Recorder};
use crate::load::schedule::Schedule;
use crate::load::target::{Outcome, TargetError};
use crate::load::timer::PreciseSleep;
use crate::load::workload::{KeyFormat, OperationGenerator, OperationKind};
use crate::load::{run_header, wait_for_due, Budget, LoadError, LoadOptions, ProgressTicker};

/// Runs `options` against the RESP server at `address` (`host:port`).
pub async fn run_resp_load(address: &str, options: &LoadOptions) -> Result<LoadReport, LoadError> {
    options.validate()?;
    let mut streams = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        let stream = TcpStream::connect(address)
            .await
            .and_then(TcpStream::into_std)
            .map_err(|error| LoadError::Connect(format!("{address}: {error}")))?;
        streams.push(stream);
    }
    let threads = options.threads.clamp(1, options.connections);
    let mut shares: Vec<Vec<ConnectionJob>> = (0..threads).map(|_| Vec::new()).collect();
    let started = Instant::now();
    let budget = Arc::new(Budget::new(options.stop, started));
    let completed = Arc::new(AtomicU64::new(0));
    for (index, stream) in streams.into_iter().enumerate() {
        shares[index % threads].push(ConnectionJob {
            stream: Some(stream),
            generator: OperationGenerator::new(
                Arc::clone(&options.workload),
                options.seed + index as u64,
            )?,
            keys: options.workload.key_format(),
            schedule: options
                .rate
                .map(|rate| Schedule::new(started, rate, options.connections, index)),
            pipeline: options.pipeline,
            budget: Arc::clone(&budget),
            completed: Arc::clone(&completed),
        });
    }
    let progress = ProgressTicker::start(options, Arc::clone(&completed), started);
    let handles = shares
        .into_iter()
        .enumerate()
        .map(|(thread, jobs)| spawn_worker(thread, jobs))
        .collect::<Result<Vec<_>, _>>()?;
    let joined = tokio::task::spawn_blocking(move || {
        let mut merged = Recorder::default();
        for handle in handles {
            let recorder = handle
                .join()
                .map_err(|_| LoadError::TaskFailed("a load thread panicked".into()))??;
            merged.merge(&recorder);
        }
        Ok::<_, LoadError>(merged)
    })
    .await;
    let elapsed = started.elapsed();
    progress.stop().await;
    let merged = joined.map_err(|error| LoadError::TaskFailed(error.to_string()))??;
    let header = run_header(format!("resp://{address}"), "resp", options);
    Ok(merged.into_report(header, elapsed))
}

type WorkerHandle = std::thread::JoinHandle<Result<Recorder, LoadError>>;

/// One OS thread with a current-thread runtime running `jobs` to completion.
fn spawn_worker(thread: usize, jobs: Vec<ConnectionJob>) -> Result<WorkerHandle, LoadError> {
    std::thread::Builder::new()
        .name(format!("roost-bench-{thread}"))
        .spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|error| LoadError::TaskFailed(error.to_string()))?;
            runtime.block_on(async move {
                let tasks: Vec<_> = jobs
                    .into_iter()
                    .map(|job| tokio::spawn(job.run()))
                    .collect();
                let mut merged = Recorder::default();
                for task in tasks {
                    let recorder = task
                        .await
                        .map_err(|error| LoadError::TaskFailed(error.to_string()))?;
                    merged.merge(&recorder);
                }
                Ok(merged)
            })
        })
        .map_err(|error| LoadError::TaskFailed(format!("cannot start a load thread: {error}")))
}

/// Everything one connection needs, moved onto its worker thread.
struct ConnectionJob {
    /// Taken when the job starts on its worker thread.
    stream: Option<std::net::TcpStream>,
    generator: OperationGenerator,
    keys: KeyFormat,
    schedule: Option<Schedule>,
    pipeline: usize,
    budget: Arc<Budget>,
    completed: Arc<AtomicU64>,
}

impl ConnectionJob {
    async fn run(mut self) -> Recorder {
        let mut recorder = Recorder::default();
        let Some(stream) = self.stream.take() else {
            return recorder;
        };
        let (mut connection, mut sleep) = match connect_here(stream) {
            Ok(ready) => ready,
            Err(error) => {
                recorder.record(OperationKind::Get, Duration::ZERO, &Err(error));
                return recorder;
            }
        };
        let mut kinds = Vec::with_capacity(self.pipeline);
        let mut intended = Vec::with_capacity(self.pipeline);
        loop {
            intended.clear();
            let count = self.next_batch(&mut sleep, &mut intended).await;
            if count == 0 {
                break;
            }
            kinds.clear();
            for _ in 0..count {
                kinds.push(self.queue_next(&mut connection));
            }
            let mut answered = 0;
            let result = match connection.send().await {
                Ok(()) => {
                    connection
                        .receive(count, |reply, raw, arrived| {
                            let kind = kinds[answered];
                            let latency = arrived.saturating_duration_since(intended[answered]);
                            recorder.record(kind, latency, &outcome(kind, reply, raw));
                            answered += 1;
                        })
                        .await
                }
                Err(error) => Err(error),
            };
            self.completed.fetch_add(count as u64, Ordering::Relaxed);
            if let Err(error) = result {
                let failed = Err(error);
                for (kind, sent) in kinds.iter().zip(&intended).skip(answered) {
                    recorder.record(*kind, sent.elapsed(), &failed);
                }
                break;
            }
        }
        recorder
    }

    /// Decides how many commands go into the next write and when each was meant to
    /// leave (pushed to `intended`); 0 when the run is over.
    async fn next_batch(&mut self, sleep: &mut PreciseSleep, intended: &mut Vec<Instant>) -> usize {
        let Some(schedule) = &mut self.schedule else {
            let count = self.budget.take_up_to(self.pipeline);
            intended.resize(count, Instant::now());
            return count;
        };
        let due = wait_for_due(schedule, sleep, self.pipeline, intended).await;
        let count = self.budget.take_up_to(due);
        intended.truncate(count);
        count
    }

    /// Draws one operation and queues its command; returns its kind.
    fn queue_next(&mut self, connection: &mut RespConnection) -> OperationKind {
        let generator = &mut self.generator;
        let kind = generator.next_kind();
        match kind {
            OperationKind::Get => connection.queue_get(&self.keys, generator.next_index()),
            OperationKind::Set => {
                let ttl = generator.next_ttl();
                let index = generator.next_index();
                connection.queue_set(&self.keys, index, generator.value().as_bytes(), ttl);
            }
            OperationKind::Delete => connection.queue_delete(&self.keys, generator.next_index()),
            OperationKind::MGet => {
                let count = generator.spec().mget_keys;
                connection.queue_mget(&self.keys, count, || generator.next_index());
            }
        }
        kind
    }
}

/// What a reply means for an operation of `kind`.
fn outcome(kind: OperationKind, reply: Reply, raw: &[u8]) -> Result<Outcome, TargetError> {
    match (kind, reply) {
        (_, Reply::Error) => Err(TargetError::Server(error_text(raw))),
        (OperationKind::Get, Reply::Bulk) => Ok(Outcome::Get { hit: true }),
        (OperationKind::Get, Reply::Null) => Ok(Outcome::Get { hit: false }),
        (OperationKind::Set, Reply::Status) => Ok(Outcome::Set),
        (OperationKind::Delete, Reply::Integer(removed)) => Ok(Outcome::Delete {
            existed: removed > 0,
        }),
        (OperationKind::MGet, Reply::Array { hits, misses }) => Ok(Outcome::MGet { hits, misses }),
        (kind, reply) => Err(TargetError::Protocol(format!(
            "unexpected reply {reply:?} to {kind}"
        ))),
    }
}

/// Registers a stream connected elsewhere with this thread's runtime, plus a timer.
fn connect_here(
    stream: std::net::TcpStream,
) -> Result<(RespConnection, PreciseSleep), TargetError> {
    let stream = TcpStream::from_std(stream).map_err(io_error)?;
    let connection = RespConnection::from_stream(stream)?;
    Ok((connection, PreciseSleep::new().map_err(io_error)?))
}

fn io_error(error: std::io::Error) -> TargetError {
    TargetError::Transport(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_map_to_outcomes_and_mismatches_are_errors() {
        let get = |reply| outcome(OperationKind::Get, reply, b"");
        assert_eq!(get(Reply::Bulk), Ok(Outcome::Get { hit: true }));
        assert_eq!(get(Reply::Null), Ok(Outcome::Get { hit: false }));
        assert!(get(Reply::Status).is_err());
        assert_eq!(
            outcome(
                OperationKind::Set,
                Reply::Error,
                b"-OOM command not allowed\r\n"
            ),
            Err(TargetError::Server("OOM command not allowed".into()))
        );
        assert_eq!(
            outcome(OperationKind::Delete, Reply::Integer(0), b""),
            Ok(Outcome::Delete { existed: false })
        );
        assert_eq!(
            outcome(
                OperationKind::MGet,
                Reply::Array { hits: 2, misses: 3 },
                b""
            ),
            Ok(Outcome::MGet { hits: 2, misses: 3 })
        );
    }
}
