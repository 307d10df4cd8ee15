//! Snapshot metrics (`roost_snapshot_*`): the last write's duration, size and
//! entries, when one last succeeded, failures by stage, and what the start-up
//! load restored or skipped. Registered once into the server's [`Metrics`].

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};
use roost_store::AbsentInserts;

use crate::telemetry::Metrics;

#[derive(Debug)]
pub struct SnapshotMetrics {
    write_seconds: Histogram,
    bytes: IntGauge,
    entries: IntGauge,
    last_success: Gauge,
    write_failures: IntCounter,
    load_failures: IntCounter,
    load_entries: IntCounterVec,
    load_seconds: Gauge,
}

impl SnapshotMetrics {
    /// Builds the metrics and registers them into `metrics`.
    pub fn register(metrics: &Metrics) -> SnapshotMetrics {
        let invariant = "invariant: valid metric";
        let write_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "roost_snapshot_write_duration_seconds",
                "time to write one snapshot of the embedded store (collect, write, fsync, rename)",
            )
            .buckets(vec![0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
        )
        .expect(invariant);
        let failures = IntCounterVec::new(
            Opts::new(
                "roost_snapshot_failures_total",
                "snapshot writes that failed (stage=write) and loads that failed or stopped at damage (stage=load)",
            ),
            &["stage"],
        )
        .expect(invariant);
        let load_entries = IntCounterVec::new(
            Opts::new(
                "roost_snapshot_load_entries_total",
                "entries read from the snapshot at start-up, by outcome (restored, present: a client wrote the key first, expired, refused: over the limits)",
            ),
            &["outcome"],
        )
        .expect(invariant);
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect(invariant);
        let float = |name: &str, help: &str| Gauge::new(name, help).expect(invariant);
        let built = SnapshotMetrics {
            write_seconds,
            bytes: gauge("roost_snapshot_bytes", "size of the last snapshot written"),
            entries: gauge(
                "roost_snapshot_entries",
                "entries in the last snapshot written",
            ),
            last_success: float(
                "roost_snapshot_last_success_timestamp_seconds",
                "unix time of the last snapshot written successfully (0: none yet)",
            ),
            write_failures: failures.with_label_values(&["write"]),
            load_failures: failures.with_label_values(&["load"]),
            load_entries: load_entries.clone(),
            load_seconds: float(
                "roost_snapshot_load_duration_seconds",
                "time the start-up load of the snapshot took",
            ),
        };
        for outcome in ["restored", "present", "expired", "refused"] {
            load_entries.with_label_values(&[outcome]);
        }
        metrics.register(Box::new(built.write_seconds.clone()));
        metrics.register(Box::new(built.bytes.clone()));
        metrics.register(Box::new(built.entries.clone()));
        metrics.register(Box::new(built.last_success.clone()));
        metrics.register(Box::new(failures));
        metrics.register(Box::new(load_entries));
        metrics.register(Box::new(built.load_seconds.clone()));
        built
    }

    pub fn written(&self, seconds: f64, entries: u64, bytes: u64, at_ms: u64) {
        self.write_seconds.observe(seconds);
        self.entries.set(i64::try_from(entries).unwrap_or(i64::MAX));
        self.bytes.set(i64::try_from(bytes).unwrap_or(i64::MAX));
        self.last_success.set(at_ms as f64 / 1000.0);
    }

    pub fn write_failed(&self) {
        self.write_failures.inc();
    }

    pub fn load_failed(&self) {
        self.load_failures.inc();
    }

    pub fn restored(&self, batch: AbsentInserts) {
        for (outcome, count) in [
            ("restored", batch.inserted),
            ("present", batch.present),
            ("expired", batch.expired),
            ("refused", batch.too_large),
        ] {
            self.load_entries
                .with_label_values(&[outcome])
                .inc_by(count);
        }
    }

    pub fn loaded(&self, seconds: f64) {
        self.load_seconds.set(seconds);
    }
}
