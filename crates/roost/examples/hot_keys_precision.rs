//! Precision of the hot-key tracker against exact counts, printed as the
//! markdown tables in docs/benchmarks.md ("Hot keys: precision").
//!
//! Replays seeded Zipf streams through the same `HotKeys` the server installs
//! as its taps (`record` on the request path, `fold` every 200 ms of simulated
//! time), counting every request exactly beside it, then compares: how many
//! of the true top 10 / top 100 the tracker lists in its top 10 / 20 / 100,
//! and the error of the estimated shares. Then a key that turns hot in the
//! middle of the stream: how many folds until `is_hot` says so and the key is
//! in the listed top 10.
//!
//!     cargo run --release -p roost --example hot_keys_precision

use std::time::{Duration, Instant};

use roost::hot::{HotKeys, HotKeysConfig, HotSet, FOLD_EVERY};
use roost::telemetry::Metrics;

const KEYSPACE: usize = 1_000_000;
/// Simulated traffic: requests per second, so the sampler adapts as it would.
const RATES: [u64; 2] = [20_000, 500_000];
const SECONDS: u64 = 20;

struct Zipf {
    cdf: Vec<f64>,
    state: u64,
}

impl Zipf {
    fn new(n: usize, s: f64, seed: u64) -> Zipf {
        let mut cdf: Vec<f64> = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).collect();
        let mut sum = 0.0;
        for w in &mut cdf {
            sum += *w;
            *w = sum;
        }
        cdf.iter_mut().for_each(|w| *w /= sum);
        Zipf {
            cdf,
            state: seed | 1,
        }
    }

    fn next(&mut self) -> usize {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}

fn name(rank: usize) -> Vec<u8> {
    format!("key:{rank:012}").into_bytes()
}

struct Row {
    exponent: f64,
    rate: u64,
    recall_10_in_10: usize,
    recall_10_in_20: usize,
    recall_100_in_100: usize,
    top10_mean_err: f64,
    top10_max_err: f64,
    top100_mean_err: f64,
    sample_one_in: u64,
    record_ns: f64,
}

fn run(exponent: f64, rate: u64) -> Row {
    let hot = HotKeys::new(HotKeysConfig::default(), &Metrics::new());
    let mut zipf = Zipf::new(KEYSPACE, exponent, 7);
    let mut exact = vec![0u64; KEYSPACE];
    let keys: Vec<Vec<u8>> = (0..KEYSPACE).map(name).collect();
    let per_fold = rate * FOLD_EVERY.as_millis() as u64 / 1000;
    let folds = SECONDS * 1000 / FOLD_EVERY.as_millis() as u64;
    let mut spent = Duration::ZERO;
    let mut batch = Vec::with_capacity(per_fold as usize);
    for _ in 0..folds {
        batch.clear();
        batch.extend((0..per_fold).map(|_| zipf.next()));
        batch.iter().for_each(|&k| exact[k] += 1);
        let start = Instant::now();
        for &k in &batch {
            hot.record(&keys[k]);
        }
        spent += start.elapsed();
        hot.fold(FOLD_EVERY);
    }
    let total: u64 = exact.iter().sum();
    let snapshot = hot.snapshot();
    let listed: Vec<usize> = snapshot
        .keys
        .iter()
        .map(|k| {
            let text = std::str::from_utf8(&k.key).expect("names are ASCII");
            text["key:".len()..].parse().expect("a name")
        })
        .collect();
    let mut ranked: Vec<usize> = (0..KEYSPACE).collect();
    ranked.sort_by_key(|&k| std::cmp::Reverse(exact[k]));
    let recall = |truth: usize, within: usize| {
        ranked[..truth]
            .iter()
            .filter(|k| listed[..within.min(listed.len())].contains(k))
            .count()
    };
    let share_err = |n: usize| -> Vec<f64> {
        ranked[..n]
            .iter()
            .map(|&k| {
                let truth = exact[k] as f64 / total as f64;
                let estimate = snapshot
                    .keys
                    .iter()
                    .zip(&listed)
                    .find(|(_, &l)| l == k)
                    .map_or(0.0, |(hk, _)| hk.share);
                (estimate - truth).abs() / truth
            })
            .collect()
    };
    let e10 = share_err(10);
    let e100 = share_err(100);
    Row {
        exponent,
        rate,
        recall_10_in_10: recall(10, 10),
        recall_10_in_20: recall(10, 20),
        recall_100_in_100: recall(100, 100),
        top10_mean_err: e10.iter().sum::<f64>() / 10.0,
        top10_max_err: e10.iter().cloned().fold(0.0, f64::max),
        top100_mean_err: e100.iter().sum::<f64>() / 100.0,
        sample_one_in: snapshot.sample_one_in,
        record_ns: spent.as_nanos() as f64 / total as f64,
    }
}

/// A steady Zipf stream; after 10 s a new key starts taking `share` of the
/// traffic. Folds until it is hot, and until it is in the listed top 10.
fn detection(exponent: f64, rate: u64, share: f64) -> (Option<u64>, Option<u64>) {
    let hot = HotKeys::new(HotKeysConfig::default(), &Metrics::new());
    let mut zipf = Zipf::new(KEYSPACE, exponent, 11);
    let keys: Vec<Vec<u8>> = (0..KEYSPACE).map(name).collect();
    let per_fold = rate * FOLD_EVERY.as_millis() as u64 / 1000;
    let every = (1.0 / share).round() as u64;
    let newcomer = b"newcomer".to_vec();
    for _ in 0..50 {
        (0..per_fold).for_each(|_| hot.record(&keys[zipf.next()]));
        hot.fold(FOLD_EVERY);
    }
    let (mut is_hot, mut top10) = (None, None);
    for fold in 1..=25u64 {
        for i in 0..per_fold {
            if i % every == 0 {
                hot.record(&newcomer);
            } else {
                hot.record(&keys[zipf.next()]);
            }
        }
        hot.fold(FOLD_EVERY);
        if is_hot.is_none() && hot.is_hot(&newcomer) {
            is_hot = Some(fold);
        }
        let snapshot = hot.snapshot();
        if top10.is_none()
            && snapshot
                .keys
                .iter()
                .take(10)
                .any(|k| k.key[..] == newcomer[..])
        {
            top10 = Some(fold);
        }
    }
    (is_hot, top10)
}

fn main() {
    let ms = FOLD_EVERY.as_millis() as u64;
    println!(
        "Hot-key precision: Zipf streams over {KEYSPACE} keys for {SECONDS} s of simulated traffic, \
         capacity 2048, half-life 2 s, fold every {ms} ms; errors are |estimated - exact| / exact of each key's share.\n"
    );
    println!("| Zipf s | req/s | sampled 1 in | true top 10 in listed top 10 | in top 20 | true top 100 in top 100 | top-10 share error mean / max | top-100 share error mean | record() ns/call |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for exponent in [1.1, 0.99] {
        for rate in RATES {
            let r = run(exponent, rate);
            println!(
                "| {} | {} | {} | {}/10 | {}/10 | {}/100 | {:.1} % / {:.1} % | {:.1} % | {:.1} |",
                r.exponent,
                r.rate,
                r.sample_one_in,
                r.recall_10_in_10,
                r.recall_10_in_20,
                r.recall_100_in_100,
                100.0 * r.top10_mean_err,
                100.0 * r.top10_max_err,
                100.0 * r.top100_mean_err,
                r.record_ns
            );
        }
    }
    println!("\nA key that turns hot mid-stream (after 10 s of steady Zipf traffic): folds of {ms} ms until it is hot / in the listed top 10.\n");
    println!("| Zipf s | req/s | new key's share | is_hot after | in top 10 after |");
    println!("|---|---|---|---|---|");
    for exponent in [1.1, 0.99] {
        for (rate, share) in [(20_000, 0.02), (500_000, 0.02), (500_000, 0.005)] {
            let (is_hot, top10) = detection(exponent, rate, share);
            let show = |f: Option<u64>| {
                f.map_or("not within 5 s".into(), |f| format!("{f} ({} ms)", f * ms))
            };
            println!(
                "| {exponent} | {rate} | {:.1} % | {} | {} |",
                share * 100.0,
                show(is_hot),
                show(top10)
            );
        }
    }
}
