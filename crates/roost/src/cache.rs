//! The cache service: the one place that gives meaning to every cache operation.
//! Every front door (REST, RESP) calls it, so they can never disagree. It validates
//! limits, resolves TTLs into deadlines, asks the router for the node, calls the
//! backend and records metrics — it never knows which backend is behind the router.
//!
//! One file per concern:
//! - `basic.rs`: get / set / delete / mset / flush (what REST offers);
//! - `mget.rs`: multi-get in slices, so no front door holds a whole large answer;
//! - `strings.rs`: conditional and read-modify-write writes (SET NX/XX/GET/KEEPTTL,
//!   GETDEL, GETEX, INCRBY, APPEND, STRLEN, MSETNX);
//! - `keyspace.rs`: questions about keys rather than values (EXISTS, TTL, EXPIRE,
//!   PERSIST, multi-key DEL, DBSIZE, SCAN, KEYS);
//! - `validate.rs`: the limits and TTL rules every write goes through;
//! - `glob.rs`: Redis's glob patterns for SCAN MATCH and KEYS.

mod basic;
mod glob;
mod keyspace;
mod mget;
mod strings;
mod validate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use roost_ring::NodeId;
use roost_store::UnixMillis;

use crate::backend::Backend;
use crate::config::Limits;
use crate::error::CacheError;
use crate::router::Router;
use crate::telemetry::{Metrics, Op, Sample};

pub use glob::glob_match;
pub use keyspace::{KeyInfo, ScanPage};
pub use mget::{MgetCursor, MgetSlice, SLICE_TARGET_BYTES};
pub use strings::{SetCondition, SetOptions, SetResult};

/// How long a written entry should live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The configured default (`CACHE_TTL`), which may be "never".
    Default,
    /// No expiry, whatever the default.
    Never,
    /// This long from now; validated against [`crate::config::MAX_TTL`].
    After(Duration),
    /// At this absolute time (unix milliseconds). A time already past makes the
    /// entry expired as soon as it is written; more than `MAX_TTL` ahead is refused.
    At(UnixMillis),
}

/// A value found in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheHit {
    pub value: Bytes,
    /// Time left before expiry; `None` when the entry never expires.
    pub ttl: Option<Duration>,
    pub node: NodeId,
}

/// One entry of a multi-set.
#[derive(Debug, Clone)]
pub struct Write {
    pub key: Bytes,
    pub value: Bytes,
    pub expiry: Expiry,
}

#[derive(Debug)]
pub struct Cache {
    router: Arc<Router>,
    backend: Backend,
    limits: Limits,
    default_ttl: Option<Duration>,
    metrics: Arc<Metrics>,
    started: Instant,
}

impl Cache {
    pub fn new(
        router: Arc<Router>,
        backend: Backend,
        limits: Limits,
        default_ttl: Option<Duration>,
        metrics: Arc<Metrics>,
    ) -> Cache {
        let ring = router.ring();
        let ids: Vec<&str> = ring.nodes().iter().map(|n| n.id.as_str()).collect();
        metrics.track_nodes(&ids);
        Cache {
            router,
            backend,
            limits,
            default_ttl,
            metrics,
            started: Instant::now(),
        }
    }

    /// Runs `operation` and records its outcome and latency under `op`.
    async fn timed<T>(
        &self,
        op: Op,
        operation: impl std::future::Future<Output = Result<T, CacheError>>,
    ) -> Result<T, CacheError> {
        let start = Instant::now();
        let result = operation.await;
        self.metrics.record(op, result.is_ok(), start.elapsed());
        result
    }

    fn route(&self, key: &[u8]) -> Result<usize, CacheError> {
        let node = self.router.locate(key)?;
        self.metrics.count_node_op(node);
        Ok(node)
    }

    fn node_id(&self, node: usize) -> NodeId {
        self.router
            .node_id(node)
            .unwrap_or_else(|| NodeId::from("unknown"))
    }

    /// Time left until `expires_at`, from the backend's clock.
    fn ttl_of(&self, expires_at: Option<UnixMillis>) -> Option<Duration> {
        let now = self.backend.now_millis();
        expires_at.map(|at| Duration::from_millis(at.saturating_sub(now)))
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The metrics, for a task or layer that outlives a borrow of the Cache.
    pub fn shared_metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn default_ttl(&self) -> Option<Duration> {
        self.default_ttl
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Operations routed to each node so far, in ring node order.
    pub fn node_ops(&self) -> Vec<u64> {
        self.metrics.node_op_counts()
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counter totals now, for the once-a-second history.
    pub fn sample(&self) -> Sample {
        let requests = Op::ALL
            .iter()
            .map(|&op| {
                let (ok, err) = self.metrics.requests(op);
                ok + err
            })
            .sum();
        Sample {
            at_ms: self.backend.now_millis(),
            requests,
            hits: self.metrics.hits(),
            misses: self.metrics.misses(),
        }
    }
}
