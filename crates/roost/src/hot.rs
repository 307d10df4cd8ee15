//! Hot keys: which keys take the most traffic now, tracked as a stream.
//!
//! [`HotKeys`] is a read tap and a write tap on the Cache, so it sees every
//! lookup and every write of client traffic through every front door. On the
//! request path it only samples: a per-thread random draw keeps about
//! [`TARGET_SAMPLES_PER_SEC`] of the traffic (everything when traffic is
//! lighter), and a kept key goes into a lock-free ring (`ring.rs`). The fold
//! task ([`HotKeys::spawn`], every [`FOLD_EVERY`]) drains the rings into a
//! Space-Saving table with exponential decay (`top_k.rs`: a fixed number of
//! counters, keys kept by their hash and first 64 bytes), adapts the sampling
//! rate to the traffic, and publishes an immutable [`HotSnapshot`]: the
//! hottest keys with estimated requests per second and share of traffic, and
//! the hash set [`HotSet::is_hot`] answers from without locking or allocating.
//!
//! Only `Client` traffic counts: warming, repair and region writes would
//! otherwise make the keys they touch look hot.
//!
//! One file per concern: `ring.rs` (the request path's sample rings),
//! `sampling.rs` (the per-thread draw and the rate it keeps), `top_k.rs` (the sketch),
//! `trend.rs` (keys whose rate rises fast: [`HotSet::rising`]), `metrics.rs`
//! (what Prometheus sees: counts and shares, never keys).

mod metrics;
mod ring;
mod sampling;
mod top_k;
mod trend;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::Mutex;

use crate::cache::{Applied, Origin, ReadTap, Write, WriteTap};
use crate::error::CacheError;
use crate::tasks::Tasks;
use crate::telemetry::Metrics;
use ring::Rings;
pub use ring::KEY_CAPTURE;
pub(crate) use ring::STRIPES;
pub(crate) use ring::{claim, KeyWords};
use sampling::shift_for;
pub use sampling::IdentityHash;
pub(crate) use sampling::{roll, stripe};
use top_k::TopK;
use trend::Trend;
pub use trend::MAX_RISING;

/// Which keys are hot now. Called on the request path: never blocks, never allocates.
pub trait HotSet: Send + Sync + std::fmt::Debug {
    fn is_hot(&self, key: &[u8]) -> bool;

    /// The hottest whole keys now (a key tracked only by a prefix is left
    /// out), hottest first, at most `limit`: what warming copies, refreshes
    /// and snapshots first. Off the request path; allocates.
    fn hottest(&self, limit: usize) -> Vec<Bytes>;

    /// Whole keys whose rate rises fast now (see `hot/trend.rs`), fastest
    /// first, at most `limit`: what a fleet reads into its near cache before
    /// they are hot. Off the request path; allocates.
    fn rising(&self, limit: usize) -> Vec<Bytes>;
}

/// How often the fold task drains the samples and publishes a snapshot; a key
/// that turns hot shows within a fold or two.
pub const FOLD_EVERY: Duration = Duration::from_millis(200);
/// Samples per second the request path aims to keep, whatever the traffic:
/// enough for shares to about 1 % of a 1 %-key over one half-life, few enough
/// that the rings never fill between folds.
pub const TARGET_SAMPLES_PER_SEC: f64 = 16_384.0;
/// The most keys a snapshot lists (the API's largest `limit`).
pub const MAX_LISTED: usize = 1000;
/// Keys estimated below this many requests per second are neither listed nor
/// hot: after traffic stops, decay takes every count toward zero but never to
/// it, and a list of keys at 0.0/s (or an idle key called hot) says nothing.
const MIN_LISTED_RATE: f64 = 0.01;

/// Settings of the hot-key tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HotKeysConfig {
    /// Off: no taps, no task, `is_hot` always false and the API lists nothing.
    pub enabled: bool,
    /// Counters in the table (keys tracked at once).
    pub capacity: usize,
    /// Time for a key's weight to halve once it is no longer requested.
    pub half_life: Duration,
    /// How many of the hottest keys [`HotSet::is_hot`] answers yes for.
    pub hot_set: usize,
}

impl Default for HotKeysConfig {
    fn default() -> Self {
        HotKeysConfig {
            enabled: true,
            capacity: 2048,
            half_life: Duration::from_secs(2),
            hot_set: 256,
        }
    }
}

/// The hash a key is tracked by (the whole key, however long).
pub fn key_hash(key: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(key)
}

/// One hot key as the latest fold saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct HotKey {
    /// The key, or its first [`KEY_CAPTURE`] bytes when `len` is longer.
    pub key: Bytes,
    /// The whole key's length in bytes.
    pub len: usize,
    /// Estimated requests per second (reads and writes) over the decay window.
    pub requests_per_sec: f64,
    /// Estimated fraction of all client traffic (0..=1).
    pub share: f64,
}

impl HotKey {
    /// Whether `key` holds only a prefix of a longer key.
    pub fn truncated(&self) -> bool {
        self.len > self.key.len()
    }
}

/// What one fold published; immutable, swapped whole.
#[derive(Debug, Default)]
pub struct HotSnapshot {
    /// Hottest first, at most [`MAX_LISTED`].
    pub keys: Vec<HotKey>,
    /// Keys in the table now, and its capacity.
    pub tracked: usize,
    pub capacity: usize,
    /// Estimated client requests per second, all keys together.
    pub total_per_sec: f64,
    /// The request path keeps one request in this many.
    pub sample_one_in: u64,
    /// Samples folded and samples lost (overwritten before a fold) so far.
    pub sampled_total: u64,
    pub lost_total: u64,
    pub half_life: Duration,
    /// Whole keys whose rate rises fast, fastest first, at most [`MAX_RISING`].
    pub rising: Vec<Bytes>,
    /// Hashes of the keys `is_hot` answers yes for.
    hot: HashSet<u64, IdentityHash>,
}

impl HotSnapshot {
    /// How many keys `is_hot` answers yes for.
    pub fn hot_count(&self) -> usize {
        self.hot.len()
    }

    /// The share of traffic the hottest `n` keys take together.
    pub fn top_share(&self, n: usize) -> f64 {
        self.keys.iter().take(n).map(|k| k.share).sum()
    }
}

/// What only the fold task touches.
#[derive(Debug)]
struct Folder {
    top: TopK,
    cursors: [u64; STRIPES],
    /// Seconds of traffic folded: the decay window is not full before one
    /// half-life or so, and rates are corrected for it.
    age: f64,
    sampled_total: u64,
    lost_total: u64,
    trend: Trend,
}

/// The streaming top-k of hot keys; see the module documentation.
#[derive(Debug)]
pub struct HotKeys {
    config: HotKeysConfig,
    rings: Rings,
    /// The request path keeps one request in `1 << shift`.
    shift: AtomicU32,
    published: ArcSwap<HotSnapshot>,
    folder: Mutex<Folder>,
    metrics: metrics::HotMetrics,
}

impl HotKeys {
    /// A tracker with its Prometheus metrics registered in `metrics`.
    pub fn new(config: HotKeysConfig, metrics: &Metrics) -> Arc<HotKeys> {
        let capacity = config.capacity.max(1);
        let hot = HotKeys {
            rings: Rings::new(),
            shift: AtomicU32::new(0),
            published: ArcSwap::from_pointee(HotSnapshot {
                capacity,
                sample_one_in: 1,
                half_life: config.half_life,
                ..HotSnapshot::default()
            }),
            folder: Mutex::new(Folder {
                top: TopK::new(capacity),
                cursors: [0; STRIPES],
                age: 0.0,
                sampled_total: 0,
                lost_total: 0,
                trend: Trend::new(config.half_life.as_secs_f64().max(1e-3)),
            }),
            metrics: metrics::HotMetrics::new(),
            config,
        };
        if config.enabled {
            hot.metrics.register(metrics);
        }
        Arc::new(hot)
    }

    pub fn config(&self) -> HotKeysConfig {
        self.config
    }

    pub fn is_enabled(&self) -> bool {
        self.config.enabled
    }

    /// The latest snapshot.
    pub fn snapshot(&self) -> Arc<HotSnapshot> {
        self.published.load_full()
    }

    /// Bytes held whatever the traffic: the sample rings and the table.
    pub fn memory_bytes(&self) -> usize {
        let counter = std::mem::size_of::<top_k::Counter>() + 2 * std::mem::size_of::<u64>();
        self.rings.memory_bytes()
            + self.config.capacity * counter
            + Trend::memory_bytes(self.config.capacity)
    }

    /// Starts the fold task in `tasks` (nothing when tracking is off).
    pub fn spawn(self: &Arc<Self>, tasks: &Tasks) {
        if !self.config.enabled {
            return;
        }
        let hot = self.clone();
        tasks.spawn("hot-keys", |stop| async move {
            let mut tick = tokio::time::interval(FOLD_EVERY);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last = Instant::now();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return Ok(()),
                    _ = tick.tick() => {
                        let now = Instant::now();
                        hot.fold(now - last);
                        last = now;
                    }
                }
            }
        });
    }

    /// One request for `key`, on the request path: a random draw, and for a
    /// kept sample one hash and one ring write.
    #[inline]
    pub fn record(&self, key: &[u8]) {
        let shift = self.shift.load(Ordering::Relaxed);
        if shift > 0 && roll() & ((1u64 << shift) - 1) != 0 {
            return;
        }
        self.rings.push(stripe(), key_hash(key), key, shift);
    }

    /// Folds the samples written since the last fold, `elapsed` after it:
    /// decays the table, adds the samples, adapts the sampling rate and
    /// publishes a snapshot. The fold task calls it; tests call it directly.
    pub fn fold(&self, elapsed: Duration) {
        let mut guard = self.folder.lock();
        let folder = &mut *guard;
        let dt = elapsed.as_secs_f64().max(1e-3);
        let half_life = self.config.half_life.as_secs_f64().max(1e-3);
        folder.top.decay(0.5f64.powf(dt / half_life));
        let shift = self.shift.load(Ordering::Relaxed);
        let mut weight = 0.0;
        let top = &mut folder.top;
        let drained = self.rings.drain(&mut folder.cursors, |sample, stands_for| {
            let w = f64::from(1u32 << sample.shift.min(31)) * stands_for;
            weight += w;
            top.record(sample.hash, sample.key(), sample.len, w);
        });
        // Samples caught mid-write are traffic too, of unknown keys: they
        // count in the total at the current rate.
        let lost_weight = drained.torn as f64 * f64::from(1u32 << shift);
        folder.top.record_untracked(lost_weight);
        weight += lost_weight;
        folder.age += dt;
        folder.sampled_total += drained.read;
        folder.lost_total += drained.lost;
        let next = shift_for(weight / dt);
        self.shift.store(next, Ordering::Relaxed);
        let snapshot = self.publishable(folder, next, half_life);
        self.metrics.show(&snapshot, drained);
        self.published.store(Arc::new(snapshot));
    }

    fn publishable(&self, folder: &mut Folder, shift: u32, half_life: f64) -> HotSnapshot {
        let lambda = std::f64::consts::LN_2 / half_life;
        // A stream that started `age` ago has filled 1 - e^{-λ·age} of its window.
        let filled = (1.0 - (-lambda * folder.age).exp()).max(1e-9);
        let per_sec = lambda / filled;
        let rising = folder.trend.observe(&folder.top, folder.age, per_sec);
        let total = folder.top.total();
        let ranked = folder.top.ranked();
        let hot_set = self.config.hot_set.min(ranked.len());
        let floor = folder.top.floor().max(MIN_LISTED_RATE / per_sec);
        let hot = ranked
            .iter()
            .take(hot_set)
            .filter(|c| c.count > floor)
            .map(|c| c.hash)
            .collect();
        let keys = ranked
            .iter()
            .take(MAX_LISTED)
            .filter(|c| c.count * per_sec >= MIN_LISTED_RATE)
            .map(|c| HotKey {
                key: Bytes::copy_from_slice(c.key()),
                len: c.len,
                requests_per_sec: c.count * per_sec,
                share: if total > 0.0 { c.count / total } else { 0.0 },
            })
            .collect();
        HotSnapshot {
            keys,
            tracked: folder.top.len(),
            capacity: folder.top.capacity(),
            total_per_sec: total * per_sec,
            sample_one_in: 1 << shift,
            sampled_total: folder.sampled_total,
            lost_total: folder.lost_total,
            half_life: self.config.half_life,
            rising,
            hot,
        }
    }
}

impl HotSet for HotKeys {
    fn is_hot(&self, key: &[u8]) -> bool {
        let snapshot = self.published.load();
        !snapshot.hot.is_empty() && snapshot.hot.contains(&key_hash(key))
    }

    fn hottest(&self, limit: usize) -> Vec<Bytes> {
        self.published
            .load()
            .keys
            .iter()
            .filter(|hot| !hot.truncated())
            .take(limit)
            .map(|hot| hot.key.clone())
            .collect()
    }

    fn rising(&self, limit: usize) -> Vec<Bytes> {
        let snapshot = self.published.load();
        snapshot.rising.iter().take(limit).cloned().collect()
    }
}

impl ReadTap for HotKeys {
    fn read(&self, key: &[u8], _hit: bool, origin: Origin) {
        if origin == Origin::Client {
            self.record(key);
        }
    }
}

impl WriteTap for HotKeys {
    fn write(&self, write: &Write, _outcome: Result<&Applied, &CacheError>) {
        if write.origin == Origin::Client {
            write.change.each_key(|key| self.record(key));
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::cache::Change;

    fn tracker(config: HotKeysConfig) -> Arc<HotKeys> {
        HotKeys::new(config, &Metrics::new())
    }

    #[test]
    fn a_burst_on_one_key_is_hot_after_one_fold() {
        let hot = tracker(HotKeysConfig::default());
        for i in 0..5_000u32 {
            hot.record(format!("cold:{i}").as_bytes());
        }
        hot.fold(FOLD_EVERY);
        assert!(!hot.is_hot(b"burst"));
        for _ in 0..2_000 {
            hot.record(b"burst");
        }
        for i in 0..2_000u32 {
            hot.record(format!("cold:{i}").as_bytes());
        }
        hot.fold(FOLD_EVERY);
        assert!(hot.is_hot(b"burst"));
        let snapshot = hot.snapshot();
        assert_eq!(&snapshot.keys[0].key[..], b"burst");
        assert!(snapshot.keys[0].share > 0.15, "{:?}", snapshot.keys[0]);
    }

    #[test]
    fn hottest_lists_whole_keys_hottest_first() {
        let hot = tracker(HotKeysConfig::default());
        let long = [b'x'; KEY_CAPTURE + 10];
        for (key, times) in [(&b"a"[..], 300), (&b"b"[..], 200), (&long[..], 250)] {
            for _ in 0..times {
                hot.record(key);
            }
        }
        hot.fold(FOLD_EVERY);
        let hottest = hot.hottest(10);
        assert_eq!(hottest, vec![Bytes::from("a"), Bytes::from("b")]);
        assert_eq!(hot.hottest(1), vec![Bytes::from("a")]);
    }

    #[test]
    fn decay_cools_a_key_nobody_asks_for_any_more() {
        let hot = tracker(HotKeysConfig::default());
        for _ in 0..1_000 {
            hot.record(b"old");
        }
        hot.fold(FOLD_EVERY);
        for _ in 0..50 {
            for _ in 0..100 {
                hot.record(b"new");
            }
            hot.fold(FOLD_EVERY);
        }
        let snapshot = hot.snapshot();
        assert_eq!(&snapshot.keys[0].key[..], b"new");
        // 10 s = 5 half-lives later, the old burst weighs 1000/32 against
        // 100 per fold of the new key's steady stream.
        assert!(snapshot.keys[1].share < 0.03, "{:?}", snapshot.keys);
        // 100 requests per 200 ms fold.
        let rate = snapshot.keys[0].requests_per_sec;
        assert!((rate - 500.0).abs() < 25.0, "{rate}");
    }

    #[test]
    fn keys_nobody_asks_for_leave_the_list_and_the_hot_set() {
        let hot = tracker(HotKeysConfig::default());
        for _ in 0..100 {
            hot.record(b"once-busy");
        }
        hot.fold(FOLD_EVERY);
        assert!(hot.is_hot(b"once-busy"));
        // A minute of silence: 30 half-lives take 100 requests to 1e-7.
        for _ in 0..300 {
            hot.fold(FOLD_EVERY);
        }
        assert!(!hot.is_hot(b"once-busy"));
        assert!(hot.snapshot().keys.is_empty());
    }

    #[test]
    fn memory_stays_within_the_capacity_whatever_the_key_count() {
        let config = HotKeysConfig {
            capacity: 100,
            ..HotKeysConfig::default()
        };
        let hot = tracker(config);
        let before = hot.memory_bytes();
        for round in 0..20u32 {
            for i in 0..5_000u32 {
                hot.record(format!("k:{round}:{i}").as_bytes());
            }
            hot.fold(FOLD_EVERY);
        }
        let snapshot = hot.snapshot();
        assert_eq!(snapshot.tracked, 100);
        assert!(snapshot.keys.len() <= 100);
        assert_eq!(hot.memory_bytes(), before);
        assert!(before < 2 << 20, "{before}");
    }

    #[test]
    fn long_keys_are_tracked_whole_and_shown_by_their_prefix() {
        let hot = tracker(HotKeysConfig::default());
        let (a, b) = (vec![b'a'; 200], [vec![b'a'; 199], vec![b'b']].concat());
        for _ in 0..300 {
            hot.record(&a);
        }
        for _ in 0..100 {
            hot.record(&b);
        }
        hot.fold(FOLD_EVERY);
        let snapshot = hot.snapshot();
        assert_eq!(
            snapshot.keys.len(),
            2,
            "the two keys share a prefix, not a counter"
        );
        assert!(snapshot.keys[0].truncated());
        assert_eq!(snapshot.keys[0].len, 200);
        assert_eq!(snapshot.keys[0].key.len(), KEY_CAPTURE);
        assert!(hot.is_hot(&a) && hot.is_hot(&b));
        assert!(!hot.is_hot(&a[..KEY_CAPTURE]));
    }

    #[test]
    fn heavy_traffic_is_sampled_and_still_counted_whole() {
        let hot = tracker(HotKeysConfig::default());
        // 100,000 requests per fold = 500,000/s: about 1 in 32 kept next time.
        for _ in 0..3 {
            for i in 0..100_000u32 {
                let other = i.to_le_bytes();
                hot.record(if i % 4 == 0 { b"quarter" } else { &other });
            }
            hot.fold(FOLD_EVERY);
        }
        let snapshot = hot.snapshot();
        assert!(snapshot.sample_one_in >= 16, "{}", snapshot.sample_one_in);
        assert_eq!(&snapshot.keys[0].key[..], b"quarter");
        let share = snapshot.keys[0].share;
        assert!((share - 0.25).abs() < 0.03, "{share}");
    }

    /// One fold of `per_fold` requests spread over `keys` steady keys, plus
    /// `extra` requests for `riser`.
    fn steady_fold(hot: &HotKeys, keys: u32, per_fold: u32, riser: &[u8], extra: u32) {
        for i in 0..per_fold {
            hot.record(format!("steady:{}", i % keys).as_bytes());
        }
        for _ in 0..extra {
            hot.record(riser);
        }
        hot.fold(FOLD_EVERY);
    }

    #[test]
    fn a_key_whose_rate_jumps_is_rising_before_it_is_hot() {
        let config = HotKeysConfig {
            hot_set: 4,
            ..HotKeysConfig::default()
        };
        let hot = tracker(config);
        // 4 keys at 500/s each and a fifth at 5/s, for 4 s.
        for _ in 0..20 {
            steady_fold(&hot, 4, 400, b"riser", 1);
        }
        assert!(hot.rising(10).is_empty(), "{:?}", hot.rising(10));
        // The fifth jumps to 100/s: rising within a fold or two, not yet hot.
        steady_fold(&hot, 4, 400, b"riser", 20);
        steady_fold(&hot, 4, 400, b"riser", 20);
        assert_eq!(hot.rising(10), vec![Bytes::from("riser")]);
        assert!(!hot.is_hot(b"riser"));
        // At a steady 100/s it stops rising once the baseline caught up.
        for _ in 0..15 {
            steady_fold(&hot, 4, 400, b"riser", 20);
        }
        assert!(hot.rising(10).is_empty(), "{:?}", hot.rising(10));
    }

    #[test]
    fn uniform_traffic_has_no_rising_keys() {
        let hot = tracker(HotKeysConfig::default());
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..50 {
            for _ in 0..2_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                hot.record(format!("u:{}", x % 1_000_000).as_bytes());
            }
            hot.fold(FOLD_EVERY);
            assert!(hot.rising(10).is_empty(), "{:?}", hot.rising(10));
        }
        // Uniform over few keys too: every key steady, none rising.
        let hot = tracker(HotKeysConfig::default());
        for _ in 0..50 {
            steady_fold(&hot, 50, 2_000, b"none", 0);
        }
        assert!(hot.rising(10).is_empty(), "{:?}", hot.rising(10));
    }

    #[test]
    fn only_client_traffic_counts() {
        let hot = tracker(HotKeysConfig::default());
        for _ in 0..100 {
            hot.read(b"warm", true, Origin::Warming);
            hot.read(b"client", false, Origin::Client);
        }
        let mset = Write::client(Change::DeleteMany(vec![Bytes::from_static(b"d")]));
        hot.write(&mset, Err(&CacheError::NoNode));
        hot.fold(FOLD_EVERY);
        let snapshot = hot.snapshot();
        let keys: Vec<&[u8]> = snapshot.keys.iter().map(|k| &k.key[..]).collect();
        assert_eq!(keys, [&b"client"[..], b"d"]);
    }
}
