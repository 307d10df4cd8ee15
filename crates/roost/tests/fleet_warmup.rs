//! New-node warm-up and trend preload against real redis-server processes: a
//! node added under load gets its hot keys before the key mover starts, at
//! the documented pace, with every read a hit; warming off copies nothing
//! hottest-first (the mover still moves everything); a re-admitted empty
//! node gets its hot keys back from the other replica without a read; a key
//! whose rate rises is read into the near cache before it is hot.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use roost::backend::fleet::{WarmupReason, WarmupState, WarmupStatus, WARMUP_KEYS_PER_SEC};
use roost::backend::Backend;
use roost::telemetry::EventKind;
use serde_json::json;
use support::fleet::{keys_on, node_id, settle, start_fleet, wait_for_state, DEADLINE};
use support::redis::RedisServer;
use support::resp::RespClient;
use support::{eventually, metric, TestServer};

/// Cold keys written before the hot ones are read: enough that the mover
/// has real work after the warm-up.
const COLD_KEYS: usize = 6_000;

fn warmups(server: &TestServer) -> Vec<WarmupStatus> {
    match server.running.as_ref().unwrap().state().cache.backend() {
        Backend::Fleet(fleet) => fleet.warmups(),
        Backend::Embedded(_) => panic!("not a fleet"),
    }
}

/// Writes `keys` through the RESP door, 500 at a time.
async fn write_all(server: &TestServer, keys: &[String]) {
    let mut client = RespClient::connect(server.resp_addr).await;
    for chunk in keys.chunks(500) {
        let mut mset = vec!["MSET".to_owned()];
        for key in chunk {
            mset.push(key.clone());
            mset.push(format!("v-{key}"));
        }
        let reply = client.pipeline(&[mset]).await;
        assert_eq!(reply[0], "+OK\r\n");
    }
}

/// Reads each of `keys` `times` times through the RESP door; returns misses.
async fn read_all(client: &mut RespClient, keys: &[String], times: usize) -> u64 {
    let mut misses = 0;
    for _ in 0..times {
        let commands: Vec<Vec<String>> = keys
            .iter()
            .map(|k| vec!["GET".to_owned(), k.clone()])
            .collect();
        for reply in client.pipeline(&commands).await {
            misses += u64::from(reply.starts_with("$-1"));
        }
    }
    misses
}

/// Makes `hot` the hottest keys: read over two half-lives, so the cold keys'
/// single writes have decayed below them.
async fn make_hot(server: &TestServer, hot: &[String]) {
    let mut client = RespClient::connect(server.resp_addr).await;
    for _ in 0..25 {
        assert_eq!(read_all(&mut client, hot, 4).await, 0);
        tokio::time::sleep(Duration::from_millis(160)).await;
    }
}

/// Hot keys the ring over all four nodes puts on the fourth, and the rest.
fn hot_keys(nodes: &[&RedisServer]) -> (Vec<String>, Vec<String>) {
    let on_new = keys_on(nodes, 3, "hot", 24);
    let elsewhere: Vec<String> = (0..3)
        .flat_map(|owner| keys_on(nodes, owner, "hot", 24))
        .collect();
    (on_new, elsewhere)
}

fn cold_keys() -> Vec<String> {
    (0..COLD_KEYS).map(|i| format!("cold:{i}")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_added_node_gets_its_hot_keys_first_at_the_pace_with_every_read_a_hit() {
    let nodes: Vec<RedisServer> = (0..4).map(|_| RedisServer::start()).collect();
    let all: Vec<&RedisServer> = nodes.iter().collect();
    let server = Arc::new(start_fleet(&all[..3], &[]).await);
    let (on_new, elsewhere) = hot_keys(&all);
    let hot: Vec<String> = on_new.iter().chain(&elsewhere).cloned().collect();
    write_all(&server, &cold_keys()).await;
    write_all(&server, &hot).await;
    make_hot(&server, &hot).await;

    // Readers keep reading the hot keys throughout the change.
    let stop = Arc::new(AtomicBool::new(false));
    let misses = Arc::new(AtomicU64::new(0));
    let reader = {
        let (server, stop, misses, hot) =
            (server.clone(), stop.clone(), misses.clone(), hot.clone());
        tokio::spawn(async move {
            let mut client = RespClient::connect(server.resp_addr).await;
            while !stop.load(Ordering::Relaxed) {
                misses.fetch_add(read_all(&mut client, &hot, 1).await, Ordering::Relaxed);
            }
        })
    };
    let (status, body) = server
        .post("/api/cluster/nodes", json!({"address": nodes[3].url()}))
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    eventually(DEADLINE, "the warm-up finished", || async {
        warmups(&server)
            .iter()
            .any(|w| w.state != WarmupState::Copying)
    })
    .await;
    let warmup = warmups(&server).remove(0);
    assert_eq!(warmup.node, node_id(&nodes[3]));
    assert_eq!(warmup.reason, WarmupReason::Added);
    assert_eq!(warmup.state, WarmupState::Done);
    // Every hot key the new node owns was copied by the warm-up: the mover,
    // which copies IfAbsent too, had not reached any of them.
    assert!(warmup.total >= on_new.len() as u64, "{warmup:?}");
    assert_eq!(warmup.copied, warmup.total, "{warmup:?}");
    for key in &on_new {
        assert!(
            nodes[3].exists(key),
            "{key} on the new node after the warm-up"
        );
    }
    // Paced: the keys started no faster than the rate (the first chunk at once).
    let took = warmup.finished_at_ms.unwrap() - warmup.started_at_ms;
    let floor = (warmup.total.saturating_sub(16)) * 1000 / u64::from(WARMUP_KEYS_PER_SEC);
    assert!(took >= floor, "{took} ms for {} keys", warmup.total);

    settle(&server).await;
    stop.store(true, Ordering::Relaxed);
    reader.await.unwrap();
    assert_eq!(
        misses.load(Ordering::Relaxed),
        0,
        "a hot read missed during the change"
    );
    let text = server.metrics_text().await;
    let copied = metric(&text, "roost_node_warmup_keys_total{outcome=\"copied\"}");
    assert_eq!(copied, warmup.copied as f64);
    let events = server.running.as_ref().unwrap().state().events.recent(100);
    let warming: Vec<&str> = events
        .iter()
        .filter(|e| e.kind == EventKind::Warming)
        .map(|e| e.message.as_str())
        .collect();
    assert!(
        warming.iter().any(|m| m.contains("warming node")),
        "{warming:?}"
    );
    assert!(
        warming.iter().any(|m| m.contains("warm-up done")),
        "{warming:?}"
    );
    // The mover still moved the rest: every cold key the new node owns is there.
    let cold_on_new = cold_keys()
        .into_iter()
        .filter(|k| support::fleet::ring_of(&all).locate(k.as_bytes()) == Some(3))
        .count() as u64;
    assert!(
        nodes[3].dbsize() >= cold_on_new,
        "{} < {cold_on_new}",
        nodes[3].dbsize()
    );
    Arc::try_unwrap(server).ok().unwrap().shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_warming_off_nothing_is_copied_hottest_first_and_the_mover_still_moves() {
    let nodes: Vec<RedisServer> = (0..4).map(|_| RedisServer::start()).collect();
    let all: Vec<&RedisServer> = nodes.iter().collect();
    let server = start_fleet(&all[..3], &[("ROOST_WARMING", "off")]).await;
    let (on_new, elsewhere) = hot_keys(&all);
    let hot: Vec<String> = on_new.iter().chain(&elsewhere).cloned().collect();
    write_all(&server, &hot).await;
    make_hot(&server, &hot).await;
    let (status, body) = server
        .post("/api/cluster/nodes", json!({"address": nodes[3].url()}))
        .await;
    assert!(status == 200 || status == 201, "{status} {body}");
    settle(&server).await;
    assert!(warmups(&server).is_empty());
    let text = server.metrics_text().await;
    assert!(
        !text.contains("roost_node_warmup_keys_total"),
        "not registered when off"
    );
    for key in &on_new {
        assert!(nodes[3].exists(key), "the mover moved {key}");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_readmitted_empty_node_gets_its_hot_keys_back_from_the_other_replica() {
    let mut nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start()).collect();
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let server = start_fleet(&refs, &[("ROOST_REPLICAS", "2")]).await;
    let hot: Vec<String> = (0..60).map(|i| format!("hot:{i}")).collect();
    write_all(&server, &hot).await;
    make_hot(&server, &hot).await;
    let victim = node_id(&nodes[1]);
    let held: Vec<String> = hot.iter().filter(|k| nodes[1].exists(k)).cloned().collect();
    assert!(
        held.len() > 20,
        "node 1 holds a replica of ~2/3: {}",
        held.len()
    );

    nodes[1].kill();
    wait_for_state(&server, &victim, "down").await;
    nodes[1].restart();
    assert_eq!(nodes[1].dbsize(), 0, "it came back empty");
    wait_for_state(&server, &victim, "up").await;
    // No client reads now: only the warm-up can put them back.
    eventually(
        DEADLINE,
        "the readmitted node's warm-up finished",
        || async {
            warmups(&server)
                .iter()
                .any(|w| w.reason == WarmupReason::Readmitted && w.state == WarmupState::Done)
        },
    )
    .await;
    let warmup = warmups(&server).pop().unwrap();
    assert_eq!(warmup.node, victim);
    assert!(
        warmup.copied >= held.len() as u64,
        "{warmup:?} for {}",
        held.len()
    );
    for key in &held {
        assert!(nodes[1].exists(key), "{key} back on the readmitted node");
    }
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rising_key_is_read_into_the_near_cache_before_it_is_hot() {
    let nodes: Vec<RedisServer> = (0..2).map(|_| RedisServer::start()).collect();
    let refs: Vec<&RedisServer> = nodes.iter().collect();
    let server = start_fleet(
        &refs,
        &[
            ("ROOST_NEAR_CACHE_BYTES", "1048576"),
            ("ROOST_HOT_KEYS_HOT_SET", "2"),
        ],
    )
    .await;
    let steady: Vec<String> = (0..2).map(|i| format!("steady:{i}")).collect();
    let riser = vec!["riser".to_owned()];
    write_all(&server, &[steady.clone(), riser.clone()].concat()).await;
    let mut client = RespClient::connect(server.resp_addr).await;
    let fleet = match server.running.as_ref().unwrap().state().cache.backend() {
        Backend::Fleet(fleet) => fleet.clone(),
        Backend::Embedded(_) => unreachable!(),
    };
    let hot = server.running.as_ref().unwrap().state().hot.clone();
    // Two steady keys at ~1,000 reads/s each for 3 s: they are the hot set.
    for _ in 0..30 {
        read_all(&mut client, &steady, 100).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!fleet.is_near_cached(b"riser"));
    // The riser goes from nothing to ~200/s: rising, never in the top 2.
    let mut preloaded = false;
    for _ in 0..30 {
        read_all(&mut client, &steady, 100).await;
        read_all(&mut client, &riser, 20).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!roost::hot::HotSet::is_hot(hot.as_ref(), b"riser"));
        if fleet.is_near_cached(b"riser") {
            preloaded = true;
            break;
        }
    }
    assert!(preloaded, "the rising key was never preloaded");
    let text = server.metrics_text().await;
    assert!(metric(&text, "roost_trend_preloads_total{action=\"near\"}") >= 1.0);
    server.shutdown().await;
}
