//! Roost in front of a real six-node Redis Cluster (three masters, three
//! replicas): detected through `CLUSTER INFO`, keys where the cluster's slots
//! say, and service again after a master is killed and its replica promoted.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use serde_json::json;
use support::redis::RedisCluster;
use support::{eventually, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_cluster_is_detected_followed_and_survives_a_master_kill() {
    let mut cluster = RedisCluster::start(3, 1);
    let server = TestServer::builder()
        .env("REDIS_CLUSTER_NODES", &cluster.seed_urls().join(","))
        .env("ROOST_REDIS_TIMEOUT", "500")
        .start()
        .await;
    let (status, body) = server.get("/api/cluster/nodes").await;
    assert_eq!(
        (status, &body["backend"]),
        (200, &json!("redis-cluster")),
        "{body}"
    );
    for i in 0..200 {
        let key = format!("slot:{i}");
        let (status, body) = server
            .post("/api/cache", json!({"key": key, "value": i, "ttl": 600}))
            .await;
        assert_eq!(status, 200, "{body}");
    }
    for i in (0..200).step_by(13) {
        let key = format!("slot:{i}");
        let master = cluster.master_for_key(&key);
        assert!(
            cluster.node(master).exists(&key),
            "{key} on its slot's master"
        );
        let (status, body) = server.get(&format!("/api/cache/{key}")).await;
        assert_eq!((status, &body["value"]), (200, &json!(i)));
    }
    let (status, body) = server
        .post(
            "/api/cluster/nodes",
            json!({"address": "redis://127.0.0.1:1"}),
        )
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("cluster_managed"))
    );

    let victim = cluster.master_for_key("slot:0");
    cluster.kill(victim);
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.wait_for_failover(victim, Duration::from_secs(20));
        cluster
    })
    .await
    .unwrap();
    eventually(
        Duration::from_secs(20),
        "writes to the failed-over slot",
        || async {
            let (status, _) = server
                .post(
                    "/api/cache",
                    json!({"key": "slot:0", "value": "after", "ttl": 600}),
                )
                .await;
            status == 200
        },
    )
    .await;
    let (status, body) = server.get("/api/cache/slot:0").await;
    assert_eq!((status, &body["value"]), (200, &json!("after")));
    let mut resp = server.resp().await;
    assert_eq!(resp.cmd(&["SET", "slot:resp", "v"]).await, "+OK\r\n");
    assert_eq!(resp.cmd(&["GET", "slot:resp"]).await, "$1\r\nv\r\n");
    let promoted = cluster.master_for_key("slot:0");
    assert_ne!(promoted, victim);
    assert!(cluster.node(promoted).exists("slot:0"));
}
