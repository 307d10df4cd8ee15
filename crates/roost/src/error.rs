//! The cache service's error type. Front doors translate it at the edge (REST
//! into a status and JSON body, RESP into `-ERR …`); nothing inspects messages,
//! failover and translation decide on [`ErrorKind`].

use std::time::Duration;

/// What kind of failure, which is all a front door or a retry loop may look at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request itself is wrong; retrying it unchanged fails again.
    InvalidInput,
    /// The request exceeds a size or count limit.
    TooLarge,
    /// No node can serve the request right now; retrying later may work.
    Unavailable,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    #[error("key must not be empty")]
    EmptyKey,
    #[error("key is {len} bytes, the limit is {max}")]
    KeyTooLong { len: usize, max: usize },
    #[error("value is {len} bytes, the limit is {max}")]
    ValueTooLarge { len: usize, max: usize },
    #[error("{count} keys in one request, the limit is {max}")]
    TooManyKeys { count: usize, max: usize },
    #[error("at least one key is required")]
    NoKeys,
    #[error("ttl must be between 1 second and {} seconds", max.as_secs())]
    TtlOutOfRange { max: Duration },
    #[error("entry of {weight} bytes does not fit in a shard of {shard_capacity} bytes")]
    EntryTooLarge { weight: u64, shard_capacity: u64 },
    #[error("no healthy node to serve the key")]
    NoNode,
    /// A Redis node failed the request (connection refused or lost, timeout,
    /// an error reply Roost did not expect).
    #[error("node {node} failed: {reason}")]
    NodeFailed { node: String, reason: String },
    /// A Redis node already has as many requests in flight as Roost allows.
    #[error("node {node} has {limit} requests in flight, the limit; try again")]
    Overloaded { node: String, limit: usize },
    /// Fewer replicas than the write quorum acknowledged a write.
    #[error("write acknowledged by {acked} of the {needed} replicas the quorum needs")]
    NoQuorum { acked: usize, needed: usize },
    /// Redis's own text: INCR on a value that is not an integer.
    #[error("value is not an integer or out of range")]
    NotAnInteger,
    /// Redis's own text: INCR past the 64-bit range.
    #[error("increment or decrement would overflow")]
    IncrementOverflow,
}

impl CacheError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            CacheError::EmptyKey
            | CacheError::NoKeys
            | CacheError::TtlOutOfRange { .. }
            | CacheError::NotAnInteger
            | CacheError::IncrementOverflow => ErrorKind::InvalidInput,
            CacheError::KeyTooLong { .. }
            | CacheError::ValueTooLarge { .. }
            | CacheError::TooManyKeys { .. }
            | CacheError::EntryTooLarge { .. } => ErrorKind::TooLarge,
            CacheError::NoNode
            | CacheError::NodeFailed { .. }
            | CacheError::Overloaded { .. }
            | CacheError::NoQuorum { .. } => ErrorKind::Unavailable,
        }
    }

    /// Whether the same request may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        self.kind() == ErrorKind::Unavailable
    }

    /// A stable machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            CacheError::EmptyKey => "empty_key",
            CacheError::KeyTooLong { .. } => "key_too_long",
            CacheError::ValueTooLarge { .. } => "value_too_large",
            CacheError::TooManyKeys { .. } => "too_many_keys",
            CacheError::NoKeys => "no_keys",
            CacheError::TtlOutOfRange { .. } => "invalid_ttl",
            CacheError::EntryTooLarge { .. } => "entry_too_large",
            CacheError::NoNode => "no_healthy_node",
            CacheError::NodeFailed { .. } => "node_failed",
            CacheError::Overloaded { .. } => "overloaded",
            CacheError::NoQuorum { .. } => "no_quorum",
            CacheError::NotAnInteger => "not_an_integer",
            CacheError::IncrementOverflow => "increment_overflow",
        }
    }
}

impl From<roost_store::StoreError> for CacheError {
    fn from(err: roost_store::StoreError) -> Self {
        match err {
            roost_store::StoreError::EntryTooLarge {
                weight,
                shard_capacity,
            } => CacheError::EntryTooLarge {
                weight,
                shard_capacity,
            },
        }
    }
}
