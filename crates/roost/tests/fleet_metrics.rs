//! Monitoring of a Redis fleet against real redis-server processes: a killed
//! node shows as down with its failed requests on `/metrics`, in the stats
//! overview and on `/ws/metrics`, and back up once it returns; a node added
//! through the topology API gets its own series and operation count, and a
//! removed node's series disappear.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Instant;

use futures_util::StreamExt;
use serde_json::{json, Value};
use support::fleet::{keys_on, node_id, settle, start_fleet, DEADLINE};
use support::redis::RedisServer;
use support::{eventually, TestServer};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Client = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Probes every 200 ms and ejects after 3 failures, so a request sent right
/// after a kill reaches the dead node before the prober has ejected it.
async fn fleet(servers: &[&RedisServer]) -> TestServer {
    let settings = [
        ("ROOST_HEALTH_INTERVAL", "200"),
        ("ROOST_EJECT_AFTER", "3"),
        ("ROOST_METRICS_INTERVAL", "200"),
    ];
    start_fleet(servers, &settings).await
}

/// The value of `name{node="<node>"}` on `/metrics`, if the series exists.
async fn node_series(server: &TestServer, name: &str, node: &str) -> Option<f64> {
    let prefix = format!("{name}{{node=\"{node}\"}} ");
    server
        .metrics_text()
        .await
        .lines()
        .find_map(|l| l.strip_prefix(&prefix)?.parse().ok())
}

/// The stats overview's row for `node`.
async fn overview_row(server: &TestServer, node: &str) -> Option<Value> {
    let stats = server.stats().await;
    stats["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == node)
        .cloned()
}

async fn connect(server: &TestServer) -> Client {
    let url = format!("{}/ws/metrics", server.base.replacen("http", "ws", 1));
    tokio_tungstenite::connect_async(url).await.unwrap().0
}

/// Reads live frames until one has a row for `node` that `check` accepts.
async fn stream_row_where(
    ws: &mut Client,
    node: &str,
    what: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let until = Instant::now() + DEADLINE;
    loop {
        let message = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .expect("a frame in time")
            .expect("the stream is open")
            .unwrap();
        if let Message::Text(text) = message {
            let frame: Value = serde_json::from_str(text.as_str()).unwrap();
            let row = frame["nodes"]
                .as_array()
                .and_then(|nodes| nodes.iter().find(|n| n["id"] == node));
            if let Some(row) = row.filter(|row| check(row)) {
                return row.clone();
            }
        }
        assert!(Instant::now() < until, "no frame where {what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_is_down_with_its_errors_everywhere_and_up_again_after_a_restart() {
    let mut nodes = [RedisServer::start(), RedisServer::start()];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let victims = keys_on(&refs, 0, "victim", 5);
    let server = fleet(&refs).await;
    let (id0, id1) = (node_id(&nodes[0]), node_id(&nodes[1]));
    for key in &victims {
        let (status, body) = server
            .post("/api/cache", json!({"key": key, "value": "v"}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let mut ws = connect(&server).await;
    assert_eq!(node_series(&server, "roost_node_up", &id0).await, Some(1.0));
    assert_eq!(
        node_series(&server, "roost_node_errors_total", &id0).await,
        Some(0.0)
    );

    nodes[0].kill();
    // Each read tries the dead owner first: a failed request to it.
    for key in &victims {
        server.get(&format!("/api/cache/{key}")).await;
    }
    eventually(DEADLINE, "roost_node_up 0 for the killed node", || async {
        node_series(&server, "roost_node_up", &id0).await == Some(0.0)
    })
    .await;
    let errors = node_series(&server, "roost_node_errors_total", &id0).await;
    assert!(errors.unwrap() > 0.0, "failed requests counted: {errors:?}");
    assert_eq!(node_series(&server, "roost_node_up", &id1).await, Some(1.0));
    assert_eq!(
        node_series(&server, "roost_node_errors_total", &id1).await,
        Some(0.0)
    );
    let row = overview_row(&server, &id0).await.unwrap();
    assert_eq!(row["state"], "down", "{row}");
    assert!(row["errors"].as_u64().unwrap() > 0, "{row}");
    let row = stream_row_where(&mut ws, &id0, "the killed node is down", |row| {
        row["state"] == "down"
    })
    .await;
    assert!(row["errors"].as_u64().unwrap() > 0, "{row}");

    nodes[0].restart();
    eventually(DEADLINE, "roost_node_up 1 after the restart", || async {
        node_series(&server, "roost_node_up", &id0).await == Some(1.0)
    })
    .await;
    stream_row_where(&mut ws, &id0, "the node is up again", |row| {
        row["state"] == "up"
    })
    .await;
    let (status, body) = server
        .post("/api/cache", json!({"key": victims[0], "value": "back"}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(
        nodes[0].exists(&victims[0]),
        "the node serves its keys again"
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_node_series_and_ops_follow_nodes_added_and_removed_through_the_api() {
    let nodes = [
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    ];
    let server = fleet(&[&nodes[0], &nodes[1]]).await;
    let (id1, id2) = (node_id(&nodes[1]), node_id(&nodes[2]));
    assert_eq!(node_series(&server, "roost_node_up", &id2).await, None);
    let (status, body) = server
        .post("/api/cluster/nodes", json!({"address": nodes[2].url()}))
        .await;
    assert_eq!(status, 201, "{body}");
    settle(&server).await;
    assert_eq!(node_series(&server, "roost_node_up", &id2).await, Some(1.0));
    let ops_before = overview_row(&server, &id2).await.unwrap()["ops"]
        .as_u64()
        .unwrap();

    let added = keys_on(&[&nodes[0], &nodes[1], &nodes[2]], 2, "added", 50);
    for key in &added {
        let (status, body) = server
            .post("/api/cache", json!({"key": key, "value": "v"}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    assert!(added.iter().all(|key| nodes[2].exists(key)));
    let row = overview_row(&server, &id2).await.unwrap();
    let ops_after = row["ops"].as_u64().unwrap();
    assert!(
        ops_after >= ops_before + 50,
        "50 writes routed to the new node: {ops_before} -> {ops_after}"
    );
    assert_eq!((&row["state"], &row["errors"]), (&json!("up"), &json!(0)));
    let exported = node_series(&server, "roost_node_operations_total", &id2).await;
    assert!(exported.unwrap() >= ops_after as f64, "{exported:?}");

    let (status, body) = server.delete(&format!("/api/cluster/nodes/{id1}")).await;
    assert_eq!(status, 202, "{body}");
    settle(&server).await;
    eventually(DEADLINE, "the removed node's series gone", || async {
        let text = server.metrics_text().await;
        let up = format!("roost_node_up{{node=\"{id1}\"}}");
        let ops = format!("roost_node_operations_total{{node=\"{id1}\"}}");
        !text.contains(&up) && !text.contains(&ops)
    })
    .await;
    assert!(overview_row(&server, &id1).await.is_none());
    assert_eq!(node_series(&server, "roost_node_up", &id2).await, Some(1.0));
    server.shutdown().await;
}
