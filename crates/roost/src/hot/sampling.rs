//! Sampling on the request path: a per-thread pseudo-random draw decides
//! whether a request is recorded, each thread writes to its own ring, and the
//! fold sets the rate from the traffic. Also the identity hasher of the sets
//! and maps keyed by xxh3 hashes.
//!
//! Must not: touch shared memory on the path of a request that is not sampled.

use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use super::ring::STRIPES;
use super::TARGET_SAMPLES_PER_SEC;

/// The sampling rate never drops below one request in `2^MAX_SHIFT`.
const MAX_SHIFT: u32 = 20;

/// A hasher for keys that are already xxh3 hashes.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdentityHash;

/// See [`IdentityHash`].
#[derive(Debug, Default)]
pub struct IdentityHasher(u64);

impl BuildHasher for IdentityHash {
    type Hasher = IdentityHasher;
    fn build_hasher(&self) -> IdentityHasher {
        IdentityHasher(0)
    }
}

impl Hasher for IdentityHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// The sampling shift that brings `requests_per_sec` near the target.
pub(super) fn shift_for(requests_per_sec: f64) -> u32 {
    let mut shift = 0;
    while shift < MAX_SHIFT && requests_per_sec / f64::from(1u32 << shift) > TARGET_SAMPLES_PER_SEC
    {
        shift += 1;
    }
    shift
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(1);

thread_local! {
    /// This thread's xorshift state (0 until first use) and ring.
    static DICE: Cell<u64> = const { Cell::new(0) };
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The calling thread's next pseudo-random number: a draw per request, so a
/// client's key cycle cannot line up with the sampling. Also the source of
/// refresh-ahead's early-expiry draw (`warming/refresh.rs`).
pub(crate) fn roll() -> u64 {
    DICE.with(|dice| {
        let mut x = dice.get();
        if x == 0 {
            let n = NEXT_THREAD.fetch_add(1, Ordering::Relaxed) as u64;
            x = n.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        dice.set(x);
        x
    })
}

/// The calling thread's ring, handed out round-robin: of [`STRIPES`] here and
/// in the predictor's rings (`warming/predict/ring.rs`), which have as many.
pub(crate) fn stripe() -> usize {
    STRIPE.with(|s| {
        if s.get() == usize::MAX {
            s.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed) % STRIPES);
        }
        s.get()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_keeps_samples_near_the_target() {
        assert_eq!(shift_for(0.0), 0);
        assert_eq!(shift_for(TARGET_SAMPLES_PER_SEC), 0);
        assert_eq!(shift_for(TARGET_SAMPLES_PER_SEC * 1.5), 1);
        assert_eq!(shift_for(TARGET_SAMPLES_PER_SEC * 40.0), 6);
        assert_eq!(shift_for(f64::INFINITY), MAX_SHIFT);
    }
}
