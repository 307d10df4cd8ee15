//! `ReadTally`: what one class of reads (a scenario's hot keys, its `user:` or
//! `feed:` reads) saw — how many, how many waited on the origin, misses without a
//! value, errors, and their latency.
//!
//! A read "waited on the origin" when it took at least the wait threshold (half the
//! origin's latency by default): a hit in Roost answers in well under a millisecond
//! on loopback, a read-through at least the origin's latency. Each connection keeps
//! its own tallies; they are merged once at the end, so the request path shares
//! nothing.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

/// Latencies above this are recorded as this (µs); well past any origin timeout.
const HIGHEST_MICROS: u64 = 60_000_000;

#[derive(Debug, Clone)]
pub struct ReadTally {
    reads: u64,
    waited: u64,
    nil: u64,
    errors: u64,
    first_error: Option<String>,
    micros: Histogram<u64>,
}

impl Default for ReadTally {
    fn default() -> Self {
        Self {
            reads: 0,
            waited: 0,
            nil: 0,
            errors: 0,
            first_error: None,
            micros: Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)
                .expect("invariant: constant histogram bounds are valid"),
        }
    }
}

impl ReadTally {
    /// A read answered after `latency`; `value` is false for a nil reply.
    pub fn read(&mut self, latency: Duration, value: bool, threshold: Duration) {
        self.reads += 1;
        if latency >= threshold {
            self.waited += 1;
        }
        if !value {
            self.nil += 1;
        }
        let micros = (latency.as_micros() as u64).clamp(1, HIGHEST_MICROS);
        // Cannot fail: the value is clamped into the histogram's bounds.
        let _ = self.micros.record(micros);
    }

    pub fn error(&mut self, text: impl FnOnce() -> String) {
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(text());
        }
    }

    pub fn merge(&mut self, other: &ReadTally) {
        self.reads += other.reads;
        self.waited += other.waited;
        self.nil += other.nil;
        self.errors += other.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&other.first_error);
        }
        // Cannot fail: both histograms have the same bounds.
        let _ = self.micros.add(&other.micros);
    }

    pub fn summary(&self) -> ReadSummary {
        let ms = |micros: u64| micros as f64 / 1000.0;
        let share = |n: u64| (self.reads > 0).then(|| n as f64 / self.reads as f64);
        ReadSummary {
            reads: self.reads,
            waited: self.waited,
            waited_share: share(self.waited),
            nil: self.nil,
            errors: self.errors,
            p50_ms: ms(self.micros.value_at_quantile(0.5)),
            p99_ms: ms(self.micros.value_at_quantile(0.99)),
            max_ms: ms(self.micros.max()),
            first_error: self.first_error.clone(),
        }
    }
}

/// One class of reads in the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadSummary {
    pub reads: u64,
    /// Reads that took at least the wait threshold: they waited on the origin.
    pub waited: u64,
    /// `waited / reads`; `None` before any read.
    pub waited_share: Option<f64>,
    /// Nil replies: no value (no origin configured, or it answered 404).
    pub nil: u64,
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    pub first_error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_at_or_over_the_threshold_waited() {
        let threshold = Duration::from_millis(10);
        let mut a = ReadTally::default();
        a.read(Duration::from_micros(200), true, threshold);
        a.read(Duration::from_millis(10), true, threshold);
        let mut b = ReadTally::default();
        b.read(Duration::from_millis(25), false, threshold);
        b.read(Duration::from_micros(300), true, threshold);
        b.error(|| "boom".into());
        a.merge(&b);
        let summary = a.summary();
        assert_eq!((summary.reads, summary.waited, summary.nil), (4, 2, 1));
        assert_eq!(summary.waited_share, Some(0.5));
        assert_eq!(summary.errors, 1);
        assert_eq!(summary.first_error.as_deref(), Some("boom"));
        assert!(summary.max_ms >= 24.9 && summary.p50_ms < 1.0);
        assert_eq!(ReadTally::default().summary().waited_share, None);
    }
}
