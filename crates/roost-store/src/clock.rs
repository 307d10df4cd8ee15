//! Injected time for expiry: the [`Clock`] trait, the wall clock, and a manual
//! clock that tests move by hand. This module owns "what time is it"; it never
//! sleeps and never decides what is expired (that is the shard's job).

use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Milliseconds since the unix epoch. Expiry deadlines are absolute in this unit.
pub type UnixMillis = u64;

/// A source of "now" for expiry decisions; injected so TTL logic is tested without sleeping.
pub trait Clock: Send + Sync + Debug {
    /// The current time in unix epoch milliseconds.
    fn now_millis(&self) -> UnixMillis;
}

/// The wall clock (`SystemTime`), in unix epoch milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_millis(&self) -> UnixMillis {
        // A clock set before 1970 reads as the epoch: nothing is considered expired early
        // because of it, and no panic comes from a misconfigured host.
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO);
        u64::try_from(since_epoch.as_millis()).unwrap_or(u64::MAX)
    }
}

/// A clock that only moves when told to. Clones share the same time, so a test
/// can keep one handle and give another to the store.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicU64>,
}

impl ManualClock {
    /// A clock reading `start` until it is set or advanced.
    pub fn new(start: UnixMillis) -> ManualClock {
        ManualClock {
            now: Arc::new(AtomicU64::new(start)),
        }
    }

    /// Jumps to `millis` (also backwards).
    pub fn set(&self, millis: UnixMillis) {
        self.now.store(millis, Ordering::SeqCst);
    }

    /// Moves forward by `by`, saturating at `u64::MAX` milliseconds.
    pub fn advance(&self, by: Duration) {
        let step = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        // fetch_update never fails here because the closure always returns Some.
        let _ = self
            .now
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |now| {
                Some(now.saturating_add(step))
            });
    }
}

impl Clock for ManualClock {
    fn now_millis(&self) -> UnixMillis {
        self.now.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_clones_share_time() {
        let clock = ManualClock::new(1_000);
        let handle = clock.clone();
        handle.advance(Duration::from_millis(250));
        assert_eq!(clock.now_millis(), 1_250);
        clock.set(10);
        assert_eq!(handle.now_millis(), 10);
    }

    #[test]
    fn manual_clock_advance_saturates() {
        let clock = ManualClock::new(u64::MAX - 1);
        clock.advance(Duration::from_secs(5));
        assert_eq!(clock.now_millis(), u64::MAX);
    }

    #[test]
    fn system_clock_is_after_2020() {
        // 2020-01-01T00:00:00Z in unix millis: a zero or seconds-based clock fails this.
        assert!(SystemClock.now_millis() > 1_577_836_800_000);
    }
}
