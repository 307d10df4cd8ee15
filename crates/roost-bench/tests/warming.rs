//! `roost-bench warming` against real processes: the restart curve across a
//! `redis-server` killed and started again on the same port, the read scenarios'
//! tallies, and the stand-in origin's per-prefix counts over HTTP.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use roost_bench::fill::FillOptions;
use roost_bench::origin::{run_origin, OriginOptions};
use roost_bench::resp::fill::run_resp_fill;
use roost_bench::warming::curve::{run_curve, CurveOptions};
use roost_bench::warming::probe::origin_counts;
use roost_bench::warming::reads::{run_reads, ReadOptions};
use roost_bench::warming::scenario::Scenario;
use support::{free_port, RedisServer};

fn read_options(resp: String, origin: Option<String>) -> ReadOptions {
    ReadOptions {
        resp,
        api: None,
        origin,
        connections: 4,
        rate: 400.0,
        warmup: Duration::from_millis(300),
        duration: Duration::from_secs(1),
        wait_threshold: Duration::from_millis(10),
        timeout: Duration::from_secs(2),
        seed: 7,
    }
}

/// A `roost-bench origin` on a free port, in this runtime; its base URL.
async fn start_origin() -> String {
    let port = free_port();
    let options = OriginOptions {
        listen: format!("127.0.0.1:{port}").parse().unwrap(),
        latency: Duration::ZERO,
        status: 200,
        max_age: Some(1),
        value_size: 10,
    };
    tokio::spawn(run_origin(options));
    let base = format!("http://127.0.0.1:{port}");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while origin_counts(&base).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "origin not ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_curve_reconnects_across_a_restart_and_measures_it() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    // Warm: every key is there before the curve starts, as bench/warming.sh fills it.
    let fill = FillOptions {
        keys: 5000,
        value_size: 16,
        batch: 500,
        prefix: "curve:".into(),
        key_digits: 0,
        connections: 2,
        show_progress: false,
    };
    run_resp_fill(&redis.address(), &fill).await.unwrap();
    let options = CurveOptions {
        resp: redis.address(),
        connections: 4,
        rate: 1000.0,
        duration: Duration::from_secs(6),
        keyspace: 5000,
        zipf: 0.99,
        value_size: 16,
        ttl: None,
        steady_window: Duration::from_secs(1),
        after_window: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        seed: 3,
    };
    let curve = tokio::spawn(async move { run_curve(&options).await });
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Killed and started again empty on the same port, as a cold restart.
    let restarted = tokio::task::spawn_blocking(move || {
        redis.kill();
        std::thread::sleep(Duration::from_millis(300));
        RedisServer::start_on(port, &[])
    })
    .await
    .unwrap();
    let summary = curve.await.unwrap().unwrap();
    assert_eq!(summary.restarts.len(), 1, "{summary:?}");
    let restart = &summary.restarts[0];
    assert!(restart.gap_ms >= 300, "{restart:?}");
    assert_eq!(restart.steady_hit_ratio, Some(1.0), "{restart:?}");
    // The store came back empty: the first second after it misses far more.
    assert!(restart.after_over_steady.unwrap() < 0.8, "{restart:?}");
    assert!(summary.gets > 4000 && summary.errors > 0, "{summary:?}");
    // Keys were set again after the restart.
    assert!(restarted.integer(&["DBSIZE"]) > 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_reads_of_cached_keys_never_wait_and_count_nothing_at_the_origin() {
    let redis = RedisServer::start();
    for i in 0..5 {
        redis.command(&["SET", &format!("hot:{i}"), "v"]);
    }
    let origin = start_origin().await;
    let options = read_options(redis.address(), Some(origin));
    let report = run_reads(Scenario::Refresh { keys: 5 }, &options)
        .await
        .unwrap();
    let hot = &report.reads["hot"];
    assert!(hot.reads >= 300 && hot.reads <= 420, "{hot:?}");
    assert_eq!((hot.nil, hot.errors), (0, 0), "{hot:?}");
    assert_eq!(report.origin.as_ref().unwrap().requests, 0);
    assert!((report.visits_per_second - 400.0).abs() < 40.0);
    assert_eq!(report.warming, None);
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["scenario"], "refresh");
    assert_eq!(json["parameters"]["keys"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_read_user_then_feed_with_the_think_time_between() {
    let redis = RedisServer::start();
    let mut options = read_options(redis.address(), None);
    options.rate = 100.0;
    options.wait_threshold = Duration::from_millis(5);
    let scenario = Scenario::Sessions {
        users: 300,
        think: Duration::from_millis(10),
    };
    let report = run_reads(scenario, &options).await.unwrap();
    let (user, feed) = (&report.reads["user"], &report.reads["feed"]);
    assert_eq!(user.reads, feed.reads);
    // Nothing is cached in a bare redis-server: every read is nil, and (bar a
    // scheduling hiccup on a busy machine) none takes as long as an origin fetch.
    assert_eq!((user.nil, feed.nil), (user.reads, feed.reads));
    assert!(feed.waited * 10 <= feed.reads, "{feed:?}");
    assert_eq!(report.parameters["revisit_s"], 3.0);
    // The warm-up's reads reach the server too, untallied.
    assert!(redis.calls("get") > 2 * user.reads);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_origin_counts_requests_by_key_prefix() {
    let origin = start_origin().await;
    let before = origin_counts(&origin).await.unwrap();
    let address = origin.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        for path in ["/items/user:1", "/items/user:2", "/items/feed:1"] {
            let mut stream = std::net::TcpStream::connect(&address).unwrap();
            write!(stream, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
            let mut response = String::new();
            stream.read_to_string(&mut response).unwrap();
            assert!(response.contains("max-age=1"), "{response}");
        }
    })
    .await
    .unwrap();
    let delta = origin_counts(&origin).await.unwrap().since(&before);
    assert_eq!(delta.requests, 3);
    assert_eq!(delta.by_prefix["user"], 2);
    assert_eq!(delta.by_prefix["feed"], 1);
}
