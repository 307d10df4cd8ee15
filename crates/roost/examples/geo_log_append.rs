//! The change log's group commit under concurrent appenders: N tasks each
//! append 100-byte records one at a time (as the Cache does after each
//! client write) for a fixed time, into a log in a fresh directory on the
//! file system of `dir` (not a tmpfs, or the fsyncs cost nothing). Prints
//! appends/s, fsyncs (group commits)/s, appends per fsync, and the p50/p99/max
//! latency of one append (queued, written, fsynced).
//!
//!     cargo run --release -p roost --example geo_log_append [appenders] [seconds] [dir]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use roost::geo::log::ChangeLog;
use roost_store::SystemClock;

const RECORD_BYTES: usize = 100;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let appenders: usize = args.next().map_or(Ok(64), |a| a.parse())?;
    let seconds: u64 = args.next().map_or(Ok(5), |a| a.parse())?;
    let parent = args
        .next()
        .map_or_else(|| PathBuf::from("target"), PathBuf::from);
    std::fs::create_dir_all(&parent)?;
    let dir = tempfile::tempdir_in(&parent)?;
    let log = Arc::new(ChangeLog::open(
        dir.path(),
        1 << 30,
        Duration::from_secs(86_400),
        Arc::new(SystemClock),
    )?);

    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds);
    let mut runs = tokio::task::JoinSet::new();
    for appender in 0..appenders {
        let log = log.clone();
        runs.spawn(async move {
            let record = Bytes::from(vec![b'a' + (appender % 26) as u8; RECORD_BYTES]);
            let mut latencies = Vec::new();
            let mut version = 0;
            while Instant::now() < deadline {
                version += 1;
                let start = Instant::now();
                log.append(vec![(version, record.clone())]).await?;
                latencies.push(start.elapsed());
            }
            anyhow::Ok(latencies)
        });
    }
    let mut latencies = Vec::new();
    while let Some(run) = runs.join_next().await {
        latencies.extend(run??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stats = log.stats();
    latencies.sort_unstable();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "{appenders} appenders x {RECORD_BYTES}-byte records for {elapsed:.1} s in {}",
        parent.display()
    );
    println!(
        "appends/s {:.0}  fsyncs/s {:.0}  appends per fsync {:.1}",
        stats.appended as f64 / elapsed,
        stats.commits as f64 / elapsed,
        stats.appended as f64 / stats.commits.max(1) as f64
    );
    println!(
        "append latency p50 {:?}  p99 {:?}  max {:?}",
        at(0.50),
        at(0.99),
        at(1.0)
    );
    Ok(())
}
