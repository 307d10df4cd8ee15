//! The RESP client, load engine and fill against a real `redis-server` on a free port.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use roost_bench::fill::FillOptions;
use roost_bench::load::workload::{KeyDistribution, WorkloadSpec};
use roost_bench::load::{LoadError, LoadOptions, StopCondition};
use roost_bench::resp::engine::run_resp_load;
use roost_bench::resp::fill::run_resp_fill;
use support::RedisServer;

fn options(mix: &str, keyspace: u64, stop: StopCondition) -> LoadOptions {
    LoadOptions {
        connections: 4,
        pipeline: 1,
        threads: 1,
        rate: None,
        stop,
        workload: Arc::new(WorkloadSpec {
            keyspace,
            distribution: KeyDistribution::Uniform,
            key_prefix: "key:".into(),
            key_digits: 12,
            value_size: 32,
            mix: mix.parse().unwrap(),
            mget_keys: 4,
            ttl_seconds: None,
            ttl_ratio: 0.0,
        }),
        show_progress: false,
        seed: 1,
    }
}

fn fill_options(keys: u64) -> FillOptions {
    FillOptions {
        keys,
        value_size: 32,
        batch: 100,
        prefix: "key:".into(),
        key_digits: 12,
        connections: 3,
        show_progress: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_load_sends_exactly_the_requested_count() {
    let redis = RedisServer::start();
    let mut options = options("set=1", 1000, StopCondition::Requests(10_007));
    (options.connections, options.pipeline, options.threads) = (5, 64, 2);
    let report = run_resp_load(&redis.address(), &options).await.unwrap();
    assert_eq!((report.total_ops, report.total_errors), (10_007, 0));
    assert_eq!(redis.calls("set"), 10_007);
    assert_eq!((report.header.pipeline, report.header.threads), (64, 2));
    assert_eq!(redis.integer(&["DBSIZE"]), 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hit_ratio_matches_the_preloaded_share_of_the_keyspace() {
    let redis = RedisServer::start();
    let filled = run_resp_fill(&redis.address(), &fill_options(2000))
        .await
        .unwrap();
    assert_eq!(filled.keys, 2000);
    assert_eq!(redis.integer(&["DBSIZE"]), 2000);
    assert_eq!(redis.integer(&["STRLEN", "key:000000001999"]), 32);

    let mut all = options("get=1", 2000, StopCondition::Requests(5000));
    all.pipeline = 16;
    let report = run_resp_load(&redis.address(), &all).await.unwrap();
    assert_eq!(report.get_hit_ratio, Some(1.0));

    // Twice the keyspace, half of it preloaded: about half the GETs hit.
    let mut half = options("get=1", 4000, StopCondition::Requests(20_000));
    (half.pipeline, half.threads) = (16, 2);
    let report = run_resp_load(&redis.address(), &half).await.unwrap();
    let ratio = report.get_hit_ratio.unwrap();
    assert!((0.46..0.54).contains(&ratio), "hit ratio {ratio}");
    assert_eq!(redis.calls("get"), 25_000);
    let get = &report.operations[0];
    assert_eq!(get.hits + get.misses, 20_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_of_the_mix_is_understood() {
    let redis = RedisServer::start();
    run_resp_fill(&redis.address(), &fill_options(100))
        .await
        .unwrap();
    let options = options(
        "get=4,set=3,mget=2,delete=1",
        200,
        StopCondition::Requests(4000),
    );
    let report = run_resp_load(&redis.address(), &options).await.unwrap();
    assert_eq!((report.total_ops, report.total_errors), (4000, 0));
    let names: Vec<&str> = report.operations.iter().map(|row| row.operation).collect();
    assert_eq!(names, ["get", "set", "mget", "delete"]);
    let mget = &report.operations[2];
    assert_eq!(mget.hits + mget.misses, 4 * mget.count);
    assert_eq!(redis.calls("mget"), mget.count);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_keeps_to_the_rate() {
    let redis = RedisServer::start();
    let mut options = options("get=1", 100, StopCondition::Requests(600));
    options.rate = Some(2000.0);
    let report = run_resp_load(&redis.address(), &options).await.unwrap();
    assert_eq!((report.total_ops, report.total_errors), (600, 0));
    // 600 requests at 2000/s take 0.3 s; closed loop would take a few milliseconds.
    assert!(
        (0.28..0.6).contains(&report.elapsed_seconds),
        "took {} s",
        report.elapsed_seconds
    );
    assert_eq!(report.header.mode, "open 2000/s");

    // For a duration, every connection keeps to its schedule to the end: 0.5 s at
    // 2000/s is 1000 requests, over 4 connections and 2 threads.
    options.stop = StopCondition::After(Duration::from_millis(500));
    options.threads = 2;
    let report = run_resp_load(&redis.address(), &options).await.unwrap();
    assert!(
        (960..=1004).contains(&report.total_ops),
        "{} requests",
        report.total_ops
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_counted_and_shown() {
    let redis =
        RedisServer::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", "noeviction"]);
    let mut options = options("set=1", 100_000, StopCondition::Requests(2000));
    Arc::get_mut(&mut options.workload).unwrap().value_size = 10_000;
    options.pipeline = 8;
    let report = run_resp_load(&redis.address(), &options).await.unwrap();
    assert_eq!(report.total_ops, 2000);
    let set = &report.operations[0];
    assert!(set.errors > 1000, "{} errors", set.errors);
    assert!(
        set.sample_errors
            .iter()
            .any(|e| e.starts_with("server error: OOM")),
        "{:?}",
        set.sample_errors
    );
}

#[tokio::test]
async fn an_absent_server_is_a_connect_error() {
    let address = format!("127.0.0.1:{}", support::free_port());
    let options = options("get=1", 10, StopCondition::After(Duration::from_secs(1)));
    let result = run_resp_load(&address, &options).await;
    assert!(matches!(result, Err(LoadError::Connect(_))), "{result:?}");
}
