//! Trend detection: which tracked keys' rate rises fast now, before they are
//! hot. The fold keeps two baselines of the table's counts, taken every half
//! of a half-life, and compares the current counts with the older one (half a
//! half-life to a half-life ago): the weight a key gained since, over the time
//! since, is its recent rate; the baseline count is its rate then.
//!
//! A key is rising when its recent rate is at least [`RISING_FACTOR`] times
//! its rate then, at least the average rate of one table slot (total / capacity:
//! under uniform traffic no key gets there), and rests on at least
//! [`RISING_MIN_REQUESTS`] requests (one sample of a heavily sampled stream
//! weighs many requests, but a handful of them never make a trend).
//!
//! Bounded: two maps of at most the table's capacity, and at most
//! [`MAX_RISING`] keys published. Pure: no time, no I/O; the fold task owns it.

use std::collections::HashMap;

use bytes::Bytes;

use super::top_k::TopK;
use super::IdentityHash;

/// How many times its earlier rate a key's recent rate must be.
pub const RISING_FACTOR: f64 = 4.0;
/// The fewest requests a key must have gained since the baseline.
pub const RISING_MIN_REQUESTS: f64 = 8.0;
/// The most rising keys a snapshot lists.
pub const MAX_RISING: usize = 64;

/// The table's counts at one moment.
#[derive(Debug)]
struct Baseline {
    /// Seconds of traffic folded when it was taken.
    age: f64,
    counts: HashMap<u64, f64, IdentityHash>,
    /// The table's smallest count then: a key not tracked then had at most this.
    floor: f64,
    /// Count → requests per second then.
    per_sec: f64,
}

#[derive(Debug)]
pub struct Trend {
    /// Seconds between baselines: half a half-life.
    every: f64,
    half_life: f64,
    older: Option<Baseline>,
    newer: Option<Baseline>,
}

impl Trend {
    pub fn new(half_life: f64) -> Trend {
        Trend {
            every: half_life / 2.0,
            half_life,
            older: None,
            newer: None,
        }
    }

    /// After a fold at `age` seconds: the rising keys (whole keys only),
    /// fastest first, and a new baseline when one is due. `per_sec` turns a
    /// count into requests per second now.
    pub fn observe(&mut self, top: &TopK, age: f64, per_sec: f64) -> Vec<Bytes> {
        let rising = self.rising(top, age, per_sec);
        if self
            .newer
            .as_ref()
            .is_none_or(|b| age - b.age >= self.every)
        {
            self.older = self.newer.take();
            self.newer = Some(Baseline {
                age,
                counts: top.counters().map(|c| (c.hash, c.count)).collect(),
                floor: top.floor(),
                per_sec,
            });
        }
        rising
    }

    fn rising(&self, top: &TopK, age: f64, per_sec: f64) -> Vec<Bytes> {
        let Some(base) = &self.older else {
            return Vec::new();
        };
        let elapsed = age - base.age;
        if elapsed <= 0.0 {
            return Vec::new();
        }
        let decay = 0.5f64.powf(elapsed / self.half_life);
        let floor = top.total() * per_sec / top.capacity() as f64;
        let mut found: Vec<(f64, Bytes)> = top
            .counters()
            .filter(|c| c.len <= c.key().len())
            .filter_map(|c| {
                // A key tracked then gained its count less what decay left of
                // the count then (its error is in both); a key taken in since
                // gained at least its count less its error, and had at most
                // the table's floor then.
                let (gained, before) = match base.counts.get(&c.hash) {
                    Some(&then) => (c.count - then * decay, then),
                    None => (c.count - c.error, base.floor),
                };
                let recent = gained / elapsed;
                let earlier = before * base.per_sec;
                let rising = gained >= RISING_MIN_REQUESTS
                    && recent >= floor
                    && recent >= RISING_FACTOR * earlier;
                rising.then(|| (recent, Bytes::copy_from_slice(c.key())))
            })
            .collect();
        found.sort_unstable_by(|a, b| b.0.total_cmp(&a.0));
        found.truncate(MAX_RISING);
        found.into_iter().map(|(_, key)| key).collect()
    }

    /// Bytes the baselines may hold at most for a table of `capacity`.
    pub fn memory_bytes(capacity: usize) -> usize {
        2 * capacity * 2 * std::mem::size_of::<u64>()
    }
}
