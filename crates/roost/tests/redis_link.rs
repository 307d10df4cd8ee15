//! `RedisLink` against real `redis-server` processes: every operation's outcome
//! is checked against what Redis itself then holds (read back with redis-cli or
//! the harness's own connection), plus the failure paths the fleet relies on —
//! a killed node fails fast and is picked up again after a restart, a hung node
//! times out, a full in-flight bound is `Overloaded` — and one real Redis Cluster.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use roost::backend::redis_link::{LinkOptions, LinkWrite, NodeAddress, RedisLink};
use roost::backend::{Condition, Deadline, RetimeCondition, SetOutcome, Stored};
use roost::error::CacheError;
use support::redis::{RedisCluster, RedisServer};

/// How far a deadline read back may be from the one written: the request's own
/// time, on a shared 2-core machine.
const SLACK_MS: u64 = 250;

fn now() -> u64 {
    let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    u64::try_from(since_epoch.as_millis()).unwrap()
}

fn options(timeout_ms: u64) -> LinkOptions {
    LinkOptions {
        timeout: Duration::from_millis(timeout_ms),
        ..LinkOptions::default()
    }
}

fn link_to(url: &str) -> RedisLink {
    RedisLink::standalone(NodeAddress::parse(url).unwrap(), options(2_000))
}

fn assert_near(actual: Option<u64>, expected: u64) {
    let actual = actual.expect("a deadline");
    assert!(
        actual.abs_diff(expected) <= SLACK_MS,
        "deadline {actual} is not within {SLACK_MS} ms of {expected}"
    );
}

/// The key's PTTL as Redis reports it.
fn pttl(server: &RedisServer, key: &str) -> i64 {
    server.cli(&["PTTL", key]).parse().unwrap()
}

/// The failure's text with its causes, after checking it names `node`.
fn assert_node_failed(result: Result<impl std::fmt::Debug, CacheError>, node: &str) -> String {
    match result {
        Err(err @ CacheError::NodeFailed { .. }) => {
            let CacheError::NodeFailed { node: named, .. } = &err else {
                unreachable!()
            };
            assert_eq!(named, node);
            assert!(err.is_node_fault());
            err.chain()
        }
        other => panic!("expected NodeFailed for {node}, got {other:?}"),
    }
}

/// The Redis reply a request caused, relayed as sent; never a node fault.
fn assert_rejected(result: Result<impl std::fmt::Debug, CacheError>) -> String {
    match result {
        Err(err @ CacheError::Rejected { .. }) => {
            assert!(!err.is_node_fault());
            err.to_string()
        }
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[tokio::test]
async fn set_and_get_round_trip_value_and_deadline() {
    let server = RedisServer::start();
    let link = link_to(&server.url());
    let t = now();
    link.set(b"ttl", b"v1", Some(t + 60_000), t).await.unwrap();
    link.set(b"forever", b"v2", None, t).await.unwrap();

    let pttl_ms = pttl(&server, "ttl");
    assert!(
        (60_000 - SLACK_MS as i64..=60_000).contains(&pttl_ms),
        "{pttl_ms}"
    );
    assert_eq!(pttl(&server, "forever"), -1);

    let got = link.get(b"ttl", now()).await.unwrap().unwrap();
    assert_eq!(got.value, Bytes::from_static(b"v1"));
    assert_near(got.expires_at, t + 60_000);
    let forever = link.get(b"forever", now()).await.unwrap().unwrap();
    assert_eq!(forever.expires_at, None);
    assert_eq!(link.get(b"missing", now()).await.unwrap(), None);
    assert_eq!(
        link.get_value(b"forever").await.unwrap(),
        Some(Bytes::from_static(b"v2"))
    );
    assert_eq!(link.get_value(b"missing").await.unwrap(), None);
}

#[tokio::test]
async fn batched_writes_and_gets_match_single_ones() {
    let server = RedisServer::start();
    server.cli(&["SET", "doomed", "x"]);
    server.cli(&["SET", "deleted", "x"]);
    let link = link_to(&server.url());
    let t = now();
    let set = |value: &'static [u8], expires_at| LinkWrite::Set { value, expires_at };
    let writes: [(&[u8], LinkWrite<'_>); 5] = [
        (b"ttl", set(b"v1", Some(t + 60_000))),
        (b"forever", set(b"v2", None)),
        (b"doomed", set(b"v3", Some(t - 1))),
        (b"deleted", LinkWrite::Delete),
        (b"never-there", LinkWrite::Delete),
    ];
    let answers = link.write_many(&writes, t).await.unwrap();
    assert_eq!(
        answers,
        [true, true, true, true, false],
        "a delete says whether the key was there"
    );
    assert!(!server.exists("deleted"));
    assert!((60_000 - SLACK_MS as i64..=60_000).contains(&pttl(&server, "ttl")));
    assert_eq!(server.get("forever").as_deref(), Some("v2"));
    assert_eq!(pttl(&server, "forever"), -1);
    assert!(!server.exists("doomed"), "a past deadline deletes");

    let keys: [&[u8]; 3] = [b"ttl", b"missing", b"forever"];
    let with_ttl = link.get_many(&keys, true, now()).await.unwrap();
    assert_eq!(with_ttl.len(), 3);
    let ttl = with_ttl[0].as_ref().unwrap();
    assert_eq!(ttl.value, Bytes::from_static(b"v1"));
    assert_near(ttl.expires_at, t + 60_000);
    assert_eq!(with_ttl[1], None);
    assert_eq!(with_ttl[2].as_ref().unwrap().expires_at, None);
    let values = link.get_many(&keys, false, now()).await.unwrap();
    assert_eq!(
        values,
        vec![
            Some(Stored::new(Bytes::from_static(b"v1"), None)),
            None,
            Some(Stored::new(Bytes::from_static(b"v2"), None)),
        ]
    );
}

#[tokio::test]
async fn set_with_a_deadline_already_past_deletes() {
    let server = RedisServer::start();
    let link = link_to(&server.url());
    let t = now();
    link.set(b"k", b"old", None, t).await.unwrap();
    link.set(b"k", b"new", Some(t), t).await.unwrap();
    assert!(!server.exists("k"));
    link.set(b"k", b"new", Some(t - 5_000), t).await.unwrap();
    assert!(!server.exists("k"));
}

#[tokio::test]
async fn delete_and_delete_many_count_what_was_there() {
    let server = RedisServer::start();
    let link = link_to(&server.url());
    let t = now();
    link.set(b"one", b"1", None, t).await.unwrap();
    assert!(link.delete(b"one").await.unwrap());
    assert!(!link.delete(b"one").await.unwrap());

    // 2,500 keys exist; 500 more are asked for that do not: three DEL batches.
    for i in 0..2_500 {
        server_set(&link, &format!("k{i}")).await;
    }
    let keys: Vec<Bytes> = (0..3_000).map(|i| Bytes::from(format!("k{i}"))).collect();
    assert_eq!(link.delete_many(&keys).await.unwrap(), 2_500);
    assert_eq!(server.dbsize(), 0);
    assert_eq!(link.delete_many(&[]).await.unwrap(), 0);
}

#[tokio::test]
async fn delete_if_value_removes_only_the_value_it_names() {
    let server = RedisServer::start();
    let link = link_to(&server.url());
    link.set(b"copy", b"v1", None, now()).await.unwrap();
    assert!(!link.delete_if_value(b"copy", b"v2").await.unwrap());
    assert_eq!(
        server.get("copy").as_deref(),
        Some("v1"),
        "a newer value stays"
    );
    assert!(
        !link.delete_if_value(b"copy", b"v").await.unwrap(),
        "not a prefix match"
    );
    assert!(link.delete_if_value(b"copy", b"v1").await.unwrap());
    assert!(!server.exists("copy"));
    assert!(
        !link.delete_if_value(b"copy", b"v1").await.unwrap(),
        "absent"
    );
}

async fn server_set(link: &RedisLink, key: &str) {
    link.set(key.as_bytes(), b"x", None, now()).await.unwrap();
}

#[tokio::test]
async fn set_conditional_follows_nx_xx_keepttl_and_reports_the_previous_entry() {
    let server = RedisServer::start();
    let link = link_to(&server.url());
    let t = now();
    let set = |key: &'static [u8], value: &'static [u8], condition, deadline| {
        link.set_conditional(key, value, condition, deadline, t)
    };

    // IfAbsent on a missing key writes, with the deadline.
    let first = set(
        b"k",
        b"a",
        Condition::IfAbsent,
        Deadline::Set(Some(t + 30_000)),
    );
    assert_eq!(
        first.await.unwrap(),
        SetOutcome {
            written: true,
            previous: None
        }
    );
    assert_eq!(server.get("k").as_deref(), Some("a"));

    // IfAbsent on a present key does not write and reports what is there.
    let second = set(b"k", b"b", Condition::IfAbsent, Deadline::Set(None))
        .await
        .unwrap();
    assert!(!second.written);
    let previous = second.previous.unwrap();
    assert_eq!(previous.value, Bytes::from_static(b"a"));
    assert_near(previous.expires_at, t + 30_000);
    assert_eq!(server.get("k").as_deref(), Some("a"));

    // IfPresent with Keep writes and keeps the deadline (KEEPTTL).
    let kept = set(b"k", b"c", Condition::IfPresent, Deadline::Keep)
        .await
        .unwrap();
    assert!(kept.written);
    assert_eq!(server.get("k").as_deref(), Some("c"));
    assert!(pttl(&server, "k") > 30_000 - SLACK_MS as i64);

    // Always with no deadline removes the deadline.
    let persisted = set(b"k", b"d", Condition::Always, Deadline::Set(None))
        .await
        .unwrap();
    assert!(persisted.written);
    assert_eq!(pttl(&server, "k"), -1);

    // IfPresent on a missing key neither writes nor creates.
    let absent = set(b"nope", b"x", Condition::IfPresent, Deadline::Keep)
        .await
        .unwrap();
    assert_eq!(
        absent,
        SetOutcome {
            written: false,
            previous: None
        }
    );
    assert!(!server.exists("nope"));

    // Keep on a new key means no deadline.
    set(b"fresh", b"f", Condition::Always, Deadline::Keep)
        .await
        .unwrap();
    assert_eq!(pttl(&server, "fresh"), -1);

    // A deadline already past: the write happens and the entry is gone at once.
    let expired = set(b"k", b"e", Condition::Always, Deadline::Set(Some(t - 1)))
        .await
        .unwrap();
    assert!(expired.written);
    assert_eq!(expired.previous.unwrap().value, Bytes::from_static(b"d"));
    assert!(!server.exists("k"));
}

#[tokio::test]
async fn take_returns_the_entry_with_its_deadline_and_removes_it() {
    let server = RedisServer::start();
    let link = link_to(&server.url());
    let t = now();
    link.set(b"k", b"v", Some(t + 20_000), t).await.unwrap();
    let taken = link.take(b"k", now()).await.unwrap().unwrap();
    assert_eq!(taken.value, Bytes::from_static(b"v"));
    assert_near(taken.expires_at, t + 20_000);
    assert!(!server.exists("k"));
    assert_eq!(link.take(b"k", now()).await.unwrap(), None);

    link.set(b"p", b"w", None, t).await.unwrap();
    let persistent = link.take(b"p", now()).await.unwrap().unwrap();
    assert_eq!(persistent.expires_at, None);
}

#[tokio::test]
async fn get_and_retime_returns_the_old_entry_and_applies_the_new_deadline() {
    let server = RedisServer::start();
    let link = link_to(&server.url());
    let t = now();
    link.set(b"k", b"v", None, t).await.unwrap();

    let before = link
        .get_and_retime(b"k", Some(t + 40_000), t)
        .await
        .unwrap();
    assert_eq!(before, Some(Stored::new(Bytes::from_static(b"v"), None)));
    assert!(pttl(&server, "k") > 40_000 - SLACK_MS as i64);

    let timed = link
        .get_and_retime(b"k", None, now())
        .await
        .unwrap()
        .unwrap();
    assert_near(timed.expires_at, t + 40_000);
    assert_eq!(pttl(&server, "k"), -1);

    let last = link.get_and_retime(b"k", Some(t - 1), now()).await.unwrap();
    assert_eq!(last.unwrap().value, Bytes::from_static(b"v"));
    assert!(!server.exists("k"));
    assert_eq!(link.get_and_retime(b"k", None, now()).await.unwrap(), None);
}

#[tokio::test]
async fn retime_conditions_agree_with_retime_condition_allows() {
    let server = RedisServer::start();
    let link = link_to(&server.url());
    let t = now();
    let conditions = [
        RetimeCondition::Always,
        RetimeCondition::NoDeadline,
        RetimeCondition::HasDeadline,
        RetimeCondition::Later,
        RetimeCondition::Earlier,
    ];
    let currents = [None, Some(t + 50_000)];
    let news = [None, Some(t + 20_000), Some(t + 90_000)];
    for condition in conditions {
        for current in currents {
            for new in news {
                link.set(b"k", b"v", current, t).await.unwrap();
                let changed = link.retime(b"k", new, condition, t).await.unwrap();
                let case = format!("{condition:?} current {current:?} new {new:?}");
                assert_eq!(changed, condition.allows(current, new), "{case}");
                let held = link.get(b"k", now()).await.unwrap().unwrap();
                let expected = if changed { new } else { current };
                match expected {
                    None => assert_eq!(held.expires_at, None, "{case}"),
                    Some(at) => assert_near(held.expires_at, at),
                }
            }
        }
    }
    // A missing key is never retimed; a deadline already past deletes the key.
    assert!(!link
        .retime(b"gone", Some(t + 1_000), RetimeCondition::Always, t)
        .await
        .unwrap());
    assert!(!link
        .retime(b"gone", None, RetimeCondition::Always, t)
        .await
        .unwrap());
    link.set(b"k", b"v", None, t).await.unwrap();
    assert!(link
        .retime(b"k", Some(t - 10), RetimeCondition::Always, t)
        .await
        .unwrap());
    assert!(!server.exists("k"));
}

#[tokio::test]
async fn incr_by_counts_keeps_the_deadline_and_relays_redis_errors() {
    let server = RedisServer::start();
    let link = link_to(&server.url());
    let t = now();
    assert_eq!(link.incr_by(b"n", 5).await.unwrap(), 5);
    assert_eq!(link.incr_by(b"n", -7).await.unwrap(), -2);
    assert_eq!(server.get("n").as_deref(), Some("-2"));

    link.set(b"timed", b"10", Some(t + 30_000), t)
        .await
        .unwrap();
    assert_eq!(link.incr_by(b"timed", 1).await.unwrap(), 11);
    assert!(pttl(&server, "timed") > 30_000 - SLACK_MS as i64);

    link.set(b"text", b"abc", None, t).await.unwrap();
    assert_eq!(
        assert_rejected(link.incr_by(b"text", 1).await),
        "ERR value is not an integer or out of range"
    );
    link.set(b"max", i64::MAX.to_string().as_bytes(), None, t)
        .await
        .unwrap();
    assert_eq!(
        assert_rejected(link.incr_by(b"max", 1).await),
        "ERR increment or decrement would overflow"
    );
    assert_eq!(server.get("max"), Some(i64::MAX.to_string()));

    // A reply about the key's type is the request's, relayed as Redis sent it.
    server.cli(&["RPUSH", "list", "a"]);
    let reply = assert_rejected(link.incr_by(b"list", 1).await);
    assert!(reply.starts_with("WRONGTYPE "), "{reply}");
}

fn server_node(server: &RedisServer) -> String {
    format!("127.0.0.1:{}", server.port())
}

#[tokio::test]
async fn append_extends_keeps_the_deadline_and_refuses_past_the_limit() {
    let server = RedisServer::start();
    let link = link_to(&server.url());
    let t = now();
    assert_eq!(link.append(b"k", b"abc", 8).await.unwrap(), 3);
    link.set(b"k", b"abc", Some(t + 30_000), t).await.unwrap();
    assert_eq!(link.append(b"k", b"defgh", 8).await.unwrap(), 8);
    assert_eq!(server.get("k").as_deref(), Some("abcdefgh"));
    assert!(pttl(&server, "k") > 30_000 - SLACK_MS as i64);

    match link.append(b"k", b"i", 8).await {
        Err(CacheError::ValueTooLarge { len: 9, max: 8 }) => {}
        other => panic!("expected ValueTooLarge 9 > 8, got {other:?}"),
    }
    assert_eq!(server.get("k").as_deref(), Some("abcdefgh"));
    assert!(matches!(
        link.append(b"new", b"too long", 3).await,
        Err(CacheError::ValueTooLarge { len: 8, max: 3 })
    ));
    assert!(!server.exists("new"));
}

/// Every key the link's SCAN hands out across all steps, counted.
async fn scan_all(link: &RedisLink, count: usize) -> HashMap<Bytes, (usize, Option<u64>)> {
    let mut seen: HashMap<Bytes, (usize, Option<u64>)> = HashMap::new();
    let mut cursor = 0;
    for _ in 0..10_000 {
        let (next, keys) = link.scan(cursor, count, now()).await.unwrap();
        for (key, deadline) in keys {
            let entry = seen.entry(key).or_insert((0, deadline));
            entry.0 += 1;
        }
        if next == 0 {
            return seen;
        }
        cursor = next;
    }
    panic!("scan did not finish within 10,000 steps");
}

#[tokio::test]
async fn scan_visits_every_key_exactly_once_with_its_deadline() {
    let server = RedisServer::start();
    let link = link_to(&server.url());
    let t = now();
    for i in 0..1_000u64 {
        let deadline = (i % 2 == 0).then_some(t + 60_000 + i);
        link.set(format!("k{i}").as_bytes(), b"v", deadline, now())
            .await
            .unwrap();
    }
    let seen = scan_all(&link, 37).await;
    assert_eq!(seen.len(), 1_000);
    for i in 0..1_000u64 {
        let (times, deadline) = seen[&Bytes::from(format!("k{i}"))];
        assert_eq!(times, 1, "k{i} seen {times} times");
        match i % 2 {
            0 => assert_near(deadline, t + 60_000 + i),
            _ => assert_eq!(deadline, None, "k{i}"),
        }
    }
}

#[tokio::test]
async fn flush_and_info_cover_only_the_links_database() {
    let server = RedisServer::start_with(&["--maxmemory", "64mb"]);
    let other_db = link_to(&server.url());
    let link = link_to(&format!("{}/2", server.url()));
    let t = now();
    other_db.set(b"db0-key", b"stays", None, t).await.unwrap();
    for i in 0..10 {
        let deadline = (i < 3).then_some(t + 60_000);
        link.set(format!("k{i}").as_bytes(), b"v", deadline, t)
            .await
            .unwrap();
    }
    let info = link.info().await.unwrap();
    assert_eq!((info.keys, info.expires), (10, 3));
    assert_eq!(info.maxmemory, 64 * 1024 * 1024);
    assert!(info.used_memory > 0);

    assert_eq!(link.flush().await.unwrap(), 10);
    assert_eq!(link.info().await.unwrap().keys, 0);
    assert_eq!(link.flush().await.unwrap(), 0);
    assert_eq!(server.get("db0-key").as_deref(), Some("stays"));
}

#[tokio::test]
async fn info_counts_expired_and_evicted_keys() {
    let server =
        RedisServer::start_with(&["--maxmemory", "2mb", "--maxmemory-policy", "allkeys-lru"]);
    let link = link_to(&server.url());
    link.set(b"short", b"v", Some(now() + 1), now())
        .await
        .unwrap();
    // Redis counts the expiry when something touches the expired key (the
    // link may answer a past deadline itself without asking Redis, so touch it
    // directly) or its active expiry cycle finds it.
    let until = Instant::now() + Duration::from_secs(5);
    while server.get("short").is_some() || link.info().await.unwrap().expired_keys == 0 {
        assert!(Instant::now() < until, "the 1 ms key never expired");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(link.info().await.unwrap().expired_keys, 1);

    let value = vec![b'x'; 10_000];
    for i in 0..400 {
        let key = format!("big{i}");
        link.set(key.as_bytes(), &value, None, now()).await.unwrap();
    }
    let info = link.info().await.unwrap();
    assert!(info.evicted_keys > 0, "{info:?}");
    assert_eq!(info.keys + info.evicted_keys, 400, "{info:?}");
    assert_eq!(info.maxmemory, 2 * 1024 * 1024);
}

#[tokio::test]
async fn auth_from_the_url_and_no_password_in_errors() {
    // The harness polls readiness without a password, so the password comes after start.
    let server = RedisServer::start();
    server.cli(&["CONFIG", "SET", "requirepass", "s3cret"]);
    let port = server.port();
    let good = link_to(&format!("redis://:s3cret@127.0.0.1:{port}"));
    good.set(b"k", b"v", None, now()).await.unwrap();
    assert_eq!(
        good.address().redacted(),
        format!("redis://:***@127.0.0.1:{port}")
    );

    let bad = link_to(&format!("redis://:wrong-pw@127.0.0.1:{port}"));
    let reason = assert_node_failed(bad.ping().await, &format!("127.0.0.1:{port}"));
    assert!(!reason.contains("wrong-pw"), "{reason}");

    server.cli(&[
        "-a",
        "s3cret",
        "--no-auth-warning",
        "ACL",
        "SETUSER",
        "app",
        "on",
        ">apppw",
        "~*",
        "+@all",
    ]);
    let user = link_to(&format!("redis://app:apppw@127.0.0.1:{port}"));
    assert_eq!(
        user.get_value(b"k").await.unwrap(),
        Some(Bytes::from_static(b"v"))
    );
}

#[tokio::test]
async fn killed_node_fails_fast_and_the_same_link_works_after_restart() {
    let mut server = RedisServer::start();
    let node = server_node(&server);
    let link = RedisLink::standalone(NodeAddress::parse(&server.url()).unwrap(), options(500));
    link.set(b"k", b"v", None, now()).await.unwrap();

    server.kill();
    for _ in 0..4 {
        let started = Instant::now();
        assert_node_failed(link.get(b"k", now()).await, &node);
        assert!(
            started.elapsed() < Duration::from_millis(900),
            "{:?}",
            started.elapsed()
        );
    }

    server.restart();
    let until = Instant::now() + Duration::from_secs(5);
    while link.ping().await.is_err() {
        assert!(
            Instant::now() < until,
            "the link never came back after the restart"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    link.set(b"k", b"again", None, now()).await.unwrap();
    assert_eq!(server.get("k").as_deref(), Some("again"));
}

#[tokio::test]
async fn after_a_restart_one_failed_request_clears_every_stale_connection() {
    let mut server = RedisServer::start();
    let node = server_node(&server);
    let three = LinkOptions {
        connections: 3,
        ..options(1_000)
    };
    let link = RedisLink::standalone(NodeAddress::parse(&server.url()).unwrap(), three);
    for _ in 0..3 {
        link.ping().await.unwrap();
    }
    server.restart();
    // The first request finds its connection broken by the restart…
    let r = assert_node_failed(link.ping().await, &node);
    eprintln!("first: {r}");
    // …and the other slots' connections, as old, are dropped with it: none fails again.
    for round in 0..6 {
        let outcome = link.ping().await;
        assert!(
            outcome.is_ok(),
            "ping {round} after the restart: {outcome:?}"
        );
    }
}

#[tokio::test]
async fn link_made_while_the_node_is_down_connects_once_it_is_up() {
    let mut server = RedisServer::start();
    server.kill();
    let link = RedisLink::standalone(NodeAddress::parse(&server.url()).unwrap(), options(500));
    assert_node_failed(link.ping().await, &server_node(&server));
    server.restart();
    link.ping().await.unwrap();
    link.set(b"k", b"v", None, now()).await.unwrap();
    assert!(server.exists("k"));
}

#[tokio::test]
async fn paused_node_times_out_and_the_link_recovers() {
    let server = RedisServer::start();
    let node = server_node(&server);
    let link = RedisLink::standalone(NodeAddress::parse(&server.url()).unwrap(), options(200));
    link.ping().await.unwrap();
    // CLIENT PAUSE answers at once and then holds every other client's commands.
    server.cli(&["CLIENT", "PAUSE", "1000", "ALL"]);
    let started = Instant::now();
    let reason = assert_node_failed(link.ping().await, &node);
    // The request times out, or (on the slot not yet connected) its handshake does.
    assert!(reason.ends_with("timed out after 200ms"), "{reason}");
    assert!(
        started.elapsed() < Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    let until = Instant::now() + Duration::from_secs(5);
    while link.ping().await.is_err() {
        assert!(
            Instant::now() < until,
            "the link never recovered after the pause"
        );
    }
}

/// A TCP listener that accepts connections and never answers: a hung node.
async fn silent_node() -> (tokio::task::JoinHandle<()>, u16) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    (task, port)
}

#[tokio::test]
async fn hung_node_times_out_as_node_failed() {
    let (task, port) = silent_node().await;
    let url = format!("redis://127.0.0.1:{port}");
    let link = RedisLink::standalone(NodeAddress::parse(&url).unwrap(), options(300));
    let started = Instant::now();
    let reason = assert_node_failed(link.ping().await, &format!("127.0.0.1:{port}"));
    // The handshake never completes: the connect, or the request around it, times out.
    assert!(reason.ends_with("timed out after 300ms"), "{reason}");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    task.abort();
}

#[tokio::test]
async fn one_request_past_the_in_flight_limit_is_overloaded() {
    let (task, port) = silent_node().await;
    let url = format!("redis://127.0.0.1:{port}");
    let limited = LinkOptions {
        max_in_flight: 1,
        ..options(2_000)
    };
    let link = RedisLink::standalone(NodeAddress::parse(&url).unwrap(), limited);
    let mut first = Box::pin(link.ping());
    // Start the first request; the node never answers, so it stays in flight.
    assert!(tokio::time::timeout(Duration::from_millis(50), &mut first)
        .await
        .is_err());
    match link.get(b"k", now()).await {
        Err(CacheError::Overloaded { node, limit: 1 }) => {
            assert_eq!(node, format!("127.0.0.1:{port}"))
        }
        other => panic!("expected Overloaded, got {other:?}"),
    }
    drop(first);
    // With the first request gone its slot is free again (and times out on the hung node).
    assert_node_failed(link.ping().await, &format!("127.0.0.1:{port}"));
    task.abort();
}

#[tokio::test]
async fn rediss_uses_tls_and_a_plain_server_fails_the_handshake() {
    let server = RedisServer::start();
    let address = NodeAddress::parse(&format!("rediss://127.0.0.1:{}", server.port())).unwrap();
    assert!(address.is_tls());
    let link = RedisLink::standalone(address, options(1_000));
    assert_node_failed(link.ping().await, &server_node(&server));
}

#[tokio::test]
async fn cluster_link_spreads_reads_scans_and_flushes_across_masters() {
    let mut cluster = RedisCluster::start(3, 1);
    let seeds = cluster
        .seed_urls()
        .iter()
        .map(|u| NodeAddress::parse(u).unwrap())
        .collect();
    let link = RedisLink::cluster(seeds, options(2_000)).await.unwrap();
    let t = now();
    let mut masters_used = std::collections::HashSet::new();
    for i in 0..200u64 {
        let key = format!("key:{i}");
        let deadline = (i % 4 == 0).then_some(t + 60_000);
        link.set(key.as_bytes(), format!("v{i}").as_bytes(), deadline, t)
            .await
            .unwrap();
        masters_used.insert(cluster.master_for_key(&key));
    }
    assert_eq!(
        masters_used.len(),
        3,
        "200 keys should land on every master"
    );
    for i in 0..200u64 {
        let got = link
            .get(format!("key:{i}").as_bytes(), now())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(got.value, Bytes::from(format!("v{i}")));
        assert_eq!(got.expires_at.is_some(), i % 4 == 0, "key:{i}");
    }

    let seen = scan_all(&link, 25).await;
    assert_eq!(seen.len(), 200);
    assert!(seen.values().all(|(times, _)| *times == 1));
    assert_eq!(link.info().await.unwrap().keys, 200);

    // Scripts and multi-key DEL route by key too.
    let taken = link.take(b"key:1", now()).await.unwrap().unwrap();
    assert_eq!(taken.value, Bytes::from_static(b"v1"));
    let outcome = link
        .set_conditional(b"key:2", b"x", Condition::IfAbsent, Deadline::Keep, now())
        .await
        .unwrap();
    assert!(!outcome.written);
    let some: Vec<Bytes> = (10..20).map(|i| Bytes::from(format!("key:{i}"))).collect();
    assert_eq!(link.delete_many(&some).await.unwrap(), 10);

    assert_eq!(link.flush().await.unwrap(), 189);
    assert_eq!(link.info().await.unwrap().keys, 0);
    assert!(scan_all(&link, 25).await.is_empty());

    // A master dies: once a replica has taken over, the same link serves its keys.
    for i in 0..30u64 {
        let key = format!("after:{i}");
        link.set(key.as_bytes(), b"v", None, now()).await.unwrap();
    }
    let victim = cluster.master_for_key("after:0");
    cluster.kill(victim);
    cluster.wait_for_failover(victim, Duration::from_secs(20));
    // (Replication is asynchronous, so each key is written again rather than
    // assumed to have reached the replica before the kill.)
    let until = Instant::now() + Duration::from_secs(10);
    for i in 0..30u64 {
        let key = format!("after:{i}");
        loop {
            let written = link.set(key.as_bytes(), b"w", None, now()).await;
            let read = link.get_value(key.as_bytes()).await;
            match (written, read) {
                (Ok(()), Ok(Some(value))) if value == "w" => break,
                outcome => assert!(Instant::now() < until, "{key} after failover: {outcome:?}"),
            }
        }
    }
    assert_eq!(scan_all(&link, 25).await.len(), 30);
}

#[tokio::test]
async fn error_replies_inside_a_pipeline_are_classified_like_single_ones() {
    let server = RedisServer::start();
    let link = link_to(&server.url());
    let t = now();
    // GET + PTTL is one pipeline: a WRONGTYPE there is the request's, and
    // relayed with Redis's own text, not redis-rs's pipeline summary.
    server.cli(&["HSET", "a-hash", "f", "1"]);
    assert_eq!(
        assert_rejected(link.get(b"a-hash", t).await),
        "WRONGTYPE Operation against a key holding the wrong kind of value"
    );
    let keys: [&[u8]; 2] = [b"missing", b"a-hash"];
    let reply = assert_rejected(link.get_many(&keys, true, t).await);
    assert!(reply.starts_with("WRONGTYPE "), "{reply}");
    // A node out of memory refuses a batch of writes: the node's fault, so
    // the fleet journals the replica and counts it toward ejection.
    server.cli(&["CONFIG", "SET", "maxmemory", "1"]);
    server.cli(&["CONFIG", "SET", "maxmemory-policy", "noeviction"]);
    let set = LinkWrite::Set {
        value: b"v",
        expires_at: None,
    };
    let writes: [(&[u8], LinkWrite<'_>); 2] = [(b"a", set), (b"b", set)];
    let failure = link.write_many(&writes, t).await.unwrap_err();
    assert!(
        matches!(
            failure,
            CacheError::NodeFailed {
                fault: roost::error::NodeFault::Unavailable,
                ..
            }
        ),
        "{failure:?}"
    );
    assert!(failure.chain().contains("OOM"), "{}", failure.chain());
}
