//! What the predictor costs: nanoseconds per `observe` and `predict` on the
//! request path (one thread and four), and per read folded by `learn`.
//!
//! Keys are built before the timed loops; `observe` runs with sampling off
//! (the dearest case: every read is written to a ring) and with it on;
//! `learn` is drained every 4,096 reads per thread so the rings never
//! overrun. Traffic: `user:<id>` → `feed:<id>` sessions mixed with random
//! `item:<n>` reads, so the model has rules to look up.
//!
//!     cargo run --release -p roost --example predict_cost

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use roost::warming::predict::{Predictor, PredictorConfig};

const KEYS: usize = 1 << 16;
const ROUNDS: usize = 30;

fn keys() -> Vec<Vec<u8>> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    (0..KEYS)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let id = x % 100_000;
            match i % 4 {
                0 => format!("user:{id}"),
                1 => format!("feed:{}", (x >> 20) % 100_000),
                2 => format!("item:{}", x % 10_000_000),
                _ => format!("session:{:x}", x),
            }
            .into_bytes()
        })
        .collect()
}

/// A predictor that learned `user:{}` → `feed:{}` and some noise.
fn trained() -> Predictor {
    let p = Predictor::new(PredictorConfig::default());
    let mut now = 0;
    for round in 0..50u64 {
        for id in 0..200u64 {
            p.observe(format!("user:{}", round * 1000 + id).as_bytes(), now);
            p.observe(format!("feed:{}", round * 1000 + id).as_bytes(), now + 5);
            p.observe(format!("item:{}", round * 7 + id * 13).as_bytes(), now + 6);
            now += 1;
        }
        p.learn(now);
    }
    p
}

fn per_op(ops: usize, started: Instant) -> f64 {
    started.elapsed().as_nanos() as f64 / ops as f64
}

fn observe_one_thread(keys: &[Vec<u8>]) -> f64 {
    let p = Predictor::new(PredictorConfig::default());
    let mut best = f64::MAX;
    for round in 0..ROUNDS {
        let started = Instant::now();
        for (i, k) in keys.iter().take(4096).enumerate() {
            p.observe(black_box(k), (round * 4096 + i) as u64);
        }
        best = best.min(per_op(4096, started));
        // Ms of simulated time so the sampler stays off (4096 reads / 10 s).
        p.learn(((round + 1) * 10_000) as u64);
    }
    best
}

fn observe_sampled(keys: &[Vec<u8>]) -> f64 {
    let p = Predictor::new(PredictorConfig::default());
    // Push the sampler up: 4096 reads folded per simulated millisecond.
    for round in 0..8u64 {
        for k in keys.iter().take(4096) {
            p.observe(k, round);
        }
        p.learn(round + 1);
    }
    let started = Instant::now();
    let n = keys.len() * 4;
    for i in 0..n {
        p.observe(black_box(&keys[i % KEYS]), 100);
    }
    per_op(n, started)
}

fn observe_threads(keys: &Arc<Vec<Vec<u8>>>, threads: usize) -> f64 {
    let p = Arc::new(Predictor::new(PredictorConfig::default()));
    // Enough reads that thread start-up is noise; the rings overrun (nothing
    // drains them), which costs the writers nothing more.
    let per_thread = 2_000_000;
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (p, keys) = (p.clone(), keys.clone());
            std::thread::spawn(move || {
                for i in 0..per_thread {
                    p.observe(black_box(&keys[(t * per_thread + i) % KEYS]), i as u64);
                }
            })
        })
        .collect();
    for h in handles {
        let _ = h.join();
    }
    // Wall time per read over all threads: the contention shows here.
    per_op(threads * per_thread, started)
}

fn predict(p: &Predictor, keys: &[Vec<u8>], only_users: bool) -> (f64, usize) {
    let chosen: Vec<&Vec<u8>> = keys
        .iter()
        .filter(|k| !only_users || k.starts_with(b"user:"))
        .collect();
    let mut found = 0;
    let n = chosen.len() * 4;
    let started = Instant::now();
    for i in 0..n {
        found += black_box(p.predict(black_box(chosen[i % chosen.len()]), 0)).len();
    }
    (per_op(n, started), found)
}

fn learn_per_read(keys: &[Vec<u8>]) -> f64 {
    let p = Predictor::new(PredictorConfig::default());
    let mut total = 0.0;
    let mut reads = 0;
    for round in 0..ROUNDS {
        for (i, k) in keys.iter().skip(round * 3000 % KEYS).take(3000).enumerate() {
            p.observe(k, (round * 200 + i / 15) as u64);
        }
        let started = Instant::now();
        p.learn(((round + 1) * 200) as u64);
        total += started.elapsed().as_nanos() as f64;
        reads += 3000;
    }
    total / reads as f64
}

fn main() {
    let keys = Arc::new(keys());
    let trained = trained();
    println!("predictor cost (ns per operation, release build)");
    println!("| operation | ns/op |");
    println!("|---|---|");
    println!(
        "| observe, 1 thread, every read kept | {:.1} |",
        observe_one_thread(&keys)
    );
    println!(
        "| observe, 1 thread, sampling on | {:.1} |",
        observe_sampled(&keys)
    );
    for threads in [2, 4] {
        let best = (0..3)
            .map(|_| observe_threads(&keys, threads))
            .fold(f64::MAX, f64::min);
        println!("| observe, {threads} threads (wall time / read, all threads) | {best:.1} |");
    }
    let (hit, found) = predict(&trained, &keys, true);
    println!(
        "| predict, key with a rule (`user:<id>`, {} predictions) | {hit:.1} |",
        found
    );
    let (any, _) = predict(&trained, &keys, false);
    println!("| predict, mixed keys (3 in 4 without a rule) | {any:.1} |");
    println!(
        "| learn, per read folded (background) | {:.1} |",
        learn_per_read(&keys)
    );
    println!("stats after training: {:?}", trained.stats());
}
