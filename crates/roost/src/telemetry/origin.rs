//! Metrics of origin read-through: fetches by outcome, requests by why they
//! were made (a client's miss, or warming's refresh, prefetch and warm-up),
//! their latency (a histogram, and the moving average refresh-ahead plans
//! with), fetches in flight, misses that joined a fetch already in flight
//! (single-flight), and waits on another gateway's lease. Recorded on misses
//! and background fetches only, never on the hit path; no key is ever a
//! label, and every label value is from the fixed set here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use prometheus::core::Collector;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};

/// Why Roost asked the origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OriginReason {
    /// A client's miss.
    Miss,
    /// Refresh-ahead of a hot key before its deadline.
    Refresh,
    /// A predicted next read.
    Prefetch,
    /// A hot key the backend lost, fetched again by the warming cycle.
    Warmup,
}

impl OriginReason {
    pub const ALL: [OriginReason; 4] = [
        OriginReason::Miss,
        OriginReason::Refresh,
        OriginReason::Prefetch,
        OriginReason::Warmup,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OriginReason::Miss => "miss",
            OriginReason::Refresh => "refresh",
            OriginReason::Prefetch => "prefetch",
            OriginReason::Warmup => "warmup",
        }
    }
}

/// The weight of the newest request in the latency moving average (1/8, as
/// TCP's smoothed RTT): a few requests move it, one outlier does not.
const EWMA_SHIFT: u32 = 3;

/// How an origin fetch ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchOutcome {
    /// A value (stored unless `no-store`).
    Value,
    /// 404: a miss, remembered for `ROOST_ORIGIN_NEGATIVE_TTL`.
    NotFound,
    /// A failure answered with a stale copy.
    Stale,
    /// A failure answered with `origin_failed`.
    Failed,
    /// Refused at `ROOST_ORIGIN_MAX_CONCURRENCY`, never sent.
    Overloaded,
}

impl FetchOutcome {
    pub const ALL: [FetchOutcome; 5] = [
        FetchOutcome::Value,
        FetchOutcome::NotFound,
        FetchOutcome::Stale,
        FetchOutcome::Failed,
        FetchOutcome::Overloaded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            FetchOutcome::Value => "value",
            FetchOutcome::NotFound => "not_found",
            FetchOutcome::Stale => "stale",
            FetchOutcome::Failed => "failed",
            FetchOutcome::Overloaded => "overloaded",
        }
    }
}

#[derive(Debug)]
pub struct OriginMetrics {
    fetches: IntCounterVec,
    by_outcome: Vec<IntCounter>,
    pub in_flight: IntGauge,
    pub joins: IntCounter,
    pub lease_waits: IntCounter,
    pub negative_hits: IntCounter,
    requests: IntCounterVec,
    by_reason: Vec<IntCounter>,
    latency: Histogram,
    /// Moving average of request latency, in microseconds (0: none yet).
    latency_ewma_us: AtomicU64,
}

impl OriginMetrics {
    pub fn new() -> OriginMetrics {
        let fetches = IntCounterVec::new(
            Opts::new(
                "roost_origin_fetches_total",
                "origin fetches by outcome (value, not_found, stale, failed, overloaded)",
            ),
            &["outcome"],
        )
        .expect("invariant: valid metric");
        let by_outcome = FetchOutcome::ALL
            .iter()
            .map(|o| fetches.with_label_values(&[o.as_str()]))
            .collect();
        let counter =
            |name: &str, help: &str| IntCounter::new(name, help).expect("invariant: valid metric");
        let requests = IntCounterVec::new(
            Opts::new(
                "roost_origin_requests_total",
                "requests sent to the origin, by why: a client's miss, or warming's refresh, prefetch, warmup",
            ),
            &["reason"],
        )
        .expect("invariant: valid metric");
        let by_reason = OriginReason::ALL
            .iter()
            .map(|r| requests.with_label_values(&[r.as_str()]))
            .collect();
        let latency = Histogram::with_opts(
            HistogramOpts::new(
                "roost_origin_request_duration_seconds",
                "time from asking the origin to its whole answer (or failure), every reason",
            )
            .buckets(vec![
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ]),
        )
        .expect("invariant: valid metric");
        OriginMetrics {
            requests,
            by_reason,
            latency,
            latency_ewma_us: AtomicU64::new(0),
            fetches,
            by_outcome,
            in_flight: IntGauge::new(
                "roost_origin_fetches_in_flight",
                "origin fetches this gateway has in flight",
            )
            .expect("invariant: valid metric"),
            joins: counter(
                "roost_origin_singleflight_joins_total",
                "misses that waited for a fetch of the same key already in flight in this gateway",
            ),
            lease_waits: counter(
                "roost_origin_lease_waits_total",
                "flights that found the key's lease held by another gateway and waited (once per flight, whatever the wait ended in)",
            ),
            negative_hits: counter(
                "roost_origin_negative_hits_total",
                "misses answered from the remembered origin 404s without asking the origin",
            ),
        }
    }

    pub fn fetched(&self, outcome: FetchOutcome) {
        self.by_outcome[outcome as usize].inc();
    }

    /// One request to the origin, made for `reason`, answered after `took`.
    pub fn requested(&self, reason: OriginReason, took: Duration) {
        self.by_reason[reason as usize].inc();
        self.latency.observe(took.as_secs_f64());
        let sample = (took.as_micros() as u64).max(1);
        // A lost update between two concurrent requests only drops a sample.
        let old = self.latency_ewma_us.load(Ordering::Relaxed);
        let new = if old == 0 {
            sample
        } else {
            old - (old >> EWMA_SHIFT) + (sample >> EWMA_SHIFT)
        };
        self.latency_ewma_us.store(new, Ordering::Relaxed);
    }

    /// Requests so far made for `reason`.
    pub fn requests(&self, reason: OriginReason) -> u64 {
        self.by_reason[reason as usize].get()
    }

    /// The moving average of origin latency; `None` before any request.
    pub fn latency_average(&self) -> Option<Duration> {
        match self.latency_ewma_us.load(Ordering::Relaxed) {
            0 => None,
            us => Some(Duration::from_micros(us)),
        }
    }

    /// Fetches so far that ended with `outcome`.
    pub fn fetches(&self, outcome: FetchOutcome) -> u64 {
        self.by_outcome[outcome as usize].get()
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.fetches.clone()),
            Box::new(self.in_flight.clone()),
            Box::new(self.joins.clone()),
            Box::new(self.lease_waits.clone()),
            Box::new(self.negative_hits.clone()),
            Box::new(self.requests.clone()),
            Box::new(self.latency.clone()),
        ]
    }
}

impl Default for OriginMetrics {
    fn default() -> Self {
        OriginMetrics::new()
    }
}
