//! A bounded once-a-second history of the request counters, from which the
//! stats endpoint derives current rates (and, later, the live dashboard its
//! charts). Five minutes of samples, never more.

use std::collections::VecDeque;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

/// How many one-second samples are kept: five minutes.
pub const HISTORY_LEN: usize = 300;

/// Counter totals at one instant.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub requests: u64,
    pub hits: u64,
    pub misses: u64,
}

/// A ring buffer of samples. A blocking `Mutex` because it is held for a push or a
/// short read and never across an `.await`.
#[derive(Debug, Default)]
pub struct History {
    samples: Mutex<VecDeque<Sample>>,
}

impl History {
    pub fn push(&self, sample: Sample) {
        let mut samples = self.samples.lock();
        if samples.len() == HISTORY_LEN {
            samples.pop_front();
        }
        samples.push_back(sample);
    }

    /// Requests per second between the newest sample and the one `window`
    /// before it (or the oldest kept); `None` until two samples exist.
    pub fn rate(&self, window: Duration) -> Option<f64> {
        let samples = self.samples.lock();
        let newest = *samples.back()?;
        let since = newest.at_ms.saturating_sub(window.as_millis() as u64);
        let oldest = samples.iter().find(|s| s.at_ms >= since)?;
        let span_ms = newest.at_ms.checked_sub(oldest.at_ms).filter(|&d| d > 0)?;
        Some((newest.requests - oldest.requests) as f64 * 1000.0 / span_ms as f64)
    }

    pub fn len(&self) -> usize {
        self.samples.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(at_s: u64, requests: u64) -> Sample {
        Sample {
            at_ms: at_s * 1000,
            requests,
            hits: 0,
            misses: 0,
        }
    }

    #[test]
    fn rate_uses_the_window_and_needs_two_samples() {
        let h = History::default();
        assert_eq!(h.rate(Duration::from_secs(10)), None);
        h.push(sample(100, 0));
        assert_eq!(h.rate(Duration::from_secs(10)), None);
        for s in 101..=120 {
            h.push(sample(
                s,
                (s - 100) * 50 + if s > 110 { (s - 110) * 50 } else { 0 },
            ));
        }
        // The last 10 s run at 100/s; the whole 20 s average is 75/s.
        assert_eq!(h.rate(Duration::from_secs(10)), Some(100.0));
        assert_eq!(h.rate(Duration::from_secs(60)), Some(75.0));
    }

    #[test]
    fn history_is_bounded() {
        let h = History::default();
        for s in 0..1000 {
            h.push(sample(s, s));
        }
        assert_eq!(h.len(), HISTORY_LEN);
    }
}
