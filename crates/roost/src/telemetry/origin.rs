//! Metrics of origin read-through: fetches by outcome, fetches in flight,
//! misses that joined a fetch already in flight (single-flight), and waits on
//! another gateway's lease. Recorded on misses only, never on the hit path;
//! no key is ever a label, and every label value is from the fixed set here.

use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};

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
        OriginMetrics {
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
        ]
    }
}

impl Default for OriginMetrics {
    fn default() -> Self {
        OriginMetrics::new()
    }
}
