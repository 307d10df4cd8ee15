//! The seam between workload and transport: a `Target` executes one `Operation` and
//! says what the server answered, in transport-neutral terms.
//!
//! HTTP implements it today (`http.rs`); a RESP target plugs in beside it without the
//! load loop or the report changing.

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
