//! What Prometheus sees of hot-key tracking: counts and shares, updated once
//! per fold. Never a key as a label: keys are unbounded and may be secrets.

use prometheus::core::Collector;
use prometheus::{Gauge, GaugeVec, IntCounter, IntGauge, Opts};

use super::ring::Drained;
use super::HotSnapshot;
use crate::telemetry::Metrics;

/// The `top` label's values: the hottest 1, 10 and 100 keys together.
const TOPS: [usize; 3] = [1, 10, 100];

#[derive(Debug, Clone)]
pub struct HotMetrics {
    tracked: IntGauge,
    hot: IntGauge,
    top_share: GaugeVec,
    requests: Gauge,
    sample_one_in: IntGauge,
    sampled: IntCounter,
    lost: IntCounter,
}

impl HotMetrics {
    pub fn new() -> HotMetrics {
        HotMetrics {
            tracked: IntGauge::new(
                "roost_hot_keys_tracked",
                "keys the hot-key table tracks now",
            )
            .expect("invariant: valid metric"),
            hot: IntGauge::new(
                "roost_hot_keys_hot",
                "keys the hot-key tracker calls hot now (what the near cache may admit)",
            )
            .expect("invariant: valid metric"),
            top_share: GaugeVec::new(
                Opts::new(
                    "roost_hot_keys_top_share",
                    "estimated share of client traffic (0..1) the hottest N keys take together",
                ),
                &["top"],
            )
            .expect("invariant: valid metric"),
            requests: Gauge::new(
                "roost_hot_keys_requests_per_second",
                "client key requests per second as the hot-key tracker estimates them",
            )
            .expect("invariant: valid metric"),
            sample_one_in: IntGauge::new(
                "roost_hot_keys_sample_one_in",
                "the hot-key tracker samples one key request in this many",
            )
            .expect("invariant: valid metric"),
            sampled: IntCounter::new(
                "roost_hot_keys_sampled_total",
                "key requests sampled into the hot-key table",
            )
            .expect("invariant: valid metric"),
            lost: IntCounter::new(
                "roost_hot_keys_lost_total",
                "samples overwritten before the hot-key fold read them",
            )
            .expect("invariant: valid metric"),
        }
    }

    pub fn register(&self, metrics: &Metrics) {
        let collectors: [Box<dyn Collector>; 7] = [
            Box::new(self.tracked.clone()),
            Box::new(self.hot.clone()),
            Box::new(self.top_share.clone()),
            Box::new(self.requests.clone()),
            Box::new(self.sample_one_in.clone()),
            Box::new(self.sampled.clone()),
            Box::new(self.lost.clone()),
        ];
        for c in collectors {
            metrics.register(c);
        }
        for top in TOPS {
            self.top_share
                .with_label_values(&[&top.to_string()])
                .set(0.0);
        }
        self.sample_one_in.set(1);
    }

    /// Shows what one fold saw and published.
    pub fn show(&self, snapshot: &HotSnapshot, drained: Drained) {
        self.tracked.set(gauge(snapshot.tracked));
        self.hot.set(gauge(snapshot.hot_count()));
        for top in TOPS {
            self.top_share
                .with_label_values(&[&top.to_string()])
                .set(snapshot.top_share(top));
        }
        self.requests.set(snapshot.total_per_sec);
        self.sample_one_in
            .set(i64::try_from(snapshot.sample_one_in).unwrap_or(i64::MAX));
        self.sampled.inc_by(drained.read);
        self.lost.inc_by(drained.lost);
    }
}

fn gauge(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
