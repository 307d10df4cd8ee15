//! The seam between workload and transport: a `Target` executes one `Operation` and
//! says what the server answered, in transport-neutral terms.
//!
//! HTTP implements it (`http.rs`). RESP pipelines many operations per write, so it has
//! its own engine (`crate::resp::engine`) but reports through the same `Outcome`s and
//! `TargetError`s.

use std::future::Future;

use super::workload::Operation;

/// What the server answered to one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Get { hit: bool },
    Set,
    MGet { hits: usize, misses: usize },
    Delete { existed: bool },
}

/// Why an operation failed; a miss is an `Outcome`, never an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("connection failed: {0}")]
    Transport(String),
    #[error("timed out after {0} ms")]
    Timeout(u64),
    #[error("unexpected status {status}: {body}")]
    Status { status: u16, body: String },
    #[error("unexpected reply: {0}")]
    Protocol(String),
    /// The server answered with an error reply (RESP `-ERR …`, `-OOM …`).
    #[error("server error: {0}")]
    Server(String),
}

/// A cache server the load generator can talk to.
pub trait Target: Send + Sync + 'static {
    /// Sends `operation` and waits for its reply.
    fn execute(
        &self,
        operation: &Operation,
    ) -> impl Future<Output = Result<Outcome, TargetError>> + Send;

    /// A human-readable name for reports, e.g. the base URL.
    fn describe(&self) -> String;
}
