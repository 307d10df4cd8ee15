//! The cache service's error type. Front doors translate it at the edge (REST
//! into a status and JSON body, RESP into `-ERR …`); nothing inspects messages,
//! failover and translation decide on [`ErrorKind`] and, for a node, on its
//! [`NodeFault`].
//!
//! A failure knows where it came from: the request itself (limits, a Redis
//! reply such as WRONGTYPE that the request caused, relayed as [`CacheError::Rejected`]),
//! or a node ([`CacheError::NodeFailed`]: which node, a typed [`NodeFault`], and
//! the underlying error kept as `source()`). Only node faults count toward
//! ejecting a node.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
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
    /// The origin a miss is loaded from failed (REST 502); retrying later may work.
    Upstream,
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
    /// A TTL of zero, or a deadline past what signed 64-bit unix
    /// milliseconds hold (Redis's own limit; the REST door keeps its own
    /// 30-day ceiling).
    #[error("invalid expire time")]
    InvalidExpireTime,
    #[error("entry of {weight} bytes does not fit in a shard of {shard_capacity} bytes")]
    EntryTooLarge { weight: u64, shard_capacity: u64 },
    #[error("no healthy node to serve the key")]
    NoNode,
    /// A Redis node failed the request: it is the node's fault, counted
    /// toward ejecting it. `node` is its `host:port`.
    #[error("node {node} failed: {fault}")]
    NodeFailed {
        node: String,
        fault: NodeFault,
        #[source]
        source: Option<Cause>,
    },
    /// A Redis node refused the request itself (WRONGTYPE, a value out of
    /// range, …): the node is healthy and the same request fails again.
    /// `reply` is Redis's error reply as sent (code and message), which the
    /// RESP door relays unchanged.
    #[error("{reply}")]
    Rejected { reply: String },
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
    /// Loading a miss from the origin failed and no stale copy could answer.
    #[error("origin {fault}")]
    OriginFailed {
        fault: OriginFault,
        #[source]
        source: Option<Cause>,
    },
    /// `ROOST_ORIGIN_MAX_CONCURRENCY` origin fetches are already in flight.
    #[error("the origin has {limit} fetches in flight, the limit; try again")]
    OriginOverloaded { limit: usize },
    /// A client write was applied in this region but the region's change log
    /// could not record it (issue 16): it is not durable, and the other
    /// regions may never see it. The cause (the log's I/O error) is logged,
    /// not shown.
    #[error("write applied in this region but not durably logged for the other regions")]
    NotLogged {
        #[source]
        source: Option<Cause>,
    },
    /// Background work a request waited on ended without an answer (its
    /// blocking task panicked, or the server is shutting down).
    #[error("{what} did not finish: {reason}")]
    Interrupted { what: &'static str, reason: String },
    /// An operation only the embedded store offers (versioned replication
    /// between regions) was asked of another backend.
    #[error("{operation} needs the embedded store; the {backend} backend does not support it")]
    Unsupported {
        operation: &'static str,
        backend: &'static str,
    },
    /// A collection too big for the REST API to read whole.
    #[error("the {kind} holds {len} elements; the REST API reads at most {limit}: read it over RESP (HSCAN, LRANGE, SSCAN, ZRANGE)")]
    CollectionTooLarge {
        kind: String,
        len: usize,
        limit: usize,
    },
    /// A data-type command Roost forwards to Redis that the embedded store
    /// does not run (streams, geo, blocking pops, scripts…).
    #[error("'{command}' runs in front of Redis only (a Redis fleet or Redis Cluster); the embedded store keeps strings, hashes, lists, sets and sorted sets (docs/resp.md)")]
    NeedsRedis { command: &'static str },
    /// In a region on a Redis Cluster, a key whose version key cannot share
    /// its slot (`backend/fleet/versions.rs`).
    #[error("in a region on a Redis Cluster, a key with '}}' and no hash tag cannot keep its version in its slot; give the key a hash tag, e.g. {{name}}")]
    Unversionable,
    /// A write of one of a region's version keys (`roost:ver:`, `roost:vk:`,
    /// `roost:vs:`) in front of Redis.
    #[error("in a region on Redis, keys starting with roost:ver:, roost:vk: or roost:vs: hold Roost's versions and cannot be written")]
    ReservedKey,
    /// A command a region on Redis cannot version (`backend/fleet/versions.rs`).
    #[error("'{command}' is not available in a region on Redis: {reason} (docs/regions.md, \"Backends\")")]
    NotInRegion {
        command: String,
        reason: &'static str,
    },
}

impl CacheError {
    /// Redis's WRONGTYPE: the key holds another type than the command works on.
    pub fn wrong_type() -> CacheError {
        CacheError::Rejected {
            reply: "WRONGTYPE Operation against a key holding the wrong kind of value".to_owned(),
        }
    }

    /// Whether this is Redis's WRONGTYPE: the key holds another type.
    pub fn is_wrong_type(&self) -> bool {
        matches!(self, CacheError::Rejected { reply } if reply.starts_with("WRONGTYPE"))
    }

    /// Redis Cluster's reply to a command whose keys hash to different slots,
    /// which Roost gives for keys on different nodes of a fleet as well.
    pub fn cross_slot() -> CacheError {
        CacheError::Rejected {
            reply: "CROSSSLOT Keys in request don't hash to the same slot".into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            CacheError::EmptyKey
            | CacheError::NoKeys
            | CacheError::InvalidExpireTime
            | CacheError::NotAnInteger
            | CacheError::IncrementOverflow
            | CacheError::Rejected { .. }
            | CacheError::Unsupported { .. }
            | CacheError::NeedsRedis { .. }
            | CacheError::Unversionable
            | CacheError::ReservedKey
            | CacheError::NotInRegion { .. } => ErrorKind::InvalidInput,
            CacheError::KeyTooLong { .. }
            | CacheError::ValueTooLarge { .. }
            | CacheError::TooManyKeys { .. }
            | CacheError::EntryTooLarge { .. }
            | CacheError::CollectionTooLarge { .. } => ErrorKind::TooLarge,
            CacheError::NoNode
            | CacheError::NodeFailed { .. }
            | CacheError::Overloaded { .. }
            | CacheError::NoQuorum { .. }
            | CacheError::OriginOverloaded { .. }
            | CacheError::NotLogged { .. }
            | CacheError::Interrupted { .. } => ErrorKind::Unavailable,
            CacheError::OriginFailed { .. } => ErrorKind::Upstream,
        }
    }

    /// Whether this failure is a node's fault (it counts toward ejecting the
    /// node, and another replica may serve the request).
    pub fn is_node_fault(&self) -> bool {
        matches!(
            self,
            CacheError::NodeFailed { .. } | CacheError::Overloaded { .. }
        )
    }

    /// What a client may be told: the error's own text for the request's
    /// faults, a fixed sentence for failures on Roost's side (no addresses,
    /// no Redis text). The full error, with its cause, goes to the log.
    pub fn public_message(&self) -> String {
        match self {
            CacheError::NoNode => "no healthy node can serve the key; try again".into(),
            CacheError::NodeFailed { .. } => "a cache node failed to answer; try again".into(),
            CacheError::Overloaded { .. } => {
                "a cache node has too many requests in flight; try again".into()
            }
            other => other.to_string(),
        }
    }

    /// The error and every cause under it, for a log line.
    pub fn chain(&self) -> String {
        let mut text = self.to_string();
        let mut next = self.source();
        while let Some(cause) = next {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            next = cause.source();
        }
        text
    }

    /// Whether the same request may succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind(), ErrorKind::Unavailable | ErrorKind::Upstream)
    }

    /// A stable machine-readable code for API error bodies.
    pub fn code(&self) -> &'static str {
        match self {
            CacheError::EmptyKey => "empty_key",
            CacheError::KeyTooLong { .. } => "key_too_long",
            CacheError::ValueTooLarge { .. } => "value_too_large",
            CacheError::TooManyKeys { .. } => "too_many_keys",
            CacheError::NoKeys => "no_keys",
            CacheError::InvalidExpireTime => "invalid_ttl",
            CacheError::EntryTooLarge { .. } => "entry_too_large",
            CacheError::CollectionTooLarge { .. } => "collection_too_large",
            CacheError::NoNode => "no_healthy_node",
            CacheError::NodeFailed { .. } => "node_failed",
            CacheError::Rejected { .. } => "rejected_by_node",
            CacheError::Overloaded { .. } => "overloaded",
            CacheError::NoQuorum { .. } => "no_quorum",
            CacheError::NotAnInteger => "not_an_integer",
            CacheError::IncrementOverflow => "increment_overflow",
            CacheError::OriginFailed { .. } => "origin_failed",
            CacheError::OriginOverloaded { .. } => "overloaded",
            CacheError::NotLogged { .. } => "not_logged",
            CacheError::Interrupted { .. } => "interrupted",
            CacheError::Unsupported { .. } | CacheError::NeedsRedis { .. } => "unsupported",
            CacheError::Unversionable => "unversionable_key",
            CacheError::ReservedKey => "reserved_key",
            CacheError::NotInRegion { .. } => "not_in_region",
        }
    }
}

/// Why a node failed a request. Only these count toward ejection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeFault {
    /// No connection could be made (refused, unreachable, handshake, credentials).
    Connect,
    /// No answer within the request timeout.
    Timeout(Duration),
    /// The connection broke while the request was on it.
    Io,
    /// The node answered that it cannot serve now (LOADING, BUSY, READONLY,
    /// MASTERDOWN, CLUSTERDOWN, TRYAGAIN, OOM, MISCONF, NOPERM …).
    Unavailable,
    /// The node answered something Roost cannot read.
    BadReply,
}

impl fmt::Display for NodeFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NodeFault::Connect => f.write_str("could not connect"),
            NodeFault::Timeout(after) => write!(f, "timed out after {}ms", after.as_millis()),
            NodeFault::Io => f.write_str("connection lost"),
            NodeFault::Unavailable => f.write_str("the node cannot serve requests now"),
            NodeFault::BadReply => f.write_str("unreadable reply"),
        }
    }
}

/// Why loading a miss from the origin failed. The text names the cause
/// without the origin's address or body, so clients may see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginFault {
    /// The origin answered with this status (5xx, or another it should not send).
    Status(u16),
    /// No answer, or not the whole body, within `ROOST_ORIGIN_TIMEOUT`.
    Timeout(Duration),
    /// No connection could be made (refused, unreachable, TLS).
    Connect,
    /// The connection broke while the answer was read.
    Io,
    /// The body is larger than `ROOST_MAX_VALUE_BYTES`.
    TooLarge { max: usize },
    /// The gateway is shutting down, or the fetch ended without an answer.
    Aborted,
}

impl fmt::Display for OriginFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginFault::Status(status) => write!(f, "answered {status}"),
            OriginFault::Timeout(after) => {
                write!(f, "did not answer within {}ms", after.as_millis())
            }
            OriginFault::Connect => f.write_str("refused or unreachable"),
            OriginFault::Io => f.write_str("connection lost while reading the answer"),
            OriginFault::TooLarge { max } => {
                write!(
                    f,
                    "value is larger than {max} bytes (ROOST_MAX_VALUE_BYTES)"
                )
            }
            OriginFault::Aborted => f.write_str("fetch ended without an answer"),
        }
    }
}

/// The error under a node failure (a redis-rs error, or a reason the link
/// wrote), shared so a [`CacheError`] stays cheap to clone.
#[derive(Clone)]
pub struct Cause(Arc<dyn StdError + Send + Sync>);

impl Cause {
    pub fn new(error: impl StdError + Send + Sync + 'static) -> Cause {
        Cause(Arc::new(error))
    }

    /// A cause that is only a sentence.
    pub fn text(reason: impl Into<String>) -> Cause {
        let boxed: Box<dyn StdError + Send + Sync> = reason.into().into();
        Cause(Arc::from(boxed))
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for Cause {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.0.source()
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
            roost_store::StoreError::WrongType => CacheError::wrong_type(),
        }
    }
}
