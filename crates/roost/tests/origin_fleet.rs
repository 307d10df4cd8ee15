//! Origin read-through in front of real Redis: a fleet of three redis-server
//! nodes and a Redis Cluster, with several gateways sharing them. Leases make
//! one origin request out of many gateways' misses, and a write or delete
//! through another gateway wins over a fill in flight.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::fleet::{fleet_builder, keys_on, DEADLINE};
use support::origin::{Behaviour, TestOrigin};
use support::redis::{RedisCluster, RedisServer};
use support::{eventually, metric, TestServer};

async fn gateways(count: usize, nodes: &[&RedisServer], origin: &TestOrigin) -> Vec<TestServer> {
    gateways_with(count, nodes, origin, &[]).await
}

/// `count` gateways over `nodes`, reading through `origin`, with `settings`.
async fn gateways_with(
    count: usize,
    nodes: &[&RedisServer],
    origin: &TestOrigin,
    settings: &[(&str, &str)],
) -> Vec<TestServer> {
    let mut started = Vec::new();
    for _ in 0..count {
        let builder = fleet_builder(nodes, settings).env("ROOST_ORIGIN_URL", &origin.url());
        started.push(builder.start().await);
    }
    started
}

/// A REST GET of `key` through `gateway`, running on its own; its status.
fn status_of(gateway: &TestServer, key: &str) -> tokio::task::JoinHandle<u16> {
    let (client, url) = (
        gateway.client.clone(),
        gateway.url(&format!("/api/cache/{key}")),
    );
    tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
}

/// `count` concurrent REST GETs of `key`, spread over `gateways`; each
/// answer's value.
async fn stampede(gateways: &[TestServer], key: &str, count: usize) -> Vec<Value> {
    let requests: Vec<_> = (0..count)
        .map(|i| {
            let gateway = &gateways[i % gateways.len()];
            let (client, url) = (
                gateway.client.clone(),
                gateway.url(&format!("/api/cache/{key}")),
            );
            tokio::spawn(async move {
                let r = client.get(url).send().await.unwrap();
                assert_eq!(r.status().as_u16(), 200);
                r.json::<Value>().await.unwrap()["value"].clone()
            })
        })
        .collect();
    let mut values = Vec::new();
    for request in requests {
        values.push(request.await.unwrap());
    }
    values
}

async fn lease_waits(gateways: &[TestServer]) -> f64 {
    let mut waits = 0.0;
    for gateway in gateways {
        waits += metric(
            &gateway.metrics_text().await,
            "roost_origin_lease_waits_total",
        );
    }
    waits
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fleet_loads_misses_through_either_door_into_the_owning_node() {
    let nodes = [
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    ];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let origin = TestOrigin::start().await;
    origin.set("broken", Behaviour::status(500));
    let s = &gateways(1, &refs, &origin).await[0];
    let keys = keys_on(&refs, 1, "item", 3);

    let (status, body) = s.get(&format!("/api/cache/{}", keys[0])).await;
    assert_eq!((status, &body["value"]["n"]), (200, &json!(1)), "{body}");
    let stored = nodes[1].get(&keys[0]).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&stored).unwrap()["key"],
        json!(keys[0])
    );
    let mut resp = s.resp().await;
    let reply = resp.cmd(&["GET", &keys[1]]).await;
    assert!(
        reply.contains(&format!(r#""key":"{}""#, keys[1])),
        "{reply}"
    );
    let replies = resp
        .pipeline(&[vec!["GET", keys[2].as_str()], vec!["GET", keys[0].as_str()]])
        .await;
    assert!(
        replies.iter().all(|r| r.contains(r#""n":1"#)),
        "{replies:?}"
    );
    assert!(nodes[1].exists(&keys[2]));
    assert_eq!(origin.requests(), 3, "each key once");
    for key in &keys {
        assert!(
            !nodes[1].exists(&format!("roost:lease:{{{key}}}")),
            "no lease left"
        );
    }
    let (status, body) = s.get("/api/cache/broken").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (502, &json!("origin_failed"))
    );
    assert_eq!(
        resp.cmd(&["GET", "broken"]).await,
        "-ERR origin answered 500\r\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_over_one_fleet_make_one_origin_request_for_200_misses() {
    let nodes = [
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    ];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let origin = TestOrigin::start().await;
    let gateways = gateways(3, &refs, &origin).await;
    for round in 0..3 {
        let key = format!("stampede:{round}");
        origin.set(&key, Behaviour::slow(Duration::from_millis(300)));
        let values = stampede(&gateways, &key, 200).await;
        assert!(values.iter().all(|v| v["n"] == json!(1)), "{values:?}");
        assert_eq!(origin.requests_for(&key), 1, "round {round}");
    }
    assert!(
        lease_waits(&gateways).await > 0.0,
        "some gateway waited on a lease"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_or_delete_through_another_gateway_wins_over_a_fill() {
    let nodes = [
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    ];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let origin = TestOrigin::start().await;
    let gateways = gateways(2, &refs, &origin).await;
    let (reader, writer) = (&gateways[0], &gateways[1]);
    let keys = keys_on(&refs, 0, "race", 2);
    for (i, key) in keys.iter().enumerate() {
        origin.set(key, Behaviour::slow(Duration::from_millis(500)));
        let (client, url) = (
            reader.client.clone(),
            reader.url(&format!("/api/cache/{key}")),
        );
        let read = tokio::spawn(async move { client.get(url).send().await.unwrap().status() });
        eventually(DEADLINE, "the fill's fetch reached the origin", || async {
            origin.requests_for(key) == 1
        })
        .await;
        let mut resp = writer.resp().await;
        if i == 0 {
            assert_eq!(resp.cmd(&["SET", key, "mine"]).await, "+OK\r\n");
        } else {
            assert_eq!(resp.cmd(&["DEL", key]).await, ":0\r\n");
        }
        assert_eq!(read.await.unwrap().as_u16(), 200);
        if i == 0 {
            assert_eq!(nodes[0].get(key).as_deref(), Some("mine"), "the write won");
            let (_, body) = reader.get(&format!("/api/cache/{key}")).await;
            assert_eq!(body["value"], json!("mine"));
        } else {
            assert!(
                !nodes[0].exists(key),
                "the delete won: the fill was refused"
            );
        }
        assert!(!nodes[0].exists(&format!("roost:lease:{{{key}}}")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_gateways_over_a_redis_cluster_make_one_origin_request() {
    let cluster = RedisCluster::start(3, 0);
    let origin = Arc::new(TestOrigin::start().await);
    let mut gateways = Vec::new();
    for _ in 0..3 {
        let gateway = TestServer::builder()
            .env("REDIS_CLUSTER_NODES", &cluster.seed_urls().join(","))
            .env("ROOST_BACKEND", "redis-cluster")
            .env("ROOST_ORIGIN_URL", &origin.url())
            .start()
            .await;
        gateways.push(gateway);
    }
    // A plain key (lease `roost:lease:{key}`) and one with its own hash tag.
    for key in ["cluster:hot", "{user:7}:profile"] {
        origin.set(key, Behaviour::slow(Duration::from_millis(300)));
        let values = stampede(&gateways, &urlencode(key), 200).await;
        assert!(values.iter().all(|v| v["n"] == json!(1)), "{values:?}");
        assert_eq!(origin.requests_for(key), 1, "{key}");
        let master = cluster.master_for_key(key);
        assert!(
            cluster.node(master).exists(key),
            "{key} stored on its slot's master"
        );
    }
    assert!(lease_waits(&gateways).await > 0.0);
}

fn urlencode(key: &str) -> String {
    key.replace('{', "%7B").replace('}', "%7D")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_the_fill_did_not_store_is_not_kept_as_a_stale_copy() {
    let nodes = [RedisServer::start()];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let origin = TestOrigin::start().await;
    let s = fleet_builder(&refs, &[])
        .env("ROOST_ORIGIN_URL", &origin.url())
        .env("ROOST_ORIGIN_TIMEOUT", "10000")
        .env("ROOST_ORIGIN_STALE_IF_ERROR", "60")
        .start()
        .await;
    origin.set(
        "k",
        Behaviour::slow(Duration::from_secs(1)).cache_control("max-age=60"),
    );
    let (client, url) = (s.client.clone(), s.url("/api/cache/k"));
    let reader = tokio::spawn(async move {
        let r = client.get(url).send().await.unwrap();
        (r.status().as_u16(), r.json::<Value>().await.unwrap())
    });
    eventually(DEADLINE, "the fetch reached the origin", || async {
        origin.requests_for("k") == 1
    })
    .await;
    // Straight to Redis: no supersede, but the fill finds the key present.
    assert_eq!(nodes[0].cli(&["SET", "k", "direct"]).trim(), "OK");
    let (status, body) = reader.await.unwrap();
    assert_eq!((status, &body["ttl"]), (200, &json!(0)), "{body}");
    assert_eq!(nodes[0].get("k").as_deref(), Some("direct"));
    nodes[0].cli(&["DEL", "k"]);
    origin.set("k", Behaviour::status(500));
    let (status, body) = s.get("/api/cache/k").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (502, &json!("origin_failed")),
        "no stale copy of a value that was never stored: {body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiters_take_a_lease_a_write_removed_and_only_one_of_them_fetches() {
    let nodes = [RedisServer::start()];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let origin = TestOrigin::start().await;
    let gateways = gateways_with(3, &refs, &origin, &[("ROOST_ORIGIN_TIMEOUT", "10000")]).await;
    origin.set("k", Behaviour::slow(Duration::from_secs(2)));
    let get = |gateway: &TestServer| status_of(gateway, "k");
    let holder = get(&gateways[0]);
    eventually(
        DEADLINE,
        "the lease holder's fetch reached the origin",
        || async { origin.requests_for("k") == 1 },
    )
    .await;
    let waiters = [get(&gateways[1]), get(&gateways[2])];
    eventually(
        DEADLINE,
        "both other gateways wait on the lease",
        || async { lease_waits(&gateways[1..]).await == 2.0 },
    )
    .await;
    // The holder's fetch is still in flight (2 s); the delete removes its lease.
    let mut resp = gateways[0].resp().await;
    assert_eq!(resp.cmd(&["DEL", "k"]).await, ":0\r\n");
    assert_eq!(holder.await.unwrap(), 200);
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap(), 200);
    }
    assert_eq!(
        origin.requests_for("k"),
        2,
        "the holder's fetch, then one waiter's: the other waited for its fill"
    );
    assert_eq!(lease_waits(&gateways[1..]).await, 2.0, "once per flight");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_waiting_on_a_lease_holds_no_origin_slot() {
    let nodes = [RedisServer::start()];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let origin = TestOrigin::start().await;
    let settings = [
        ("ROOST_ORIGIN_TIMEOUT", "10000"),
        ("ROOST_ORIGIN_MAX_CONCURRENCY", "1"),
    ];
    let gateways = gateways_with(2, &refs, &origin, &settings).await;
    origin.set("slow", Behaviour::slow(Duration::from_secs(2)));
    let get = |gateway: &TestServer| status_of(gateway, "slow");
    let holder = get(&gateways[0]);
    eventually(
        DEADLINE,
        "the lease holder's fetch reached the origin",
        || async { origin.requests_for("slow") == 1 },
    )
    .await;
    let waiter = get(&gateways[1]);
    eventually(
        DEADLINE,
        "the second gateway waits on the lease",
        || async { lease_waits(&gateways[1..]).await == 1.0 },
    )
    .await;
    let (status, body) = gateways[1].get("/api/cache/other").await;
    assert_eq!(
        (status, &body["value"]["n"]),
        (200, &json!(1)),
        "the only slot is free while the other key waits: {body}"
    );
    assert_eq!(holder.await.unwrap(), 200);
    assert_eq!(waiter.await.unwrap(), 200);
    assert_eq!(origin.requests_for("slow"), 1);
}
