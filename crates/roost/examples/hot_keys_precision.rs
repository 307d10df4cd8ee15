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

#[path = "../tests/support/zipf.rs"]
mod zipf;
use zipf::Zipf;

const KEYSPACE: usize = 1_000_000;
/// Simulated traffic: requests per second, so the sampler adapts as it would.
const RATES: [u64; 2] = [20_000, 500_000];
const SECONDS: u64 = 20;

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
}

fn run(exponent: f64, rate: u64) -> Row {
    let hot = HotKeys::new(HotKeysConfig::default(), &Metrics::new());
    let mut zipf = Zipf::new(KEYSPACE, exponent, 7);
    let mut exact = vec![0u64; KEYSPACE];
    let keys: Vec<Vec<u8>> = (0..KEYSPACE).map(name).collect();
    let per_fold = rate * FOLD_EVERY.as_millis() as u64 / 1000;
    let folds = SECONDS * 1000 / FOLD_EVERY.as_millis() as u64;
    let mut batch = Vec::with_capacity(per_fold as usize);
    for _ in 0..folds {
        batch.clear();
        batch.extend((0..per_fold).map(|_| zipf.next()));
        batch.iter().for_each(|&k| exact[k] += 1);
        for &k in &batch {
            hot.record(&keys[k]);
        }
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
    }
}

/// Folds until a key that turned hot is hot / listed in the top 20 / in the top 10.
type Detected = [Option<u64>; 3];

/// A steady Zipf stream; after 10 s a new key starts taking `share` of the
/// traffic. Folds until it is hot, listed in the top 20 (the API's default),
/// and in the top 10.
fn detection(exponent: f64, rate: u64, share: f64, half_life: Duration) -> Detected {
    let config = HotKeysConfig {
        half_life,
        ..HotKeysConfig::default()
    };
    let hot = HotKeys::new(config, &Metrics::new());
    let mut zipf = Zipf::new(KEYSPACE, exponent, 11);
    let keys: Vec<Vec<u8>> = (0..KEYSPACE).map(name).collect();
    let per_fold = rate * FOLD_EVERY.as_millis() as u64 / 1000;
    let every = (1.0 / share).round() as u64;
    let newcomer = b"newcomer".to_vec();
    for _ in 0..50 {
        (0..per_fold).for_each(|_| hot.record(&keys[zipf.next()]));
        hot.fold(FOLD_EVERY);
    }
    let mut found: Detected = [None; 3];
    for fold in 1..=25u64 {
        for i in 0..per_fold {
            if i % every == 0 {
                hot.record(&newcomer);
            } else {
                hot.record(&keys[zipf.next()]);
            }
        }
        hot.fold(FOLD_EVERY);
        let snapshot = hot.snapshot();
        let rank = snapshot.keys.iter().position(|k| k.key[..] == newcomer[..]);
        let seen = [
            hot.is_hot(&newcomer),
            rank.is_some_and(|r| r < 20),
            rank.is_some_and(|r| r < 10),
        ];
        for (at, now) in found.iter_mut().zip(seen) {
            if at.is_none() && now {
                *at = Some(fold);
            }
        }
    }
    found
}

/// Nanoseconds per `record` on a key in cache: with sampling at 1 in
/// `1 << shift` (the fold sets it from the traffic; here it is forced by
/// recording that much before one fold).
fn record_cost() -> [(u64, f64); 3] {
    let keys: Vec<Vec<u8>> = (0..1000).map(name).collect();
    [0u64, 200_000, 2_000_000].map(|per_fold| {
        let hot = HotKeys::new(HotKeysConfig::default(), &Metrics::new());
        (0..per_fold).for_each(|i| hot.record(&keys[i as usize % 1000]));
        hot.fold(FOLD_EVERY);
        let one_in = hot.snapshot().sample_one_in;
        let calls = 4_000_000u64;
        let start = Instant::now();
        // No fold inside the loop: it would change the rate. A ring that
        // overruns costs a sampled call the same as one that does not.
        for i in 0..calls {
            hot.record(&keys[i as usize % 1000]);
        }
        (one_in, start.elapsed().as_nanos() as f64 / calls as f64)
    })
}

fn main() {
    let ms = FOLD_EVERY.as_millis() as u64;
    println!(
        "Hot-key precision: Zipf streams over {KEYSPACE} keys for {SECONDS} s of simulated traffic, \
         capacity 2048, half-life 2 s, fold every {ms} ms; errors are |estimated - exact| / exact of each key's share.\n"
    );
    println!("| Zipf s | req/s | sampled 1 in | true top 10 in listed top 10 | in top 20 | true top 100 in top 100 | top-10 share error mean / max | top-100 share error mean |");
    println!("|---|---|---|---|---|---|---|---|");
    for exponent in [1.1, 0.99] {
        for rate in RATES {
            let r = run(exponent, rate);
            println!(
                "| {} | {} | {} | {}/10 | {}/10 | {}/100 | {:.1} % / {:.1} % | {:.1} % |",
                r.exponent,
                r.rate,
                r.sample_one_in,
                r.recall_10_in_10,
                r.recall_10_in_20,
                r.recall_100_in_100,
                100.0 * r.top10_mean_err,
                100.0 * r.top10_max_err,
                100.0 * r.top100_mean_err,
            );
        }
    }
    println!(
        "\nA key that turns hot mid-stream (after 10 s of steady Zipf traffic): folds of {ms} ms \
         until `is_hot` says so / it is listed in the top 20 / in the top 10.\n"
    );
    println!("| Zipf s | req/s | new key's share | half-life | is_hot | top 20 | top 10 |");
    println!("|---|---|---|---|---|---|---|");
    let show = |f: Option<u64>| f.map_or("> 5 s".into(), |f| format!("{} ms", f * ms));
    for exponent in [1.1, 0.99] {
        for (rate, share, half_life) in [
            (20_000, 0.02, 2000),
            (500_000, 0.02, 2000),
            (500_000, 0.05, 2000),
            (500_000, 0.02, 1000),
        ] {
            let [hot, top20, top10] =
                detection(exponent, rate, share, Duration::from_millis(half_life));
            println!(
                "| {exponent} | {rate} | {:.0} % | {} s | {} | {} | {} |",
                share * 100.0,
                half_life as f64 / 1000.0,
                show(hot),
                show(top20),
                show(top10)
            );
        }
    }
    println!("\nrecord() on a key in cache (the tap's whole cost per request):\n");
    println!("| sampled 1 in | ns per call |");
    println!("|---|---|");
    for (one_in, ns) in record_cost() {
        println!("| {one_in} | {ns:.1} |");
    }
}
