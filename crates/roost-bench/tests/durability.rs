//! `roost-bench durability` against a real `redis-server`: a clean run loses nothing,
//! writes removed behind the client's back are counted as lost, and a server that dies
//! shows up as failed requests and unverified keys, never as lost ones.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use roost_bench::resp::durability::{run_durability, DurabilityError, DurabilityOptions};
use support::RedisServer;

fn options(prefix: &str, duration_ms: u64, rate: Option<f64>) -> DurabilityOptions {
    DurabilityOptions {
        connections: 4,
        duration: Duration::from_millis(duration_ms),
        read_share: 0.5,
        rate,
        value_size: 24,
        prefix: prefix.into(),
        timeout: Duration::from_secs(2),
        seed: 7,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_run_reads_every_acknowledged_write_back() {
    let redis = RedisServer::start();
    let report = run_durability(&redis.address(), &options("c:", 400, None))
        .await
        .unwrap();
    let load = &report.load;
    assert!(load.writes_acknowledged > 100, "{load:?}");
    assert_eq!(load.writes, load.writes_acknowledged);
    assert_eq!(load.reads, load.reads_found);
    assert_eq!(report.verify.checked, load.writes_acknowledged);
    assert_eq!((report.lost_writes, report.success_ratio), (0, 1.0));
    // Every acknowledged write is a distinct key on the server, holding its own value.
    assert_eq!(redis.integer(&["DBSIZE"]) as u64, load.writes_acknowledged);
    assert_eq!(redis.command(&["GET", "c:2:0"]), "=c:2:0..................");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_removed_behind_the_clients_back_are_lost() {
    let redis = RedisServer::start();
    let address = redis.address();
    let run =
        tokio::spawn(
            async move { run_durability(&address, &options("f:", 1200, Some(2000.0))).await },
        );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(redis.command(&["FLUSHALL"]).starts_with("+OK"));
    let report = run.await.unwrap().unwrap();
    let acknowledged = report.load.writes_acknowledged;
    // About 0.25 s of writes at 1000/s were flushed: lost, and some reads missed them.
    assert!(
        (100..acknowledged / 2).contains(&report.lost_writes),
        "lost {} of {acknowledged}",
        report.lost_writes
    );
    assert_eq!(report.verify.missing, report.lost_writes);
    assert!(report.load.reads_missing > 0);
    assert_eq!(report.load.write_errors + report.load.read_errors, 0);
    assert_eq!(report.success_ratio, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_server_fails_requests_and_leaves_writes_unverified() {
    let mut redis = RedisServer::start();
    let address = redis.address();
    let run =
        tokio::spawn(
            async move { run_durability(&address, &options("d:", 800, Some(2000.0))).await },
        );
    tokio::time::sleep(Duration::from_millis(300)).await;
    redis.kill();
    let report = run.await.unwrap().unwrap();
    let load = &report.load;
    // Killed at 0.3 s of 0.8 s: about 1000 requests due while it was gone, all failed.
    assert!(load.write_errors + load.read_errors > 500, "{load:?}");
    assert!(report.success_ratio < 0.7, "{}", report.success_ratio);
    assert!(load.timeline.iter().any(|second| second.failed > 0));
    assert_eq!(report.verify.unverified, load.writes_acknowledged);
    assert_eq!((report.verify.checked, report.lost_writes), (0, 0));
    let absent = run_durability(&redis.address(), &options("x:", 100, None)).await;
    assert!(
        matches!(absent, Err(DurabilityError::Connect(_))),
        "{absent:?}"
    );
}
