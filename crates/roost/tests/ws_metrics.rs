//! `/ws/metrics` with a real WebSocket client: history first, then live frames
//! whose counters follow REST traffic; one snapshot shared by many clients; and
//! a client that stops reading costs the server bounded memory (it skips
//! frames or is dropped).

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::{eventually, TestServer};
use tokio::net::TcpSocket;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(s: &TestServer) -> Client {
    let url = format!("{}/ws/metrics", s.base.replacen("http", "ws", 1));
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// The next text frame as JSON, within five seconds.
async fn next_frame(ws: &mut Client) -> Value {
    let deadline = Duration::from_secs(5);
    loop {
        let message = tokio::time::timeout(deadline, ws.next())
            .await
            .expect("a frame within 5 s")
            .expect("the stream is open")
            .unwrap();
        if let Message::Text(text) = message {
            return serde_json::from_str(text.as_str()).unwrap();
        }
    }
}

/// Reads live frames until `check` accepts one, for at most ten seconds.
async fn frame_where(ws: &mut Client, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let frame = next_frame(ws).await;
        assert_eq!(frame["type"], "snapshot");
        if check(&frame) {
            return frame;
        }
        assert!(
            Instant::now() < until,
            "no frame where {what}: last {frame}"
        );
    }
}

async fn metric(s: &TestServer, name: &str) -> f64 {
    let text = s.metrics_text().await;
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics"))
}

#[tokio::test]
async fn history_comes_first_then_live_frames_follow_the_traffic() {
    let s = TestServer::builder()
        .env("ROOST_METRICS_INTERVAL", "100")
        .start()
        .await;
    let mut ws = connect(&s).await;
    let history = next_frame(&mut ws).await;
    assert_eq!(history["type"], "history");
    assert_eq!(history["interval_ms"], 100);
    assert!(history["points"].is_array());

    let first = frame_where(&mut ws, "any", |_| true).await;
    let nodes = first["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    assert!(nodes.iter().all(|n| n["state"] == "up"));
    let share: f64 = nodes
        .iter()
        .map(|n| n["ring_share"].as_f64().unwrap())
        .sum();
    assert!((share - 1.0).abs() < 1e-6, "{share}");
    let kinds: Vec<&str> = first["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["startup", "config"]);
    assert_eq!(first["memory"]["max_bytes"], 256 * 1024 * 1024);

    for i in 0..40 {
        s.post("/api/cache", json!({"key": format!("k{i}"), "value": i}))
            .await;
        s.get(&format!("/api/cache/k{i}")).await;
    }
    let busy = frame_where(&mut ws, "traffic and keys show", |f| {
        f["point"]["ops_per_second"].as_f64().unwrap() > 0.0 && f["point"]["keys"] == 40
    })
    .await;
    assert!(busy["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .any(|n| n["ops"].as_u64().unwrap() > 0));
    assert_eq!(busy["hit_ratio_lifetime"], 1.0);

    s.delete("/api/cache/flush/all").await;
    let flushed = frame_where(&mut ws, "a flush event", |f| {
        f["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "flush")
    })
    .await;
    assert_eq!(flushed["point"]["keys"], 0);

    // A dashboard opened now sees the traffic in its history.
    let mut late = connect(&s).await;
    let history = next_frame(&mut late).await;
    let points = history["points"].as_array().unwrap();
    assert!(points
        .iter()
        .any(|p| p["ops_per_second"].as_f64().unwrap() > 0.0));
    assert!(points.iter().any(|p| p["hit_ratio"] == 1.0), "{points:?}");
    s.shutdown().await;
}

#[tokio::test]
async fn many_dashboards_share_one_snapshot_per_interval() {
    let s = TestServer::builder()
        .env("ROOST_METRICS_INTERVAL", "500")
        .start()
        .await;
    let mut clients = Vec::new();
    for _ in 0..100 {
        let mut ws = connect(&s).await;
        assert_eq!(next_frame(&mut ws).await["type"], "history");
        clients.push(ws);
    }
    eventually(Duration::from_secs(5), "100 clients counted", || async {
        metric(&s, "roost_ws_clients").await == 100.0
    })
    .await;
    // The same frame (same sequence number, same bytes) reaches every client:
    // the first one after every client has had a live frame.
    let mut newest = 0;
    for ws in &mut clients {
        let seq = frame_where(ws, "any", |_| true).await["seq"]
            .as_u64()
            .unwrap();
        newest = newest.max(seq);
    }
    let target = newest + 1;
    let mut seen = Vec::new();
    for ws in &mut clients {
        let frame = frame_where(ws, "the target frame", |f| {
            f["seq"].as_u64() >= Some(target)
        })
        .await;
        assert_eq!(
            frame["seq"].as_u64(),
            Some(target),
            "a client skipped a frame"
        );
        seen.push(frame.to_string());
    }
    seen.dedup();
    assert_eq!(
        seen.len(),
        1,
        "clients got different snapshots for one tick"
    );
    drop(clients);
    eventually(Duration::from_secs(5), "closed clients leave", || async {
        metric(&s, "roost_ws_clients").await == 0.0
    })
    .await;
    s.shutdown().await;
}

#[tokio::test]
async fn a_client_that_stops_reading_skips_frames_or_is_dropped() {
    // Many nodes make big frames, so a stuck socket fills quickly.
    let s = TestServer::builder()
        .shards(512)
        .env("ROOST_METRICS_INTERVAL", "100")
        .start()
        .await;
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket
        .connect(s.base.trim_start_matches("http://").parse().unwrap())
        .await
        .unwrap();
    let url = format!("{}/ws/metrics", s.base.replacen("http", "ws", 1));
    let (stuck, _) = tokio_tungstenite::client_async(url, MaybeTlsStream::Plain(stream))
        .await
        .unwrap();
    // `stuck` is never read from again.
    eventually(
        Duration::from_secs(45),
        "the stuck client to skip or be dropped",
        || async {
            metric(&s, "roost_ws_frames_skipped_total").await > 0.0
                || metric(&s, "roost_ws_clients_dropped_total").await > 0.0
        },
    )
    .await;
    // Meanwhile the server and other dashboards are unaffected.
    let mut healthy = connect(&s).await;
    assert_eq!(next_frame(&mut healthy).await["type"], "history");
    assert_eq!(next_frame(&mut healthy).await["type"], "snapshot");
    let (status, _) = s.get("/healthz").await;
    assert_eq!(status, 200);
    drop(stuck);
    s.shutdown().await;
}
