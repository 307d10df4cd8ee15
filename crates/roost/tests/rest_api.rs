//! REST API against a real server on 127.0.0.1:0: every endpoint, the value
//! encodings, and the stats the operations leave behind.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::json;
use support::TestServer;

#[tokio::test]
async fn set_get_delete_round_trip_with_node_and_ttl() {
    let s = TestServer::builder().start().await;
    let (status, body) = s
        .post(
            "/api/cache",
            json!({"key": "user:1", "value": {"name": "Ada", "tags": [1, 2]}, "ttl": 60}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ttl"], 60);
    let node = body["node"].as_str().unwrap().to_string();
    assert!(node.starts_with("shard-"), "{node}");

    let (status, body) = s.get("/api/cache/user:1").await;
    assert_eq!(status, 200);
    assert_eq!(body["value"], json!({"name": "Ada", "tags": [1, 2]}));
    assert_eq!(body["node"], node.as_str());
    let ttl = body["ttl"].as_u64().unwrap();
    assert!((59..=60).contains(&ttl), "{ttl}");
    assert!(body.get("encoding").is_none());

    let (status, body) = s.delete("/api/cache/user:1").await;
    assert_eq!((status, body["deleted"].clone()), (200, json!(true)));
    let (status, body) = s.get("/api/cache/user:1").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_found");
    let (status, _) = s.delete("/api/cache/user:1").await;
    assert_eq!(status, 404);
    s.shutdown().await;
}

#[tokio::test]
async fn default_ttl_applies_and_zero_means_none() {
    let s = TestServer::builder().env("CACHE_TTL", "120").start().await;
    let (_, body) = s.post("/api/cache", json!({"key": "a", "value": 1})).await;
    assert_eq!(body["ttl"], 120);
    let (_, body) = s.get("/api/cache/a").await;
    assert!(body["ttl"].as_u64().unwrap() > 100);
    s.shutdown().await;

    let s = TestServer::builder().env("CACHE_TTL", "0").start().await;
    let (_, body) = s.post("/api/cache", json!({"key": "a", "value": 1})).await;
    assert_eq!(body["ttl"], json!(null));
    let (_, body) = s.get("/api/cache/a").await;
    assert_eq!(body["ttl"], json!(null));
    s.shutdown().await;
}

#[tokio::test]
async fn every_json_value_and_raw_bytes_round_trip() {
    let s = TestServer::builder().start().await;
    let values = [
        json!("text"),
        json!("123"),
        json!(42),
        json!(1.5),
        json!(null),
        json!(true),
        json!([1, {"a": "b"}]),
    ];
    for (i, v) in values.iter().enumerate() {
        let key = format!("v{i}");
        let (status, _) = s.post("/api/cache", json!({"key": key, "value": v})).await;
        assert_eq!(status, 200);
        let (_, body) = s.get(&format!("/api/cache/{key}")).await;
        assert_eq!(&body["value"], v, "value {i}");
    }
    let (status, _) = s
        .post(
            "/api/cache",
            json!({"key": "bin", "value": "AP8Q", "encoding": "base64"}),
        )
        .await;
    assert_eq!(status, 200);
    let (_, body) = s.get("/api/cache/bin").await;
    assert_eq!(
        (body["value"].clone(), body["encoding"].clone()),
        (json!("AP8Q"), json!("base64"))
    );
    let (_, _) = s
        .post(
            "/api/cache",
            json!({"key": "plain", "value": "not json", "encoding": "utf8"}),
        )
        .await;
    let (_, body) = s.get("/api/cache/plain").await;
    assert_eq!(
        (body["value"].clone(), body["encoding"].clone()),
        (json!("not json"), json!("utf8"))
    );
    // Keys are percent-decoded path segments, slashes included.
    s.post("/api/cache", json!({"key": "a/b c", "value": 7}))
        .await;
    let (status, body) = s.get("/api/cache/a%2Fb%20c").await;
    assert_eq!((status, body["value"].clone()), (200, json!(7)));
    s.shutdown().await;
}

#[tokio::test]
async fn mget_and_mset_keep_request_order() {
    let s = TestServer::builder().start().await;
    let entries: Vec<_> = (0..50)
        .map(|i| json!({"key": format!("k{i}"), "value": i, "ttl": 300}))
        .collect();
    let (status, body) = s.post("/api/cache/mset", json!({"entries": entries})).await;
    assert_eq!((status, body["stored"].clone()), (200, json!(50)));
    let (status, body) = s
        .post(
            "/api/cache/mget",
            json!({"keys": ["k3", "missing", "k49", "k0"]}),
        )
        .await;
    assert_eq!(status, 200);
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 4);
    assert_eq!(
        (results[0]["hit"].clone(), results[0]["value"].clone()),
        (json!(true), json!(3))
    );
    assert_eq!(results[1], json!({"key": "missing", "hit": false}));
    assert_eq!(results[2]["value"], 49);
    assert_eq!(results[3]["key"], "k0");
    assert!(results[3]["node"].as_str().unwrap().starts_with("shard-"));
    s.shutdown().await;
}

#[tokio::test]
async fn stats_and_metrics_report_what_happened() {
    let s = TestServer::builder().shards(3).start().await;
    for i in 0..30 {
        s.post("/api/cache", json!({"key": format!("k{i}"), "value": "x"}))
            .await;
    }
    for i in 0..40 {
        s.get(&format!("/api/cache/k{i}")).await; // 30 hits, 10 misses
    }
    let stats = s.stats().await;
    assert_eq!(stats["backend"], "embedded");
    assert_eq!(stats["hits"], 30);
    assert_eq!(stats["misses"], 10);
    assert_eq!(stats["hit_ratio"], 0.75);
    assert_eq!(stats["keys"], 30);
    assert_eq!(stats["requests"]["set"]["ok"], 30);
    assert_eq!(stats["requests"]["get"]["ok"], 40);
    assert!(stats["latency_ms"]["get"]["p99"].as_f64().unwrap() > 0.0);
    assert!(stats["memory"]["used_bytes"].as_u64().unwrap() > 30 * 5);
    let nodes = stats["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    let keys: u64 = nodes.iter().map(|n| n["keys"].as_u64().unwrap()).sum();
    assert_eq!(keys, 30);
    let ops: u64 = nodes.iter().map(|n| n["ops"].as_u64().unwrap()).sum();
    assert_eq!(ops, 70);
    let share: f64 = nodes
        .iter()
        .map(|n| n["ring_share"].as_f64().unwrap())
        .sum();
    assert!((share - 1.0).abs() < 1e-6);

    let text = s.metrics_text().await;
    for needle in [
        "roost_cache_hits_total 30",
        "roost_cache_misses_total 10",
        "roost_store_keys 30",
        "roost_cache_requests_total{op=\"set\",outcome=\"ok\"} 30",
        "roost_node_keys{node=\"shard-0\"}",
        "roost_store_memory_max_bytes",
        "roost_process_uptime_seconds",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    s.shutdown().await;
}

#[tokio::test]
async fn probes_and_openapi_answer() {
    let s = TestServer::builder().start().await;
    assert_eq!(s.get("/healthz").await, (200, json!({"status": "ok"})));
    let (status, body) = s.get("/readyz").await;
    assert_eq!((status, body["status"].clone()), (200, json!("ready")));
    let (status, body) = s.get("/api/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(body["openapi"], "3.1.0");
    s.shutdown().await;
}
