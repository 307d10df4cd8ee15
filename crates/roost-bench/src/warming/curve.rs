//! `roost-bench warming curve`: the restart curve. Cache-aside traffic over RESP —
//! GET a Zipf-chosen key, SET it when the GET misses — on an open-loop schedule,
//! with the GET hit ratio printed every second as one JSON line; the script restarts
//! the server mid-run (SIGTERM, kill -9) and the connections reconnect by themselves.
//!
//! Outcomes are counted in 100 ms bins (atomics, shared by the connections); the
//! per-second lines sum them. At the end, `restarts` finds each outage in the bins
//! (a run of bins with failed GETs) and puts the hit ratio over the first
//! `after_window` of traffic after it beside the steady one over `steady_window`
//! before it; that goes out as a last line `{"summary": …}`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Zipf};
use roost_resp::Frame;
use serde::Serialize;
use tokio::time::Instant;

use super::{command, get, GetOutcome};
use crate::resp::connection::RespConnection;

/// The resolution outages and windows are found at.
pub const BIN: Duration = Duration::from_millis(100);
const BINS_PER_SECOND: usize = 10;
/// How long after a second ends its line is printed: replies in flight at the
/// boundary land first.
const PRINT_LAG: Duration = Duration::from_millis(250);

#[derive(Debug, Clone)]
pub struct CurveOptions {
    /// `host:port` of the RESP port.
    pub resp: String,
    pub connections: usize,
    /// GETs per second over all connections.
    pub rate: f64,
    pub duration: Duration,
    pub keyspace: u64,
    pub zipf: f64,
    pub value_size: usize,
    /// `EX` given to each SET; none when `None`.
    pub ttl: Option<u64>,
    pub steady_window: Duration,
    pub after_window: Duration,
    pub timeout: Duration,
    pub seed: u64,
}

/// Counts of one bin, summed over the connections.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BinCounts {
    pub gets: u64,
    pub hits: u64,
    /// GETs that failed (error reply, timeout, no connection).
    pub errors: u64,
    pub set_errors: u64,
}

impl BinCounts {
    fn add(&mut self, other: &BinCounts) {
        self.gets += other.gets;
        self.hits += other.hits;
        self.errors += other.errors;
        self.set_errors += other.set_errors;
    }

    pub fn hit_ratio(&self) -> Option<f64> {
        (self.gets > 0).then(|| self.hits as f64 / self.gets as f64)
    }
}

#[derive(Default)]
struct Bin {
    gets: AtomicU64,
    hits: AtomicU64,
    errors: AtomicU64,
    set_errors: AtomicU64,
}

impl Bin {
    fn counts(&self) -> BinCounts {
        BinCounts {
            gets: self.gets.load(Ordering::Relaxed),
            hits: self.hits.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            set_errors: self.set_errors.load(Ordering::Relaxed),
        }
    }
}

struct Bins {
    start: Instant,
    bins: Vec<Bin>,
}

impl Bins {
    /// The bin of an outcome that arrived now (the last one for stragglers).
    fn now(&self) -> &Bin {
        let index = (self.start.elapsed().as_millis() / BIN.as_millis()) as usize;
        &self.bins[index.min(self.bins.len() - 1)]
    }

    fn sum(&self, range: std::ops::Range<usize>) -> BinCounts {
        let mut total = BinCounts::default();
        for bin in &self.bins[range.start.min(self.bins.len())..range.end.min(self.bins.len())] {
            total.add(&bin.counts());
        }
        total
    }
}

/// One line per second.
#[derive(Debug, Serialize)]
pub struct SecondLine {
    /// Seconds since the start, at the end of this second.
    pub t: u64,
    /// Wall clock at the start of this second, unix ms (to line up with the script's
    /// restart times).
    pub at_ms: u64,
    pub gets: u64,
    pub hits: u64,
    pub hit_ratio: Option<f64>,
    pub errors: u64,
    pub set_errors: u64,
}

/// One outage found in the bins and the hit ratio around it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Restart {
    /// Seconds since the start of the first bin with a failed GET.
    pub down_at_s: f64,
    /// Seconds since the start of the first bin with traffic after the outage.
    pub up_at_s: f64,
    /// `up - down`, at bin resolution.
    pub gap_ms: u64,
    pub steady_gets: u64,
    pub steady_hit_ratio: Option<f64>,
    pub after_gets: u64,
    pub after_hit_ratio: Option<f64>,
    /// `after / steady`: the target is >= 0.9 after a warm restart.
    pub after_over_steady: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct CurveSummary {
    pub gets: u64,
    pub hits: u64,
    pub hit_ratio: Option<f64>,
    pub errors: u64,
    pub set_errors: u64,
    pub steady_window_s: f64,
    pub after_window_s: f64,
    pub restarts: Vec<Restart>,
}

/// Runs the curve for `options.duration`, printing a line each second to stdout and
/// the summary last; returns the summary.
pub async fn run_curve(options: &CurveOptions) -> anyhow::Result<CurveSummary> {
    anyhow::ensure!(options.rate > 0.0, "--rate must be above 0");
    let zipf = Zipf::new(options.keyspace.max(1) as f64, options.zipf)
        .map_err(|_| anyhow::anyhow!("bad Zipf exponent {}", options.zipf))?;
    RespConnection::connect(&options.resp)
        .await
        .with_context(|| format!("cannot reach {}", options.resp))?;
    let start = Instant::now();
    let start_ms = unix_ms();
    let seconds = options.duration.as_secs_f64().ceil() as usize;
    let bins = Arc::new(Bins {
        start,
        bins: (0..seconds * BINS_PER_SECOND + 1)
            .map(|_| Bin::default())
            .collect(),
    });
    let end = start + options.duration;
    let next = Arc::new(AtomicU64::new(0));
    let value = Arc::new(vec![b'v'; options.value_size]);
    let workers: Vec<_> = (0..options.connections.max(1))
        .map(|i| {
            let (bins, next, value, options) =
                (bins.clone(), next.clone(), value.clone(), options.clone());
            tokio::spawn(async move {
                let mut rng = SmallRng::seed_from_u64(options.seed.wrapping_add(i as u64));
                let mut connection = None;
                loop {
                    let op = next.fetch_add(1, Ordering::Relaxed);
                    let due = start + Duration::from_secs_f64(op as f64 / options.rate);
                    if due >= end {
                        return;
                    }
                    tokio::time::sleep_until(due).await;
                    let index = (zipf.sample(&mut rng) as u64).clamp(1, options.keyspace) - 1;
                    let key = format!("curve:{index}");
                    one_get(&mut connection, &options, &key, &value, &bins).await;
                }
            })
        })
        .collect();
    for second in 0..seconds {
        let printed_at = start + Duration::from_secs(second as u64 + 1) + PRINT_LAG;
        tokio::time::sleep_until(printed_at).await;
        let counts = bins.sum(second * BINS_PER_SECOND..(second + 1) * BINS_PER_SECOND);
        print_line(&SecondLine {
            t: second as u64 + 1,
            at_ms: start_ms + second as u64 * 1000,
            gets: counts.gets,
            hits: counts.hits,
            hit_ratio: counts.hit_ratio(),
            errors: counts.errors,
            set_errors: counts.set_errors,
        });
    }
    for worker in workers {
        worker.await.context("a client task panicked")?;
    }
    let counts: Vec<BinCounts> = bins.bins.iter().map(Bin::counts).collect();
    let mut total = BinCounts::default();
    for bin in &counts {
        total.add(bin);
    }
    let summary = CurveSummary {
        gets: total.gets,
        hits: total.hits,
        hit_ratio: total.hit_ratio(),
        errors: total.errors,
        set_errors: total.set_errors,
        steady_window_s: options.steady_window.as_secs_f64(),
        after_window_s: options.after_window.as_secs_f64(),
        restarts: restarts(&counts, options.steady_window, options.after_window),
    };
    print_line(&serde_json::json!({ "summary": &summary }));
    Ok(summary)
}

async fn one_get(
    connection: &mut Option<RespConnection>,
    options: &CurveOptions,
    key: &str,
    value: &[u8],
    bins: &Bins,
) {
    let outcome = get(connection, &options.resp, key, options.timeout).await;
    let bin = bins.now();
    match outcome {
        GetOutcome::Value => {
            bin.gets.fetch_add(1, Ordering::Relaxed);
            bin.hits.fetch_add(1, Ordering::Relaxed);
        }
        GetOutcome::Nil => {
            bin.gets.fetch_add(1, Ordering::Relaxed);
            let ttl = options.ttl.map(|seconds| seconds.to_string());
            let mut args: Vec<&[u8]> = vec![b"SET", key.as_bytes(), value];
            if let Some(ttl) = &ttl {
                args.extend([b"EX".as_slice(), ttl.as_bytes()]);
            }
            let set = command(connection, &options.resp, &args, options.timeout).await;
            if !matches!(set, Ok(Frame::Simple(_))) {
                bins.now().set_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        GetOutcome::Failed(_) => {
            bin.errors.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn print_line(line: &impl Serialize) {
    let mut out = std::io::stdout().lock();
    if let Ok(text) = serde_json::to_string(line) {
        // A closed stdout (the script stopped reading) must not end the run.
        let _ = writeln!(out, "{text}");
        let _ = out.flush();
    }
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis() as u64)
}

/// Each outage in `bins` (a run of consecutive bins with failed GETs), with the
/// hit ratio over `steady` before it and over `after` from the first bin with
/// GETs after it.
pub fn restarts(bins: &[BinCounts], steady: Duration, after: Duration) -> Vec<Restart> {
    let per = |window: Duration| (window.as_millis() / BIN.as_millis()).max(1) as usize;
    let (steady, after) = (per(steady), per(after));
    let sum = |range: std::ops::Range<usize>| {
        let mut total = BinCounts::default();
        for bin in &bins[range.start.min(bins.len())..range.end.min(bins.len())] {
            total.add(bin);
        }
        total
    };
    let mut found = Vec::new();
    let mut i = 0;
    while i < bins.len() {
        if bins[i].errors == 0 {
            i += 1;
            continue;
        }
        let down = i;
        while i < bins.len() && bins[i].errors > 0 {
            i += 1;
        }
        let Some(up) = (i..bins.len()).find(|&j| bins[j].gets > 0) else {
            break;
        };
        let before = sum(down.saturating_sub(steady)..down);
        let since = sum(up..up + after);
        let ratio = |b: &BinCounts| b.hit_ratio();
        let seconds = |bin: usize| bin as f64 * BIN.as_secs_f64();
        found.push(Restart {
            down_at_s: seconds(down),
            up_at_s: seconds(up),
            gap_ms: ((up - down) as u128 * BIN.as_millis()) as u64,
            steady_gets: before.gets,
            steady_hit_ratio: ratio(&before),
            after_gets: since.gets,
            after_hit_ratio: ratio(&since),
            after_over_steady: match (ratio(&since), ratio(&before)) {
                (Some(a), Some(s)) if s > 0.0 => Some(a / s),
                _ => None,
            },
        });
        i = up;
    }
    found
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn bin(gets: u64, hits: u64, errors: u64) -> BinCounts {
        BinCounts {
            gets,
            hits,
            errors,
            set_errors: 0,
        }
    }

    #[test]
    fn an_outage_is_measured_from_its_first_failed_get() {
        // 6 s steady at 90 %, a 0.5 s outage, then 3 s at 45 % and the rest at 90 %.
        let mut bins = vec![bin(100, 90, 0); 60];
        bins.extend(vec![bin(0, 0, 8); 5]);
        bins.extend(vec![bin(100, 45, 0); 30]);
        bins.extend(vec![bin(100, 90, 0); 20]);
        bins[59] = bin(50, 45, 3);
        let found = restarts(&bins, Duration::from_secs(5), Duration::from_secs(3));
        assert_eq!(found.len(), 1);
        let restart = &found[0];
        assert!((restart.down_at_s - 5.9).abs() < 1e-9);
        assert!((restart.up_at_s - 6.5).abs() < 1e-9);
        assert_eq!(restart.gap_ms, 600);
        assert_eq!(restart.steady_gets, 5000);
        assert_eq!(restart.after_gets, 3000);
        assert_eq!(restart.after_hit_ratio, Some(0.45));
        let ratio = restart.after_over_steady.unwrap();
        assert!((ratio - 0.5).abs() < 1e-9, "{ratio}");
    }

    #[test]
    fn no_errors_no_restarts_and_an_unfinished_outage_is_not_one() {
        let steady = vec![bin(10, 9, 0); 50];
        assert!(restarts(&steady, Duration::from_secs(5), Duration::from_secs(3)).is_empty());
        let mut down = steady.clone();
        down.extend(vec![bin(0, 0, 4); 10]);
        assert!(restarts(&down, Duration::from_secs(5), Duration::from_secs(3)).is_empty());
    }
}
