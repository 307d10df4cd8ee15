//! Roost in front of real redis-server nodes, for the fleet test binaries:
//! start a gateway over some nodes, name a node the way the fleet does, build
//! the ring it places keys with, and read the topology API.

use std::time::Duration;

use roost_ring::{Node, NodeId, Ring, DEFAULT_WEIGHT};
use serde_json::Value;

use super::redis::RedisServer;
use super::{eventually, TestServer, TestServerBuilder};

/// How long fleet tests wait for a state change (ejection, readmission, a move).
pub const DEADLINE: Duration = Duration::from_secs(20);

/// The fleet's id of a node: its `host:port`.
pub fn node_id(server: &RedisServer) -> String {
    format!("127.0.0.1:{}", server.port())
}

/// The ring Roost builds over `servers` at default weight.
pub fn ring_of(servers: &[&RedisServer]) -> Ring {
    Ring::new(
        servers
            .iter()
            .map(|s| Node::new(NodeId::from(node_id(s)), DEFAULT_WEIGHT))
            .collect(),
    )
    .unwrap()
}

/// `count` keys the ring over `servers` places on `servers[owner]`.
pub fn keys_on(servers: &[&RedisServer], owner: usize, prefix: &str, count: usize) -> Vec<String> {
    let ring = ring_of(servers);
    (0..)
        .map(|i| format!("{prefix}:{i}"))
        .filter(|k| ring.locate(k.as_bytes()) == Some(owner))
        .take(count)
        .collect()
}

/// A gateway over `servers` with fast health checks (100 ms probes, 300 ms
/// timeout, ejected after 2 failures, readmitted after 2 probes); `settings`
/// override any of them.
pub async fn start_fleet(servers: &[&RedisServer], settings: &[(&str, &str)]) -> TestServer {
    fleet_builder(servers, settings).start().await
}

/// [`start_fleet`]'s builder, to add to before starting.
pub fn fleet_builder(servers: &[&RedisServer], settings: &[(&str, &str)]) -> TestServerBuilder {
    let urls: Vec<String> = servers.iter().map(|s| s.url()).collect();
    let mut builder = TestServer::builder()
        .env("REDIS_CLUSTER_NODES", &urls.join(","))
        .env("ROOST_BACKEND", "redis")
        .env("ROOST_HEALTH_INTERVAL", "100")
        .env("ROOST_REDIS_TIMEOUT", "300")
        .env("ROOST_EJECT_AFTER", "2")
        .env("ROOST_READMIT_AFTER", "2");
    for (key, value) in settings {
        builder = builder.env(key, value);
    }
    builder
}

/// The node's `state` in `GET /api/cluster/nodes`; `None` once it left.
pub async fn node_state(server: &TestServer, id: &str) -> Option<String> {
    let (status, body) = server.get("/api/cluster/nodes").await;
    assert_eq!(status, 200, "{body}");
    body["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["id"] == id)
        .map(|n| n["state"].as_str().unwrap().to_owned())
}

/// Waits until the node `id` reports `state` (`up`, `down`…) in `GET /api/cluster/nodes`.
pub async fn wait_for_state(server: &TestServer, id: &str, state: &str) {
    eventually(DEADLINE, &format!("node {id} {state}"), || async {
        node_state(server, id).await.as_deref() == Some(state)
    })
    .await;
}

/// Waits until keys stopped moving after a topology change.
pub async fn settle(server: &TestServer) {
    eventually(DEADLINE, "keys moved", || async {
        let (_, body) = server.get("/api/cluster/nodes").await;
        body["moving"] == Value::Bool(false)
    })
    .await;
}
