//! Measurements of a load run: per-operation counts, errors and HDR latency histograms,
//! merged across connections, printed as a table and serialised as JSON.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use super::target::{Outcome, TargetError};
use super::workload::OperationKind;

/// Latencies are recorded in microseconds, from 1 µs up to a minute, 3 significant digits.
const MAX_LATENCY_MICROS: u64 = 60_000_000;

/// Distinct error messages kept per operation, so a report shows what went wrong.
const KEPT_ERRORS: usize = 3;

/// One connection's (or a merged run's) measurements for one operation kind.
#[derive(Debug, Clone)]
pub struct OperationStats {
    pub count: u64,
    pub errors: u64,
    pub hits: u64,
    pub misses: u64,
    pub latency_micros: Histogram<u64>,
    pub sample_errors: Vec<String>,
}

impl OperationStats {
    fn new() -> Self {
        Self {
            count: 0,
            errors: 0,
            hits: 0,
            misses: 0,
            latency_micros: Histogram::new_with_bounds(1, MAX_LATENCY_MICROS, 3)
                .expect("invariant: constant histogram bounds are valid"),
            sample_errors: Vec::new(),
        }
    }
}

/// Measurements for every operation kind, indexed by `OperationKind::index`.
#[derive(Debug, Clone)]
pub struct Recorder {
    stats: [OperationStats; 4],
}

impl Default for Recorder {
    fn default() -> Self {
        Self {
            stats: std::array::from_fn(|_| OperationStats::new()),
        }
    }
}

impl Recorder {
    /// Records one finished operation; errors count and keep their latency too.
    pub fn record(
        &mut self,
        kind: OperationKind,
        latency: Duration,
        result: &Result<Outcome, TargetError>,
    ) {
        let stats = &mut self.stats[kind.index()];
        stats.count += 1;
        let micros = (latency.as_micros() as u64).clamp(1, MAX_LATENCY_MICROS);
        stats
            .latency_micros
            .record(micros)
            .expect("invariant: latency clamped into histogram bounds");
        match result {
            Ok(Outcome::Get { hit }) => {
                stats.hits += u64::from(*hit);
                stats.misses += u64::from(!*hit);
            }
            Ok(Outcome::MGet { hits, misses }) => {
                stats.hits += *hits as u64;
                stats.misses += *misses as u64;
            }
            Ok(Outcome::Set | Outcome::Delete { .. }) => {}
            Err(error) => {
                stats.errors += 1;
                let message = error.to_string();
                if stats.sample_errors.len() < KEPT_ERRORS
                    && !stats.sample_errors.contains(&message)
                {
                    stats.sample_errors.push(message);
                }
            }
        }
    }

    /// Folds another connection's measurements into this one.
    pub fn merge(&mut self, other: &Recorder) {
        for (mine, theirs) in self.stats.iter_mut().zip(&other.stats) {
            mine.count += theirs.count;
            mine.errors += theirs.errors;
            mine.hits += theirs.hits;
            mine.misses += theirs.misses;
            mine.latency_micros
                .add(&theirs.latency_micros)
                .expect("invariant: histograms share bounds");
            for message in &theirs.sample_errors {
                if mine.sample_errors.len() < KEPT_ERRORS && !mine.sample_errors.contains(message) {
                    mine.sample_errors.push(message.clone());
                }
            }
        }
    }

    pub fn stats(&self, kind: OperationKind) -> &OperationStats {
        &self.stats[kind.index()]
    }

    /// Operations finished so far, of every kind.
    pub fn total_count(&self) -> u64 {
        self.stats.iter().map(|stats| stats.count).sum()
    }

    /// Summarises the run into a serialisable report.
    pub fn into_report(self, header: RunHeader, elapsed: Duration) -> LoadReport {
        let seconds = elapsed.as_secs_f64().max(f64::MIN_POSITIVE);
        let operations: Vec<OperationRow> = OperationKind::ALL
            .iter()
            .map(|kind| OperationRow::from_stats(*kind, self.stats(*kind), seconds))
            .filter(|row| row.count > 0)
            .collect();
        let get = self.stats(OperationKind::Get);
        let lookups = get.hits + get.misses;
        LoadReport {
            header,
            elapsed_seconds: elapsed.as_secs_f64(),
            total_ops: self.total_count(),
            total_errors: self.stats.iter().map(|stats| stats.errors).sum(),
            total_ops_per_second: self.total_count() as f64 / seconds,
            get_hit_ratio: (lookups > 0).then(|| get.hits as f64 / lookups as f64),
            operations,
        }
    }
}

/// What was run against what, echoed into the report.
#[derive(Debug, Clone, Serialize)]
pub struct RunHeader {
    pub target: String,
    /// "resp" or "http".
    pub protocol: String,
    pub connections: usize,
    /// Commands per write (RESP); always 1 for HTTP.
    pub pipeline: usize,
    pub threads: usize,
    /// "closed", or "open <rate>/s" with latency from the intended send time.
    pub mode: String,
    pub keyspace: u64,
    pub distribution: String,
    pub value_size: usize,
    pub mix: String,
}

/// One operation kind's line in the report.
#[derive(Debug, Clone, Serialize)]
pub struct OperationRow {
    pub operation: &'static str,
    pub count: u64,
    pub errors: u64,
    pub ops_per_second: f64,
    pub p50_micros: u64,
    pub p90_micros: u64,
    pub p99_micros: u64,
    pub p999_micros: u64,
    pub max_micros: u64,
    /// Keys found, for get and mget.
    pub hits: u64,
    pub misses: u64,
    pub sample_errors: Vec<String>,
}

impl OperationRow {
    fn from_stats(kind: OperationKind, stats: &OperationStats, seconds: f64) -> Self {
        let latency = &stats.latency_micros;
        Self {
            operation: kind.name(),
            count: stats.count,
            errors: stats.errors,
            ops_per_second: stats.count as f64 / seconds,
            p50_micros: latency.value_at_quantile(0.50),
            p90_micros: latency.value_at_quantile(0.90),
            p99_micros: latency.value_at_quantile(0.99),
            p999_micros: latency.value_at_quantile(0.999),
            max_micros: latency.max(),
            hits: stats.hits,
            misses: stats.misses,
            sample_errors: stats.sample_errors.clone(),
        }
    }
}

/// The whole run, as printed and as written with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct LoadReport {
    pub header: RunHeader,
    pub elapsed_seconds: f64,
    pub total_ops: u64,
    pub total_errors: u64,
    pub total_ops_per_second: f64,
    /// Share of GETs (single-key) that hit, as the client saw it.
    pub get_hit_ratio: Option<f64>,
    pub operations: Vec<OperationRow>,
}

impl LoadReport {
    /// The human-readable table.
    pub fn render(&self) -> String {
        let header = &self.header;
        let mut out = format!(
            "target {} ({})  connections {}  pipeline {}  threads {}  mode {}\n\
             keyspace {} ({})  value {} B  mix {}\n\
             {:<8} {:>10} {:>8} {:>11} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
            header.target,
            header.protocol,
            header.connections,
            header.pipeline,
            header.threads,
            header.mode,
            header.keyspace,
            header.distribution,
            header.value_size,
            header.mix,
            "op",
            "count",
            "errors",
            "ops/s",
            "p50",
            "p90",
            "p99",
            "p99.9",
            "max",
        );
        for row in &self.operations {
            out += &format!(
                "{:<8} {:>10} {:>8} {:>11.0} {:>8} {:>8} {:>8} {:>8} {:>8}\n",
                row.operation,
                row.count,
                row.errors,
                row.ops_per_second,
                format_micros(row.p50_micros),
                format_micros(row.p90_micros),
                format_micros(row.p99_micros),
                format_micros(row.p999_micros),
                format_micros(row.max_micros),
            );
        }
        out += &format!(
            "{:<8} {:>10} {:>8} {:>11.0}   in {:.1} s\n",
            "total",
            self.total_ops,
            self.total_errors,
            self.total_ops_per_second,
            self.elapsed_seconds
        );
        if let Some(ratio) = self.get_hit_ratio {
            out += &format!("GET hit ratio (client-side): {:.2} %\n", ratio * 100.0);
        }
        for row in self
            .operations
            .iter()
            .filter(|row| !row.sample_errors.is_empty())
        {
            out += &format!(
                "{} errors, e.g.: {}\n",
                row.operation,
                row.sample_errors.join(" | ")
            );
        }
        out
    }
}

/// `850µs`, `12.3ms`, `1.20s`: short enough for a table column.
fn format_micros(micros: u64) -> String {
    match micros {
        0..=999 => format!("{micros}µs"),
        1_000..=999_999 => format!("{:.1}ms", micros as f64 / 1e3),
        _ => format!("{:.2}s", micros as f64 / 1e6),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn header() -> RunHeader {
        RunHeader {
            target: "http://stub".into(),
            protocol: "http".into(),
            connections: 2,
            pipeline: 1,
            threads: 1,
            mode: "closed".into(),
            keyspace: 10,
            distribution: "uniform".into(),
            value_size: 8,
            mix: "get=1".into(),
        }
    }

    #[test]
    fn merged_recorders_add_counts_hits_and_latencies() {
        let mut first = Recorder::default();
        let mut second = Recorder::default();
        for micros in 1..=100 {
            let hit = micros % 4 == 0;
            first.record(
                OperationKind::Get,
                Duration::from_micros(micros),
                &Ok(Outcome::Get { hit }),
            );
        }
        second.record(
            OperationKind::Get,
            Duration::from_millis(5),
            &Ok(Outcome::Get { hit: true }),
        );
        let timeout = Err(TargetError::Timeout(10));
        second.record(OperationKind::Set, Duration::from_millis(10), &timeout);
        second.record(OperationKind::Set, Duration::from_millis(10), &timeout);
        first.merge(&second);

        let report = first.into_report(header(), Duration::from_secs(2));
        assert_eq!(report.total_ops, 103);
        assert_eq!(report.total_errors, 2);
        let get = &report.operations[0];
        assert_eq!(
            (get.operation, get.count, get.hits, get.misses),
            ("get", 101, 26, 75)
        );
        assert_eq!(get.p50_micros, 51);
        assert!(
            (4_990..=5_010).contains(&get.max_micros),
            "max {}",
            get.max_micros
        );
        assert!((report.get_hit_ratio.unwrap() - 26.0 / 101.0).abs() < 1e-9);
        let set = &report.operations[1];
        assert_eq!((set.errors, set.sample_errors.len()), (2, 1));
        assert!((report.total_ops_per_second - 51.5).abs() < 1e-9);
    }

    #[test]
    fn unused_operations_are_left_out_and_table_names_the_rest() {
        let mut recorder = Recorder::default();
        let outcome = Ok(Outcome::MGet { hits: 3, misses: 1 });
        recorder.record(OperationKind::MGet, Duration::from_micros(1500), &outcome);
        let report = recorder.into_report(header(), Duration::from_secs(1));
        assert_eq!(report.operations.len(), 1);
        assert_eq!(report.get_hit_ratio, None);
        let table = report.render();
        assert!(table.contains("mget") && table.contains("1.5ms"), "{table}");
        assert!(!table.contains("\nget "), "{table}");
    }

    #[test]
    fn latency_formats_scale() {
        assert_eq!(format_micros(850), "850µs");
        assert_eq!(format_micros(12_345), "12.3ms");
        assert_eq!(format_micros(1_200_000), "1.20s");
    }
}
