//! `trace --target`: replaying a trace against a real redis-server.
#![allow(clippy::unwrap_used)]

mod support;

use roost_bench::endpoint::Endpoint;
use roost_bench::load::http::HttpFlavor;
use roost_bench::trace::catalog::find_trace;
use roost_bench::trace::default_traces_dir;
use roost_bench::trace::live::{run_live, LiveOptions};
use support::RedisServer;

fn options(redis: &RedisServer, window: usize) -> LiveOptions {
    LiveOptions {
        endpoint: Endpoint::Resp(redis.address()),
        flavor: HttpFlavor::Roost,
        window,
        prefix: "t:".into(),
        flush: true,
    }
}

/// With room for every key, a live server misses exactly once per distinct key:
/// glimpse has 6,015 requests over 2,529 keys, so 3,486 hits (57.955 %), whatever the
/// pipelining window. A second replay with --flush starts from empty again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unbounded_server_hits_all_but_first_references() {
    let redis = RedisServer::start();
    let dir = default_traces_dir(std::env::var("ROOST_TRACES_DIR").ok().as_deref());
    let glimpse = find_trace("glimpse").unwrap();
    for window in [1, 32] {
        let mut seen = 0;
        let rows = run_live(
            &dir,
            &[glimpse],
            &[2000],
            &options(&redis, window),
            false,
            |_| seen += 1,
        )
        .await
        .unwrap();
        assert_eq!((seen, rows.len()), (1, 1));
        let row = &rows[0];
        assert!(
            (row.live_percent - 100.0 * 3486.0 / 6015.0).abs() < 1e-9,
            "window {window}: {}",
            row.live_percent
        );
        // LRU at 2000 entries is the README's exact 57.41 %, below the unbounded cache.
        assert!(
            (row.lru_percent - 57.41).abs() < 0.01,
            "{}",
            row.lru_percent
        );
        assert_eq!(redis.integer(&["DBSIZE"]), 2529);
        assert_eq!(redis.command(&["GET", "t:0000000000000001"]).len(), 1);
    }
}

/// The HTTP path scores the same through webdis, and refuses --flush.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replays_through_webdis_too() {
    if !support::installed("webdis") {
        eprintln!("webdis not installed (apt-get install webdis): not run");
        return;
    }
    let redis = RedisServer::start();
    let webdis = support::Webdis::start(&redis);
    let dir = default_traces_dir(std::env::var("ROOST_TRACES_DIR").ok().as_deref());
    let glimpse = find_trace("glimpse").unwrap();
    let mut live = LiveOptions {
        endpoint: Endpoint::Http(webdis.base_url()),
        flavor: HttpFlavor::Webdis,
        window: 1,
        prefix: "w:".into(),
        flush: true,
    };
    assert!(run_live(&dir, &[glimpse], &[], &live, false, |_| {})
        .await
        .is_err());
    live.flush = false;
    let rows = run_live(&dir, &[glimpse], &[], &live, false, |_| {})
        .await
        .unwrap();
    assert_eq!(rows.len(), glimpse.sizes.len());
    assert!((rows[0].live_percent - 100.0 * 3486.0 / 6015.0).abs() < 1e-9);
    assert_eq!(redis.integer(&["DBSIZE"]), 2529);
}
