//! Hot-key tracking end to end: a Zipf stream through the real front doors
//! against exact counts kept by the test, every door feeding the tracker, and
//! `GET /api/cache/hot-keys`'s limit rules.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;
use support::resp::RespClient;
use support::zipf::Zipf;
use support::{eventually, TestServer};

/// Polls the hot-key list until a fold has taken in everything sent (the
/// sample count stops moving) and returns it.
async fn settled_hot_keys(server: &TestServer, limit: usize) -> Value {
    let path = format!("/api/cache/hot-keys?limit={limit}");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let mut previous = 0;
    loop {
        let (status, body) = server.get(&path).await;
        assert_eq!(status, 200, "{body}");
        let sampled = body["window"]["sampled_total"].as_u64().unwrap();
        if sampled > 0 && sampled == previous {
            return body;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the folds never settled: {body}"
        );
        previous = sampled;
        // Longer than a fold (200 ms), so an unchanged count means all is in.
        tokio::time::sleep(Duration::from_millis(450)).await;
    }
}

#[tokio::test]
async fn a_zipf_stream_shows_its_true_top_ten_in_the_top_twenty() {
    // A long half-life weighs every request of the run alike, so the exact
    // counts the test keeps are what the estimates should match.
    let server = TestServer::builder()
        .env("ROOST_HOT_KEYS_HALF_LIFE", "600000")
        .start()
        .await;
    let mut resp = RespClient::connect(server.resp_addr).await;
    let (keys, requests) = (10_000, 200_000);
    let mut zipf = Zipf::new(keys, 1.1, 42);
    let mut exact = vec![0u64; keys];
    let mut sent = 0;
    while sent < requests {
        // Pipelined GETs (the batched read path) and, every tenth batch, one MGET.
        let batch: Vec<usize> = (0..1000).map(|_| zipf.next()).collect();
        batch.iter().for_each(|&k| exact[k] += 1);
        let commands: Vec<Vec<String>> = if sent % 10_000 == 0 {
            let mut mget = vec!["MGET".to_string()];
            mget.extend(batch.iter().map(|k| format!("k:{k}")));
            vec![mget]
        } else {
            batch
                .iter()
                .map(|k| vec!["GET".into(), format!("k:{k}")])
                .collect()
        };
        resp.pipeline(&commands).await;
        sent += batch.len();
    }
    let body = settled_hot_keys(&server, 20).await;
    let listed = body["keys"].as_array().unwrap();
    assert_eq!(listed.len(), 20);
    let reported: HashMap<&str, &Value> = listed
        .iter()
        .map(|k| (k["key"].as_str().unwrap(), k))
        .collect();

    let mut ranked: Vec<usize> = (0..keys).collect();
    ranked.sort_by_key(|&k| std::cmp::Reverse(exact[k]));
    // Sampling error: the estimate of a share p from n equally weighted
    // samples has standard error sqrt(p(1-p)/n); 4 of them, plus Space-Saving's
    // over-estimate of at most 1/capacity of the total, bound it.
    let n = body["window"]["sampled_total"].as_f64().unwrap();
    let capacity = body["capacity"].as_f64().unwrap();
    for &k in &ranked[..10] {
        let name = format!("k:{k}");
        let found = reported
            .get(name.as_str())
            .unwrap_or_else(|| panic!("{name} (true rank {}) not listed: {listed:?}", exact[k]));
        let truth = exact[k] as f64 / requests as f64;
        let share = found["share"].as_f64().unwrap();
        let tolerance = 4.0 * (truth * (1.0 - truth) / n).sqrt() + 1.0 / capacity;
        assert!(
            (share - truth).abs() <= tolerance,
            "{name}: estimated share {share:.4}, exact {truth:.4}, tolerance {tolerance:.4}"
        );
        assert!(found["requests_per_sec"].as_f64().unwrap() > 0.0);
        assert!(found["node"].as_str().unwrap().starts_with("shard-"));
        assert_eq!(found["near_cached"], false);
    }
    let shares: Vec<f64> = listed
        .iter()
        .map(|k| k["share"].as_f64().unwrap())
        .collect();
    assert!(
        shares.windows(2).all(|w| w[0] >= w[1]),
        "hottest first: {shares:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn every_door_feeds_the_tracker_and_prometheus_sees_no_keys() {
    let server = TestServer::builder().start().await;
    let mut resp = RespClient::connect(server.resp_addr).await;
    for _ in 0..40 {
        server.get("/api/cache/via-rest").await;
        server
            .post(
                "/api/cache/mget",
                serde_json::json!({ "keys": ["via-rest-mget"] }),
            )
            .await;
        let mut commands = vec![vec!["MGET", "via-mget", "via-mget"]];
        commands.push(vec!["SET", "via-set", "1"]);
        commands.push(vec!["INCR", "via-incr"]);
        commands.extend((0..3).map(|_| vec!["GET", "via-pipeline"]));
        resp.pipeline(&commands).await;
    }
    let expected = [
        "via-rest",
        "via-rest-mget",
        "via-mget",
        "via-set",
        "via-incr",
        "via-pipeline",
    ];
    eventually(
        Duration::from_secs(5),
        "every door's key is listed",
        || async {
            let (_, body) = server.get("/api/cache/hot-keys").await;
            let keys: Vec<&str> = body["keys"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["key"].as_str().unwrap())
                .collect();
            expected.iter().all(|e| keys.contains(e))
        },
    )
    .await;
    let text = server.metrics_text().await;
    assert!(
        support::metric(&text, "roost_hot_keys_tracked") >= 6.0,
        "{text}"
    );
    assert!(support::metric(&text, "roost_hot_keys_top_share{top=\"1\"}") > 0.0);
    assert!(support::metric(&text, "roost_hot_keys_sampled_total") > 0.0);
    for key in expected {
        assert!(!text.contains(key), "{key} appears in /metrics");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn the_limit_is_one_to_a_thousand_and_tracking_can_be_off() {
    let server = TestServer::builder().start().await;
    for i in 0..30 {
        for _ in 0..=i {
            server.get(&format!("/api/cache/key-{i}")).await;
        }
    }
    let body = settled_hot_keys(&server, 20).await;
    assert_eq!(body["tracked"], 30);
    assert_eq!(body["limit"], 20);
    assert_eq!(body["keys"].as_array().unwrap().len(), 20);
    assert_eq!(body["keys"][0]["key"], "key-29");
    let (_, body) = server.get("/api/cache/hot-keys?limit=1000").await;
    assert_eq!(body["keys"].as_array().unwrap().len(), 30);
    for bad in ["0", "1001", "-3", "many", ""] {
        let (status, body) = server
            .get(&format!("/api/cache/hot-keys?limit={bad}"))
            .await;
        assert_eq!(status, 400, "limit={bad}: {body}");
        assert_eq!(body["error"]["code"], "invalid_limit", "{body}");
    }
    server.shutdown().await;

    let off = TestServer::builder()
        .env("ROOST_HOT_KEYS", "off")
        .start()
        .await;
    off.get("/api/cache/anything").await;
    let (status, body) = off.get("/api/cache/hot-keys").await;
    assert_eq!(status, 200);
    assert_eq!(body["enabled"], false);
    assert!(body["keys"].as_array().unwrap().is_empty());
    assert!(!off.metrics_text().await.contains("roost_hot_keys_"));
    off.shutdown().await;
}
