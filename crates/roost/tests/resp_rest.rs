//! REST and RESP are two doors to one cache: a value written through either reads
//! back identically through the other, binary values included, and so do TTLs.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use roost_resp::Frame;
use roost_store::ManualClock;
use serde_json::json;
use support::TestServer;

#[tokio::test]
async fn resp_writes_read_back_over_rest() {
    let clock = ManualClock::new(5_000_000);
    let s = TestServer::builder().clock(clock.clone()).start().await;
    let mut c = s.resp().await;
    c.cmd(&["SET", "json", "{\"a\":[1,2]}", "EX", "90"]).await;
    c.cmd(&["SET", "text", "plain words"]).await;
    c.send(&[b"SET", b"bin", b"\x00\xff\xfe\x01"]).await;
    assert_eq!(c.reply().await, b"+OK\r\n");

    let (status, body) = s.get("/api/cache/json").await;
    assert_eq!(status, 200);
    assert_eq!(body["value"], json!({"a": [1, 2]}));
    assert_eq!(body["ttl"], 90);
    let (_, body) = s.get("/api/cache/text").await;
    assert_eq!(
        (body["value"].clone(), body["encoding"].clone()),
        (json!("plain words"), json!("utf8"))
    );
    assert_eq!(
        body["ttl"],
        json!(null),
        "RESP SET without EX never expires"
    );
    let (_, body) = s.get("/api/cache/bin").await;
    assert_eq!(body["encoding"], "base64");
    assert_eq!(body["value"], "AP/+AQ==");

    clock.advance(Duration::from_secs(90));
    let (status, _) = s.get("/api/cache/json").await;
    assert_eq!(status, 404, "the RESP TTL expires the entry for REST too");
    s.shutdown().await;
}

#[tokio::test]
async fn rest_writes_read_back_over_resp() {
    let clock = ManualClock::new(5_000_000);
    let s = TestServer::builder().clock(clock.clone()).start().await;
    let mut c = s.resp().await;
    s.post(
        "/api/cache",
        json!({"key": "doc", "value": {"name": "Ada"}, "ttl": 300}),
    )
    .await;
    s.post(
        "/api/cache",
        json!({"key": "raw", "value": "AP8=", "encoding": "base64"}),
    )
    .await;
    s.post("/api/cache", json!({"key": "count", "value": 41}))
        .await;

    assert_eq!(
        c.frame(&[b"GET", b"doc"]).await,
        Frame::bulk("{\"name\":\"Ada\"}")
    );
    assert_eq!(c.cmd(&["TTL", "doc"]).await, ":300\r\n");
    assert_eq!(c.frame(&[b"GET", b"raw"]).await, Frame::bulk(b"\x00\xff"));
    assert_eq!(
        c.cmd(&["TTL", "count"]).await,
        ":3600\r\n",
        "REST writes get CACHE_TTL"
    );
    assert_eq!(c.cmd(&["INCR", "count"]).await, ":42\r\n");
    let (_, body) = s.get("/api/cache/count").await;
    assert_eq!(
        body["value"], 42,
        "the RESP increment is a JSON number to REST"
    );
    assert_eq!(body["ttl"], 3600, "INCR keeps the TTL");

    clock.advance(Duration::from_secs(300));
    assert_eq!(c.cmd(&["GET", "doc"]).await, "$-1\r\n");
    assert_eq!(c.cmd(&["DEL", "raw"]).await, ":1\r\n");
    let (status, _) = s.get("/api/cache/raw").await;
    assert_eq!(status, 404);
    s.shutdown().await;
}
