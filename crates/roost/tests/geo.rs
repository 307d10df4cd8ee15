//! Geographic coherence end to end (issue 16): regions of real `roost`
//! processes on the embedded store, linked through fault-injecting proxies
//! (`support/regions.rs`, `support/faults.rs`). A write in one region reaches
//! (replicate) or drops (invalidate) the key in the others; deletes are
//! versioned even where the key is absent and a late older write never brings
//! one back; a region killed with `kill -9` loses no acknowledged change and
//! holds nothing older than its peers after its restart; a Jepsen-style
//! checker runs random concurrent sets and deletes through a partition and a
//! `kill -9` (`GEO_CHECKER_RUNS`, default 2; the target is 20;
//! `GEO_CHECKER_SEED` replays a run's choices); clock skew of ±400 ms (under
//! `faketime`) never reorders causally related writes, and a region further
//! ahead than `ROOST_MAX_CLOCK_SKEW` has its changes refused; a healed link
//! comes back up (the time it took is printed).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use roost_resp::{parse_frame, write_command, Frame, Limits};
use serde_json::{json, Value};
use support::checker::{
    self, check, now_ms, physical_ms, region_of, summary, version, Finals, Held, Op, OpKind, Rng,
};
use support::eventually;
use support::origin::{Behaviour, TestOrigin};
use support::redis::{RedisCluster, RedisServer};
use support::regions::{
    held_of, metric_sum, version_in, Addrs, Regions, RegionsBuilder, SharedAddrs, DEADLINE, SECRET,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const NAMES: [&str; 3] = ["ap", "eu", "us"];
const AP: usize = 0;
const EU: usize = 1;
const US: usize = 2;

/// True when `held` is the value `value`.
fn holds(value: &'static str) -> impl Fn(&Option<Held>) -> bool {
    move |held| held.as_ref().is_some_and(|h| h.value == value)
}

fn absent(held: &Option<Held>) -> bool {
    held.is_none()
}

/// The Redis servers regions on the Redis backends run on: `eu` on a fleet
/// of two standalone servers, `us` on a Redis Cluster of three masters;
/// `ap` stays on the embedded store. Kept for the test's length.
struct RedisBackends {
    fleet: Vec<RedisServer>,
    cluster: RedisCluster,
}

impl RedisBackends {
    fn start() -> RedisBackends {
        RedisBackends {
            fleet: vec![RedisServer::start(), RedisServer::start()],
            cluster: RedisCluster::start(3, 0),
        }
    }

    fn apply(&self, builder: RegionsBuilder) -> RegionsBuilder {
        let fleet: Vec<String> = self.fleet.iter().map(RedisServer::url).collect();
        builder
            .env_for(NAMES[EU], "ROOST_BACKEND", "redis")
            .env_for(NAMES[EU], "REDIS_CLUSTER_NODES", &fleet.join(","))
            .env_for(NAMES[US], "ROOST_BACKEND", "redis-cluster")
            .env_for(
                NAMES[US],
                "REDIS_CLUSTER_NODES",
                &self.cluster.seed_urls().join(","),
            )
    }
}

async fn three(mode: &str) -> Regions {
    let regions = Regions::builder(&NAMES).mode(mode).start().await;
    regions.wait_links_up().await;
    regions
}

/// Asserts a version was stamped by `region` within `[from_ms, to_ms]`.
fn assert_stamped(regions: &Regions, held: &Held, region: usize, from_ms: u64, to_ms: u64) {
    let ms = physical_ms(held.version);
    assert!(
        (from_ms..=to_ms).contains(&ms),
        "version {} of {held:?} was stamped at {ms} ms, outside the write's {from_ms}..={to_ms}",
        held.version
    );
    assert_eq!(
        region_of(held.version),
        regions.version_index(region),
        "version {} carries the wrong region index",
        held.version
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicate_a_write_reaches_every_region_with_its_version() {
    let regions = three("replicate").await;
    let from = now_ms();
    regions.set(AP, "greeting", "hello from ap").await;
    let to = now_ms();
    // Read-your-writes: at once, in the writing region.
    let mine = regions
        .get(AP, "greeting")
        .await
        .expect("ap reads its own write");
    assert_eq!(mine.value, "hello from ap");
    assert_stamped(&regions, &mine, AP, from, to);
    for r in [EU, US] {
        let held = regions
            .wait_for(r, "greeting", "ap's write", holds("hello from ap"))
            .await;
        assert_eq!(held.as_ref(), Some(&mine), "the same version everywhere");
    }

    // An overwrite in another region, over RESP, wins everywhere.
    let mut resp = regions_resp(&regions, EU).await;
    let from = now_ms();
    assert_eq!(
        resp.cmd(&["SET", "greeting", "hello from eu"]).await,
        "+OK\r\n"
    );
    let to = now_ms();
    let theirs = regions.get(EU, "greeting").await.unwrap();
    assert_eq!(theirs.value, "hello from eu");
    assert!(theirs.version > mine.version, "{theirs:?} after {mine:?}");
    assert_stamped(&regions, &theirs, EU, from, to);
    for r in [AP, US] {
        let held = regions
            .wait_for(r, "greeting", "eu's write", holds("hello from eu"))
            .await;
        assert_eq!(held.as_ref(), Some(&theirs));
    }

    // A delete in a third region removes it everywhere.
    assert_eq!(regions.del(US, "greeting").await, 200);
    assert_eq!(regions.get(US, "greeting").await, None);
    for r in [AP, EU] {
        regions.wait_for(r, "greeting", "nothing", absent).await;
    }
}

async fn regions_resp(regions: &Regions, region: usize) -> support::resp::RespClient {
    support::resp::RespClient::connect(regions.resp_addr(region)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_a_write_drops_the_key_elsewhere_and_an_older_one_drops_nothing() {
    let regions = three("invalidate").await;
    regions.set(EU, "k", "eu's value").await;
    let eu_value = regions.get(EU, "k").await.expect("eu reads its own write");
    regions.quiesce(DEADLINE).await;
    // Invalidation never copies a value.
    assert_eq!(regions.get(AP, "k").await, None);
    assert_eq!(regions.get(US, "k").await, None);
    assert_eq!(regions.get(EU, "k").await.as_ref(), Some(&eu_value));

    // A newer write in ap drops eu's value there.
    regions.set(AP, "k", "ap's value").await;
    let ap_value = regions.get(AP, "k").await.expect("ap reads its own write");
    assert!(ap_value.version > eu_value.version);
    regions.wait_for(EU, "k", "nothing", absent).await;
    regions.quiesce(DEADLINE).await;
    assert_eq!(regions.get(AP, "k").await.as_ref(), Some(&ap_value));
    assert_eq!(regions.get(US, "k").await, None);

    // An older change arriving late drops nothing newer: ap cannot hear us,
    // us writes, then ap writes (later, so newer); after the heal ap keeps
    // its value and us drops its own.
    regions.link(AP, US).blackhole();
    regions.set(US, "late", "us's older value").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    regions.set(AP, "late", "ap's newer value").await;
    let newer = regions.get(AP, "late").await.unwrap();
    regions.wait_for(US, "late", "nothing", absent).await;
    regions.heal_all();
    regions.quiesce(DEADLINE).await;
    assert_eq!(regions.get(AP, "late").await.as_ref(), Some(&newer));
    assert_eq!(regions.get(US, "late").await, None);
    assert_eq!(regions.get(EU, "late").await, None);
}

/// Collections are invalidated across regions, never replicated (issue 17,
/// item 5): a hash written in one region drops the key in the others, and a
/// string written later replaces the hash everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_write_drops_the_key_in_the_other_regions() {
    let regions = three("replicate").await;
    let mut ap = regions_resp(&regions, AP).await;
    let mut eu = regions_resp(&regions, EU).await;
    regions.set(US, "h", "a string from us").await;
    regions
        .wait_for(AP, "h", "us's write", holds("a string from us"))
        .await;
    regions
        .wait_for(EU, "h", "us's write", holds("a string from us"))
        .await;

    // ap overwrites the string with a hash: the others drop their string.
    assert_eq!(ap.cmd(&["DEL", "h"]).await, ":1\r\n");
    assert_eq!(ap.cmd(&["HSET", "h", "f", "ap"]).await, ":1\r\n");
    for r in [EU, US] {
        regions.wait_for(r, "h", "nothing", absent).await;
    }
    assert_eq!(ap.cmd(&["HGET", "h", "f"]).await, "$2\r\nap\r\n");

    // eu builds its own hash: ap's is dropped, not merged.
    assert_eq!(eu.cmd(&["HSET", "h", "f", "eu"]).await, ":1\r\n");
    let what = "ap's hash dropped by eu's newer write";
    support::eventually(DEADLINE, what, || async {
        let mut ap = regions_resp(&regions, AP).await;
        ap.cmd(&["EXISTS", "h"]).await == ":0\r\n"
    })
    .await;
    assert_eq!(eu.cmd(&["HGET", "h", "f"]).await, "$2\r\neu\r\n");

    // A string written later replaces the hash everywhere.
    regions.set(AP, "h", "a string again").await;
    support::eventually(DEADLINE, "ap's string replaces eu's hash", || async {
        let mut eu = regions_resp(&regions, EU).await;
        // REST stores the JSON text: the quotes are part of the value.
        eu.cmd(&["GET", "h"]).await == "$16\r\n\"a string again\"\r\n"
    })
    .await;
    regions
        .wait_for(US, "h", "ap's string", holds("a string again"))
        .await;
    assert_eq!(eu.cmd(&["TYPE", "h"]).await, "+string\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_of_a_key_absent_here_still_removes_it_everywhere() {
    let regions = three("replicate").await;
    // us hears nobody: ap's write cannot reach it.
    regions.link(US, AP).blackhole();
    regions.link(US, EU).blackhole();
    regions.set(AP, "k", "v").await;
    regions.wait_for(EU, "k", "ap's write", holds("v")).await;
    assert_eq!(regions.get(US, "k").await, None);

    // REST answers 404 (nothing was here), yet the delete is versioned and
    // replicated: ap and eu (whose links from us are intact) drop the key.
    assert_eq!(regions.del(US, "k").await, 404);
    for r in [AP, EU] {
        regions.wait_for(r, "k", "nothing", absent).await;
    }
    // ap's older write reaches us after the heal and must not revive the key.
    regions.heal_all();
    regions.quiesce(DEADLINE).await;
    for r in [AP, EU, US] {
        assert_eq!(regions.get(r, "k").await, None, "{}", NAMES[r]);
    }
}

/// One region on each backend: versions, tombstones and conflicts behave
/// the same whether a region keeps its keys in its own store, in a fleet of
/// Redis servers or in a Redis Cluster, and Redis holds no version keys a
/// client can see.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regions_on_the_embedded_store_a_redis_fleet_and_a_redis_cluster_agree() {
    let backends = RedisBackends::start();
    let builder = Regions::builder(&NAMES).mode("replicate");
    let regions = backends.apply(builder).start().await;
    regions.wait_links_up().await;
    for (writer, value) in [(AP, "from ap"), (EU, "from eu"), (US, "from us")] {
        let key = format!("k-{}", NAMES[writer]);
        let from = now_ms();
        regions.set(writer, &key, value).await;
        let to = now_ms();
        let mine = regions.get(writer, &key).await.expect("read-your-writes");
        assert_stamped(&regions, &mine, writer, from, to);
        for (r, name) in NAMES.iter().enumerate() {
            let held = regions.wait_for(r, &key, value, holds(value)).await;
            assert_eq!(held.as_ref(), Some(&mine), "{name} holds another version",);
        }
    }
    // A delete in the fleet region, over RESP, and a key absent there.
    let mut resp = regions_resp(&regions, EU).await;
    assert_eq!(resp.cmd(&["DEL", "k-ap", "never-set"]).await, ":1\r\n");
    for r in [AP, US] {
        regions.wait_for(r, "k-ap", "nothing", absent).await;
    }
    // INCR and APPEND on the cluster region are versioned writes too.
    let mut resp = regions_resp(&regions, US).await;
    assert_eq!(resp.cmd(&["INCRBY", "{t}n", "5"]).await, ":5\r\n");
    assert_eq!(resp.cmd(&["APPEND", "{t}n", "0"]).await, ":2\r\n");
    for r in [AP, EU] {
        regions.wait_for(r, "{t}n", "50", holds("50")).await;
    }
    // Version keys are Roost's own.
    let refused = resp.cmd(&["SET", "roost:vk:{k-us}", "x"]).await;
    assert!(
        refused.starts_with("-ERR in a region on Redis, keys starting with roost:ver:"),
        "{refused}"
    );
    // A key without a deadline keeps its version as long as it lives.
    let raw = backends
        .cluster
        .node(backends.cluster.master_for_key("{t}n"));
    assert_eq!(
        raw.cli(&["PTTL", "roost:ver:{t}n"]).trim(),
        "-1",
        "no expiry on a persistent key's version"
    );
    // A key a Redis Cluster cannot keep a version for is refused there.
    let refused = resp.cmd(&["SET", "a}b", "v"]).await;
    assert!(
        refused.starts_with("-ERR in a region on a Redis Cluster"),
        "{refused}"
    );
    // A write that fails on one key still logs what it did to the others.
    let failed = resp.cmd(&["MSET", "{t}ok", "1", "x}y", "2"]).await;
    assert!(failed.starts_with("-ERR"), "{failed}");
    for r in [AP, EU] {
        regions.wait_for(r, "{t}ok", "1", holds("1")).await;
    }
    // Forwarded writes are versioned too; a blocking one is refused.
    let refused = resp.cmd(&["BLPOP", "{t}l", "1"]).await;
    assert!(
        refused.starts_with("-ERR 'blpop' is not available in a region on Redis"),
        "{refused}"
    );
    let refused = resp
        .cmd(&[
            "EVAL",
            "return redis.call('SET', KEYS[1], 'x')",
            "1",
            "{t}e",
        ])
        .await;
    assert!(
        refused.starts_with("-ERR 'eval' is not available"),
        "{refused}"
    );
    assert_eq!(resp.cmd(&["MULTI"]).await, "+OK\r\n");
    assert_eq!(resp.cmd(&["SET", "{t}x", "1"]).await, "+QUEUED\r\n");
    let refused = resp.cmd(&["EXEC"]).await;
    assert!(refused.contains("'exec' is not available"), "{refused}");
    assert_eq!(resp.cmd(&["RPUSH", "{t}l", "a", "b"]).await, ":2\r\n");
    assert_eq!(
        resp.cmd(&["LMOVE", "{t}l", "{t}m", "LEFT", "RIGHT"]).await,
        "$1\r\na\r\n"
    );

    // A hash written in the fleet's region, which has not heard of ap's
    // string yet, drops the string elsewhere.
    regions.link(EU, AP).blackhole();
    regions.set(AP, "h", "a string").await;
    regions
        .wait_for(US, "h", "a string", holds("a string"))
        .await;
    let mut resp = regions_resp(&regions, EU).await;
    assert_eq!(resp.cmd(&["HSET", "h", "f", "v"]).await, ":1\r\n");
    for r in [AP, US] {
        regions.wait_for(r, "h", "nothing", absent).await;
    }
    regions.heal_all();
    regions.quiesce(DEADLINE).await;
    assert_eq!(
        resp.cmd(&["HGET", "h", "f"]).await,
        "$1\r\nv\r\n",
        "the older string lost"
    );

    // A late older write from the embedded region loses to the fleet's delete.
    regions.link(EU, AP).blackhole();
    regions.link(US, AP).blackhole();
    regions.set(AP, "k-eu", "late").await;
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(regions.del(EU, "k-eu").await, 200);
    regions.wait_for(US, "k-eu", "nothing", absent).await;
    regions.heal_all();
    regions.quiesce(DEADLINE).await;
    for (r, name) in NAMES.iter().enumerate() {
        assert_eq!(regions.get(r, "k-eu").await, None, "{name} resurrected",);
    }
    // Version keys stay out of SCAN and KEYS.
    for region in [EU, US] {
        let mut resp = regions_resp(&regions, region).await;
        let keys = resp.cmd(&["KEYS", "*"]).await;
        assert!(!keys.contains("roost:v"), "{}: {keys}", NAMES[region]);
        assert!(keys.contains("k-us"), "{}: {keys}", NAMES[region]);
    }
    let raw = backends.fleet[0].cli(&["--scan"]) + &backends.fleet[1].cli(&["--scan"]);
    assert!(
        raw.contains("roost:vk:{k-us}"),
        "the fleet keeps versions: {raw}"
    );

    // Moving keys would leave their versions behind: refused in a region.
    let added = regions
        .http
        .post(format!("{}/api/cluster/nodes", regions.base(EU)))
        .json(&json!({ "address": backends.fleet[0].url(), "id": "again" }))
        .send()
        .await
        .unwrap();
    assert_eq!(added.status().as_u16(), 409);
    let body: Value = added.json().await.unwrap();
    assert_eq!(body["error"]["code"], "in_region", "{body}");

    // A write Redis kept but the log never got (its gateway was killed
    // between the script and the record) is logged when the region restarts.
    let mut regions = regions;
    regions.kill(EU);
    let stamp = (now_ms() << 21) | u64::from(regions.version_index(EU));
    for server in &backends.fleet {
        server.cli(&["SET", "kept", "by redis"]);
        server.cli(&["SET", "roost:vk:{kept}", &format!("{stamp:016x}")]);
    }
    regions.restart(EU).await;
    for r in [AP, US] {
        let held = regions
            .wait_for(r, "kept", "by redis", holds("by redis"))
            .await;
        assert_eq!(held.map(|h| h.version), Some(stamp));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_older_write_does_not_resurrect_a_delete() {
    let regions = three("replicate").await;
    regions.set(AP, "k", "first").await;
    for r in [EU, US] {
        regions
            .wait_for(r, "k", "the first value", holds("first"))
            .await;
    }
    // Nobody hears ap: its next write stays in its log.
    regions.link(EU, AP).blackhole();
    regions.link(US, AP).blackhole();
    regions.set(AP, "k", "late").await;
    let late = regions.get(AP, "k").await.unwrap();
    // A later millisecond: on one clock the delete is newer.
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert_eq!(
        regions.del(EU, "k").await,
        200,
        "eu still holds the first value"
    );
    regions.wait_for(US, "k", "nothing", absent).await;
    regions
        .wait_for(
            AP,
            "k",
            "nothing (the delete is newer than the late write)",
            absent,
        )
        .await;

    regions.heal_all();
    regions.quiesce(DEADLINE).await;
    for r in [AP, EU, US] {
        assert_eq!(
            regions.get(r, "k").await,
            None,
            "{} brought back the late write {late:?} over a newer delete",
            NAMES[r]
        );
    }
}

/// A read-through miss whose origin answer may predate another region's
/// write must not store that answer over the write's invalidation (the
/// fill carries the version its miss took before asking the origin): the
/// waiting client gets the answer, but the next read asks the origin again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_begun_before_another_regions_write_is_not_stored_after_it() {
    let origin = TestOrigin::start().await;
    let slow = Duration::from_millis(1_500);
    origin.set("k", Behaviour::body("before eu's write").with_latency(slow));
    let regions = Regions::builder(&NAMES)
        .mode("invalidate")
        .env_for("ap", "ROOST_ORIGIN_URL", &origin.url())
        .env_for("ap", "ROOST_ORIGIN_TIMEOUT", "10000")
        .start()
        .await;
    regions.wait_links_up().await;
    let write_during_the_fetch = async {
        eventually(DEADLINE, "ap's origin fetch of k began", || async {
            origin.requests_for("k") == 1
        })
        .await;
        regions.set(EU, "k", "eu's value").await;
        eventually(DEADLINE, "ap applied eu's write", || async {
            let text = regions.metrics(AP).await;
            metric_sum(&text, "roost_geo_applied_total", &[("peer", "eu")]) >= 1.0
        })
        .await;
    };
    // A value just loaded from the origin carries no version.
    let read = || async {
        let (status, body) = get_json(&regions, AP, "/api/cache/k").await;
        assert_eq!(status, 200, "{body}");
        body["value"].as_str().unwrap().to_owned()
    };
    let (miss, ()) = tokio::join!(read(), write_during_the_fetch);
    assert_eq!(
        miss, "before eu's write",
        "the waiting client gets the origin's answer"
    );
    origin.set("k", Behaviour::body("after eu's write"));
    assert_eq!(
        read().await,
        "after eu's write",
        "ap kept a fill older than eu's write (origin asked {} times)",
        origin.requests_for("k")
    );
    assert_eq!(origin.requests_for("k"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_killed_right_after_an_ack_loses_nothing_and_holds_nothing_older() {
    let mut regions = three("replicate").await;
    // eu's newer write over ap's: after its restart eu re-reads ap's log,
    // which still has ap's older value.
    regions.set(AP, "overwritten", "ap's older value").await;
    regions
        .wait_for(EU, "overwritten", "ap's value", holds("ap's older value"))
        .await;
    regions.set(EU, "overwritten", "eu's newer value").await;
    let newer = regions.get(EU, "overwritten").await.unwrap();
    for r in [AP, US] {
        regions
            .wait_for(r, "overwritten", "eu's value", holds("eu's newer value"))
            .await;
    }
    regions.set(AP, "moved-on", "before").await;
    regions
        .wait_for(EU, "moved-on", "ap's first value", holds("before"))
        .await;
    // A write nobody has pulled when eu dies: only eu's log has it.
    regions.link(AP, EU).blackhole();
    regions.link(US, EU).blackhole();
    regions
        .set(EU, "durable", "acknowledged, then kill -9")
        .await;
    regions.kill(EU);
    // While eu is down, ap changes a key eu held.
    regions.set(AP, "moved-on", "after").await;
    regions.restart(EU).await;
    regions.heal_all();
    regions.quiesce(Duration::from_secs(60)).await;

    for r in [AP, US] {
        regions
            .wait_for(
                r,
                "durable",
                "eu's acknowledged write",
                holds("acknowledged, then kill -9"),
            )
            .await;
    }
    let durable = regions.get(AP, "durable").await;
    let eu_durable = regions.get(EU, "durable").await;
    assert!(
        eu_durable.is_none() || eu_durable == durable,
        "eu holds {eu_durable:?}, its peers {durable:?}"
    );
    let eu_overwritten = regions.get(EU, "overwritten").await;
    assert!(
        eu_overwritten.is_none() || eu_overwritten.as_ref() == Some(&newer),
        "after its restart eu holds {eu_overwritten:?}, older than its own acknowledged {newer:?} that its peers hold"
    );
    // It re-read ap's log: it holds ap's latest, not what it held before.
    assert_eq!(
        regions.get(EU, "moved-on").await.map(|h| h.value),
        Some("after".to_string())
    );
}

/// A region whose data directory was wiped comes back with a new, empty
/// log. A peer that read its old log, and reconnects only after the new one
/// has grown past its cursor, must still read the new one from its start
/// (the log's identity tells them apart, not its length), and drop what the
/// lost log may have changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_whose_data_dir_was_wiped_is_read_again_from_its_start() {
    let mut regions = three("replicate").await;
    for i in 0..3 {
        regions
            .set(AP, &format!("old-{i}"), "before the wipe")
            .await;
    }
    regions
        .wait_for(EU, "old-2", "ap's last write", holds("before the wipe"))
        .await;
    // eu read ap's log through change 3; it hears nothing from ap now.
    regions.link(EU, AP).blackhole();
    regions.kill(AP);
    regions.wipe(AP);
    regions.restart(AP).await;
    // ap's new log grows past eu's cursor before eu can ask again.
    for i in 0..6 {
        regions.set(AP, &format!("new-{i}"), "after the wipe").await;
    }
    regions.heal_all();
    for i in 0..6 {
        regions
            .wait_for(
                EU,
                &format!("new-{i}"),
                "ap's new write",
                holds("after the wipe"),
            )
            .await;
    }
    let text = regions.metrics(EU).await;
    assert!(
        metric_sum(&text, "roost_geo_resyncs_total", &[]) >= 1.0,
        "{text}"
    );
    // What eu held from ap's lost log is older than the new log's birth:
    // not provably fresh, so dropped (ap holds none of it either).
    for i in 0..3 {
        let key = format!("old-{i}");
        assert_eq!(regions.get(AP, &key).await, None);
        assert_eq!(regions.get(EU, &key).await, None, "eu kept {key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_replication_log_needs_the_region_secret() {
    let regions = Regions::builder(&["ap", "eu"]).start().await;
    let url = format!("{}/api/geo/log?from=0&region=eu", regions.base(0));
    let anonymous = regions.http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
    let wrong = regions
        .http
        .get(&url)
        .bearer_auth("not-the-secret-but-long-enough")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let right = regions
        .http
        .get(&url)
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(right.status().as_u16(), 200);
    drop(right);
    // The secret guards replication only: the cache answers without it.
    let (status, _) = get_json(&regions, 0, "/api/cache/nothing-here").await;
    assert_eq!(status, 404);
}

async fn get_json(regions: &Regions, region: usize, path: &str) -> (u16, Value) {
    let r = regions
        .http
        .get(format!("{}{path}", regions.base(region)))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healed_link_is_up_again_within_a_few_seconds() {
    let regions = Regions::builder(&["ap", "eu"]).start().await;
    regions.wait_links_up().await;
    let (ap, eu) = (0, 1);
    let link = regions.link(eu, ap);
    link.blackhole();
    let cut = Instant::now();
    eventually(DEADLINE, "eu to notice the silent link", || async {
        regions.peer_status(eu, ap).await["state"] != "up"
    })
    .await;
    let noticed = cut.elapsed();
    regions.set(ap, "during", "written while cut").await;
    assert_eq!(regions.get(eu, "during").await, None);

    link.heal();
    let healed = Instant::now();
    eventually(DEADLINE, "the link to be up again", || async {
        regions.peer_status(eu, ap).await["state"] == "up"
    })
    .await;
    let up = healed.elapsed();
    regions
        .wait_for(
            eu,
            "during",
            "the write made during the cut",
            holds("written while cut"),
        )
        .await;
    let caught_up = healed.elapsed();
    println!(
        "silent link noticed after {noticed:?}; up again {up:?} after the heal (target: 5 s{}); the change made during the cut applied after {caught_up:?}",
        if up > Duration::from_secs(5) { ", MISSED" } else { "" }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clock_skew_of_400_ms_never_reorders_causally_related_writes() {
    let regions = Regions::builder(&["fast", "mid", "slow"])
        .clock("fast", "+0.4s")
        .clock("slow", "-0.4s")
        .start()
        .await;
    regions.wait_links_up().await;
    let (fast, slow) = (regions.index("fast"), regions.index("slow"));
    for round in 0..6 {
        let key = format!("causal:{round}");
        let (first, second) = if round % 2 == 0 {
            (fast, slow)
        } else {
            (slow, fast)
        };
        let before = now_ms();
        regions.set(first, &key, "first").await;
        let a = regions.get(first, &key).await.unwrap();
        if first == fast {
            // faketime took: fast stamps ~400 ms ahead of this machine.
            assert!(
                physical_ms(a.version) >= before + 300,
                "fast's version {} is not ahead of the clock ({before} ms): is faketime working?",
                a.version
            );
        }
        regions
            .wait_for(second, &key, "the first write", holds("first"))
            .await;
        // Written after reading the first: it must win, whatever the clocks.
        regions.set(second, &key, "second").await;
        let b = regions.get(second, &key).await.unwrap();
        assert_eq!(
            b.value, "second",
            "read-your-writes in {}",
            regions.names[second]
        );
        assert!(
            b.version > a.version,
            "round {round}: {}'s write {b:?}, made after reading {}'s {a:?}, is not newer",
            regions.names[second],
            regions.names[first]
        );
        for r in 0..regions.len() {
            let held = regions
                .wait_for(r, &key, "the causally later write", holds("second"))
                .await;
            assert_eq!(held.as_ref(), Some(&b));
        }
    }
    for r in 0..regions.len() {
        let refused = metric_sum(&regions.metrics(r).await, "roost_geo_refused_total", &[]);
        assert_eq!(
            refused, 0.0,
            "{} refused changes under 800 ms of skew",
            regions.names[r]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_region_further_ahead_than_the_skew_limit_has_its_changes_refused() {
    // ahead runs 3 s in the future; the others accept at most 1 s.
    let regions = Regions::builder(&["a", "ahead", "b"])
        .clock("ahead", "+3s")
        .env("ROOST_MAX_CLOCK_SKEW", "1000")
        .start()
        .await;
    let (a, ahead, b) = (
        regions.index("a"),
        regions.index("ahead"),
        regions.index("b"),
    );
    let before = now_ms();
    regions.set(ahead, "skewed", "from the future").await;
    let held = regions.get(ahead, "skewed").await.unwrap();
    assert!(
        physical_ms(held.version) >= before + 2_500,
        "ahead's version {} is not 3 s ahead ({before} ms): is faketime working?",
        held.version
    );
    let refused = |text: &str| {
        metric_sum(
            text,
            "roost_geo_refused_total",
            &[("peer", "ahead"), ("reason", "clock_skew")],
        )
    };
    for r in [a, b] {
        eventually(DEADLINE, "the refusal to be counted", || async {
            refused(&regions.metrics(r).await) > 0.0
        })
        .await;
        let events = regions.region_events(r);
        assert!(
            events.iter().any(|e| {
                let e = e.to_lowercase();
                e.contains("ahead") && (e.contains("skew") || e.contains("clock"))
            }),
            "{} shows no event naming the peer and the clock skew: {events:?}",
            regions.names[r]
        );
        assert_eq!(
            regions.get(r, "skewed").await,
            None,
            "a refused change was applied"
        );
    }
    // The other way round is fine: a change from behind is never refused.
    regions.set(a, "behind", "from the present").await;
    for r in [ahead, b] {
        regions
            .wait_for(r, "behind", "a's write", holds("from the present"))
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_harness_routes_each_link_follows_a_restart_and_skews_a_clock() {
    let before = now_ms();
    let mut regions = Regions::builder(&["ap", "eu"])
        .clock("eu", "+3s")
        .start()
        .await;
    let (ap, eu) = (0, 1);
    let to_ap_url = format!("{}/api/cache/nothing", regions.link(eu, ap).url());
    let to_eu_url = format!("{}/api/cache/nothing", regions.link(ap, eu).url());
    // Each link's proxy leads to its source: with ap down, only eu answers.
    regions.kill(ap);
    let to_ap = regions.http.get(&to_ap_url).send().await;
    assert!(to_ap.is_err(), "ap is down, yet {to_ap:?}");
    let to_eu = regions.http.get(&to_eu_url).send().await.unwrap();
    assert_eq!(to_eu.status().as_u16(), 404);
    // A restarted region is reached at its new port.
    regions.restart(ap).await;
    let to_ap = regions.http.get(&to_ap_url).send().await.unwrap();
    assert_eq!(to_ap.status().as_u16(), 404);
    // eu runs 3 s ahead: faketime reaches the binary.
    let stamped = regions.server(eu).log.lock().unwrap()[0]["timestamp"]
        .as_str()
        .map(rfc3339_ms)
        .unwrap();
    assert!(
        stamped >= before + 2_500,
        "eu's first log line is stamped {stamped} ms, not 3 s after {before} ms"
    );
}

/// Milliseconds since the epoch of a log line's `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
fn rfc3339_ms(text: &str) -> u64 {
    let num = |range: std::ops::Range<usize>| -> i64 { text[range].parse().unwrap() };
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let seconds = days * 86_400 + num(11..13) * 3_600 + num(14..16) * 60 + num(17..19);
    let millis: i64 = text[20..23].parse().unwrap();
    u64::try_from(seconds * 1_000 + millis).unwrap()
}

// --- the Jepsen-style checker -------------------------------------------

/// Keys every region writes throughout: few, so operations collide.
const KEYS: u64 = 8;
/// Keys written only until the `kill -9`: nothing overwrites what the killed
/// region had when it died, so its restart's catching up is what they show.
const COLD_KEYS: u64 = 4;
/// Clients per region.
const CLIENTS: usize = 2;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checker_concurrent_writes_through_a_partition_and_a_kill_converge() {
    checker_runs(false).await;
}

/// The checker with one region on each backend (see [`RedisBackends`]):
/// the fleet's and the cluster's regions keep their versions in Redis, and
/// a `kill -9` of their gateway leaves Redis's data in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checker_on_mixed_backends_converges() {
    checker_runs(true).await;
}

/// `GEO_CHECKER_RUNS` checker runs (default 2), alternating replicate and
/// invalidate mode, from `GEO_CHECKER_SEED` (default: the time and pid);
/// `mixed`: one region on each backend, fresh Redis servers for each run.
async fn checker_runs(mixed: bool) {
    let runs: u64 = std::env::var("GEO_CHECKER_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2);
    let seed: u64 = std::env::var("GEO_CHECKER_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| now_ms() ^ u64::from(std::process::id()) << 32);
    for run in 0..runs {
        let mode = if run % 2 == 0 {
            "replicate"
        } else {
            "invalidate"
        };
        let backends = mixed.then(RedisBackends::start);
        checker_run(seed.wrapping_add(run), mode, run, backends.as_ref()).await;
    }
}

/// What the client tasks share.
struct Workload {
    names: Vec<String>,
    addrs: Vec<SharedAddrs>,
    region_index: Vec<u8>,
    http: reqwest::Client,
    stop: AtomicBool,
    /// The cold keys are still written.
    cold: AtomicBool,
    next_id: AtomicUsize,
    ops: Mutex<Vec<Op>>,
}

async fn checker_run(seed: u64, mode: &str, run: u64, backends: Option<&RedisBackends>) {
    println!(
        "checker run {run}: seed {seed} (GEO_CHECKER_SEED={seed} replays its choices), mode {mode}{}",
        if backends.is_some() { ", mixed backends" } else { "" }
    );
    let mut rng = Rng::new(seed);
    let mut builder = Regions::builder(&NAMES).mode(mode);
    if let Some(backends) = backends {
        builder = backends.apply(builder);
    }
    let mut regions = builder.start().await;
    regions.wait_links_up().await;
    let work = Arc::new(Workload {
        names: regions.names.clone(),
        addrs: (0..regions.len())
            .map(|r| regions.shared_addrs(r))
            .collect(),
        region_index: (0..regions.len())
            .map(|r| regions.version_index(r))
            .collect(),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap(),
        stop: AtomicBool::new(false),
        cold: AtomicBool::new(true),
        next_id: AtomicUsize::new(0),
        ops: Mutex::new(Vec::new()),
    });
    let mut clients = Vec::new();
    for region in 0..regions.len() {
        for client in 0..CLIENTS {
            let rng = Rng::new(rng.next_u64());
            clients.push(tokio::spawn(run_client(work.clone(), region, client, rng)));
        }
    }

    tokio::time::sleep(rng.millis(1_000, 2_000)).await;
    let cut = rng.below(3) as usize;
    let killed = (cut + 1 + rng.below(2) as usize) % 3;
    println!(
        "  partition {}; kill -9 and restart {} during it",
        NAMES[cut], NAMES[killed]
    );
    regions.partition(cut);
    tokio::time::sleep(rng.millis(300, 1_000)).await;
    work.cold.store(false, Ordering::SeqCst);
    regions.kill(killed);
    tokio::time::sleep(rng.millis(200, 800)).await;
    regions.restart(killed).await;
    tokio::time::sleep(rng.millis(2_500, 4_000)).await;
    regions.heal_all();
    tokio::time::sleep(Duration::from_secs(1)).await;
    work.stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }

    let quiet = regions.quiesce(Duration::from_secs(60)).await;
    let mut finals: Finals = Vec::new();
    for r in 0..regions.len() {
        let mut held = BTreeMap::new();
        let keys = (0..KEYS)
            .map(|k| format!("k{k}"))
            .chain((0..COLD_KEYS).map(|k| format!("c{k}")));
        for key in keys {
            let found = regions.get(r, &key).await;
            held.insert(key, found);
        }
        finals.push(held);
    }
    let ops = work.ops.lock().unwrap().clone();
    let violations = check(&ops, &finals, &regions.names, mode == "replicate");
    println!(
        "  quiet {quiet:?} after the writes stopped; {}",
        summary(&ops, &finals, &regions.names)
    );
    if !violations.is_empty() {
        let shown: Vec<&String> = violations.iter().take(40).collect();
        panic!(
            "checker run {run} (seed {seed}, mode {mode}, partitioned {}, killed {}): {} violations:\n{}\nfinal state: {finals:#?}\nregions:{}",
            NAMES[cut],
            NAMES[killed],
            violations.len(),
            shown.iter().map(|v| format!("  {v}")).collect::<Vec<_>>().join("\n"),
            regions.statuses().await
        );
    }
}

/// One client: random sets and deletes on the shared keys in one region,
/// through REST or RESP, each read back at once in the same process.
async fn run_client(work: Arc<Workload>, region: usize, client: usize, mut rng: Rng) {
    let mut n = 0u64;
    while !work.stop.load(Ordering::SeqCst) {
        let current = *work.addrs[region].lock().unwrap();
        let Some(addrs) = current else {
            tokio::time::sleep(Duration::from_millis(20)).await;
            continue;
        };
        let key = if work.cold.load(Ordering::SeqCst) && rng.percent(30) {
            format!("c{}", rng.below(COLD_KEYS))
        } else {
            format!("k{}", rng.below(KEYS))
        };
        let kind = if rng.percent(35) {
            OpKind::Del
        } else {
            n += 1;
            OpKind::Set(format!("{}-{client}-{n}", work.names[region]))
        };
        let door = if rng.percent(30) { "resp" } else { "rest" };
        let invoked_ms = now_ms();
        let answer = match door {
            "resp" => resp_op(addrs, &key, &kind).await,
            _ => rest_op(&work.http, addrs, &key, &kind).await,
        };
        let ended_ms = now_ms();
        let acked = answer.is_ok();
        let mut known = answer.ok().flatten();
        let mut read_back = None;
        if acked {
            if let Ok(read) = read_at(&work.http, addrs, &key).await {
                // Only a read from the same process counts.
                if *work.addrs[region].lock().unwrap() == Some(addrs) {
                    read_back = Some(read);
                }
            }
        }
        if let (OpKind::Set(value), Some(Some(held))) = (&kind, &read_back) {
            if known.is_none() && held.value == *value {
                known = Some(held.version);
            }
        }
        let id = work.next_id.fetch_add(1, Ordering::SeqCst);
        work.ops.lock().unwrap().push(Op {
            id,
            region,
            region_index: work.region_index[region],
            key,
            kind,
            invoked_ms,
            ended_ms,
            acked,
            version: known,
            read_back,
            door,
        });
        tokio::time::sleep(rng.millis(0, 8)).await;
    }
}

/// A set or delete over REST: `Ok(version if the answer carries one)` when
/// acknowledged (a delete's 404 included: it is versioned all the same).
async fn rest_op(
    http: &reqwest::Client,
    addrs: Addrs,
    key: &str,
    kind: &OpKind,
) -> Result<Option<u64>, String> {
    let request = match kind {
        OpKind::Set(value) => http
            .post(format!("http://{}/api/cache", addrs.http))
            .json(&json!({"key": key, "value": value, "ttl": 3600})),
        OpKind::Del => http.delete(format!("http://{}/api/cache/{key}", addrs.http)),
    };
    let answer = request.send().await.map_err(|e| e.to_string())?;
    let status = answer.status().as_u16();
    let body: Value = answer.json().await.unwrap_or(Value::Null);
    match (kind, status) {
        (OpKind::Set(_), 200) | (OpKind::Del, 200 | 404) => Ok(version_in(&body)),
        _ => Err(format!("{status} {body}")),
    }
}

/// A SET (one-hour TTL) or DEL over RESP on a fresh connection.
async fn resp_op(addrs: Addrs, key: &str, kind: &OpKind) -> Result<Option<u64>, String> {
    let reply = match kind {
        OpKind::Set(value) => resp_call(addrs, &["SET", key, value, "EX", "3600"]).await?,
        OpKind::Del => resp_call(addrs, &["DEL", key]).await?,
    };
    match (kind, reply) {
        (OpKind::Set(_), Frame::Simple(s)) if &s[..] == b"OK" => Ok(None),
        (OpKind::Del, Frame::Integer(0 | 1)) => Ok(None),
        (_, other) => Err(format!("{other:?}")),
    }
}

async fn resp_call(addrs: Addrs, args: &[&str]) -> Result<Frame, String> {
    let call = async {
        let mut stream = TcpStream::connect(addrs.resp)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = BytesMut::new();
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        write_command(&mut out, &args);
        stream.write_all(&out).await.map_err(|e| e.to_string())?;
        let mut buf = BytesMut::new();
        loop {
            let mut probe = buf.clone();
            if let Some(frame) =
                parse_frame(&mut probe, &Limits::default()).map_err(|e| e.to_string())?
            {
                return Ok(frame);
            }
            let n = stream.read_buf(&mut buf).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("closed before the reply".to_string());
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), call)
        .await
        .map_err(|_| "no reply within 5 s".to_string())?
}

/// A REST read in the process at `addrs`.
async fn read_at(http: &reqwest::Client, addrs: Addrs, key: &str) -> Result<Option<Held>, String> {
    let answer = http
        .get(format!("http://{}/api/cache/{key}", addrs.http))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    match answer.status().as_u16() {
        200 => Ok(Some(held_of(
            &answer.json().await.map_err(|e| e.to_string())?,
        ))),
        404 => Ok(None),
        status => Err(format!("read {key}: {status}")),
    }
}

// --- the checker itself, on made-up histories -----------------------------

mod checker_self_test {
    use super::*;

    fn names() -> Vec<String> {
        NAMES.iter().map(|n| n.to_string()).collect()
    }

    /// An acknowledged op in `region` during `[from, to]` ms, stamped at
    /// `from` when `exact`.
    fn op(id: usize, region: usize, kind: OpKind, from: u64, to: u64, exact: bool) -> Op {
        Op {
            id,
            region,
            region_index: region as u8,
            key: "k".to_string(),
            kind,
            invoked_ms: from,
            ended_ms: to,
            acked: true,
            version: exact.then(|| version(from, 0, region as u8)),
            read_back: None,
            door: "rest",
        }
    }

    fn set(value: &str) -> OpKind {
        OpKind::Set(value.to_string())
    }

    fn held(value: &str, at_ms: u64, region: u8) -> Option<Held> {
        Some(Held {
            value: value.to_string(),
            version: version(at_ms, 0, region),
        })
    }

    /// Every region holds `state` under "k".
    fn everywhere(state: Option<Held>) -> Finals {
        (0..3)
            .map(|_| BTreeMap::from([("k".to_string(), state.clone())]))
            .collect()
    }

    fn violations(ops: &[Op], finals: &Finals, replicate: bool) -> Vec<String> {
        check(ops, finals, &names(), replicate)
    }

    fn assert_one(found: &[String], starts: &str) {
        assert!(
            found.iter().any(|v| v.starts_with(starts)),
            "expected a {starts:?} violation, got {found:#?}"
        );
    }

    /// set v1 in ap, then delete in eu, then set v3 in us, one after another.
    fn sequential() -> Vec<Op> {
        vec![
            op(0, AP, set("v1"), 100, 105, true),
            op(1, EU, OpKind::Del, 110, 115, false),
            op(2, US, set("v3"), 120, 125, true),
        ]
    }

    #[test]
    fn a_converged_history_passes() {
        let found = violations(&sequential(), &everywhere(held("v3", 120, 2)), true);
        assert!(found.is_empty(), "{found:#?}");
        // Absent somewhere is a cache miss, not a violation.
        let mut finals = everywhere(held("v3", 120, 2));
        finals[0].insert("k".into(), None);
        assert!(violations(&sequential(), &finals, true).is_empty());
    }

    #[test]
    fn divergence_is_found() {
        let mut finals = everywhere(held("v3", 120, 2));
        finals[1].insert("k".into(), held("v1", 100, 0));
        let found = violations(&sequential(), &finals, true);
        assert_one(&found, "diverged");
        assert_one(&found, "stale");
    }

    #[test]
    fn an_older_value_is_stale_and_a_deleted_one_resurrected() {
        let mut ops = sequential();
        ops.pop();
        // Only the delete is newer than v1: holding v1 resurrects it.
        let found = violations(&ops, &everywhere(held("v1", 100, 0)), true);
        assert_one(&found, "resurrected");
        // Two concurrent sets with known versions: the lower one is stale.
        let ops = vec![
            op(0, AP, set("a"), 100, 130, true),
            op(1, EU, set("b"), 110, 140, true),
        ];
        let found = violations(&ops, &everywhere(held("a", 100, 0)), true);
        assert_one(&found, "stale");
        assert!(violations(&ops, &everywhere(held("b", 110, 1)), true).is_empty());
    }

    #[test]
    fn a_lost_acknowledged_set_is_found_in_replicate_mode_only() {
        let found = violations(&sequential(), &everywhere(None), true);
        assert_one(&found, "lost");
        assert!(violations(&sequential(), &everywhere(None), false).is_empty());
        // An unacknowledged delete that may be newer explains the absence.
        let mut ops = sequential();
        let mut maybe = op(3, AP, OpKind::Del, 124, 200, false);
        maybe.acked = false;
        ops.push(maybe);
        assert!(violations(&ops, &everywhere(None), true).is_empty());
    }

    #[test]
    fn values_and_versions_nobody_wrote_are_found() {
        let found = violations(&sequential(), &everywhere(held("zzz", 120, 2)), true);
        assert_one(&found, "unknown value");
        // v3's value under a version it was not given.
        let found = violations(&sequential(), &everywhere(held("v3", 121, 2)), true);
        assert_one(&found, "versions");
        // A version stamped outside its request, or by another region.
        let mut ops = sequential();
        ops[2].version = Some(version(500, 0, 2));
        assert_one(&violations(&ops, &everywhere(None), false), "versions");
        let mut ops = sequential();
        ops[2].version = Some(version(120, 0, 1));
        assert_one(&violations(&ops, &everywhere(None), false), "versions");
    }

    #[test]
    fn read_your_writes_violations_are_found() {
        let mut ops = sequential();
        ops[2].read_back = Some(held("v1", 100, 0));
        assert_one(
            &violations(&ops, &everywhere(held("v3", 120, 2)), true),
            "read-your-writes",
        );
        let mut ops = sequential();
        ops[2].read_back = Some(None);
        assert_one(
            &violations(&ops, &everywhere(held("v3", 120, 2)), true),
            "read-your-writes",
        );
        // Absent after a set is fine when a delete may be newer.
        let mut ops = sequential();
        ops.push(op(3, EU, OpKind::Del, 122, 130, false));
        ops[2].read_back = Some(None);
        let found = violations(&ops, &everywhere(None), true);
        assert!(found.is_empty(), "{found:#?}");
    }

    #[test]
    fn invalidate_mode_holds_values_only_where_written() {
        // us holds ap's value: invalidation copied it.
        let ops = sequential();
        let mut finals = everywhere(None);
        finals[US].insert("k".into(), held("v3", 120, 2));
        assert!(violations(&ops, &finals, false).is_empty());
        finals[AP].insert("k".into(), held("v3", 120, 2));
        assert_one(&violations(&ops, &finals, false), "invalidate");
        // Absent right after a set: a newer change elsewhere may have
        // invalidated it (in replicate mode only a delete can).
        let mut ops = vec![
            op(0, AP, set("a"), 100, 110, false),
            op(1, EU, set("b"), 105, 115, false),
        ];
        ops[0].read_back = Some(None);
        assert!(violations(&ops, &everywhere(None), false).is_empty());
        assert_one(
            &violations(&ops, &everywhere(None), true),
            "read-your-writes",
        );
    }

    #[test]
    fn the_generator_is_seeded() {
        let draws = |seed| {
            let mut rng = Rng::new(seed);
            (0..5).map(|_| rng.below(1000)).collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
        assert!(checker::physical_ms(version(123, 4, 5)) == 123);
    }
}
