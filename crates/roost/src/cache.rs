//! The cache service: the one place that gives meaning to every cache operation.
//! Every front door (REST, RESP) calls it, so they can never disagree. It validates
//! limits, resolves TTLs into deadlines, calls the backend (which owns placement:
//! the Cache never picks a node) and records metrics.
//!
//! Every mutation goes through one entry point, [`Cache::apply`], as a typed
//! [`Write`] that says what changes and who caused it ([`Origin`]); every lookup
//! passes one read hook. Both feed the [`Taps`] (hot-key tracking, a replication
//! log) and count client traffic only: writes and reads by warming, a remote
//! region or repair are seen by the taps but not counted as requests.
//!
//! One file per concern:
//! - `write.rs`: the typed write and [`Cache::apply`], the one write path;
//! - `taps.rs`: what observes every read and write;
//! - `basic.rs`: get / set / delete / mset / flush (what REST offers);
//! - `mget.rs`: multi-get in slices, so no front door holds a whole large answer;
//! - `read_through.rs`: a client's miss loaded from the origin (single-flight,
//!   leases, the fill through [`Cache::apply`]) when `ROOST_ORIGIN_URL` is set;
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
mod read_through;
mod strings;
mod taps;
mod validate;
mod write;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use roost_ring::NodeId;
use roost_store::UnixMillis;

use crate::backend::Backend;
use crate::config::Limits;
use crate::error::CacheError;
use crate::origin::ReadThrough;
use crate::telemetry::{Metrics, Op, Sample};

pub use glob::glob_match;
pub use keyspace::{KeyInfo, ScanPage};
pub use mget::{MgetCursor, MgetSlice, SLICE_TARGET_BYTES};
pub use strings::{SetCondition, SetOptions, SetResult};
pub use taps::{ReadTap, Taps, WriteTap};
pub use write::{Applied, Change, Origin, Write};

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

/// One key to write with its value and expiry: an entry of MSET or MSETNX,
/// or one of a pipeline's plain SETs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub key: Bytes,
    pub value: Bytes,
    pub expiry: Expiry,
}

/// Cheap to clone (shared handles only): an origin fetch task takes a clone,
/// so a fill outlives the request that started it.
#[derive(Debug, Clone)]
pub struct Cache {
    backend: Arc<Backend>,
    limits: Limits,
    default_ttl: Option<Duration>,
    metrics: Arc<Metrics>,
    taps: Taps,
    started: Instant,
    /// Read-through on a miss; `None` without `ROOST_ORIGIN_URL`.
    origin: Option<Arc<ReadThrough>>,
}

impl Cache {
    pub fn new(
        backend: Backend,
        limits: Limits,
        default_ttl: Option<Duration>,
        metrics: Arc<Metrics>,
    ) -> Cache {
        Cache {
            backend: Arc::new(backend),
            limits,
            default_ttl,
            metrics,
            taps: Taps::default(),
            started: Instant::now(),
            origin: None,
        }
    }

    /// This cache with `taps` observing every read and write.
    pub fn with_taps(mut self, taps: Taps) -> Cache {
        self.taps = taps;
        self
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

    /// The one read hook: every lookup of a value ends here with whether it
    /// hit. Counts client lookups for the hit ratio and tells the read taps.
    fn looked_up(&self, key: &[u8], hit: bool, origin: Origin) {
        if origin == Origin::Client {
            let hit = u64::from(hit);
            self.metrics.record_lookups(hit, 1 - hit);
        }
        self.taps.read(key, hit, origin);
    }

    /// The id of the node that owns `key`, for answers that name it.
    fn owner(&self, key: &[u8]) -> NodeId {
        self.backend
            .owner(key)
            .unwrap_or_else(|| NodeId::from("unknown"))
    }

    /// Time left until `expires_at`, from the backend's clock.
    fn ttl_of(&self, expires_at: Option<UnixMillis>) -> Option<Duration> {
        let now = self.backend.now_millis();
        expires_at.map(|at| Duration::from_millis(at.saturating_sub(now)))
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
