//! Metrics of geographic coherence (`crate::geo`, docs/regions.md): each
//! link's lag, what it applied, refused and resynchronised, how stale a
//! change is when it lands here, and this region's change log. Registered
//! only when `ROOST_REGION` is set.

use prometheus::{
    GaugeVec, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

use super::Metrics;

#[derive(Debug)]
pub struct GeoMetrics {
    /// How far behind each peer's log this region is, in seconds.
    pub lag_seconds: GaugeVec,
    /// How far behind each peer's log this region is, in changes.
    pub lag_changes: IntGaugeVec,
    /// Changes from each peer stored here.
    pub applied: IntCounterVec,
    /// Changes not stored because the key held a newer version.
    pub conflicts: IntCounter,
    /// Resynchronisations: a peer's log no longer covered this region's cursor.
    pub resyncs: IntCounter,
    /// Changes refused, by peer and reason.
    pub refused: IntCounterVec,
    /// From a change's version (its region's clock) to its apply here.
    pub staleness_seconds: Histogram,
    /// 1 while the link to a peer streams, 0 otherwise.
    pub link_up: IntGaugeVec,
    /// Bytes in this region's change log.
    pub log_bytes: IntGauge,
    /// Records appended to this region's change log.
    pub log_appends: IntCounter,
    /// Records handed to the log for requests dropped before their record
    /// was known to be in it (their client left or timed out).
    pub log_detached: IntCounter,
    /// From handing records to the log to their durability (group commit).
    pub log_commit_seconds: Histogram,
}

impl GeoMetrics {
    /// Builds the metrics and registers them into `metrics`.
    pub fn register(metrics: &Metrics) -> GeoMetrics {
        let invariant = "invariant: valid metric";
        let peer = &["peer"];
        let geo = GeoMetrics {
            lag_seconds: GaugeVec::new(
                Opts::new(
                    "roost_geo_lag_seconds",
                    "how far this region is behind a peer's change log, in seconds (0 when caught up)",
                ),
                peer,
            )
            .expect(invariant),
            lag_changes: IntGaugeVec::new(
                Opts::new(
                    "roost_geo_lag_changes",
                    "changes in a peer's log not yet applied here",
                ),
                peer,
            )
            .expect(invariant),
            applied: IntCounterVec::new(
                Opts::new(
                    "roost_geo_applied_total",
                    "changes from a peer region stored here (newer than what the key held)",
                ),
                peer,
            )
            .expect(invariant),
            conflicts: IntCounter::new(
                "roost_geo_conflicts_total",
                "changes from other regions not stored because the key held a newer version",
            )
            .expect(invariant),
            resyncs: IntCounter::new(
                "roost_geo_resyncs_total",
                "resynchronisations: a peer's log no longer held the changes after this region's cursor",
            )
            .expect(invariant),
            refused: IntCounterVec::new(
                Opts::new(
                    "roost_geo_refused_total",
                    "changes from a peer not applied, by reason: clock_skew and malformed (retried: counted per attempt), limits, forgotten (the key was forgotten here)",
                ),
                &["peer", "reason"],
            )
            .expect(invariant),
            staleness_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "roost_geo_staleness_seconds",
                    "from a change's version (stamped in its region) to its apply in this region",
                )
                .buckets(vec![
                    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
                    30.0, 60.0,
                ]),
            )
            .expect(invariant),
            link_up: IntGaugeVec::new(
                Opts::new(
                    "roost_geo_link_up",
                    "1 while the link to a peer region streams its log, 0 otherwise",
                ),
                peer,
            )
            .expect(invariant),
            log_bytes: IntGauge::new("roost_geo_log_bytes", "bytes in this region's change log")
                .expect(invariant),
            log_appends: IntCounter::new(
                "roost_geo_log_appends_total",
                "records appended to this region's change log",
            )
            .expect(invariant),
            log_detached: IntCounter::new(
                "roost_geo_log_detached_total",
                "records logged for client writes whose request was dropped (client gone or timed out) after the write applied and before its record was in the change log",
            )
            .expect(invariant),
            log_commit_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "roost_geo_log_commit_seconds",
                    "from a client write's records handed to the change log to their durability (group commit and fsync)",
                )
                .buckets(vec![
                    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                    1.0,
                ]),
            )
            .expect(invariant),
        };
        metrics.register(Box::new(geo.lag_seconds.clone()));
        metrics.register(Box::new(geo.lag_changes.clone()));
        metrics.register(Box::new(geo.applied.clone()));
        metrics.register(Box::new(geo.conflicts.clone()));
        metrics.register(Box::new(geo.resyncs.clone()));
        metrics.register(Box::new(geo.refused.clone()));
        metrics.register(Box::new(geo.staleness_seconds.clone()));
        metrics.register(Box::new(geo.link_up.clone()));
        metrics.register(Box::new(geo.log_bytes.clone()));
        metrics.register(Box::new(geo.log_appends.clone()));
        metrics.register(Box::new(geo.log_detached.clone()));
        metrics.register(Box::new(geo.log_commit_seconds.clone()));
        geo
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_geo_metric_is_exported_once_touched() {
        let metrics = Metrics::new();
        let geo = GeoMetrics::register(&metrics);
        geo.lag_seconds.with_label_values(&["eu"]).set(0.5);
        geo.lag_changes.with_label_values(&["eu"]).set(3);
        geo.applied.with_label_values(&["eu"]).inc();
        geo.refused.with_label_values(&["eu", "clock_skew"]).inc();
        geo.refused
            .with_label_values(&["eu", "forgotten"])
            .inc_by(2);
        geo.link_up.with_label_values(&["eu"]).set(1);
        let text = metrics.encode();
        for name in [
            "roost_geo_lag_seconds{peer=\"eu\"} 0.5",
            "roost_geo_lag_changes{peer=\"eu\"} 3",
            "roost_geo_applied_total{peer=\"eu\"} 1",
            "roost_geo_refused_total{peer=\"eu\",reason=\"clock_skew\"} 1",
            "roost_geo_refused_total{peer=\"eu\",reason=\"forgotten\"} 2",
            "roost_geo_link_up{peer=\"eu\"} 1",
            "roost_geo_conflicts_total 0",
            "roost_geo_resyncs_total 0",
            "roost_geo_log_bytes 0",
            "roost_geo_log_appends_total 0",
            "roost_geo_log_detached_total 0",
            "roost_geo_staleness_seconds_count 0",
            "roost_geo_log_commit_seconds_count 0",
        ] {
            assert!(text.contains(name), "{name} missing from:\n{text}");
        }
    }
}
