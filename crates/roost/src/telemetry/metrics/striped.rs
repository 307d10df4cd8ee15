//! Hot-path counters and latency histograms that worker threads update without
//! sharing cache lines, and the Prometheus collectors that sum them at scrape time.
//!
//! Why: a `prometheus` counter is one atomic and a histogram observation is four
//! (one a compare-and-swap loop on an `f64` sum), all shared by every worker. A
//! RESP GET bumps seven or eight of them; with two workers the cache lines holding
//! them bounce between cores on nearly every command. Here each thread adds to its
//! own stripe (one of [`STRIPES`], padded to separate cache lines) and a scrape
//! adds the stripes up. Recording stays exact — every observation is counted once,
//! in the same bucket — only reading costs more, and reading is rare.
//!
//! A scrape reads the stripes one after another while requests go on, so it may
//! see an observation in a histogram's buckets before its sum (never the other way
//! round for `_count`: `_count` is the sum of the buckets read in the same pass).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use prometheus::core::{Collector, Desc};
use prometheus::proto::{self, LabelPair, MetricFamily, MetricType};

/// Stripes per counter: more than the worker threads of the machines Roost runs
/// on, so two busy threads rarely share one (a shared stripe is still correct).
const STRIPES: usize = 8;
/// `AtomicU64`s per cache line pair (128 bytes: adjacent-line prefetch pulls lines
/// in pairs on x86).
const SLOTS_PER_LINE_PAIR: usize = 16;

static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's stripe, handed out round-robin on first use.
    static STRIPE: usize = NEXT_STRIPE.fetch_add(1, Ordering::Relaxed) % STRIPES;
}

fn stripe() -> usize {
    STRIPE.with(|s| *s)
}

/// `STRIPES` groups of `width` counters, each group starting on its own cache
/// line pair.
#[derive(Debug)]
struct Stripes {
    slots: Box<[Padded]>,
    lines_per_stripe: usize,
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Padded([AtomicU64; SLOTS_PER_LINE_PAIR]);

impl Stripes {
    fn new(width: usize) -> Stripes {
        let lines_per_stripe = width.div_ceil(SLOTS_PER_LINE_PAIR).max(1);
        let slots = (0..STRIPES * lines_per_stripe)
            .map(|_| Padded::default())
            .collect();
        Stripes {
            slots,
            lines_per_stripe,
        }
    }

    fn slot(&self, stripe: usize, index: usize) -> &AtomicU64 {
        let line = stripe * self.lines_per_stripe + index / SLOTS_PER_LINE_PAIR;
        &self.slots[line].0[index % SLOTS_PER_LINE_PAIR]
    }

    /// Adds `n` to counter `index` in the calling thread's stripe.
    fn add(&self, index: usize, n: u64) {
        self.slot(stripe(), index).fetch_add(n, Ordering::Relaxed);
    }

    /// Counter `index` summed over the stripes.
    fn sum(&self, index: usize) -> u64 {
        (0..STRIPES)
            .map(|s| self.slot(s, index).load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// A monotonic counter; clones share the count.
#[derive(Debug, Clone)]
pub struct StripedCounter(Arc<Stripes>);

impl StripedCounter {
    pub fn new() -> StripedCounter {
        StripedCounter(Arc::new(Stripes::new(1)))
    }

    pub fn inc(&self) {
        self.0.add(0, 1);
    }

    pub fn inc_by(&self, n: u64) {
        self.0.add(0, n);
    }

    pub fn get(&self) -> u64 {
        self.0.sum(0)
    }
}

impl Default for StripedCounter {
    fn default() -> Self {
        StripedCounter::new()
    }
}

/// A latency histogram with fixed upper bounds (seconds); clones share the data.
/// Slot layout per stripe: sum in nanoseconds, then one count per bucket, the last
/// one for observations above every bound (`+Inf`).
#[derive(Debug, Clone)]
pub struct StripedHistogram {
    bounds: Arc<[f64]>,
    stripes: Arc<Stripes>,
}

const SUM_NANOS: usize = 0;
const FIRST_BUCKET: usize = 1;

impl StripedHistogram {
    pub fn new(bounds: Arc<[f64]>) -> StripedHistogram {
        let stripes = Arc::new(Stripes::new(FIRST_BUCKET + bounds.len() + 1));
        StripedHistogram { bounds, stripes }
    }

    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        // A linear scan: requests are mostly faster than the first bounds, so it
        // stops within a compare or two, where a binary search always takes six
        // dependent steps.
        let bucket = self
            .bounds
            .iter()
            .position(|&bound| seconds <= bound)
            .unwrap_or(self.bounds.len());
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let stripe = stripe();
        let slot = |index| self.stripes.slot(stripe, index);
        slot(FIRST_BUCKET + bucket).fetch_add(1, Ordering::Relaxed);
        slot(SUM_NANOS).fetch_add(nanos, Ordering::Relaxed);
    }

    /// Cumulative counts per finite bound, the total (`+Inf`) and the sum in seconds.
    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut cumulative = Vec::with_capacity(self.bounds.len());
        let mut total = 0u64;
        for (i, &bound) in self.bounds.iter().enumerate() {
            total += self.stripes.sum(FIRST_BUCKET + i);
            cumulative.push((bound, total));
        }
        total += self.stripes.sum(FIRST_BUCKET + self.bounds.len());
        let sum_seconds = self.stripes.sum(SUM_NANOS) as f64 / 1e9;
        HistogramSnapshot {
            cumulative,
            count: total,
            sum_seconds,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    /// (upper bound in seconds, observations at or below it).
    pub cumulative: Vec<(f64, u64)>,
    pub count: u64,
    pub sum_seconds: f64,
}

/// What one labelled series of a family reads from.
#[derive(Debug, Clone)]
pub enum Series {
    Counter(StripedCounter),
    Histogram(StripedHistogram),
    /// A counter kept elsewhere, its value copied in by [`StripedFamily::mirror`].
    Mirrored(u64),
}

/// A metric family of striped series, registered once in a Prometheus registry;
/// series may be added later (a node joining the ring).
#[derive(Debug, Clone)]
pub struct StripedFamily(Arc<FamilyInner>);

#[derive(Debug)]
struct FamilyInner {
    desc: Desc,
    kind: MetricType,
    label_names: Vec<&'static str>,
    series: Mutex<Vec<(Vec<String>, Series)>>,
}

impl StripedFamily {
    pub fn new(
        name: &str,
        help: &str,
        kind: MetricType,
        label_names: &[&'static str],
    ) -> StripedFamily {
        let labels = label_names.iter().map(|l| l.to_string()).collect();
        let desc = Desc::new(name.into(), help.into(), labels, Default::default())
            .expect("invariant: valid metric");
        StripedFamily(Arc::new(FamilyInner {
            desc,
            kind,
            label_names: label_names.to_vec(),
            series: Mutex::new(Vec::new()),
        }))
    }

    /// The series with these label values (in `label_names` order), made on first use.
    /// A mirrored series is not counted into: the counter returned then is detached.
    pub fn counter(&self, values: &[&str]) -> StripedCounter {
        match self.series(values, || Series::Counter(StripedCounter::new())) {
            Series::Counter(c) => c,
            Series::Mirrored(_) => StripedCounter::new(),
            Series::Histogram(_) => unreachable!("invariant: a counter family holds counters"),
        }
    }

    pub fn histogram(&self, values: &[&str], bounds: &Arc<[f64]>) -> StripedHistogram {
        let make = || Series::Histogram(StripedHistogram::new(bounds.clone()));
        match self.series(values, make) {
            Series::Histogram(h) => h,
            Series::Counter(_) | Series::Mirrored(_) => {
                unreachable!("invariant: a histogram family holds histograms")
            }
        }
    }

    /// Makes a counter family show exactly these series and values, dropping
    /// every other: for counts kept elsewhere that follow their own label set
    /// (a Redis fleet's requests per node). Counters handed out before keep
    /// counting but are no longer exported.
    pub fn mirror(&self, values: impl IntoIterator<Item = (Vec<String>, u64)>) {
        let mirrored = values
            .into_iter()
            .map(|(labels, value)| (labels, Series::Mirrored(value)))
            .collect();
        *self.0.series.lock() = mirrored;
    }

    fn series(&self, values: &[&str], make: impl FnOnce() -> Series) -> Series {
        let mut series = self.0.series.lock();
        if let Some((_, found)) = series.iter().find(|(v, _)| v.iter().eq(values.iter())) {
            return found.clone();
        }
        let made = make();
        let owned = values.iter().map(|v| v.to_string()).collect();
        series.push((owned, made.clone()));
        made
    }
}

impl Collector for StripedFamily {
    fn desc(&self) -> Vec<&Desc> {
        vec![&self.0.desc]
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let series = self.0.series.lock().clone();
        let metrics = series
            .iter()
            .map(|(values, series)| {
                let labels = self
                    .0
                    .label_names
                    .iter()
                    .zip(values)
                    .map(|(name, value)| {
                        let mut pair = LabelPair::default();
                        pair.set_name(name.to_string());
                        pair.set_value(value.clone());
                        pair
                    })
                    .collect();
                let mut metric = proto::Metric::from_label(labels);
                match series {
                    Series::Counter(c) => metric.set_counter(counter_proto(c.get())),
                    Series::Mirrored(value) => metric.set_counter(counter_proto(*value)),
                    Series::Histogram(h) => metric.set_histogram(histogram_proto(h.snapshot())),
                }
                metric
            })
            .collect();
        let mut family = MetricFamily::default();
        family.set_name(self.0.desc.fq_name.clone());
        family.set_help(self.0.desc.help.clone());
        family.set_field_type(self.0.kind);
        family.set_metric(metrics);
        vec![family]
    }
}

fn counter_proto(value: u64) -> proto::Counter {
    let mut counter = proto::Counter::default();
    counter.set_value(value as f64);
    counter
}

fn histogram_proto(snapshot: HistogramSnapshot) -> proto::Histogram {
    let buckets = snapshot
        .cumulative
        .iter()
        .map(|&(bound, count)| {
            let mut bucket = proto::Bucket::default();
            bucket.set_upper_bound(bound);
            bucket.set_cumulative_count(count);
            bucket
        })
        .collect();
    let mut histogram = proto::Histogram::default();
    histogram.set_sample_count(snapshot.count);
    histogram.set_sample_sum(snapshot.sum_seconds);
    histogram.set_bucket(buckets);
    histogram
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn counts_from_many_threads_add_up_exactly() {
        let counter = StripedCounter::new();
        std::thread::scope(|scope| {
            for _ in 0..12 {
                scope.spawn(|| (0..10_000).for_each(|_| counter.inc()));
            }
        });
        counter.inc_by(5);
        assert_eq!(counter.get(), 120_005);
    }

    #[test]
    fn observations_land_in_the_first_bucket_at_or_above_them() {
        let bounds: Arc<[f64]> = Arc::from(vec![1e-3, 2e-3, 4e-3]);
        let histogram = StripedHistogram::new(bounds);
        for ms in [1, 1, 3, 4, 9] {
            histogram.observe(Duration::from_millis(ms));
        }
        let snapshot = histogram.snapshot();
        assert_eq!(
            snapshot.cumulative,
            vec![(1e-3, 2), (2e-3, 2), (4e-3, 4)],
            "a value equal to a bound belongs to that bound's bucket"
        );
        assert_eq!(
            snapshot.count, 5,
            "the one above every bound counts in +Inf"
        );
        assert!((snapshot.sum_seconds - 0.018).abs() < 1e-9);
    }

    #[test]
    fn a_family_exposes_every_series_with_its_labels() {
        let family = StripedFamily::new("t_total", "test", MetricType::COUNTER, &["node"]);
        family.counter(&["a"]).inc();
        family.counter(&["a"]).inc();
        family.counter(&["b"]).inc_by(3);
        let registry = prometheus::Registry::new();
        registry.register(Box::new(family)).unwrap();
        let mut text = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &registry.gather(),
            &mut text,
        )
        .unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(text.contains("t_total{node=\"a\"} 2"), "{text}");
        assert!(text.contains("t_total{node=\"b\"} 3"), "{text}");
    }

    #[test]
    fn a_mirrored_family_shows_only_the_copied_values() {
        let family = StripedFamily::new("t_total", "test", MetricType::COUNTER, &["node"]);
        let early = family.counter(&["a"]);
        early.inc_by(9);
        family.mirror([(vec!["b".to_owned()], 4), (vec!["c".to_owned()], 0)]);
        early.inc();
        family.mirror([(vec!["b".to_owned()], 6), (vec!["c".to_owned()], 1)]);
        family.counter(&["b"]).inc_by(100);
        let registry = prometheus::Registry::new();
        registry.register(Box::new(family)).unwrap();
        let mut text = Vec::new();
        prometheus::Encoder::encode(
            &prometheus::TextEncoder::new(),
            &registry.gather(),
            &mut text,
        )
        .unwrap();
        let text = String::from_utf8(text).unwrap();
        assert!(!text.contains("node=\"a\""), "{text}");
        assert!(text.contains("t_total{node=\"b\"} 6"), "{text}");
        assert!(text.contains("t_total{node=\"c\"} 1"), "{text}");
    }
}
