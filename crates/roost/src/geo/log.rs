//! The durable change log (scaffold: the log helper replaces every body).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use roost_store::Clock;
use tokio::sync::watch;

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

#[derive(Debug)]
pub struct ChangeLog {}

impl ChangeLog {
    /// Opens (or creates) the log in `dir`, recovering what is there: a torn
    /// or corrupt tail record is cut off and logged, never served.
    pub fn open(
        _dir: &Path,
        _max_bytes: u64,
        _max_age: Duration,
        _clock: Arc<dyn Clock>,
    ) -> Result<ChangeLog, LogError> {
        todo!("issue 16 scaffold: log helper")
    }

    /// Appends `records` (each with the version it carries, for retention's
    /// `trimmed_through`) and resolves once they are durable (fsynced; many
    /// concurrent appends share one fsync). Answers the last one's Seq.
    pub async fn append(&self, _records: Vec<(u64, Bytes)>) -> Result<Seq, LogError> {
        todo!("issue 16 scaffold: log helper")
    }

    /// Up to `max_records` / about `max_bytes` durable records from `from`
    /// (inclusive).
    pub async fn read(
        &self,
        _from: Seq,
        _max_records: usize,
        _max_bytes: usize,
    ) -> Result<LogRead, LogError> {
        todo!("issue 16 scaffold: log helper")
    }

    /// The newest durable Seq, updated after every group commit.
    pub fn subscribe(&self) -> watch::Receiver<Seq> {
        todo!("issue 16 scaffold: log helper")
    }

    pub fn stats(&self) -> LogStats {
        todo!("issue 16 scaffold: log helper")
    }

    /// Removes segments past the retention limits (age, bytes); run by the
    /// geo task every second.
    pub fn trim(&self) -> Result<u64, LogError> {
        todo!("issue 16 scaffold: log helper")
    }
}
