//! The near cache in front of real redis-server nodes: a key read hot is
//! served from gateway memory (seen in the metrics, never by timing); a write
//! through a second gateway, a write straight to Redis and a FLUSHALL each
//! invalidate it; losing the tracking connection (killed, or its node killed)
//! stops near serving for that node until tracking is back and never leaves
//! a stale value behind; the byte budget is never exceeded; and through a
//! real Redis Cluster a direct write to a master invalidates too.
//! Every wait is a bounded poll; nothing is timed.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use support::fleet::{fleet_builder, keys_on, DEADLINE};
use support::origin::TestOrigin;
use support::redis::{RedisCluster, RedisServer};
use support::{eventually, metric, TestServer};

const POLL: Duration = Duration::from_millis(10);
const BUDGET: &str = "256KiB";
const BUDGET_BYTES: f64 = 256.0 * 1024.0;

async fn near_gateway(servers: &[&RedisServer], extra: &[(&str, &str)]) -> TestServer {
    let mut settings = vec![("ROOST_NEAR_CACHE_BYTES", BUDGET)];
    settings.extend_from_slice(extra);
    fleet_builder(servers, &settings)
        .env("ROOST_GUTTER_TTL", "0")
        .start()
        .await
}

async fn near_metric(server: &TestServer, series: &str) -> f64 {
    metric(&server.metrics_text().await, series)
}

async fn near_hits(server: &TestServer) -> f64 {
    near_metric(server, "roost_near_cache_hits_total").await
}

/// GETs `key` until the near cache answers it (the hot-key tracker has
/// called it hot and a fill went through), then shows that further reads are
/// all near hits.
async fn warm(server: &TestServer, key: &str) {
    let mut resp = server.resp().await;
    let until = Instant::now() + DEADLINE;
    loop {
        let before = near_hits(server).await;
        for _ in 0..50 {
            resp.cmd(&["GET", key]).await;
        }
        if near_hits(server).await >= before + 50.0 {
            return;
        }
        assert!(
            Instant::now() < until,
            "{key} never served from the near cache"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// Polls GET `key` on `server` until it answers `expected` (a raw RESP reply).
async fn until_reads(server: &TestServer, key: &str, expected: &str, what: &str) {
    let mut resp = server.resp().await;
    let until = Instant::now() + DEADLINE;
    loop {
        if resp.cmd(&["GET", key]).await == expected {
            return;
        }
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        tokio::time::sleep(POLL).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_through_another_gateway_or_straight_to_redis_invalidate_near_copies() {
    let (a, b) = (RedisServer::start(), RedisServer::start());
    let nodes = [&a, &b];
    let near = near_gateway(&nodes, &[]).await;
    let other = fleet_builder(&nodes, &[]).start().await;
    let key = keys_on(&nodes, 0, "near", 1).remove(0);

    let mut resp = near.resp().await;
    assert_eq!(resp.cmd(&["SET", &key, "v1"]).await, "+OK\r\n");
    warm(&near, &key).await;
    let text = near.metrics_text().await;
    assert!(
        metric(&text, "roost_near_cache_fills_total") >= 1.0,
        "{text}"
    );
    assert!(metric(&text, "roost_near_cache_entries") >= 1.0);
    assert_eq!(metric(&text, "roost_near_cache_tracking_connections"), 2.0);

    // A write through the second gateway, over the same nodes.
    let mut other_resp = other.resp().await;
    assert_eq!(other_resp.cmd(&["SET", &key, "v2"]).await, "+OK\r\n");
    until_reads(&near, &key, "$2\r\nv2\r\n", "the other gateway's write").await;

    // A write straight to Redis.
    warm(&near, &key).await;
    assert_eq!(a.cli(&["SET", &key, "v3"]), "OK");
    until_reads(&near, &key, "$2\r\nv3\r\n", "the direct write").await;

    // A FLUSHALL on the node.
    warm(&near, &key).await;
    assert_eq!(a.cli(&["FLUSHALL"]), "OK");
    until_reads(&near, &key, "$-1\r\n", "the flush").await;
    let remote = near_metric(
        &near,
        "roost_near_cache_invalidations_total{cause=\"remote_write\"}",
    )
    .await;
    assert!(remote >= 3.0, "remote invalidations: {remote}");

    // A write through this gateway drops its own copy before it is
    // acknowledged: the next read sees it. Which hook drops the copy races —
    // Redis's push for the write can arrive before the write's reply — so the
    // drop is counted as an own write or as a remote one, never neither.
    assert_eq!(resp.cmd(&["SET", &key, "v4"]).await, "+OK\r\n");
    warm(&near, &key).await;
    let dropped = |text: &str| {
        metric(
            text,
            "roost_near_cache_invalidations_total{cause=\"own_write\"}",
        ) + metric(
            text,
            "roost_near_cache_invalidations_total{cause=\"remote_write\"}",
        )
    };
    let before = dropped(&near.metrics_text().await);
    assert_eq!(resp.cmd(&["SET", &key, "v5"]).await, "+OK\r\n");
    assert_eq!(resp.cmd(&["GET", &key]).await, "$2\r\nv5\r\n");
    let after = dropped(&near.metrics_text().await);
    assert!(
        after > before,
        "the near copy was not dropped: {before} -> {after}"
    );
    other.shutdown().await;
    near.shutdown().await;
}

/// The id of the near cache's tracked connection on `server` (flag `t` in
/// CLIENT LIST).
fn tracking_client(server: &RedisServer) -> Option<String> {
    let list = server.cli(&["CLIENT", "LIST"]);
    list.lines().find_map(|line| {
        let field = |name: &str| {
            line.split_whitespace()
                .find_map(|f| f.strip_prefix(name)?.strip_prefix('='))
        };
        field("flags")?
            .contains('t')
            .then(|| field("id").map(str::to_owned))?
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_tracking_connection_leaves_no_stale_copy_behind() {
    let a = RedisServer::start();
    let nodes = [&a];
    let near = near_gateway(&nodes, &[]).await;
    let key = "near:killed";
    let mut resp = near.resp().await;
    assert_eq!(resp.cmd(&["SET", key, "v1"]).await, "+OK\r\n");
    warm(&near, key).await;

    // Kill the tracked connection, then write straight to Redis: that
    // write's invalidation is never pushed (the connection is gone), so only
    // dropping everything on the loss keeps the old value from being served.
    let id = tracking_client(&a).expect("a tracked connection");
    assert_eq!(a.cli(&["CLIENT", "KILL", "ID", &id]), "1");
    assert_eq!(a.cli(&["SET", key, "v2"]), "OK");
    until_reads(
        &near,
        key,
        "$2\r\nv2\r\n",
        "the write made while tracking was lost",
    )
    .await;
    eventually(DEADLINE, "tracking back", || async {
        near_metric(&near, "roost_near_cache_tracking_connections").await == 1.0
            && tracking_client(&a).is_some_and(|new| new != id)
    })
    .await;
    let lost = near_metric(
        &near,
        "roost_near_cache_invalidations_total{cause=\"tracking_lost\"}",
    )
    .await;
    assert!(lost >= 1.0, "entries dropped on the loss: {lost}");
    // And near serving resumes once tracking is back.
    warm(&near, key).await;
    near.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_a_node_is_down_none_of_its_keys_is_served_near() {
    let (mut a, b) = (RedisServer::start(), RedisServer::start());
    let near = near_gateway(&[&a, &b], &[]).await;
    let key = keys_on(&[&a, &b], 0, "down", 1).remove(0);
    let mut resp = near.resp().await;
    assert_eq!(resp.cmd(&["SET", &key, "old"]).await, "+OK\r\n");
    warm(&near, &key).await;

    a.kill();
    eventually(DEADLINE, "tracking to the killed node lost", || async {
        near_metric(&near, "roost_near_cache_tracking_connections").await == 1.0
    })
    .await;
    let hits = near_hits(&near).await;
    for _ in 0..20 {
        let reply = resp.cmd(&["GET", &key]).await;
        assert_ne!(
            reply, "$3\r\nold\r\n",
            "served from the near cache while its node is down"
        );
    }
    assert_eq!(
        near_hits(&near).await,
        hits,
        "near hits while the node is down"
    );

    // Back empty: the old value must never be served again.
    a.restart();
    eventually(DEADLINE, "tracking back", || async {
        near_metric(&near, "roost_near_cache_tracking_connections").await == 2.0
    })
    .await;
    until_reads(&near, &key, "$-1\r\n", "the restarted node's answer").await;
    near.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_byte_budget_is_never_exceeded_while_filling_many_large_hot_values() {
    let a = RedisServer::start();
    let near = near_gateway(&[&a], &[("ROOST_HOT_KEYS_HOT_SET", "512")]).await;
    let mut resp = near.resp().await;
    let value = "x".repeat(3000);
    let keys: Vec<String> = (0..300).map(|i| format!("big:{i}")).collect();
    for key in &keys {
        assert_eq!(resp.cmd(&["SET", key, &value]).await, "+OK\r\n");
    }
    // One value over 1/64 of the budget: hot, but never admitted.
    let huge = "y".repeat(5000);
    assert_eq!(resp.cmd(&["SET", "huge", &huge]).await, "+OK\r\n");
    let mut peak = 0.0f64;
    for round in 0..30 {
        let gets: Vec<Vec<&str>> = keys
            .iter()
            .map(|k| vec!["GET", k.as_str()])
            .chain(std::iter::once(vec!["GET", "huge"]))
            .collect();
        for reply in resp.pipeline(&gets).await {
            assert!(reply.starts_with('$'), "round {round}: {reply:.40}");
        }
        let text = near.metrics_text().await;
        let used = metric(&text, "roost_near_cache_memory_used_bytes");
        assert!(used <= BUDGET_BYTES, "round {round}: {used} bytes held");
        peak = peak.max(used);
    }
    let text = near.metrics_text().await;
    let fills = metric(&text, "roost_near_cache_fills_total");
    assert!(fills >= 60.0, "filled {fills}: {text}");
    assert!(
        peak > BUDGET_BYTES * 0.5,
        "the budget was never approached: peak {peak}"
    );
    assert_eq!(
        metric(&text, "roost_near_cache_memory_max_bytes"),
        BUDGET_BYTES
    );
    let hits = near_hits(&near).await;
    for _ in 0..50 {
        assert!(resp.cmd(&["GET", "huge"]).await.starts_with("$5000"));
    }
    assert_eq!(
        near_hits(&near).await,
        hits,
        "a value over 1/64 of the budget was kept"
    );
    near.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_a_redis_cluster_a_direct_write_to_the_master_invalidates() {
    let cluster = RedisCluster::start(3, 0);
    let near = TestServer::builder()
        .env("REDIS_CLUSTER_NODES", &cluster.seed_urls().join(","))
        .env("ROOST_BACKEND", "redis-cluster")
        .env("ROOST_REDIS_TIMEOUT", "500")
        .env("ROOST_HEALTH_INTERVAL", "100")
        .env("ROOST_NEAR_CACHE_BYTES", BUDGET)
        .start()
        .await;
    eventually(DEADLINE, "a tracked connection per master", || async {
        near_metric(&near, "roost_near_cache_tracking_connections").await == 3.0
    })
    .await;
    let key = "cluster:near";
    let mut resp = near.resp().await;
    assert_eq!(resp.cmd(&["SET", key, "v1"]).await, "+OK\r\n");
    warm(&near, key).await;
    let master = cluster.node(cluster.master_for_key(key));
    assert_eq!(master.cli(&["SET", key, "v2"]), "OK");
    until_reads(&near, key, "$2\r\nv2\r\n", "the direct write to the master").await;
    near.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_miss_loaded_from_the_origin_counts_one_near_miss() {
    let server = RedisServer::start();
    let origin = TestOrigin::start().await;
    let near = near_gateway(&[&server], &[("ROOST_ORIGIN_URL", &origin.url())]).await;
    let misses = near_metric(&near, "roost_near_cache_misses_total").await;
    let (status, body) = near.get("/api/cache/loaded").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(origin.requests_for("loaded"), 1);
    assert_eq!(
        near_metric(&near, "roost_near_cache_misses_total").await,
        misses + 1.0,
        "the client's lookup, not the fetch task's look at the backend too"
    );
    near.shutdown().await;
}
