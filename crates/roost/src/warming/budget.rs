//! `ROOST_ORIGIN_MAX_RPS`: the token bucket every background origin fetch
//! (refresh, prefetch, warm-up) takes one token from, just before it would
//! start. governor's GCRA, checked without blocking: a fetch with no token is
//! skipped and counted, never queued — a late refresh or prefetch is worth
//! nothing, and a queue would only turn a burst into a longer one. Client
//! misses never take a token.
//!
//! The bucket holds a tenth of a second's tokens (at least one): over any
//! span of `t` seconds, at most `max_rps × t + burst` background requests.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

#[derive(Debug)]
pub struct Budget {
    limiter: DefaultDirectRateLimiter,
    max_rps: u32,
    taken: AtomicU64,
    denied: AtomicU64,
}

impl Budget {
    pub fn new(max_rps: u32) -> Budget {
        let rate = NonZeroU32::new(max_rps).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(rate.get() / 10).unwrap_or(NonZeroU32::MIN);
        Budget {
            limiter: RateLimiter::direct(Quota::per_second(rate).allow_burst(burst)),
            max_rps: rate.get(),
            taken: AtomicU64::new(0),
            denied: AtomicU64::new(0),
        }
    }

    /// Takes a token; `false` (counted) when there is none now.
    pub fn take(&self) -> bool {
        if self.limiter.check().is_ok() {
            self.taken.fetch_add(1, Ordering::Relaxed);
            true
        } else {
            self.denied.fetch_add(1, Ordering::Relaxed);
            false
        }
    }

    pub fn max_rps(&self) -> u32 {
        self.max_rps
    }

    pub fn taken_total(&self) -> u64 {
        self.taken.load(Ordering::Relaxed)
    }

    pub fn denied_total(&self) -> u64 {
        self.denied.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_gets_the_bucket_and_the_rest_is_denied_and_counted() {
        let budget = Budget::new(50);
        let granted = (0..200).filter(|_| budget.take()).count();
        assert_eq!(granted, 5, "a tenth of a second's tokens");
        assert_eq!((budget.taken_total(), budget.denied_total()), (5, 195));
        let tiny = Budget::new(1);
        assert!(tiny.take());
        assert!(!tiny.take(), "at least one token, and only one");
    }
}
