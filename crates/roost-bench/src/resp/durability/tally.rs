//! What `roost-bench durability` counts: the load phase's writes and reads per outcome
//! and per second (`LoadTally`), the final read-back (`VerifyTally`), and the report
//! both become (`DurabilityReport`), printed and written as JSON.

use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

/// Distinct error messages kept per tally, so a report shows what failed.
const SAMPLE_ERRORS: usize = 5;

/// Successes and failures in one second of the load phase, and how many of the
/// successes were reads of an acknowledged key that found nothing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SecondCounts {
    pub ok: u64,
    pub failed: u64,
    pub missing: u64,
}

/// What one connection saw while the load ran.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadTally {
    pub writes: u64,
    pub writes_acknowledged: u64,
    pub write_errors: u64,
    pub reads: u64,
    /// Reads of an acknowledged key that returned its value.
    pub reads_found: u64,
    /// Reads of an acknowledged key that returned nothing.
    pub reads_missing: u64,
    /// Reads of an acknowledged key that returned another value.
    pub reads_wrong: u64,
    pub read_errors: u64,
    /// Connections re-made after a failure.
    pub reconnects: u64,
    /// Index i: the second [i, i+1) after the load started.
    pub timeline: Vec<SecondCounts>,
    pub sample_errors: Vec<String>,
    /// Latency of the requests answered, by the minute they were due in.
    #[serde(skip)]
    pub latency: MinuteLatencies,
}

/// Latency histograms, one per minute of the load: a soak reports p99 per minute.
#[derive(Debug, Clone, Default)]
pub struct MinuteLatencies {
    minutes: Vec<Histogram<u64>>,
}

/// One minute's latency, as reported.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MinuteLatency {
    pub minute: usize,
    pub requests: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
}

impl MinuteLatencies {
    /// A request due at `due` (from the run's start `started`) answered now.
    pub fn record(&mut self, started: Instant, due: Instant) {
        let minute = due.saturating_duration_since(started).as_secs() as usize / 60;
        while self.minutes.len() <= minute {
            let histogram = Histogram::new_with_bounds(1, 60_000_000, 3)
                .expect("invariant: constant histogram bounds are valid");
            self.minutes.push(histogram);
        }
        let micros = due.elapsed().as_micros().clamp(1, 60_000_000) as u64;
        self.minutes[minute].saturating_record(micros);
    }

    pub fn merge(&mut self, other: &MinuteLatencies) {
        for (i, theirs) in other.minutes.iter().enumerate() {
            if let Some(mine) = self.minutes.get_mut(i) {
                mine.add(theirs).expect("invariant: same bounds");
            } else {
                self.minutes.push(theirs.clone());
            }
        }
    }

    pub fn by_minute(&self) -> Vec<MinuteLatency> {
        let ms = |micros: u64| micros as f64 / 1000.0;
        self.minutes
            .iter()
            .enumerate()
            .map(|(minute, h)| MinuteLatency {
                minute,
                requests: h.len(),
                p50_ms: ms(h.value_at_quantile(0.5)),
                p99_ms: ms(h.value_at_quantile(0.99)),
                p999_ms: ms(h.value_at_quantile(0.999)),
                max_ms: ms(h.max()),
            })
            .collect()
    }
}

/// How one read of an acknowledged key ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadOutcome {
    Found,
    Missing,
    Wrong,
    Failed(String),
}

impl LoadTally {
    pub fn record_write(&mut self, started: Instant, result: Result<(), String>) {
        self.writes += 1;
        match result {
            Ok(()) => {
                self.writes_acknowledged += 1;
                self.second(started).ok += 1;
            }
            Err(error) => {
                self.write_errors += 1;
                self.failure(started, error);
            }
        }
    }

    pub fn record_read(&mut self, started: Instant, outcome: ReadOutcome) {
        self.reads += 1;
        match outcome {
            ReadOutcome::Found => self.reads_found += 1,
            ReadOutcome::Missing => {
                self.reads_missing += 1;
                self.second(started).missing += 1;
            }
            ReadOutcome::Wrong => self.reads_wrong += 1,
            ReadOutcome::Failed(error) => {
                self.read_errors += 1;
                self.failure(started, error);
                return;
            }
        }
        self.second(started).ok += 1;
    }

    fn failure(&mut self, started: Instant, error: String) {
        self.second(started).failed += 1;
        keep_sample(&mut self.sample_errors, error);
    }

    fn second(&mut self, started: Instant) -> &mut SecondCounts {
        let index = started.elapsed().as_secs() as usize;
        if self.timeline.len() <= index {
            self.timeline.resize(index + 1, SecondCounts::default());
        }
        &mut self.timeline[index]
    }

    pub fn merge(&mut self, other: &LoadTally) {
        self.writes += other.writes;
        self.writes_acknowledged += other.writes_acknowledged;
        self.write_errors += other.write_errors;
        self.reads += other.reads;
        self.reads_found += other.reads_found;
        self.reads_missing += other.reads_missing;
        self.reads_wrong += other.reads_wrong;
        self.read_errors += other.read_errors;
        self.reconnects += other.reconnects;
        if self.timeline.len() < other.timeline.len() {
            self.timeline
                .resize(other.timeline.len(), SecondCounts::default());
        }
        for (mine, theirs) in self.timeline.iter_mut().zip(&other.timeline) {
            mine.ok += theirs.ok;
            mine.failed += theirs.failed;
            mine.missing += theirs.missing;
        }
        for error in &other.sample_errors {
            keep_sample(&mut self.sample_errors, error.clone());
        }
        self.latency.merge(&other.latency);
    }
}

/// The read-back of every acknowledged write after the load.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VerifyTally {
    pub checked: u64,
    pub missing: u64,
    pub wrong: u64,
    /// Keys whose read-back failed even after retries: neither found nor lost.
    pub unverified: u64,
    pub sample_errors: Vec<String>,
}

impl VerifyTally {
    pub fn merge(&mut self, other: &VerifyTally) {
        self.checked += other.checked;
        self.missing += other.missing;
        self.wrong += other.wrong;
        self.unverified += other.unverified;
        for error in &other.sample_errors {
            keep_sample(&mut self.sample_errors, error.clone());
        }
    }

    pub fn note_error(&mut self, error: String) {
        keep_sample(&mut self.sample_errors, error);
    }
}

fn keep_sample(samples: &mut Vec<String>, error: String) {
    if samples.len() < SAMPLE_ERRORS && !samples.contains(&error) {
        samples.push(error);
    }
}

/// The whole durability run, as printed and as written with `--json`.
#[derive(Debug, Clone, Serialize)]
pub struct DurabilityReport {
    pub target: String,
    pub connections: usize,
    pub read_share: f64,
    pub rate: Option<f64>,
    pub value_size: usize,
    pub load_seconds: f64,
    pub verify_seconds: f64,
    /// Requests answered without an error, over all requests of the load phase.
    pub success_ratio: f64,
    /// Acknowledged writes missing or changed at the read-back.
    pub lost_writes: u64,
    /// Latency of answered requests, minute by minute (from each request's due time).
    pub latency_by_minute: Vec<MinuteLatency>,
    pub load: LoadTally,
    pub verify: VerifyTally,
}

impl DurabilityReport {
    pub fn new(
        target: String,
        options: &super::DurabilityOptions,
        load: LoadTally,
        verify: VerifyTally,
        load_time: Duration,
        verify_time: Duration,
    ) -> Self {
        let requests = load.writes + load.reads;
        let failed = load.write_errors + load.read_errors;
        Self {
            target,
            connections: options.connections,
            read_share: options.read_share,
            rate: options.rate,
            value_size: options.value_size,
            load_seconds: load_time.as_secs_f64(),
            verify_seconds: verify_time.as_secs_f64(),
            success_ratio: if requests == 0 {
                0.0
            } else {
                (requests - failed) as f64 / requests as f64
            },
            lost_writes: verify.missing + verify.wrong,
            latency_by_minute: load.latency.by_minute(),
            load,
            verify,
        }
    }

    /// The human-readable summary.
    pub fn render(&self) -> String {
        let load = &self.load;
        let verify = &self.verify;
        let mut out = format!(
            "target {}  connections {}  reads {:.0} %  {:.1} s of load\n\
             writes {} acknowledged {} errors {}\n\
             reads {} found {} missing {} wrong {} errors {}\n\
             reconnects {}  success ratio {:.6}\n\
             read-back of {} acknowledged writes in {:.1} s: missing {} wrong {} unverified {}\n\
             acknowledged writes lost: {}\n",
            self.target,
            self.connections,
            self.read_share * 100.0,
            self.load_seconds,
            load.writes,
            load.writes_acknowledged,
            load.write_errors,
            load.reads,
            load.reads_found,
            load.reads_missing,
            load.reads_wrong,
            load.read_errors,
            load.reconnects,
            self.success_ratio,
            verify.checked,
            self.verify_seconds,
            verify.missing,
            verify.wrong,
            verify.unverified,
            self.lost_writes,
        );
        for m in &self.latency_by_minute {
            out += &format!(
                "minute {:>3}: {:>8} answered  p50 {:.2} ms  p99 {:.2} ms  max {:.1} ms\n",
                m.minute, m.requests, m.p50_ms, m.p99_ms, m.max_ms
            );
        }
        for error in load.sample_errors.iter().chain(&verify.sample_errors) {
            out += &format!("  error: {error}\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_land_in_their_second_and_merge_adds_up() {
        let started = Instant::now();
        let mut first = LoadTally::default();
        first.record_write(started, Ok(()));
        first.record_write(started, Err("refused".into()));
        first.record_read(started, ReadOutcome::Missing);
        let mut second = LoadTally::default();
        second.record_read(started - Duration::from_secs(2), ReadOutcome::Found);
        second.record_read(started, ReadOutcome::Failed("refused".into()));
        second.record_read(started, ReadOutcome::Failed("timed out".into()));
        first.merge(&second);
        assert_eq!((first.writes, first.writes_acknowledged), (2, 1));
        assert_eq!(
            (first.reads, first.reads_found, first.reads_missing),
            (4, 1, 1)
        );
        assert_eq!((first.write_errors, first.read_errors), (1, 2));
        assert_eq!(
            first.timeline,
            [
                SecondCounts {
                    ok: 2,
                    failed: 3,
                    missing: 1
                },
                SecondCounts::default(),
                SecondCounts {
                    ok: 1,
                    failed: 0,
                    missing: 0
                },
            ]
        );
        assert_eq!(first.sample_errors, ["refused", "timed out"]);
    }

    #[test]
    fn latency_lands_in_the_minute_its_request_was_due() {
        let started = Instant::now() - Duration::from_secs(150);
        let mut first = MinuteLatencies::default();
        first.record(started, started + Duration::from_secs(10));
        let mut second = MinuteLatencies::default();
        second.record(started, started + Duration::from_secs(125));
        second.record(started, started + Duration::from_secs(130));
        first.merge(&second);
        let minutes = first.by_minute();
        let counts: Vec<u64> = minutes.iter().map(|m| m.requests).collect();
        assert_eq!(counts, [1, 0, 2]);
        assert!(
            minutes[0].p99_ms > minutes[2].p99_ms,
            "due earlier, waited longer"
        );
    }

    #[test]
    fn the_report_counts_errors_against_requests_and_lost_writes_from_the_read_back() {
        let started = Instant::now();
        let mut load = LoadTally::default();
        for _ in 0..999 {
            load.record_write(started, Ok(()));
        }
        load.record_read(started, ReadOutcome::Failed("down".into()));
        let verify = VerifyTally {
            checked: 999,
            missing: 2,
            wrong: 1,
            ..VerifyTally::default()
        };
        let options = super::super::DurabilityOptions::default();
        let report = DurabilityReport::new(
            "resp://x".into(),
            &options,
            load,
            verify,
            Duration::from_secs(1),
            Duration::ZERO,
        );
        assert!((report.success_ratio - 0.999).abs() < 1e-12);
        assert_eq!(report.lost_writes, 3);
        assert!(report.render().contains("acknowledged writes lost: 3"));
    }
}
