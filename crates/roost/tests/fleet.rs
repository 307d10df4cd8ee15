//! The Redis fleet backend against real redis-server processes: placement as
//! the ring says (checked on the Redis nodes themselves), replicas that keep
//! every acknowledged write through a `kill -9`, readmission that never serves
//! a value the node missed, the gutter, and adding and draining nodes under
//! load.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use support::fleet::{
    fleet_builder, keys_on, node_id, node_state, ring_of, settle, start_fleet, wait_for_state,
    DEADLINE,
};
use support::redis::RedisServer;
use support::{eventually, TestServer};

async fn set(server: &TestServer, key: &str, value: &str) -> u16 {
    server
        .post(
            "/api/cache",
            json!({"key": key, "value": value, "ttl": 600}),
        )
        .await
        .0
}

/// Three fresh redis-server nodes.
fn three_nodes() -> [RedisServer; 3] {
    [
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    ]
}

/// A RESP bulk-string reply.
fn bulk(text: &str) -> String {
    format!("${}\r\n{text}\r\n", text.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_lands_on_the_node_the_ring_says() {
    let nodes = three_nodes();
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let server = start_fleet(&refs, &[]).await;
    let ring = ring_of(&refs);
    for i in 0..300 {
        let key = format!("placed:{i}");
        assert_eq!(set(&server, &key, "v").await, 200);
        let owner = ring.locate(key.as_bytes()).unwrap();
        for (index, node) in nodes.iter().enumerate() {
            assert_eq!(node.exists(&key), index == owner, "{key} on node {index}");
        }
        let (status, body) = server.get(&format!("/api/cache/{key}")).await;
        assert_eq!(status, 200);
        assert_eq!(body["node"], node_id(&nodes[owner]));
        assert!(body["ttl"].as_u64().unwrap() > 590, "{body}");
    }
    let counts: Vec<u64> = nodes.iter().map(RedisServer::dbsize).collect();
    assert_eq!(counts.iter().sum::<u64>(), 300);
    assert!(counts.iter().all(|&c| c > 60), "spread {counts:?}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_two_replicas_a_kill_loses_no_acknowledged_write_and_the_node_rejoins() {
    let mut nodes = three_nodes();
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let server = Arc::new(start_fleet(&refs, &[("ROOST_REPLICAS", "2")]).await);
    let victim = node_id(&nodes[1]);
    let acked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let failed = Arc::new(AtomicU64::new(0));
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let (server, acked, failed) = (server.clone(), acked.clone(), failed.clone());
            tokio::spawn(async move {
                for i in 0..400 {
                    let key = format!("w{w}:{i}");
                    if set(&server, &key, &key).await == 200 {
                        acked.lock().unwrap().push(key);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    eventually(DEADLINE, "some writes before the kill", || async {
        acked.lock().unwrap().len() > 300
    })
    .await;
    nodes[1].kill();
    for writer in writers {
        writer.await.unwrap();
    }
    let keys = acked.lock().unwrap().clone();
    assert!(
        failed.load(Ordering::Relaxed) <= 5,
        "failed writes: {failed:?}"
    );
    assert_eq!(node_state(&server, &victim).await.as_deref(), Some("down"));
    for key in &keys {
        let (status, body) = server.get(&format!("/api/cache/{key}")).await;
        assert_eq!(
            (status, body["value"].as_str()),
            (200, Some(key.as_str())),
            "{key}"
        );
    }
    nodes[1].restart();
    wait_for_state(&server, &victim, "up").await;
    for key in &keys {
        let (status, body) = server.get(&format!("/api/cache/{key}")).await;
        assert_eq!(
            (status, body["value"].as_str()),
            (200, Some(key.as_str())),
            "{key}"
        );
    }
    assert!(nodes[1].dbsize() > 0, "read-repair refilled the empty node");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoining_node_never_serves_a_value_it_missed() {
    let nodes = [RedisServer::start(), RedisServer::start()];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let server = start_fleet(&refs, &[("ROOST_REPLICAS", "2")]).await;
    // A key whose first replica is node 0, so reads go there first.
    let key = keys_on(&refs, 0, "stale", 1).remove(0);
    assert_eq!(set(&server, &key, "v1").await, 200);
    assert_eq!(nodes[0].get(&key).as_deref(), Some("\"v1\""));
    // Freeze node 0 with its data: commands queue, probes time out.
    nodes[0].cli(&["CLIENT", "PAUSE", "2500", "ALL"]);
    assert_eq!(set(&server, &key, "v2").await, 200, "quorum 1: node 1 acks");
    let id0 = node_id(&nodes[0]);
    wait_for_state(&server, &id0, "down").await;
    assert_eq!(set(&server, &key, "v3").await, 200);
    wait_for_state(&server, &id0, "up").await;
    let (status, body) = server.get(&format!("/api/cache/{key}")).await;
    assert_eq!((status, &body["value"]), (200, &json!("v3")), "{body}");
    assert_eq!(nodes[0].get(&key).as_deref(), Some("\"v3\""), "repaired");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rejoined_node_gets_the_writes_it_missed_so_a_second_failure_loses_none() {
    let mut nodes = [RedisServer::start(), RedisServer::start()];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let server = start_fleet(&refs, &[("ROOST_REPLICAS", "2")]).await;
    drop(refs);
    let (id0, id1) = (node_id(&nodes[0]), node_id(&nodes[1]));
    nodes[0].kill();
    wait_for_state(&server, &id0, "down").await;
    let keys: Vec<String> = (0..200).map(|i| format!("missed:{i}")).collect();
    for key in &keys {
        assert_eq!(set(&server, key, key).await, 200, "node 1 acks alone");
    }
    nodes[0].restart();
    wait_for_state(&server, &id0, "up").await;
    // Done when the refill says so: a copy counts in DBSIZE before it is
    // re-checked against its source, and one whose source dies before the
    // re-check is undone (it might resurrect a delete).
    eventually(DEADLINE, "the refill of node 0 done", || async {
        let events = server.running.as_ref().unwrap().state().events.recent(50);
        events.iter().any(|e| e.message.contains("refill done"))
    })
    .await;
    assert_eq!(
        nodes[0].dbsize(),
        keys.len() as u64,
        "every missed write copied"
    );
    nodes[1].kill();
    wait_for_state(&server, &id1, "down").await;
    for key in &keys {
        let (status, body) = server.get(&format!("/api/cache/{key}")).await;
        assert_eq!(
            (status, body["value"].as_str()),
            (200, Some(key.as_str())),
            "{key}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gutter_holds_a_dead_nodes_range_only_briefly() {
    let mut nodes = [RedisServer::start(), RedisServer::start()];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let gutter = start_fleet(&refs, &[("ROOST_GUTTER_TTL", "5")]).await;
    let rehash = start_fleet(&refs, &[("ROOST_GUTTER_TTL", "0")]).await;
    let keys = keys_on(&refs, 0, "gutter", 2);
    nodes[0].kill();
    for server in [&gutter, &rehash] {
        let id0 = node_id(&nodes[0]);
        eventually(DEADLINE, "node 0 ejected", || async {
            set(server, "probe", "x").await;
            node_state(server, &id0).await.as_deref() == Some("down")
        })
        .await;
    }
    assert_eq!(set(&gutter, &keys[0], "g").await, 200);
    assert_eq!(set(&rehash, &keys[1], "r").await, 200);
    let pttl = |key: &str| nodes[1].cli(&["PTTL", key]).trim().parse::<i64>().unwrap();
    assert!((1..=5_000).contains(&pttl(&keys[0])), "gutter caps the TTL");
    assert!(pttl(&keys[1]) > 590_000, "rehash keeps the TTL");
    let (status, body) = gutter.get(&format!("/api/cache/{}", keys[0])).await;
    assert_eq!((status, &body["value"]), (200, &json!("g")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_and_draining_nodes_under_load_moves_a_fair_share_without_errors() {
    let nodes: Vec<RedisServer> = (0..4).map(|_| RedisServer::start()).collect();
    let server = Arc::new(start_fleet(&[&nodes[0], &nodes[1], &nodes[2]], &[]).await);
    for i in 0..1200 {
        assert_eq!(set(&server, &format!("m:{i}"), &i.to_string()).await, 200);
    }
    let (status, preview) = server
        .get(&format!("/api/cluster/preview?add={}", nodes[3].url()))
        .await;
    assert_eq!(status, 200, "{preview}");
    let share = preview["moved_share"].as_f64().unwrap();
    assert!((0.15..0.35).contains(&share), "about 1/4 moves: {share}");
    let misses = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let reader = {
        let (server, misses, errors) = (server.clone(), misses.clone(), errors.clone());
        tokio::spawn(async move {
            for round in 0..3 {
                for i in 0..1200 {
                    let (status, body) = server.get(&format!("/api/cache/m:{i}")).await;
                    match status {
                        200 => assert_eq!(body["value"], json!(i.to_string())),
                        404 => _ = misses.fetch_add(1, Ordering::Relaxed),
                        _ => _ = errors.fetch_add(1, Ordering::Relaxed),
                    }
                }
                let _ = round;
            }
        })
    };
    let (status, body) = server
        .post("/api/cluster/nodes", json!({"address": nodes[3].url()}))
        .await;
    assert_eq!(status, 201, "{body}");
    settle(&server).await;
    let added = nodes[3].dbsize();
    assert!((150..450).contains(&added), "node 4 took ~1/4: {added}");
    let id1 = node_id(&nodes[1]);
    let (status, body) = server.delete(&format!("/api/cluster/nodes/{id1}")).await;
    assert_eq!(status, 202, "{body}");
    settle(&server).await;
    reader.await.unwrap();
    assert_eq!(errors.load(Ordering::Relaxed), 0);
    assert_eq!(
        misses.load(Ordering::Relaxed),
        0,
        "read-through hides the move"
    );
    assert_eq!(nodes[1].dbsize(), 0, "drained");
    assert_eq!(node_state(&server, &id1).await, None, "removed");
    let ring = ring_of(&[&nodes[0], &nodes[2], &nodes[3]]);
    let placed = [&nodes[0], &nodes[2], &nodes[3]];
    for i in (0..1200).step_by(7) {
        let key = format!("m:{i}");
        let owner = ring.locate(key.as_bytes()).unwrap();
        assert!(placed[owner].exists(&key), "{key} on its new owner");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_drain_keeps_keys_whose_new_owner_is_down_until_it_returns() {
    let mut nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start()).collect();
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let server = start_fleet(&refs, &[]).await;
    // Keys on node 2, which is drained: about half of them go to node 0.
    let leaving = keys_on(&refs, 2, "drained", 300);
    for key in &leaving {
        assert_eq!(set(&server, key, key).await, 200);
    }
    let after = ring_of(&[&nodes[0], &nodes[1]]);
    let to_node0 = leaving
        .iter()
        .filter(|k| after.locate(k.as_bytes()) == Some(0))
        .count();
    assert!(to_node0 > 50, "{to_node0} keys move to node 0");
    drop(refs);
    let id0 = node_id(&nodes[0]);
    nodes[0].kill();
    wait_for_state(&server, &id0, "down").await;
    let id2 = node_id(&nodes[2]);
    let (status, body) = server.delete(&format!("/api/cluster/nodes/{id2}")).await;
    assert_eq!(status, 202, "{body}");
    // The keys for node 1 move; those for node 0 wait on node 2.
    eventually(DEADLINE, "keys for node 1 moved", || async {
        nodes[2].dbsize() == to_node0 as u64
    })
    .await;
    let (_, body) = server.get("/api/cluster/nodes").await;
    assert_eq!(body["moving"], json!(true), "{body}");
    nodes[0].restart();
    wait_for_state(&server, &id0, "up").await;
    settle(&server).await;
    assert_eq!(nodes[2].dbsize(), 0, "drained once node 0 took its keys");
    assert_eq!(nodes[0].dbsize(), to_node0 as u64);
    for key in &leaving {
        let (status, body) = server.get(&format!("/api/cache/{key}")).await;
        assert_eq!(
            (status, body["value"].as_str()),
            (200, Some(key.as_str())),
            "{key}"
        );
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_topology_api_validates_and_guards_changes() {
    let nodes = [RedisServer::start(), RedisServer::start()];
    let auth = [
        ("ROOST_ADMIN_TOKEN", "s3cret"),
        ("ROOST_API_TOKENS", "viewer:read:l00k"),
    ];
    let server = fleet_builder(&[&nodes[0], &nodes[1]], &auth)
        .bearer("l00k")
        .start()
        .await;
    let (status, body) = server.get("/api/cluster/nodes").await;
    assert_eq!(status, 200);
    assert_eq!(body["backend"], "redis");
    let node = &body["nodes"][0];
    for field in [
        "id",
        "address",
        "state",
        "weight",
        "ring_share",
        "keys",
        "ops",
        "errors",
        "last_probe",
    ] {
        assert!(!node[field].is_null(), "{field} in {node}");
    }
    let (status, body) = server
        .post("/api/cluster/nodes", json!({"address": "redis://x:1"}))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (403, &json!("forbidden")),
        "the read role may not change the topology"
    );
    let r = server
        .anonymous
        .post(server.url("/api/cluster/nodes"))
        .json(&json!({"address": "redis://x:1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "no credential");
    let admin = |req: reqwest::RequestBuilder| req.bearer_auth("s3cret");
    let post = |body: Value| {
        admin(
            server
                .anonymous
                .post(server.url("/api/cluster/nodes"))
                .json(&body),
        )
    };
    let r = post(json!({"address": "http://nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = post(json!({"address": nodes[0].url()}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 409, "duplicate");
    let r = admin(
        server
            .anonymous
            .delete(server.url("/api/cluster/nodes/nope")),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(r.status(), 404);
    let r = admin(
        server
            .anonymous
            .delete(server.url(&format!("/api/cluster/nodes/{}", node_id(&nodes[0])))),
    );
    assert_eq!(r.send().await.unwrap().status(), 202);
    let (status, _) = server.get("/api/cluster/preview").await;
    assert_eq!(status, 400);
    let embedded = TestServer::builder().start().await;
    let (status, body) = embedded.get("/api/cluster/nodes").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("no_topology"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resp_scan_and_dbsize_count_each_replicated_key_once() {
    use roost_resp::Frame;
    let nodes = three_nodes();
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let server = start_fleet(&refs, &[("ROOST_REPLICAS", "2")]).await;
    let mut resp = server.resp().await;
    for i in 0..500 {
        let key = format!("scan:{i}");
        assert_eq!(resp.cmd(&["SET", &key, "v"]).await, "+OK\r\n");
    }
    assert_eq!(
        nodes.iter().map(RedisServer::dbsize).sum::<u64>(),
        1000,
        "two copies each"
    );
    let mut seen = Vec::new();
    let mut cursor = "0".to_owned();
    for _ in 0..200 {
        let args: [&[u8]; 4] = [b"SCAN", cursor.as_bytes(), b"COUNT", b"50"];
        let Frame::Array(parts) = resp.frame(&args).await else {
            panic!("SCAN reply is not an array")
        };
        let [Frame::Bulk(next), Frame::Array(keys)] = &parts[..] else {
            panic!("SCAN reply shape: {parts:?}")
        };
        for key in keys {
            let Frame::Bulk(key) = key else {
                panic!("{key:?}")
            };
            seen.push(String::from_utf8(key.to_vec()).unwrap());
        }
        cursor = String::from_utf8(next.to_vec()).unwrap();
        if cursor == "0" {
            break;
        }
    }
    assert_eq!(cursor, "0", "SCAN terminated");
    let total = seen.len();
    seen.sort();
    seen.dedup();
    assert_eq!((total, seen.len()), (500, 500), "every key exactly once");
    let deadline = std::time::Instant::now() + DEADLINE;
    loop {
        let size = resp.cmd(&["DBSIZE"]).await;
        if size == ":500\r\n" {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "DBSIZE never reached 500: {size:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pipeline_runs_concurrently_but_keeps_each_keys_order() {
    let nodes = [RedisServer::start(), RedisServer::start()];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let server = start_fleet(&refs, &[]).await;
    let mut resp = server.resp().await;
    let mut script: Vec<Vec<String>> = Vec::new();
    let mut expected = Vec::new();
    for round in 0..20 {
        let key = format!("order:{}", round % 3);
        let other = format!("other:{round}");
        script.push(vec!["SET".into(), key.clone(), round.to_string()]);
        expected.push("+OK\r\n".to_owned());
        script.push(vec!["SET".into(), other.clone(), "x".into()]);
        expected.push("+OK\r\n".to_owned());
        script.push(vec!["INCR".into(), key.clone()]);
        expected.push(format!(":{}\r\n", round + 1));
        script.push(vec!["APPEND".into(), key.clone(), "z".into()]);
        expected.push(format!(":{}\r\n", (round + 1).to_string().len() + 1));
        script.push(vec!["GET".into(), key.clone()]);
        let value = format!("{}z", round + 1);
        expected.push(bulk(&value));
        script.push(vec!["DEL".into(), other.clone()]);
        expected.push(":1\r\n".to_owned());
        script.push(vec!["EXISTS".into(), other]);
        expected.push(":0\r\n".to_owned());
    }
    script.push(vec!["PING".into()]);
    expected.push("+PONG\r\n".to_owned());
    let replies = resp.pipeline(&script).await;
    for (i, (got, want)) in replies.iter().zip(&expected).enumerate() {
        assert_eq!(got, want, "reply {i} to {:?}", script[i]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_whose_write_failed_is_not_read_until_repaired() {
    let nodes = [RedisServer::start(), RedisServer::start()];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let server = start_fleet(
        &refs,
        &[("ROOST_REPLICAS", "2"), ("ROOST_EJECT_AFTER", "50")],
    )
    .await;
    let key = keys_on(&refs, 0, "failed-write", 1).remove(0);
    assert_eq!(set(&server, &key, "v1").await, 200);
    // Node 0 keeps answering reads and PINGs but holds writes past the
    // gateway's timeout: the write fails there and succeeds on node 1.
    nodes[0].cli(&["CLIENT", "PAUSE", "1500", "WRITE"]);
    assert_eq!(set(&server, &key, "v2").await, 200, "quorum 1: node 1 acks");
    assert_eq!(
        nodes[0].get(&key).as_deref(),
        Some("\"v1\""),
        "node 0 is stale"
    );
    assert_eq!(
        node_state(&server, &node_id(&nodes[0])).await.as_deref(),
        Some("up")
    );
    let (status, body) = server.get(&format!("/api/cache/{key}")).await;
    assert_eq!((status, &body["value"]), (200, &json!("v2")), "{body}");
    eventually(
        DEADLINE,
        "node 0 repaired after its journal replay",
        || async {
            let (_, body) = server.get(&format!("/api/cache/{key}")).await;
            body["value"] == json!("v2") && nodes[0].get(&key).as_deref() == Some("\"v2\"")
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_gets_answer_each_key_as_single_gets_do() {
    let mut nodes = three_nodes();
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let ring = ring_of(&refs);
    let server = start_fleet(&refs, &[("ROOST_REPLICAS", "2")]).await;
    let mut resp = server.resp().await;
    let keys: Vec<String> = (0..45).map(|i| format!("batch:{i}")).collect();
    let sets: Vec<Vec<String>> = keys
        .iter()
        .map(|k| vec!["SET".into(), k.clone(), format!("v-{k}")])
        .collect();
    assert!(resp.pipeline(&sets).await.iter().all(|r| r == "+OK\r\n"));
    // The first replica of ten keys lost its copy: the batch must fail over
    // to the second replica for them and repair the first.
    let lost: Vec<(usize, &String)> = keys[..10]
        .iter()
        .map(|k| (ring.locate(k.as_bytes()).unwrap(), k))
        .collect();
    for (owner, key) in &lost {
        assert_eq!(nodes[*owner].cli(&["DEL", key]), "1");
    }
    let long_key = "k".repeat(600);
    let mut script: Vec<Vec<String>> = Vec::new();
    for (i, key) in keys.iter().enumerate() {
        script.push(vec!["GET".into(), key.clone()]);
        if i % 5 == 0 {
            script.push(vec!["GET".into(), format!("missing:{i}")]);
        }
        if i == 7 {
            script.push(vec!["GET".into(), long_key.clone()]);
            script.push(vec!["SET".into(), "batch:other".into(), "o".into()]);
            script.push(vec!["GET".into(), "batch:other".into(), "extra".into()]);
        }
    }
    let batched = resp.pipeline(&script).await;
    let mut one_by_one = Vec::new();
    for command in &script {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        one_by_one.push(resp.cmd(&args).await);
    }
    assert_eq!(batched, one_by_one);
    for (i, key) in keys.iter().enumerate() {
        let want = format!("v-{key}");
        assert!(batched.contains(&bulk(&want)), "{i}");
    }
    assert!(
        batched
            .iter()
            .any(|r| r.starts_with("-ERR") && r.contains("key")),
        "{batched:?}"
    );
    assert_eq!(
        batched.iter().filter(|r| *r == "$-1\r\n").count(),
        9,
        "misses"
    );
    for (owner, key) in &lost {
        assert!(
            nodes[*owner].exists(key),
            "{key} repaired on its first replica"
        );
    }

    // A node dies: its batch fails and each of its keys fails over alone.
    nodes[0].kill();
    let gets: Vec<Vec<String>> = keys.iter().map(|k| vec!["GET".into(), k.clone()]).collect();
    let replies = resp.pipeline(&gets).await;
    for (key, reply) in keys.iter().zip(&replies) {
        let want = format!("v-{key}");
        assert_eq!(reply, &bulk(&want), "{key}");
    }
    let args: Vec<&str> = std::iter::once("MGET")
        .chain(keys.iter().map(String::as_str))
        .collect();
    let mget = resp.cmd(&args).await;
    assert!(mget.starts_with("*45\r\n"), "{mget}");
    assert!(
        keys.iter().all(|k| mget.contains(&format!("v-{k}"))),
        "{mget}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_sets_reach_every_replica_and_judge_each_keys_quorum() {
    let mut nodes = three_nodes();
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let ring = ring_of(&refs);
    let settings = [("ROOST_REPLICAS", "2"), ("ROOST_WRITE_QUORUM", "2")];
    let server = start_fleet(&refs, &settings).await;
    let mut resp = server.resp().await;
    let keys: Vec<String> = (0..30).map(|i| format!("wset:{i}")).collect();
    let mut script: Vec<Vec<String>> = keys
        .iter()
        .map(|k| vec!["SET".into(), k.clone(), format!("one-{k}")])
        .collect();
    let long_key = "k".repeat(600);
    script.insert(5, vec!["SET".into(), long_key.clone(), "x".into()]);
    let replies = resp.pipeline(&script).await;
    assert!(
        replies[5].starts_with("-ERR key is 600 bytes"),
        "{}",
        replies[5]
    );
    assert_eq!(
        replies.iter().filter(|r| *r == "+OK\r\n").count(),
        30,
        "{replies:?}"
    );
    let replicas_of =
        |key: &str| -> Vec<usize> { ring.successors(key.as_bytes()).take(2).collect() };
    for key in &keys {
        for replica in replicas_of(key) {
            assert_eq!(
                nodes[replica].get(key),
                Some(format!("one-{key}")),
                "{key} on {replica}"
            );
        }
    }
    assert!(!nodes.iter().any(|n| n.exists(&long_key)));

    // With node 0 dead a write can reach only one of two replicas for the keys
    // it held: those fail the quorum of 2, every other key succeeds.
    nodes[0].kill();
    let again: Vec<Vec<String>> = keys
        .iter()
        .map(|k| vec!["SET".into(), k.clone(), format!("two-{k}")])
        .collect();
    let replies = resp.pipeline(&again).await;
    for (key, reply) in keys.iter().zip(&replies) {
        if replicas_of(key).contains(&0) {
            assert!(
                reply.starts_with('-'),
                "{key} had node 0 as a replica: {reply}"
            );
        } else {
            assert_eq!(reply, "+OK\r\n", "{key}");
            for replica in replicas_of(key) {
                assert_eq!(nodes[replica].get(key), Some(format!("two-{key}")));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_a_request_caused_are_relayed_and_never_eject_a_node() {
    let nodes = [RedisServer::start()];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let server = start_fleet(&refs, &[("ROOST_EJECT_AFTER", "3")]).await;
    nodes[0].cli(&["HSET", "a-hash", "field", "1"]);
    let mut resp = server.resp().await;
    for _ in 0..10 {
        let reply = resp.cmd(&["INCR", "a-hash"]).await;
        assert!(reply.starts_with("-WRONGTYPE "), "{reply}");
    }
    assert_eq!(
        resp.cmd(&["GET", "a-hash"]).await.split(' ').next(),
        Some("-WRONGTYPE")
    );
    // Over REST the same reply is the request's fault: 409 naming the type.
    let (status, body) = server.get("/api/cache/a-hash").await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["error"]["code"], "wrong_type");
    assert_eq!(
        node_state(&server, &node_id(&nodes[0])).await.as_deref(),
        Some("up"),
        "ten WRONGTYPE replies must not eject a healthy node"
    );
    // The counter was never served from a gutter: the hash is still there.
    assert_eq!(nodes[0].cli(&["TYPE", "a-hash"]), "hash");
    assert_eq!(resp.cmd(&["INCR", "counter"]).await, ":1\r\n");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_node_answers_a_fixed_message_that_names_no_internals() {
    let mut nodes = [RedisServer::start()];
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let server = start_fleet(&refs, &[("ROOST_EJECT_AFTER", "50")]).await;
    let port = nodes[0].port().to_string();
    nodes[0].kill();
    let (status, body) = server.get("/api/cache/anything").await;
    assert_eq!(status, 503, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains(&port) && !message.contains("127.0.0.1"),
        "{message}"
    );
    let mut resp = server.resp().await;
    let reply = resp.cmd(&["GET", "anything"]).await;
    assert!(reply.starts_with("-ERR "), "{reply}");
    assert!(!reply.contains(&port), "{reply}");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_every_background_task_including_a_key_move_in_progress() {
    let mut nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start()).collect();
    let server = start_fleet(&[&nodes[0], &nodes[1]], &[]).await;
    let tasks = server.running.as_ref().unwrap().tasks().clone();
    // Three listeners, the prober, the metrics feed, the history and the hot-key fold.
    assert_eq!(tasks.len(), 7);
    let mut resp = server.resp().await;
    for i in 0..500 {
        resp.send(&[b"SET", format!("k:{i}").as_bytes(), b"v"])
            .await;
    }
    for _ in 0..500 {
        resp.reply().await;
    }
    // The new node dies at once: the mover keeps trying its keys for minutes.
    let url = nodes[2].url();
    nodes[2].kill();
    let (status, body) = server
        .post("/api/cluster/nodes", json!({ "address": url }))
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(tasks.len(), 8, "the key mover is a registered task");
    let started = std::time::Instant::now();
    server.shutdown().await;
    assert!(tasks.is_empty(), "{} tasks outlived shutdown", tasks.len());
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "shutdown waited {:?} for the mover",
        started.elapsed()
    );
}
