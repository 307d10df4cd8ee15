//! The region's hybrid logical clock (HLC): every version this region stamps
//! on a write or a delete comes from here, and every version another region
//! sends is observed here first, so a write made after seeing another
//! region's write is always stamped newer than it, whatever the wall clocks
//! say.
//!
//! A version is one 63-bit word compared as a number (docs/regions.md):
//!
//! ```text
//! physical_ms (42 bits) << 21 | logical (13 bits) << 8 | region_index (8 bits)
//! ```
//!
//! The physical part is unix milliseconds (42 bits last until the year 2109);
//! the logical counter orders stamps within one millisecond and, when it
//! overflows, borrows the next millisecond (the 21-bit "time" word simply
//! carries); the region index breaks ties between regions, so two regions
//! never stamp the same version. Lock-free: one `AtomicU64` holds the last
//! time word issued or observed, advanced by a CAS loop.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use roost_store::{Clock, Version};

/// Bits of the logical counter.
const LOGICAL_BITS: u32 = 13;
/// Bits of the region index.
const REGION_BITS: u32 = 8;
/// Bits of the physical milliseconds.
const PHYSICAL_BITS: u32 = 42;
/// The largest physical milliseconds a version can carry.
const MAX_PHYSICAL_MS: u64 = (1 << PHYSICAL_BITS) - 1;

/// A version stamped further ahead of this region's clock than
/// `ROOST_MAX_CLOCK_SKEW` allows; it is refused, not observed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("stamped {ahead_ms} ms ahead of this region's clock, more than the {max_ms} ms ROOST_MAX_CLOCK_SKEW allows")]
pub struct Skew {
    pub ahead_ms: u64,
    pub max_ms: u64,
}

/// The clock; share it behind an `Arc`.
#[derive(Debug)]
pub struct Hlc {
    clock: Arc<dyn Clock>,
    region: u8,
    max_skew_ms: u64,
    /// The last time word (`physical << 13 | logical`) issued or observed.
    last: AtomicU64,
}

impl Hlc {
    pub fn new(clock: Arc<dyn Clock>, region: u8, max_skew: Duration) -> Hlc {
        Hlc {
            clock,
            region,
            max_skew_ms: u64::try_from(max_skew.as_millis()).unwrap_or(u64::MAX),
            last: AtomicU64::new(0),
        }
    }

    /// This region's tie-break index.
    pub fn region(&self) -> u8 {
        self.region
    }

    /// The local clock, in unix milliseconds.
    pub fn physical_now(&self) -> u64 {
        self.clock.now_millis().min(MAX_PHYSICAL_MS)
    }

    /// A new version: greater than every version this clock issued or
    /// observed before, and at least the local clock's time.
    pub fn now(&self) -> Version {
        let floor = self.physical_now() << LOGICAL_BITS;
        let mut last = self.last.load(Ordering::Acquire);
        loop {
            let next = floor.max(last.saturating_add(1));
            match self
                .last
                .compare_exchange_weak(last, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return self.version_at(next),
                Err(current) => last = current,
            }
        }
    }

    /// Takes another region's `version` into account, so every later
    /// [`Hlc::now`] is greater than it; refuses it (and leaves the clock as
    /// it was) when its physical part is more than the allowed skew ahead of
    /// the local clock.
    pub fn observe(&self, version: Version) -> Result<(), Skew> {
        let local = self.physical_now();
        let remote = physical_ms(version);
        let ahead_ms = remote.saturating_sub(local);
        if ahead_ms > self.max_skew_ms {
            return Err(Skew {
                ahead_ms,
                max_ms: self.max_skew_ms,
            });
        }
        self.last
            .fetch_max(version.get() >> REGION_BITS, Ordering::AcqRel);
        Ok(())
    }

    /// Takes a version this region issued before a restart into account
    /// (its own log, replayed at start), without the skew check: this
    /// region's later versions must be greater than its earlier ones even if
    /// its clock stepped back in between.
    pub fn resume(&self, version: Version) {
        self.last
            .fetch_max(version.get() >> REGION_BITS, Ordering::AcqRel);
    }

    /// The version of time word `time` stamped by this region.
    fn version_at(&self, time: u64) -> Version {
        // The time word has 55 bits while the physical part fits its 42: the
        // shift stays within 63 bits. Past the year 2109 it saturates.
        Version::new((time << REGION_BITS) | u64::from(self.region)).unwrap_or(Version::MAX)
    }
}

/// The unix milliseconds a version was stamped at (by its region's clock).
pub fn physical_ms(version: Version) -> u64 {
    version.get() >> (LOGICAL_BITS + REGION_BITS)
}

/// The logical counter of a version.
pub fn logical(version: Version) -> u64 {
    (version.get() >> REGION_BITS) & ((1 << LOGICAL_BITS) - 1)
}

/// The index of the region that stamped a version.
pub fn region_index(version: Version) -> u8 {
    (version.get() & ((1 << REGION_BITS) - 1)) as u8
}

/// The version `(physical_ms, logical, region)` composes (for tests and tools).
pub fn compose(physical: u64, logical: u64, region: u8) -> Version {
    let word = (physical.min(MAX_PHYSICAL_MS) << (LOGICAL_BITS + REGION_BITS))
        | ((logical & ((1 << LOGICAL_BITS) - 1)) << REGION_BITS)
        | u64::from(region);
    Version::new(word).unwrap_or(Version::MAX)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;
    use roost_store::ManualClock;

    use super::*;

    const T0: u64 = 1_750_000_000_000;

    fn hlc(clock: &ManualClock, region: u8) -> Hlc {
        Hlc::new(Arc::new(clock.clone()), region, Duration::from_secs(5))
    }

    #[test]
    fn the_layout_round_trips() {
        let v = compose(T0, 77, 5);
        assert_eq!(physical_ms(v), T0);
        assert_eq!(logical(v), 77);
        assert_eq!(region_index(v), 5);
        assert!(v <= Version::MAX);
    }

    #[test]
    fn a_stamp_carries_the_clock_and_the_region() {
        let clock = ManualClock::new(T0);
        let v = hlc(&clock, 3).now();
        assert_eq!((physical_ms(v), logical(v), region_index(v)), (T0, 0, 3));
    }

    #[test]
    fn stamps_rise_within_one_millisecond_and_when_the_clock_goes_back() {
        let clock = ManualClock::new(T0);
        let h = hlc(&clock, 1);
        let a = h.now();
        let b = h.now();
        assert!(b > a);
        assert_eq!((physical_ms(b), logical(b)), (T0, 1));
        clock.set(T0 - 10_000);
        let c = h.now();
        assert!(c > b, "a clock stepped back must not stamp older versions");
        clock.set(T0 + 1);
        let d = h.now();
        assert_eq!((physical_ms(d), logical(d)), (T0 + 1, 0));
    }

    #[test]
    fn logical_overflow_borrows_the_next_millisecond() {
        let clock = ManualClock::new(T0);
        let h = hlc(&clock, 2);
        let mut last = h.now();
        for _ in 0..(1 << LOGICAL_BITS) {
            let next = h.now();
            assert!(next > last);
            last = next;
        }
        assert_eq!(
            physical_ms(last),
            T0 + 1,
            "8192 stamps in one ms borrow the next"
        );
        assert_eq!(logical(last), 0);
        assert_eq!(region_index(last), 2);
    }

    #[test]
    fn after_observing_a_remote_version_every_stamp_is_newer_even_with_a_slow_clock() {
        // This region's clock runs 500 ms behind the writer's.
        let local = ManualClock::new(T0);
        let here = hlc(&local, 0);
        let remote = compose(T0 + 500, 12, 7);
        here.observe(remote).unwrap();
        let next = here.now();
        assert!(next > remote, "{next:?} <= {remote:?}");
        assert_eq!(physical_ms(next), T0 + 500);
        assert_eq!(region_index(next), 0);
        // And it stays ahead as time passes below the remote clock.
        local.advance(Duration::from_millis(100));
        assert!(here.now() > next);
    }

    #[test]
    fn equal_times_are_ordered_by_region() {
        let clock = ManualClock::new(T0);
        let low = hlc(&clock, 1).now();
        let high = hlc(&clock, 2).now();
        assert_eq!(low.get() >> REGION_BITS, high.get() >> REGION_BITS);
        assert!(high > low);
    }

    #[test]
    fn a_version_too_far_ahead_is_refused_and_not_observed() {
        let clock = ManualClock::new(T0);
        let h = hlc(&clock, 0);
        let err = h.observe(compose(T0 + 5_001, 0, 1)).unwrap_err();
        assert_eq!(err.ahead_ms, 5_001);
        assert!(err.to_string().contains("ROOST_MAX_CLOCK_SKEW"), "{err}");
        assert_eq!(
            physical_ms(h.now()),
            T0,
            "the refused version moved the clock"
        );
        h.observe(compose(T0 + 5_000, 0, 1)).unwrap();
        assert_eq!(physical_ms(h.now()), T0 + 5_000);
    }

    #[test]
    fn concurrent_stamps_are_unique() {
        let clock = ManualClock::new(T0);
        let h = Arc::new(hlc(&clock, 4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let h = h.clone();
                std::thread::spawn(move || (0..5_000).map(|_| h.now()).collect::<Vec<_>>())
            })
            .collect();
        let mut all: Vec<Version> = threads
            .into_iter()
            .flat_map(|t| {
                let stamps = t.join().unwrap();
                assert!(
                    stamps.windows(2).all(|w| w[1] > w[0]),
                    "one thread's stamps rise"
                );
                stamps
            })
            .collect();
        let n = all.len();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), n, "two calls got the same version");
    }

    proptest! {
        /// Whatever the clock does and whatever is observed (within the skew),
        /// each stamp is greater than every stamp and observation before it.
        #[test]
        fn stamps_exceed_everything_seen_before(
            steps in proptest::collection::vec((0u8..3, -2_000i64..2_000, 0u64..(1 << 13), 0u8..8), 1..200)
        ) {
            let clock = ManualClock::new(T0);
            let h = hlc(&clock, 3);
            let mut highest = Version::NONE;
            for (what, offset, logical, region) in steps {
                match what {
                    0 => {
                        let v = h.now();
                        prop_assert!(v > highest);
                        prop_assert_eq!(region_index(v), 3);
                        highest = v;
                    }
                    1 => clock.set(T0.saturating_add_signed(offset)),
                    _ => {
                        let now = clock.now_millis();
                        let remote = compose(now.saturating_add_signed(offset), logical, region);
                        if h.observe(remote).is_ok() {
                            highest = highest.max(remote);
                        }
                    }
                }
            }
        }
    }
}
