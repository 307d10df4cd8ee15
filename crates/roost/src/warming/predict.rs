//! Predictive preloading's model: which keys are read next.
//!
//! [`Predictor::observe`] sees every client read (of every door); the warming
//! task calls [`Predictor::learn`] every 200 ms, and on a client miss of A the
//! warming tap asks [`Predictor::predict`] for the keys likely read next, to
//! fetch the absent ones in the background. It learns two kinds of rule:
//!
//! - **Patterns over key structure**: a key's first id-like segment is its
//!   variable (`shape.rs`), the rest its template. "A read of `user:{}` is
//!   followed within the window by `feed:{}` with the same variable" is
//!   learned from reads grouped by variable, so it holds across interleaved
//!   users, and `user:7` predicts `feed:7` even if 7 was never seen.
//! - **Successors of exact keys**: `home` → `config:v2`, when one follows the
//!   other more often than interleaved traffic explains by chance.
//!
//! Confidence is the decayed share of A's reads that B followed within
//! `window` (for successors, beyond chance), times a trust that
//! [`Predictor::feedback`] lowers for each wasted prediction: a rule whose
//! predictions go unused falls below `min_confidence` and goes quiet. Keys
//! read without structure or order (uniform random keys) make no rule above
//! `min_confidence`. See `model.rs` for the counting and `published.rs` for
//! what the request path reads.
//!
//! **Request path**: `observe` is one relaxed load, and for a kept read one
//! `fetch_add` and a 64-byte copy into a per-thread-stripe seqlock ring
//! (`ring.rs`) — no lock, no allocation. Above
//! [`TARGET_OBSERVATIONS_PER_SEC`] it keeps a share of reads chosen by the
//! hash of their variable (of the whole key when it has none), so both reads
//! of a `user:7` → `feed:7` pair are kept or dropped together. `predict` and
//! `is_follow_up` read an immutable snapshot swapped in by `learn`
//! (`ArcSwap`); `feedback` queues (bounded) for the next `learn`.
//!
//! **Memory bound**: the rings are fixed (4 × 4096 slots of 88 bytes,
//! 1.4 MiB); the model holds at most `max_rules` keys and `max_rules`
//! templates, each with its text (64 bytes at most) and at most 8 candidate
//! followers, and `2 × max_rules` variables with their last 4 reads; the
//! published rules are at most the followers above the floor. With the
//! default 4096 rules the worst case is under 10 MiB (9.4 MiB computed by
//! `memory_bound`), whatever the traffic ([`PredictorStats::memory_bytes`]
//! reports the current figure; a test floods the model with
//! distinct keys). Keys longer than 64 bytes are not observed.

mod model;
mod published;
mod ring;
mod shape;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::Mutex;

use model::Model;
use published::Published;
use ring::{Observation, Rings, KEY_CAPTURE, STRIPES};

/// Observations per second `observe` keeps at most (about): above it, reads
/// are kept by the hash of their variable. Enough for thousands of sessions
/// a second; few enough that the rings never overrun between `learn`s.
pub const TARGET_OBSERVATIONS_PER_SEC: f64 = 16_384.0;
/// The sampling never keeps fewer than one variable in `2^MAX_SHIFT`.
const MAX_SHIFT: u32 = 16;
/// Feedback waiting for the next `learn`; beyond it, feedback is dropped.
const MAX_QUEUED_FEEDBACK: usize = 16_384;

/// Settings of the predictor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PredictorConfig {
    /// B must be read within this time after A to count as following it.
    pub window: Duration,
    /// Predictions below this confidence are not made.
    pub min_confidence: f64,
    /// At most this many predictions per read.
    pub max_predictions: usize,
    /// Bound of each of the model's tables (see the module documentation).
    pub max_rules: usize,
}

impl Default for PredictorConfig {
    fn default() -> Self {
        PredictorConfig {
            window: Duration::from_secs(2),
            min_confidence: 0.5,
            max_predictions: 4,
            max_rules: 4096,
        }
    }
}

/// Names a learned rule, for feedback on its predictions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RuleId(pub u64);

/// A key likely read soon, by which rule and how likely (0..=1).
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub key: Bytes,
    pub confidence: f64,
    pub rule: RuleId,
}

/// What the model holds, as of the last `learn`.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct PredictorStats {
    /// Reads folded into the model (after sampling).
    pub observed_total: u64,
    /// Rules at or above `min_confidence`, by kind.
    pub successor_rules: usize,
    pub pattern_rules: usize,
    /// Bytes held: rings, model and published rules.
    pub memory_bytes: usize,
}

/// What only `learn` touches.
#[derive(Debug)]
struct Learner {
    model: Model,
    cursors: [u64; STRIPES],
    batch: Vec<Observation>,
}

/// The model of what is read next; see the module documentation.
#[derive(Debug)]
pub struct Predictor {
    config: PredictorConfig,
    rings: Rings,
    /// `observe` keeps the reads whose variable hash has `shift` low zero bits.
    shift: AtomicU32,
    published: ArcSwap<Published>,
    learner: Mutex<Learner>,
    feedback: Mutex<Vec<(RuleId, bool)>>,
}

impl Predictor {
    pub fn new(config: PredictorConfig) -> Predictor {
        let window_ms = u64::try_from(config.window.as_millis()).unwrap_or(u64::MAX);
        Predictor {
            rings: Rings::new(),
            shift: AtomicU32::new(0),
            published: ArcSwap::from_pointee(Published::default()),
            learner: Mutex::new(Learner {
                model: Model::new(window_ms, config.max_rules),
                cursors: [0; STRIPES],
                batch: Vec::new(),
            }),
            feedback: Mutex::new(Vec::new()),
            config,
        }
    }

    /// A client read of `key` at `now_ms` (any monotonic milliseconds), on
    /// the request path: see the module documentation for its cost.
    #[inline]
    pub fn observe(&self, key: &[u8], now_ms: u64) {
        if key.is_empty() || key.len() > KEY_CAPTURE {
            return;
        }
        let shift = self.shift.load(Ordering::Relaxed);
        if shift > 0 && !kept(key, shift) {
            return;
        }
        self.rings.push(key, now_ms);
    }

    /// The keys likely read soon after `key`, best first, each at or above
    /// `min_confidence`, at most `max_predictions`. On the request path: a
    /// snapshot load and one or two hash lookups; allocates only the result.
    pub fn predict(&self, key: &[u8], _now_ms: u64) -> Vec<Prediction> {
        self.published
            .load()
            .predict(key, self.config.max_predictions)
    }

    /// Whether `key` is what some learned rule predicts (a read of it that
    /// missed is one a prediction could have served: coverage's denominator).
    pub fn is_follow_up(&self, key: &[u8]) -> bool {
        self.published.load().is_follow_up(key)
    }

    /// Whether a prediction of `rule` was read (`used`) or expired or was
    /// evicted unread. Applied at the next `learn`; wasted predictions lower
    /// the rule's confidence until it goes quiet.
    pub fn feedback(&self, rule: RuleId, used: bool) {
        let mut queue = self.feedback.lock();
        if queue.len() < MAX_QUEUED_FEEDBACK {
            queue.push((rule, used));
        }
    }

    /// Folds the reads observed since the last call and the queued feedback
    /// into the model, adapts the sampling and publishes the rules. The
    /// warming task calls it every 200 ms; tests call it directly.
    pub fn learn(&self, now_ms: u64) {
        let mut learner = self.learner.lock();
        let Learner {
            model,
            cursors,
            batch,
        } = &mut *learner;
        batch.clear();
        let lost = self.rings.drain(cursors, batch);
        // Stripes interleave: one time order, so windows are measured right.
        batch.sort_by_key(|o| o.at_ms);
        let since = model
            .last_learn_ms
            .or_else(|| batch.first().map(|o| o.at_ms))
            .unwrap_or(now_ms);
        let elapsed = now_ms.saturating_sub(since);
        model.decay(elapsed, now_ms);
        for observation in batch.iter() {
            model.fold(observation.key(), observation.at_ms);
        }
        let feedback: Vec<(u64, bool)> = std::mem::take(&mut *self.feedback.lock())
            .into_iter()
            .map(|(rule, used)| (rule.0, used))
            .collect();
        model.feedback(&feedback);
        model.last_learn_ms = Some(now_ms);
        self.adapt_sampling(batch.len() as u64 + lost, elapsed);
        let mut published = Published::build(
            model,
            self.config.min_confidence,
            self.config.max_predictions,
        );
        published.stats.memory_bytes =
            Rings::memory_bytes() + model.memory_bytes() + published.memory_bytes();
        debug_assert!(
            published.stats.memory_bytes <= memory_bound(self.config.max_rules),
            "invariant: the model stays within its stated memory bound"
        );
        self.published.store(std::sync::Arc::new(published));
    }

    /// What the model holds, as of the last `learn`.
    pub fn stats(&self) -> PredictorStats {
        self.published.load().stats.clone()
    }

    /// Raises the sampling at once when more than the target was kept, and
    /// lowers it a step at a time when well under it (a hot key without a
    /// variable is kept or dropped whole, so the kept rate jumps).
    fn adapt_sampling(&self, kept: u64, elapsed_ms: u64) {
        if elapsed_ms == 0 {
            return;
        }
        let kept_per_sec = kept as f64 * 1000.0 / elapsed_ms as f64;
        let mut shift = self.shift.load(Ordering::Relaxed);
        let mut rate = kept_per_sec;
        let mut raised = false;
        while rate > TARGET_OBSERVATIONS_PER_SEC && shift < MAX_SHIFT {
            rate /= 2.0;
            shift += 1;
            raised = true;
        }
        if !raised && shift > 0 && kept_per_sec * 4.0 < TARGET_OBSERVATIONS_PER_SEC {
            shift -= 1;
        }
        self.shift.store(shift, Ordering::Relaxed);
    }
}

/// The most [`PredictorStats::memory_bytes`] can say with `max_rules`.
fn memory_bound(max_rules: usize) -> usize {
    Rings::memory_bytes() + Model::memory_bound(max_rules) + Published::memory_bound(max_rules)
}

/// Whether sampling at `shift` keeps a read of `key`: by its variable's hash,
/// so every read of one id is kept or dropped together.
fn kept(key: &[u8], shift: u32) -> bool {
    let hash = match shape::variable(key) {
        Some(var) => shape::variable_hash(key, &var),
        None => xxhash_rust::xxh3::xxh3_64(key),
    };
    (hash >> 40) & ((1u64 << shift) - 1) == 0
}

#[cfg(test)]
mod tests;
