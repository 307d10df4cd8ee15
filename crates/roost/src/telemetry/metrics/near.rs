//! The near cache's metrics (a Redis fleet's or Redis Cluster's gateway
//! memory for hot keys, `backend/fleet/near.rs`): hits and misses are
//! striped (they are counted on every read), the rest are plain Prometheus
//! handles bumped off the request path (fills, invalidations, tracking
//! connections coming and going). Never a key as a label.

use prometheus::core::Collector;
use prometheus::proto::MetricType;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};

use super::striped::{StripedCounter, StripedFamily};

/// Why near entries were dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NearInvalidation {
    /// Redis pushed an invalidation: another client (another gateway, a
    /// direct write, an expiry, a FLUSHALL) changed a key this gateway holds.
    RemoteWrite,
    /// A write or delete through this gateway.
    OwnWrite,
    /// The tracking connection to the key's node went down, or the node was
    /// ejected: everything held from it is dropped.
    TrackingLost,
    /// Nodes were added, drained or removed, or a cluster's slots moved.
    Topology,
}

impl NearInvalidation {
    pub const ALL: [NearInvalidation; 4] = [
        NearInvalidation::RemoteWrite,
        NearInvalidation::OwnWrite,
        NearInvalidation::TrackingLost,
        NearInvalidation::Topology,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            NearInvalidation::RemoteWrite => "remote_write",
            NearInvalidation::OwnWrite => "own_write",
            NearInvalidation::TrackingLost => "tracking_lost",
            NearInvalidation::Topology => "topology",
        }
    }
}

/// Handles on every near-cache metric; clones share them.
#[derive(Debug, Clone)]
pub struct NearMetrics {
    hits: StripedCounter,
    misses: StripedCounter,
    hit_family: StripedFamily,
    miss_family: StripedFamily,
    fills: IntCounter,
    fills_dropped: IntCounter,
    invalidations: IntCounterVec,
    bytes: IntGauge,
    entries: IntGauge,
    capacity: IntGauge,
    tracking_up: IntGauge,
}

impl NearMetrics {
    pub fn new() -> NearMetrics {
        let hit_family = StripedFamily::new(
            "roost_near_cache_hits_total",
            "reads answered from the gateway's near cache, without a Redis round trip",
            MetricType::COUNTER,
            &[],
        );
        let miss_family = StripedFamily::new(
            "roost_near_cache_misses_total",
            "reads the near cache could not answer (with the near cache on)",
            MetricType::COUNTER,
            &[],
        );
        let invalidations = IntCounterVec::new(
            Opts::new(
                "roost_near_cache_invalidations_total",
                "near-cache entries dropped, by cause",
            ),
            &["cause"],
        )
        .expect("invariant: valid metric");
        for cause in NearInvalidation::ALL {
            invalidations.with_label_values(&[cause.as_str()]);
        }
        NearMetrics {
            hits: hit_family.counter(&[]),
            misses: miss_family.counter(&[]),
            hit_family,
            miss_family,
            fills: counter(
                "roost_near_cache_fills_total",
                "hot keys read through a tracked connection and stored in the near cache",
            ),
            fills_dropped: counter(
                "roost_near_cache_fills_dropped_total",
                "fills thrown away because an invalidation or a tracking loss raced them",
            ),
            invalidations,
            bytes: gauge(
                "roost_near_cache_memory_used_bytes",
                "bytes accounted to near-cache entries (key, value, per-entry overhead)",
            ),
            entries: gauge("roost_near_cache_entries", "entries in the near cache"),
            capacity: gauge(
                "roost_near_cache_memory_max_bytes",
                "the near cache's byte budget (ROOST_NEAR_CACHE_BYTES; 0 = off)",
            ),
            tracking_up: gauge(
                "roost_near_cache_tracking_connections",
                "tracked RESP3 connections up (one per fleet node or cluster master)",
            ),
        }
    }

    /// Every family, for registration.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.hit_family.clone()),
            Box::new(self.miss_family.clone()),
            Box::new(self.fills.clone()),
            Box::new(self.fills_dropped.clone()),
            Box::new(self.invalidations.clone()),
            Box::new(self.bytes.clone()),
            Box::new(self.entries.clone()),
            Box::new(self.capacity.clone()),
            Box::new(self.tracking_up.clone()),
        ]
    }

    pub fn hit(&self) {
        self.hits.inc();
    }

    pub fn miss(&self) {
        self.misses.inc();
    }

    pub fn hits(&self) -> u64 {
        self.hits.get()
    }

    pub fn filled(&self) {
        self.fills.inc();
    }

    pub fn fill_dropped(&self) {
        self.fills_dropped.inc();
    }

    pub fn invalidated(&self, cause: NearInvalidation, entries: u64) {
        if entries > 0 {
            self.invalidations
                .with_label_values(&[cause.as_str()])
                .inc_by(entries);
        }
    }

    /// The store's size after a change.
    pub fn held(&self, bytes: u64, entries: usize) {
        self.bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.entries.set(i64::try_from(entries).unwrap_or(i64::MAX));
    }

    pub fn set_capacity(&self, bytes: u64) {
        self.capacity.set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    pub fn tracking_up(&self) {
        self.tracking_up.inc();
    }

    pub fn tracking_down(&self) {
        self.tracking_up.dec();
    }
}

impl Default for NearMetrics {
    fn default() -> Self {
        NearMetrics::new()
    }
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("invariant: valid metric")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("invariant: valid metric")
}
