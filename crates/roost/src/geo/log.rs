//! The durable change log: every change this region acknowledged, in the
//! order it was made durable, for the other regions to pull (issue 16).
//!
//! Plain segment files under one directory (`$ROOST_DATA_DIR/geo/log`):
//! records framed with a length and a CRC32 (`log/frame.rs`), Seqs implicit
//! (a segment's file name is its first Seq), a sparse offset index per
//! segment rebuilt on open (`log/segment.rs`). Appends from any number of
//! tasks are group-committed by one writer thread — one write and one fsync
//! per batch, and no append answers before its fsync (`log/writer.rs`).
//! Opening recovers: a torn tail of the newest segment is cut and logged, a
//! damaged older segment is an error (`log/recover.rs` says why). Retention
//! removes whole segments by age and bytes and remembers the newest version
//! it removed, so a reader that fell behind learns what it can no longer be
//! sent (`log/retention.rs`, `LogRead::Gap`).
//!
//! Why not fjall or redb: the log is append-only with sequential tail reads
//! and whole-file retention, which a key-value store turns into keyed
//! inserts, compaction and per-key deletes; group commit needs to own the
//! fsync (the embedded stores sync per transaction or on their own
//! schedule); and plain files add no dependency.
//!
//! Blocking: `open` and `trim` do file I/O on the calling thread (start-up,
//! and the geo task's once-a-second trim through `Tasks::run_blocking`);
//! `read` runs on the blocking pool; `append` only waits on the writer.

pub(super) mod durable;
mod frame;
pub mod identity;
mod reader;
mod recover;
mod retention;
mod segment;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use roost_store::Clock;
use tokio::sync::{mpsc, oneshot, watch};

use crate::tasks::Tasks;

use self::identity::Identity;
use self::reader::{Planned, ReadFailure};
use self::retention::Trimmed;
use self::segment::Segment;
use self::writer::{Request, Writer};

/// A record's position in the log: the first record is 1; 0 means "before
/// the first record".
pub type Seq = u64;

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("change log {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("change log {path}: {reason}")]
    Corrupt { path: String, reason: String },
    #[error("change log is closed")]
    Closed,
}

/// What a read from a sequence number found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogRead {
    /// Records from the asked position on (possibly none yet), each with its
    /// sequence number, in order.
    Records(Vec<(Seq, Bytes)>),
    /// The asked position fell out of retention: the oldest record kept is
    /// `first`, and `trimmed_through` is the newest version among the records
    /// removed (what a reader must drop unless it can prove it fresher).
    Gap { first: Seq, trimmed_through: u64 },
}

/// Sizes and positions, for `GET /api/regions` and the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LogStats {
    /// The oldest record kept (0 when empty).
    pub first: Seq,
    /// The newest durable record (0 when empty).
    pub last: Seq,
    pub bytes: u64,
    pub segments: u64,
    /// Records appended since this process started.
    pub appended: u64,
    /// Group commits (fsyncs) since this process started.
    pub commits: u64,
}

/// Appends wait when this many are queued for the writer.
const QUEUED_APPENDS: usize = 1024;

/// Payload bytes of the newest durable records also kept in memory
/// ([`Tail`]): milliseconds of writes even at hundreds of thousands of
/// changes a second, which is how far a stream following the head lags. A
/// 4 MiB tail measured 8 % fewer SETs/s for a region alone than none in one
/// bench/geo-ab.sh run, likely because the records' memory was no longer
/// reused while still in cache; 256 KiB measured no such cost.
const TAIL_BYTES: usize = 256 << 10;

/// The largest segment before a new one starts, and the smallest (with a
/// small byte budget, segments are an eighth of it so retention can act).
const MAX_SEGMENT_BYTES: u64 = 64 << 20;
const MIN_SEGMENT_BYTES: u64 = 1 << 20;

/// A read gives up after retention removed its segment this many times in a row.
const READ_ATTEMPTS: usize = 3;

#[derive(Debug)]
pub struct ChangeLog {
    shared: Arc<Shared>,
    identity: Identity,
    limits: Limits,
    clock: Arc<dyn Clock>,
    /// `None` only while dropping.
    requests: Option<mpsc::Sender<Request>>,
    writer: Option<JoinHandle<()>>,
    /// One trim at a time: a trim decides under the state lock, then writes
    /// `trimmed.json` outside it.
    trimming: Mutex<()>,
}

/// What the writer and the readers share.
#[derive(Debug)]
struct Shared {
    dir: PathBuf,
    state: Mutex<State>,
    /// The newest durable Seq.
    durable: watch::Sender<Seq>,
}

/// The durable extent of the log. A std (parking_lot) mutex: it is held for
/// bookkeeping only, never across I/O or an `.await`.
#[derive(Debug)]
struct State {
    /// Consecutive, oldest first, never empty; the last is the active one.
    segments: Vec<Segment>,
    trimmed: Trimmed,
    /// The newest durable records, also in memory.
    tail: Tail,
    appended: u64,
    commits: u64,
}

/// The newest durable records (up to a byte budget), kept in memory as the
/// writer published them, so a reader following the log's head — a peer's
/// stream, which asks again after every commit — is answered under the state
/// lock without a file read on the blocking pool. The payloads are the
/// appenders' own `Bytes`, shared, not copied. Older records are read from
/// the segment files (`reader.rs`). Empty after an open: a restart reads
/// files until new commits fill it.
#[derive(Debug, Default)]
struct Tail {
    records: std::collections::VecDeque<(Seq, Bytes)>,
    bytes: usize,
    max_bytes: usize,
}

impl Tail {
    fn new(max_bytes: usize) -> Tail {
        Tail {
            max_bytes,
            ..Tail::default()
        }
    }

    /// Keeps the records just made durable, the first at `first`, dropping
    /// the oldest past the budget. Only the newest that fit are looked at,
    /// so a large commit costs the budget's worth of work under the lock,
    /// not its own size.
    fn extend(&mut self, first: Seq, payloads: &[&Bytes]) {
        if self.max_bytes == 0 {
            return;
        }
        let mut kept = 0;
        let mut fitting = 0;
        for payload in payloads.iter().rev() {
            if kept + payload.len() > self.max_bytes {
                break;
            }
            kept += payload.len();
            fitting += 1;
        }
        let skipped = payloads.len() - fitting;
        if skipped > 0 {
            // The commit alone fills the budget (or its newest record is
            // too large to keep): the tail must stay consecutive.
            self.records.clear();
            self.bytes = 0;
        }
        for (i, payload) in payloads.iter().enumerate().skip(skipped) {
            self.records
                .push_back((first + i as Seq, Bytes::clone(payload)));
            self.bytes += payload.len();
        }
        while self.bytes > self.max_bytes {
            match self.records.pop_front() {
                Some((_, dropped)) => self.bytes -= dropped.len(),
                None => break,
            }
        }
    }

    /// The records from `from` with `reader::read`'s limits, if the tail
    /// holds `from` (`None`: read the files).
    fn read(&self, from: Seq, max_records: usize, max_bytes: usize) -> Option<Vec<(Seq, Bytes)>> {
        let (first, _) = self.records.front()?;
        let skip = usize::try_from(from.checked_sub(*first)?).ok()?;
        let mut out = Vec::new();
        let mut bytes = 0;
        for (seq, payload) in self.records.range(skip.min(self.records.len())..) {
            if out.len() >= max_records || (!out.is_empty() && bytes + payload.len() > max_bytes) {
                break;
            }
            bytes += payload.len();
            out.push((*seq, payload.clone()));
        }
        Some(out)
    }
}

impl State {
    fn next_seq(&self) -> Seq {
        self.segments
            .last()
            .map_or(self.trimmed.through_seq + 1, Segment::next_seq)
    }

    fn last(&self) -> Seq {
        self.next_seq() - 1
    }

    fn active_count(&self) -> u64 {
        self.segments.last().map_or(0, |segment| segment.count)
    }

    fn active_len(&self) -> u64 {
        self.segments.last().map_or(0, |segment| segment.len)
    }
}

#[derive(Debug, Clone, Copy)]
struct Limits {
    max_bytes: u64,
    max_age: Duration,
    segment_bytes: u64,
    /// The in-memory tail's budget ([`Tail`]).
    tail_bytes: usize,
}

impl ChangeLog {
    /// Opens (or creates) the log in `dir`, recovering what is there: a torn
    /// or corrupt tail record is cut off and logged, never served.
    pub fn open(
        dir: &Path,
        max_bytes: u64,
        max_age: Duration,
        clock: Arc<dyn Clock>,
    ) -> Result<ChangeLog, LogError> {
        let segment_bytes = (max_bytes / 8).clamp(MIN_SEGMENT_BYTES, MAX_SEGMENT_BYTES);
        let limits = Limits {
            max_bytes,
            max_age,
            segment_bytes,
            tail_bytes: TAIL_BYTES,
        };
        ChangeLog::open_with(dir, limits, clock)
    }

    fn open_with(dir: &Path, limits: Limits, clock: Arc<dyn Clock>) -> Result<ChangeLog, LogError> {
        let recovered = recover::recover(dir)?;
        let fresh = recovered.trimmed.through_seq == 0
            && recovered.segments.iter().all(|segment| segment.count == 0);
        let identity = identity::load_or_create(dir, fresh, clock.now_millis())?;
        let path = recovered
            .segments
            .last()
            .map(|segment| segment.path.clone())
            .unwrap_or_default();
        let state = State {
            segments: recovered.segments,
            trimmed: recovered.trimmed,
            tail: Tail::new(limits.tail_bytes),
            appended: 0,
            commits: 0,
        };
        let (durable, _) = watch::channel(state.last());
        let shared = Arc::new(Shared {
            dir: dir.to_path_buf(),
            state: Mutex::new(state),
            durable,
        });
        let (requests, queued) = mpsc::channel(QUEUED_APPENDS);
        // Past the records, the file may hold the zeros a writer prepared
        // before the log was last closed uncleanly.
        let prepared = recovered
            .active
            .metadata()
            .map_err(|source| LogError::Io {
                path: path.display().to_string(),
                source,
            })?
            .len();
        let writer = Writer {
            shared: shared.clone(),
            requests: queued,
            clock: clock.clone(),
            file: recovered.active,
            prepared,
            path,
            segment_bytes: limits.segment_bytes,
            failed: None,
        };
        let writer = std::thread::Builder::new()
            .name("roost-geo-log".to_owned())
            .spawn(move || writer.run())
            .map_err(|source| LogError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        Ok(ChangeLog {
            shared,
            identity,
            limits,
            clock,
            requests: Some(requests),
            writer: Some(writer),
            trimming: Mutex::new(()),
        })
    }

    /// Appends `records` (each with the version it carries, for retention's
    /// `trimmed_through`) and resolves once they are durable (fsynced; many
    /// concurrent appends share one fsync). Answers the last one's Seq.
    pub async fn append(&self, records: Vec<(u64, Bytes)>) -> Result<Seq, LogError> {
        if records.is_empty() {
            return Ok(self.shared.state.lock().last());
        }
        let requests = self.requests.as_ref().ok_or(LogError::Closed)?;
        let (done, answer) = oneshot::channel();
        requests
            .send(Request { records, done })
            .await
            .map_err(|_| LogError::Closed)?;
        answer.await.map_err(|_| LogError::Closed)?
    }

    /// Up to `max_records` / about `max_bytes` durable records from `from`
    /// (inclusive).
    pub async fn read(
        &self,
        from: Seq,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<LogRead, LogError> {
        for _ in 0..READ_ATTEMPTS {
            let planned = reader::plan(&self.shared.state.lock(), from, max_records, max_bytes);
            let (from, stretches) = match planned {
                Planned::Done(answer) => return Ok(answer),
                Planned::Read { from, stretches } => (from, stretches),
            };
            let read =
                Tasks::run_blocking(move || reader::read(&stretches, from, max_records, max_bytes))
                    .await
                    .map_err(|e| LogError::Io {
                        path: self.shared.dir.display().to_string(),
                        source: std::io::Error::other(e.to_string()),
                    })?;
            match read {
                Ok(records) => return Ok(LogRead::Records(records)),
                Err(ReadFailure::Failed(e)) => return Err(e),
                Err(ReadFailure::Gone) => continue,
            }
        }
        Err(LogError::Io {
            path: self.shared.dir.display().to_string(),
            source: std::io::Error::other(format!(
                "retention removed the segment being read {READ_ATTEMPTS} times in a row"
            )),
        })
    }

    /// The newest durable Seq, updated after every group commit.
    pub fn subscribe(&self) -> watch::Receiver<Seq> {
        self.shared.durable.subscribe()
    }

    pub fn stats(&self) -> LogStats {
        let state = self.shared.state.lock();
        let kept: u64 = state.segments.iter().map(|segment| segment.count).sum();
        LogStats {
            first: match kept {
                0 => 0,
                _ => state.trimmed.through_seq + 1,
            },
            last: state.last(),
            bytes: state.segments.iter().map(|segment| segment.len).sum(),
            segments: state.segments.len() as u64,
            appended: state.appended,
            commits: state.commits,
        }
    }

    /// What retention removed so far: `None` when nothing, else the Gap a
    /// reader from the very start is owed — the oldest record kept (`first`)
    /// and the newest version among the removed records (`trimmed_through`).
    /// A reader asking from 0 gets the kept records, not a Gap; callers that
    /// start from nothing (a peer's first pull, this region's replay) ask
    /// here first so they can drop what they cannot prove fresh.
    /// Which log this is ([`identity`]).
    pub fn identity(&self) -> Identity {
        self.identity
    }

    pub fn trimmed(&self) -> Option<LogRead> {
        let trimmed = self.shared.state.lock().trimmed;
        (trimmed.through_seq > 0).then_some(LogRead::Gap {
            first: trimmed.through_seq + 1,
            trimmed_through: trimmed.max_version,
        })
    }

    /// Removes segments past the retention limits (age, bytes); run by the
    /// geo task every second. Answers how many records it removed.
    pub fn trim(&self) -> Result<u64, LogError> {
        let _one_at_a_time = self.trimming.lock();
        let now_ms = self.clock.now_millis();
        let max_age_ms = u64::try_from(self.limits.max_age.as_millis()).unwrap_or(u64::MAX);
        let (removed, trimmed) = {
            let state = self.shared.state.lock();
            let n =
                retention::removable(&state.segments, now_ms, max_age_ms, self.limits.max_bytes);
            let removed = &state.segments[..n];
            (
                removed
                    .iter()
                    .map(|s| (s.path.clone(), s.count))
                    .collect::<Vec<_>>(),
                state.trimmed.after(removed),
            )
        };
        if removed.is_empty() {
            return Ok(0);
        }
        // Durable before any segment goes: a crash in between is finished by
        // the next open.
        retention::store(&self.shared.dir, &trimmed)?;
        {
            let mut state = self.shared.state.lock();
            state.segments.drain(..removed.len());
            state.trimmed = trimmed;
        }
        let mut records = 0;
        for (path, count) in removed {
            std::fs::remove_file(&path).map_err(|source| LogError::Io {
                path: path.display().to_string(),
                source,
            })?;
            records += count;
        }
        tracing::debug!(
            records,
            through_seq = trimmed.through_seq,
            "change log: trimmed"
        );
        Ok(records)
    }
}

impl Drop for ChangeLog {
    /// Stops the writer: with the sender gone it commits what is queued and
    /// ends; joined here so no write outlives the log.
    fn drop(&mut self) {
        self.requests = None;
        if let Some(writer) = self.writer.take() {
            if writer.join().is_err() {
                tracing::error!(dir = %self.shared.dir.display(), "change log: the writer thread panicked");
            }
        }
    }
}
