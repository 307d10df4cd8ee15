//! TTL expiry (with an injected clock, no sleeping through TTLs), eviction
//! under a small memory cap, and concurrent readers and writers.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use roost_store::ManualClock;
use serde_json::json;
use support::{eventually, TestServer};

#[tokio::test]
async fn entries_expire_on_access_when_their_ttl_passes() {
    let clock = ManualClock::new(1_000_000);
    let s = TestServer::builder()
        .env("ROOST_EXPIRY_SWEEP_INTERVAL", "60000")
        .clock(clock.clone())
        .start()
        .await;
    s.post("/api/cache", json!({"key": "short", "value": 1, "ttl": 10}))
        .await;
    s.post("/api/cache", json!({"key": "long", "value": 2, "ttl": 100}))
        .await;
    clock.advance(Duration::from_millis(9_500));
    let (status, body) = s.get("/api/cache/short").await;
    assert_eq!((status, body["ttl"].clone()), (200, json!(1)));
    clock.advance(Duration::from_millis(600));
    assert_eq!(s.get("/api/cache/short").await.0, 404);
    let (status, body) = s.get("/api/cache/long").await;
    assert_eq!((status, body["ttl"].clone()), (200, json!(90)));
    let stats = s.stats().await;
    assert_eq!(stats["expirations"], 1);
    assert_eq!(stats["misses"], 1);
    s.shutdown().await;
}

#[tokio::test]
async fn the_background_sweep_removes_expired_entries_nobody_reads() {
    let clock = ManualClock::new(1_000_000);
    let s = TestServer::builder()
        .env("ROOST_EXPIRY_SWEEP_INTERVAL", "10")
        .clock(clock.clone())
        .start()
        .await;
    let entries: Vec<_> = (0..200)
        .map(|i| json!({"key": format!("k{i}"), "value": i, "ttl": 5}))
        .collect();
    s.post("/api/cache/mset", json!({"entries": entries})).await;
    s.post(
        "/api/cache",
        json!({"key": "stays", "value": 1, "ttl": 500}),
    )
    .await;
    assert_eq!(s.stats().await["keys"], 201);
    clock.advance(Duration::from_secs(6));
    eventually(Duration::from_secs(10), "expired keys swept", || async {
        s.stats().await["keys"] == 1
    })
    .await;
    assert_eq!(s.stats().await["expirations"], 200);
    assert_eq!(s.get("/api/cache/stays").await.0, 200);
    s.shutdown().await;
}

#[tokio::test]
async fn memory_never_exceeds_the_cap_and_evictions_are_counted() {
    let s = TestServer::builder()
        .env("ROOST_MAX_MEMORY", "1MiB")
        .shards(2)
        .start()
        .await;
    let value = "v".repeat(1000);
    for batch in 0..40 {
        let entries: Vec<_> = (0..100)
            .map(|i| json!({"key": format!("key:{batch}:{i}"), "value": value}))
            .collect();
        let (status, _) = s.post("/api/cache/mset", json!({"entries": entries})).await;
        assert_eq!(status, 200);
        let stats = s.stats().await;
        let used = stats["memory"]["used_bytes"].as_u64().unwrap();
        assert!(
            used <= 1 << 20,
            "used {used} bytes above the 1 MiB cap after batch {batch}"
        );
        for node in stats["nodes"].as_array().unwrap() {
            assert!(
                node["used_bytes"].as_u64().unwrap() <= node["capacity_bytes"].as_u64().unwrap()
            );
        }
    }
    let stats = s.stats().await;
    assert!(stats["evictions"].as_u64().unwrap() > 2000, "{stats}");
    assert!(stats["keys"].as_u64().unwrap() < 1100);
    assert!(stats["memory"]["used_ratio"].as_f64().unwrap() > 0.5);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_readers_and_writers_read_their_own_writes() {
    let s = TestServer::builder().start().await;
    let mut tasks = Vec::new();
    for w in 0..8 {
        let (client, base) = (s.client.clone(), s.base.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..150 {
                let key = format!("w{w}:k{}", i % 20);
                let value = json!({"writer": w, "seq": i});
                let r = client
                    .post(format!("{base}/api/cache"))
                    .json(&json!({"key": key, "value": value}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status().as_u16(), 200);
                let got: serde_json::Value = client
                    .get(format!("{base}/api/cache/{key}"))
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                assert_eq!(got["value"], value, "writer {w} lost its own write");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let stats = s.stats().await;
    assert_eq!(stats["keys"], 160);
    assert_eq!(stats["requests"]["set"]["ok"], 1200);
    assert_eq!(stats["hits"], 1200);
    s.shutdown().await;
}
