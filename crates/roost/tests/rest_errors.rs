//! Every REST error: bad input gets the right status and a
//! `{"error":{"code","message"}}` body, and loses nothing that was stored.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::TestServer;

fn code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error code in {body}"))
}

#[tokio::test]
async fn keys_values_and_ttls_are_checked() {
    let s = TestServer::builder()
        .env("ROOST_MAX_VALUE_BYTES", "1KiB")
        .start()
        .await;
    let cases = [
        (json!({"key": "", "value": 1}), 400, "empty_key"),
        (
            json!({"key": "k".repeat(513), "value": 1}),
            413,
            "key_too_long",
        ),
        (
            json!({"key": "k", "value": "x".repeat(2000)}),
            413,
            "value_too_large",
        ),
        (
            json!({"key": "k", "value": 1, "ttl": 0}),
            400,
            "invalid_ttl",
        ),
        (
            json!({"key": "k", "value": 1, "ttl": -5}),
            400,
            "invalid_ttl",
        ),
        (
            json!({"key": "k", "value": 1, "ttl": 1.5}),
            400,
            "invalid_ttl",
        ),
        (
            json!({"key": "k", "value": 1, "ttl": "60"}),
            400,
            "invalid_ttl",
        ),
        (
            json!({"key": "k", "value": 1, "ttl": 2_592_001}),
            400,
            "invalid_ttl",
        ),
        (
            json!({"key": "k", "value": 1, "encoding": "rot13"}),
            400,
            "invalid_encoding",
        ),
        (
            json!({"key": "k", "value": "%%%", "encoding": "base64"}),
            400,
            "invalid_value",
        ),
        (json!({"key": "k"}), 400, "invalid_json"),
        (
            json!({"key": "k", "value": 1, "tll": 5}),
            400,
            "invalid_json",
        ),
        (json!({"key": 5, "value": 1}), 400, "invalid_json"),
    ];
    for (body, status, expected) in cases {
        let (got, reply) = s.post("/api/cache", body.clone()).await;
        assert_eq!((got, code(&reply)), (status, expected), "for {body}");
        assert!(!reply["error"]["message"].as_str().unwrap().is_empty());
    }
    // A 2592000 s (30 day) TTL is the largest accepted.
    let (got, _) = s
        .post(
            "/api/cache",
            json!({"key": "k", "value": 1, "ttl": 2_592_000}),
        )
        .await;
    assert_eq!(got, 200);
    let (got, reply) = s.get(&format!("/api/cache/{}", "k".repeat(513))).await;
    assert_eq!((got, code(&reply)), (413, "key_too_long"));
    s.shutdown().await;

    // ROOST_REST_MAX_TTL moves the ceiling: a year is fine, a year and a second not.
    let s = TestServer::builder()
        .env("ROOST_REST_MAX_TTL", "31536000")
        .start()
        .await;
    let year = json!({"key": "k", "value": 1, "ttl": 31_536_000});
    assert_eq!(s.post("/api/cache", year).await.0, 200);
    let (got, reply) = s.get("/api/cache/k").await;
    assert_eq!(
        (got, reply["ttl"].as_u64().unwrap() > 31_535_000),
        (200, true)
    );
    let longer = json!({"key": "k", "value": 1, "ttl": 31_536_001});
    let (got, reply) = s.post("/api/cache", longer).await;
    assert_eq!((got, code(&reply)), (400, "invalid_ttl"));
    let message = reply["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("31536000 (ROOST_REST_MAX_TTL)"),
        "{message}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn batches_are_limited_and_all_or_nothing() {
    let s = TestServer::builder().start().await;
    let keys: Vec<String> = (0..1001).map(|i| format!("k{i}")).collect();
    let (got, reply) = s.post("/api/cache/mget", json!({"keys": keys})).await;
    assert_eq!((got, code(&reply)), (413, "too_many_keys"));
    let (got, reply) = s.post("/api/cache/mget", json!({"keys": []})).await;
    assert_eq!((got, code(&reply)), (400, "no_keys"));
    let (got, reply) = s.post("/api/cache/mget", json!({"keys": ["ok", ""]})).await;
    assert_eq!((got, code(&reply)), (400, "empty_key"));

    let entries: Vec<_> = (0..1001)
        .map(|i| json!({"key": format!("k{i}"), "value": i}))
        .collect();
    let (got, reply) = s.post("/api/cache/mset", json!({"entries": entries})).await;
    assert_eq!((got, code(&reply)), (413, "too_many_keys"));
    let (got, reply) = s
        .post(
            "/api/cache/mset",
            json!({"entries": [{"key": "good", "value": 1}, {"key": "bad", "value": 1, "ttl": 0}]}),
        )
        .await;
    assert_eq!((got, code(&reply)), (400, "invalid_ttl"));
    let (got, _) = s.get("/api/cache/good").await;
    assert_eq!(got, 404, "a rejected mset must not write any entry");
    s.shutdown().await;
}

#[tokio::test]
async fn malformed_bodies_are_rejected_clearly() {
    let s = TestServer::builder()
        .env("ROOST_MAX_BODY_BYTES", "4KiB")
        .start()
        .await;
    let (got, reply) = s
        .post_raw("/api/cache", "application/json", b"{\"key\": ".to_vec())
        .await;
    assert_eq!((got, code(&reply)), (400, "invalid_json"));
    let (got, reply) = s
        .post_raw("/api/cache", "application/json", vec![0xff, 0xfe])
        .await;
    assert_eq!((got, code(&reply)), (400, "invalid_json"));
    let (got, reply) = s.post_raw("/api/cache", "text/plain", b"{}".to_vec()).await;
    assert_eq!((got, code(&reply)), (415, "unsupported_media_type"));
    let big = serde_json::to_vec(&json!({"key": "k", "value": "x".repeat(10_000)})).unwrap();
    let (got, reply) = s.post_raw("/api/cache", "application/json", big).await;
    assert_eq!((got, code(&reply)), (413, "body_too_large"));
    s.shutdown().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let s = TestServer::builder().start().await;
    let (got, reply) = s.get("/api/nope").await;
    assert_eq!((got, code(&reply)), (404, "no_route"));
    let r = s.client.put(s.url("/api/cache/k")).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let reply: Value = r.json().await.unwrap();
    assert_eq!(code(&reply), "method_not_allowed");
    s.shutdown().await;
}

#[tokio::test]
async fn flush_is_open_without_a_token() {
    let s = TestServer::builder().start().await;
    s.post("/api/cache", json!({"key": "a", "value": 1})).await;
    let (got, reply) = s.delete("/api/cache/flush/all").await;
    assert_eq!((got, reply["flushed"].clone()), (200, json!(1)));
    s.shutdown().await;
}
