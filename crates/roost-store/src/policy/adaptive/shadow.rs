//! Miniature simulations that choose the window size (after Waldspurger et al.,
//! "Cache Modeling and Optimization using Miniature Simulations", USENIX ATC'17):
//! a few key-only W-TinyLFU maps, one per candidate window size, replay a sample of
//! the keys (chosen by hash, so a sampled key is always sampled) with a capacity
//! scaled by the same rate. Every epoch each candidate's hits are folded into a
//! decaying score and the real map takes the window of the best. A window of the
//! whole capacity is strict LRU, so on traces where frequency misleads (recency-only
//! reuse) the choice moves there within a few epochs.
//!
//! Owns the candidates and the choice; never touches the real map's entries.
//! Memory: the sample is sized to about `SAMPLED_ENTRIES` entries per candidate, so
//! above that many resident entries the simulations cost a few bytes an entry.

use super::segments::WindowedLfu;
use super::sketch::FrequencySketch;

/// Candidate window sizes, per mille of capacity; the first is the starting choice.
pub(super) const WINDOW_CANDIDATES: [u64; 4] = [10, 200, 500, 1000];

/// About this many entries per simulation once the real map is large enough.
const SAMPLED_ENTRIES: u64 = 2048;

/// Sampled requests per epoch, as a fraction of a simulation's entry count.
const ENTRIES_PER_EPOCH_REQUEST: u64 = 2;

/// The fewest sampled requests in an epoch (small caches decide less often).
const MIN_EPOCH: u64 = 1024;

/// Sampling keeps hashes whose top bits, as a fraction of 2^16, are below the rate.
const RATE_ONE: u64 = 1 << 16;

#[derive(Debug)]
struct Candidate {
    window_per_mille: u64,
    simulation: WindowedLfu<u64, ()>,
    epoch_hits: u64,
    score: u64,
}

/// The candidates and which one the real map follows.
#[derive(Debug)]
pub(super) struct WindowChooser {
    candidates: Vec<Candidate>,
    /// Sampled when `hash >> 48` is below this.
    rate: u64,
    epoch_length: u64,
    epoch_requests: u64,
    chosen: usize,
}

impl WindowChooser {
    /// Candidates for a map of `capacity` weight expected to hold about
    /// `expected_entries` entries.
    pub(super) fn new(capacity: u64, expected_entries: u64) -> WindowChooser {
        let rate = if expected_entries <= SAMPLED_ENTRIES {
            RATE_ONE
        } else {
            (RATE_ONE * SAMPLED_ENTRIES / expected_entries).max(1)
        };
        let sampled_capacity =
            (u128::from(capacity) * u128::from(rate) / u128::from(RATE_ONE)) as u64;
        let sampled_entries = expected_entries * rate / RATE_ONE;
        let candidates = WINDOW_CANDIDATES
            .iter()
            .map(|&window_per_mille| Candidate {
                window_per_mille,
                simulation: WindowedLfu::new(sampled_capacity, window_per_mille),
                epoch_hits: 0,
                score: 0,
            })
            .collect();
        WindowChooser {
            candidates,
            rate,
            epoch_length: (sampled_entries / ENTRIES_PER_EPOCH_REQUEST).max(MIN_EPOCH),
            epoch_requests: 0,
            chosen: 0,
        }
    }

    /// The window the real map should have now, per mille.
    pub(super) fn window_per_mille(&self) -> u64 {
        self.candidates[self.chosen].window_per_mille
    }

    /// A read of `hash`, which the real map answered from an entry of `resident_weight`
    /// or missed (then the caller's write follows, see [`WindowChooser::on_insert`]).
    /// A simulation that misses a key the real map holds inserts it right away, as it
    /// would have been written after its own miss. Returns the new window when this
    /// read ended an epoch with a different choice.
    pub(super) fn on_get(
        &mut self,
        hash: u64,
        resident_weight: Option<u64>,
        sketch: &FrequencySketch,
    ) -> Option<u64> {
        if !self.sampled(hash) {
            return None;
        }
        for candidate in &mut self.candidates {
            if candidate.simulation.get(hash, &hash).is_some() {
                candidate.epoch_hits += 1;
            } else if let Some(weight) = resident_weight {
                candidate
                    .simulation
                    .insert(hash, hash, (), weight, sketch, &mut |_, ()| {});
            }
        }
        self.epoch_requests += 1;
        if self.epoch_requests < self.epoch_length {
            return None;
        }
        self.end_epoch()
    }

    /// A write of `hash` weighing `weight`.
    pub(super) fn on_insert(&mut self, hash: u64, weight: u64, sketch: &FrequencySketch) {
        if !self.sampled(hash) {
            return;
        }
        for candidate in &mut self.candidates {
            candidate
                .simulation
                .insert(hash, hash, (), weight, sketch, &mut |_, ()| {});
        }
    }

    /// A removal of `hash` by the caller (delete, expiry).
    pub(super) fn on_remove(&mut self, hash: u64) {
        if !self.sampled(hash) {
            return;
        }
        for candidate in &mut self.candidates {
            candidate.simulation.remove(hash, &hash);
        }
    }

    pub(super) fn clear(&mut self) {
        for candidate in &mut self.candidates {
            candidate.simulation.clear();
            candidate.epoch_hits = 0;
            candidate.score = 0;
        }
        self.epoch_requests = 0;
        self.chosen = 0;
    }

    fn sampled(&self, hash: u64) -> bool {
        self.rate == RATE_ONE || (hash.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 48) < self.rate
    }

    /// Folds the epoch into the decaying scores and picks the best (ties keep the
    /// current choice, so equal candidates never cause churn).
    fn end_epoch(&mut self) -> Option<u64> {
        self.epoch_requests = 0;
        for candidate in &mut self.candidates {
            candidate.score = candidate.score - candidate.score / 4 + candidate.epoch_hits;
            candidate.epoch_hits = 0;
        }
        let mut best = self.chosen;
        let current = self.candidates[self.chosen].score;
        let bar = current + current / 64;
        for (i, candidate) in self.candidates.iter().enumerate() {
            if candidate.score > bar && candidate.score > self.candidates[best].score {
                best = i;
            }
        }
        if best == self.chosen {
            return None;
        }
        self.chosen = best;
        Some(self.window_per_mille())
    }
}
