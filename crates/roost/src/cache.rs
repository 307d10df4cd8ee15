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
//! - `ahead.rs`: warming's fetches ahead of demand (refresh, prefetch,
//!   warm-up), as flights beside the misses';
//! - `strings.rs`: conditional and read-modify-write writes (SET NX/XX/GET/KEEPTTL,
//!   GETDEL, GETEX, INCRBY, APPEND, STRLEN, MSETNX);
//! - `keyspace.rs`: questions about keys rather than values (EXISTS, TTL, EXPIRE,
//!   PERSIST, multi-key DEL, DBSIZE, SCAN, KEYS);
//! - `validate.rs`: the limits and TTL rules every write goes through;
//! - `glob.rs`: Redis's glob patterns for SCAN MATCH and KEYS.

mod ahead;
mod basic;
mod fence;
mod forward;
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

pub use ahead::AheadOutcome;
pub use fence::LoadFence;
pub use forward::{Collection, CollectionRead, MAX_COLLECTION_ELEMENTS};
pub use glob::glob_match;
pub use keyspace::{KeyInfo, ScanPage};
pub use mget::{MgetCursor, MgetSlice, SLICE_TARGET_BYTES};
pub use strings::{SetCondition, SetOptions, SetResult};
pub use taps::{ChangeSink, ReadTap, Taps, WriteTap};
pub use write::{Applied, Change, Origin, Replicated, Write};

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

/// What a lookup found, as the read hook sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    Miss,
    /// A value, with its deadline (unix ms) when the read path knows it:
    /// `None` for an entry that never expires or a read that did not ask.
    Hit(Option<UnixMillis>),
}

impl Found {
    fn of(stored: Option<&crate::backend::Stored>) -> Found {
        match stored {
            Some(stored) => Found::Hit(stored.expires_at),
            None => Found::Miss,
        }
    }
}

/// A value found in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheHit {
    pub value: Bytes,
    /// Time left before expiry; `None` when the entry never expires.
    pub ttl: Option<Duration>,
    pub node: NodeId,
    /// The version of the write that stored it, in a region (a versioned
    /// store, [`Cache::versioned`]); `None` elsewhere, and for a value just
    /// loaded from the origin.
    pub version: Option<roost_store::Version>,
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
    /// Whether a read tap wants hits' deadlines (read once from the taps).
    watches_deadlines: bool,
    started: Instant,
    /// Read-through on a miss; `None` without `ROOST_ORIGIN_URL`.
    origin: Option<Arc<ReadThrough>>,
    /// Records client writes while a snapshot loads (`fence.rs`).
    fence: Option<Arc<LoadFence>>,
    /// A region's change log: client writes are recorded before their
    /// acknowledgement (`taps.rs`, `crate::geo`); `None` without `ROOST_REGION`.
    sink: Option<Arc<dyn ChangeSink>>,
    /// Whether the backend stamps versions (read once from it).
    versioned: bool,
}

impl Cache {
    pub fn new(
        backend: Backend,
        limits: Limits,
        default_ttl: Option<Duration>,
        metrics: Arc<Metrics>,
    ) -> Cache {
        Cache {
            versioned: backend.is_versioned(),
            backend: Arc::new(backend),
            limits,
            default_ttl,
            metrics,
            taps: Taps::default(),
            watches_deadlines: false,
            started: Instant::now(),
            origin: None,
            fence: None,
            sink: None,
        }
    }

    /// This cache with `taps` observing every read and write.
    pub fn with_taps(mut self, taps: Taps) -> Cache {
        self.watches_deadlines = taps.watches_deadlines();
        self.taps = taps;
        self
    }

    /// This cache with `sink` recording every client write before it is
    /// acknowledged (a region's change log).
    pub fn with_change_sink(mut self, sink: Arc<dyn ChangeSink>) -> Cache {
        self.sink = Some(sink);
        self
    }

    /// This cache with `fence` recording client writes for a snapshot load.
    pub fn with_load_fence(mut self, fence: Arc<LoadFence>) -> Cache {
        self.fence = Some(fence);
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

    /// The one read hook: every lookup of a value ends here with what it
    /// found. Counts client lookups for the hit ratio and tells the read taps
    /// (a client hit's deadline too, when a tap wants it: refresh-ahead).
    fn looked_up(&self, key: &[u8], found: Found, origin: Origin) {
        let hit = matches!(found, Found::Hit(_));
        if origin == Origin::Client {
            let hit = u64::from(hit);
            self.metrics.record_lookups(hit, 1 - hit);
        }
        self.taps.read(key, hit, origin);
        if let (Found::Hit(Some(expires_at)), Origin::Client) = (found, origin) {
            if self.watches_deadlines {
                let now = self.backend.now_millis();
                self.taps.hit_deadline(key, expires_at, now);
            }
        }
    }

    /// The id of the node that owns `key`, for answers that name it.
    fn owner(&self, key: &[u8]) -> NodeId {
        self.backend
            .owner(key)
            .unwrap_or_else(|| NodeId::from("unknown"))
    }

    /// A stored entry as the hit a lookup answers.
    fn hit_of(&self, key: &[u8], stored: crate::backend::Stored) -> CacheHit {
        CacheHit {
            ttl: self.ttl_of(stored.expires_at),
            node: self.owner(key),
            // None for a read that does not carry it (a fleet's batch read).
            version: Some(stored.version()).filter(|v| self.versioned && !v.is_none()),
            value: stored.value,
        }
    }

    /// Whether entries carry versions (the store stamps every write: a
    /// region), so reads can show them.
    pub fn versioned(&self) -> bool {
        self.versioned
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

/// A two-shard, 1 MiB embedded cache with small limits on `clock`, no
/// default TTL and no taps: the Cache's own unit tests build on it.
#[cfg(test)]
pub(crate) fn test_cache(clock: Arc<roost_store::ManualClock>) -> Cache {
    test_cache_versioned(clock, None)
}

/// [`test_cache`] whose store stamps versions with `versioning`.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_cache_versioned(
    clock: Arc<roost_store::ManualClock>,
    versioning: Option<roost_store::Versioning>,
) -> Cache {
    let config = roost_store::StoreConfig {
        shards: std::num::NonZeroUsize::new(2).unwrap(),
        max_memory_bytes: 1 << 20,
        policy: roost_store::PolicyKind::default(),
    };
    let limits = Limits {
        max_key_bytes: 64,
        max_value_bytes: 1024,
        max_batch_keys: 10,
        max_body_bytes: 4096,
        rest_max_ttl: crate::config::MAX_TTL,
    };
    let metrics = Arc::new(Metrics::new());
    let embedded = crate::backend::Embedded::new(config, clock, metrics.clone(), versioning);
    Cache::new(Backend::Embedded(embedded), limits, None, metrics)
}
