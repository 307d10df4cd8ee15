//! Warm restart at scale: a real server (embedded store, 4 shards) is filled
//! with 1,000,000 entries (16-byte keys, 32-byte values, half with a deadline
//! an hour away), writes its snapshot, stops; a second server on the same
//! `ROOST_DATA_DIR` loads it while serving. Prints, per run, the snapshot's
//! size and write time and the load's own duration (from the warming status),
//! then the median of the runs. Target (issue 15): the load takes <= 2 s.
//!
//!     cargo run --release -p roost --example snapshot_load [entries] [runs]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use roost::cache::{Change, Expiry, Item, Write};
use roost::config::{Config, Layers};
use roost::server::{self, Running};
use roost::snapshot::LoadState;

const BATCH: usize = 1_000;

fn config(dir: &std::path::Path) -> anyhow::Result<Config> {
    let env: HashMap<String, String> = [
        ("ROOST_HTTP_ADDR", "127.0.0.1:0"),
        ("ROOST_RESP_ADDR", "127.0.0.1:0"),
        ("ROOST_DASHBOARD_ADDR", "127.0.0.1:0"),
        ("ROOST_SHARDS", "4"),
        ("ROOST_MAX_MEMORY", "2GiB"),
        ("ROOST_SHUTDOWN_GRACE", "0"),
        ("ROOST_LOG", "warn"),
        // No periodic snapshot during the measurement.
        ("WARMING_INTERVAL", "86400000"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .chain([(
        "ROOST_DATA_DIR".to_owned(),
        dir.to_string_lossy().into_owned(),
    )])
    .collect();
    Ok(Config::from_layers(&Layers::defaults().with_env(&env))?)
}

async fn fill(running: &Running, entries: usize) -> anyhow::Result<()> {
    let cache = &running.state().cache;
    for start in (0..entries).step_by(BATCH) {
        let items = (start..(start + BATCH).min(entries))
            .map(|i| Item {
                key: Bytes::from(format!("key:{i:012}")),
                value: Bytes::from(format!("value-{i:026}")),
                expiry: match i % 2 {
                    0 => Expiry::After(Duration::from_secs(3600)),
                    _ => Expiry::Never,
                },
            })
            .collect();
        cache.apply(Write::client(Change::Mset(items))).await?;
    }
    Ok(())
}

/// One run: (snapshot bytes, write ms, load ms, entries loaded).
async fn run(entries: usize) -> anyhow::Result<(u64, u64, u64, u64)> {
    let dir = tempfile::tempdir()?;
    let first = server::start(config(dir.path())?).await?;
    fill(&first, entries).await?;
    let state = first.state().clone();
    let snapshots = state.snapshots.clone().expect("ROOST_DATA_DIR is set");
    let written = snapshots
        .write_now(&state)
        .await
        .ok_or_else(|| anyhow::anyhow!("the snapshot failed"))?;
    let write_ms = snapshots
        .status()
        .last_snapshot
        .map_or(0, |s| s.duration_ms);
    drop(state);
    first.shutdown().await;

    let second = server::start(config(dir.path())?).await?;
    let snapshots = second.state().snapshots.clone().expect("set");
    let load = loop {
        match snapshots.status().last_load {
            Some(load) if load.state != LoadState::Loading => break load,
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    };
    anyhow::ensure!(load.state == LoadState::Done, "{load:?}");
    second.shutdown().await;
    Ok((written.bytes, write_ms, load.duration_ms, load.entries))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let entries: usize = args.next().map_or(Ok(1_000_000), |a| a.parse())?;
    let runs: usize = args.next().map_or(Ok(3), |a| a.parse())?;
    let mut loads = Vec::new();
    for i in 1..=runs {
        let started = Instant::now();
        let (bytes, write_ms, load_ms, loaded) = run(entries).await?;
        println!(
            "run {i}: {loaded} entries, snapshot {:.1} MiB written in {write_ms} ms, loaded in {load_ms} ms (run {:.1} s)",
            bytes as f64 / (1 << 20) as f64,
            started.elapsed().as_secs_f64()
        );
        loads.push(load_ms);
    }
    loads.sort_unstable();
    println!(
        "median load of {entries} entries over {runs} runs: {} ms (target <= 2000 ms)",
        loads[loads.len() / 2]
    );
    Ok(())
}
