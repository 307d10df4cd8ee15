//! Rate-limited logging for events a hostile client can repeat at will
//! (refused connections, failed authentication, disconnected slow readers): the
//! first one logs, then at most one line per interval, which says how many were
//! left out. The metric beside each such event still counts every one.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Throttled {
    interval_ms: u64,
    /// Milliseconds after the process epoch before which nothing more logs.
    next_ms: AtomicU64,
    suppressed: AtomicU64,
}

impl Throttled {
    pub const fn new(interval: Duration) -> Throttled {
        Throttled {
            interval_ms: interval.as_millis() as u64,
            next_ms: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// `Some(events left out since the last line)` when this one may be logged.
    pub fn allow(&self) -> Option<u64> {
        self.allow_at(epoch_ms())
    }

    fn allow_at(&self, now_ms: u64) -> Option<u64> {
        let next = self.next_ms.load(Ordering::Relaxed);
        let won = now_ms >= next
            && self
                .next_ms
                .compare_exchange(
                    next,
                    now_ms + self.interval_ms,
                    Ordering::AcqRel,
                    Ordering::Relaxed,
                )
                .is_ok();
        if won {
            Some(self.suppressed.swap(0, Ordering::AcqRel))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// Milliseconds since the first call, from the monotonic clock (never 0, so a
/// fresh [`Throttled`] lets its first event through).
fn epoch_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed().as_millis() as u64 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_per_interval_reporting_what_was_left_out() {
        let log = Throttled::new(Duration::from_secs(10));
        assert_eq!(log.allow_at(1), Some(0));
        for _ in 0..500 {
            assert_eq!(log.allow_at(5_000), None);
        }
        assert_eq!(log.allow_at(10_001), Some(500));
        assert_eq!(log.allow_at(10_002), None);
        assert_eq!(log.allow_at(20_001), Some(1));
    }
}
