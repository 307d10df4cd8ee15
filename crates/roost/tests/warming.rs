//! Warming against a real server and a real HTTP origin
//! (`support::origin::TestOrigin`): an expiring hot key is refreshed before
//! its deadline (its readers never wait on the origin), background fetches
//! stay within `ROOST_ORIGIN_MAX_RPS`, a hot key the backend lost is warmed
//! up again, a client write during a refresh wins, a client miss during a
//! refresh joins it, `ROOST_WARMING=off` makes no background request, a
//! learned `user:<id>` -> `feed:<id>` pattern prefetches the follow-up of an
//! id never seen, and keys without structure make no prefetch.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::origin::{Behaviour, TestOrigin};
use support::{eventually, metric, TestServer};

const DEADLINE: Duration = Duration::from_secs(10);

async fn gateway(origin: &TestOrigin, settings: &[(&str, &str)]) -> TestServer {
    let mut builder = TestServer::builder().env("ROOST_ORIGIN_URL", &origin.url());
    for (key, value) in settings {
        builder = builder.env(key, value);
    }
    builder.start().await
}

/// `roost_origin_requests_total{reason=…}` now.
async fn requests(s: &TestServer, reason: &str) -> f64 {
    let text = s.metrics_text().await;
    metric(
        &text,
        &format!("roost_origin_requests_total{{reason=\"{reason}\"}}"),
    )
}

async fn background(s: &TestServer) -> f64 {
    requests(s, "refresh").await + requests(s, "prefetch").await + requests(s, "warmup").await
}

async fn warming(s: &TestServer) -> Value {
    let (status, body) = s.get("/api/cache/warming").await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Reads every key over RESP, at least once, then again after each `pause`
/// until `until`.
async fn read_until(s: &TestServer, keys: Vec<String>, pause: Duration, until: Instant) {
    let mut resp = s.resp().await;
    loop {
        for key in &keys {
            let reply = resp.cmd(&["GET", key]).await;
            assert!(reply.starts_with('$'), "{key}: {reply}");
        }
        if Instant::now() >= until {
            return;
        }
        tokio::time::sleep(pause).await;
    }
}

fn hot_keys(origin: &TestOrigin, n: usize, cache_control: &str, latency: Duration) -> Vec<String> {
    (0..n)
        .map(|i| {
            let key = format!("hot:{i}");
            let behaviour = Behaviour::default()
                .cache_control(cache_control)
                .with_latency(latency);
            origin.set(&key, behaviour);
            key
        })
        .collect()
}

/// Hot keys with a 1 s TTL read every few milliseconds for `run`; answers
/// the client misses that went to the origin after the first load, and the
/// refreshes.
async fn expiring_hot_keys(settings: &[(&str, &str)], run: Duration) -> (f64, f64, Value) {
    let origin = TestOrigin::start().await;
    let s = gateway(&origin, settings).await;
    let keys = hot_keys(&origin, 5, "max-age=1", Duration::from_millis(20));
    // The first load of each key is a miss whatever warming does.
    read_until(&s, keys.clone(), Duration::ZERO, Instant::now()).await;
    let first_misses = requests(&s, "miss").await;
    assert_eq!(first_misses, 5.0);
    let until = Instant::now() + run;
    let readers = (0..2).map(|_| read_until(&s, keys.clone(), Duration::from_millis(4), until));
    futures_util::future::join_all(readers).await;
    let later_misses = requests(&s, "miss").await - first_misses;
    let refreshes = requests(&s, "refresh").await;
    let status = warming(&s).await;
    s.shutdown().await;
    (later_misses, refreshes, status)
}

#[tokio::test]
async fn an_expiring_hot_key_is_refreshed_before_its_deadline() {
    let (misses, refreshes, status) = expiring_hot_keys(&[], Duration::from_millis(3500)).await;
    // Each key passed its 1 s deadline three times: every one of those was
    // refreshed ahead, so no read around a deadline went to the origin.
    assert!(
        misses <= 1.0,
        "{misses} reads waited on the origin: {status}"
    );
    assert!(refreshes >= 12.0, "{refreshes} refreshes: {status}");
    assert_eq!(status["enabled"], true);
    assert!(
        status["refresh"]["stored_total"].as_u64().unwrap() >= 12,
        "{status}"
    );
    assert_eq!(status["snapshot"], Value::Null);
    assert_eq!(status["node_warmups"], serde_json::json!([]));
}

#[tokio::test]
async fn warming_off_makes_no_background_requests_and_expiries_make_readers_wait() {
    let settings = [("ROOST_WARMING", "off"), ("WARMING_INTERVAL", "200")];
    let (misses, refreshes, status) =
        expiring_hot_keys(&settings, Duration::from_millis(2500)).await;
    assert_eq!(refreshes, 0.0);
    assert!(misses >= 8.0, "each key waited at each expiry: {misses}");
    assert_eq!(status["enabled"], false, "{status}");
    assert_eq!(status["refresh"]["issued_total"], 0);
    assert_eq!(status["warmup"]["issued_total"], 0);
    assert_eq!(status["prefetch"]["issued_total"], 0);
    assert_eq!(status["prefetch"]["precision"], Value::Null);
}

#[tokio::test]
async fn background_fetches_never_exceed_the_budget() {
    let origin = TestOrigin::start().await;
    let rps = 5.0;
    let s = gateway(
        &origin,
        &[("ROOST_ORIGIN_MAX_RPS", "5"), ("WARMING_INTERVAL", "200")],
    )
    .await;
    let started = Instant::now();
    // 30 hot keys with a 1 s TTL, their deadlines spread over the second,
    // want ~35 refreshes a second all the time: the budget binds.
    let keys = hot_keys(&origin, 30, "max-age=1", Duration::ZERO);
    for key in &keys {
        read_until(&s, vec![key.clone()], Duration::ZERO, Instant::now()).await;
        tokio::time::sleep(Duration::from_millis(33)).await;
    }
    let until = Instant::now() + Duration::from_secs(4);
    let reads = read_until(&s, keys, Duration::from_millis(5), until);
    let watch = async {
        let (mut last, mut at) = (0.0, Instant::now());
        while Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let now = background(&s).await;
            let secs = at.elapsed().as_secs_f64();
            // The bucket holds a tenth of a second's tokens, at least one.
            assert!(
                now - last <= (rps * secs).ceil() + 1.0,
                "{} background requests in {secs:.2} s",
                now - last
            );
            (last, at) = (now, Instant::now());
        }
    };
    tokio::join!(reads, watch);
    let total = background(&s).await;
    let elapsed = started.elapsed().as_secs_f64();
    assert!(
        total <= (rps * elapsed).ceil() + 1.0,
        "{total} in {elapsed:.2} s"
    );
    let status = warming(&s).await;
    assert!(total >= 10.0, "the budget was used: {total} {status}");
    assert!(
        status["budget"]["denied_total"].as_u64().unwrap() > 0,
        "{status}"
    );
    assert_eq!(status["budget"]["max_rps"], 5);
    s.shutdown().await;
}

#[tokio::test]
async fn a_hot_key_the_backend_lost_is_warmed_up_by_the_cycle() {
    let origin = TestOrigin::start().await;
    let s = gateway(&origin, &[("WARMING_INTERVAL", "300")]).await;
    let until = Instant::now() + Duration::from_millis(600);
    read_until(
        &s,
        vec!["lost".to_string()],
        Duration::from_millis(5),
        until,
    )
    .await;
    assert_eq!(origin.requests_for("lost"), 1);
    // Gone from the backend (as an eviction or a restart would leave it).
    let (status, _) = s.delete("/api/cache/lost").await;
    assert_eq!(status, 200);
    eventually(DEADLINE, "the warm-up fetched it again", || async {
        origin.requests_for("lost") == 2
    })
    .await;
    eventually(DEADLINE, "counted as a warm-up", || async {
        requests(&s, "warmup").await == 1.0 && warming(&s).await["warmup"]["issued_total"] == 1
    })
    .await;
    let mut resp = s.resp().await;
    let reply = resp.cmd(&["GET", "lost"]).await;
    assert!(reply.contains(r#""n":2"#), "{reply}");
    assert_eq!(origin.requests_for("lost"), 2, "a hit: no miss");
    assert_eq!(requests(&s, "miss").await, 1.0);
    s.shutdown().await;
}

#[tokio::test]
async fn a_client_write_during_a_refresh_wins() {
    let origin = TestOrigin::start().await;
    // A slow origin: the refresh is in flight long enough to write under it.
    origin.set(
        "w",
        Behaviour::slow(Duration::from_millis(600)).cache_control("max-age=2"),
    );
    let s = gateway(&origin, &[]).await;
    let mut resp = s.resp().await;
    resp.cmd(&["GET", "w"]).await;
    // Read until the refresh reached the origin (with a 600 ms latency, the
    // lead is 2.4 s: the next hits start it).
    let deadline = Instant::now() + DEADLINE;
    while origin.requests_for("w") < 2 {
        assert!(Instant::now() < deadline, "no refresh started");
        resp.cmd(&["GET", "w"]).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(resp.cmd(&["SET", "w", "mine", "EX", "60"]).await, "+OK\r\n");
    eventually(DEADLINE, "the refresh ended", || async {
        let status = warming(&s).await;
        status["refresh"]["issued_total"] == 1
    })
    .await;
    let status = warming(&s).await;
    assert_eq!(status["refresh"]["stored_total"], 0, "{status}");
    assert_eq!(resp.cmd(&["GET", "w"]).await, "$4\r\nmine\r\n");
    let ttl = resp.cmd(&["TTL", "w"]).await;
    assert!(ttl.starts_with(":5") || ttl.starts_with(":6"), "{ttl}");
    s.shutdown().await;
}

/// Reads every key over REST (which reads the deadline, `PTTL`, on a Redis
/// backend), at least once, then again after each `pause` until `until`.
async fn rest_read_until(s: &TestServer, keys: &[String], pause: Duration, until: Instant) {
    loop {
        for key in keys {
            let (status, body) = s.get(&format!("/api/cache/{key}")).await;
            assert_eq!(status, 200, "{key}: {body}");
        }
        if Instant::now() >= until {
            return;
        }
        tokio::time::sleep(pause).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_redis_a_refresh_replaces_the_value_under_its_lease_and_a_write_still_wins() {
    let node = support::redis::RedisServer::start();
    let origin = TestOrigin::start().await;
    let keys = hot_keys(&origin, 3, "max-age=1", Duration::from_millis(10));
    let s = support::fleet::fleet_builder(&[&node], &[])
        .env("ROOST_ORIGIN_URL", &origin.url())
        .start()
        .await;
    rest_read_until(&s, &keys, Duration::ZERO, Instant::now()).await;
    let first_misses = requests(&s, "miss").await;
    let until = Instant::now() + Duration::from_millis(3000);
    rest_read_until(&s, &keys, Duration::from_millis(5), until).await;
    let misses = requests(&s, "miss").await - first_misses;
    let status = warming(&s).await;
    assert!(
        misses <= 1.0,
        "{misses} reads waited on the origin: {status}"
    );
    assert!(
        status["refresh"]["stored_total"].as_u64().unwrap() >= 6,
        "each key refreshed at each of its deadlines: {status}"
    );
    // No lease is left behind by the refreshes' check-and-set.
    let leases = node.cli(&["KEYS", "*lease*"]);
    assert!(leases.trim().is_empty(), "{leases}");

    // A slow refresh, and a client write while it is in flight.
    origin.set(
        "w",
        Behaviour::slow(Duration::from_millis(600)).cache_control("max-age=2"),
    );
    s.get("/api/cache/w").await;
    let deadline = Instant::now() + DEADLINE;
    while origin.requests_for("w") < 2 {
        assert!(Instant::now() < deadline, "no refresh started");
        s.get("/api/cache/w").await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stored = warming(&s).await["refresh"]["stored_total"]
        .as_u64()
        .unwrap();
    let (code, _) = s
        .post(
            "/api/cache",
            serde_json::json!({"key": "w", "value": "mine", "ttl": 60}),
        )
        .await;
    assert_eq!(code, 200);
    tokio::time::sleep(Duration::from_millis(900)).await;
    let (_, body) = s.get("/api/cache/w").await;
    assert_eq!(body["value"], "mine", "{body}");
    let in_redis = node.cli(&["GET", "w"]);
    assert!(in_redis.contains("mine"), "{in_redis}");
    let after = warming(&s).await;
    let refreshed_w = after["refresh"]["stored_total"].as_u64().unwrap() - stored;
    // Only w is read now; its refresh was not stored.
    assert_eq!(refreshed_w, 0, "{after}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_client_miss_during_a_refresh_joins_it_instead_of_fetching_again() {
    let origin = TestOrigin::start().await;
    // Slower than the TTL: the refresh is still in flight when the key expires.
    origin.set(
        "j",
        Behaviour::slow(Duration::from_millis(1500)).cache_control("max-age=1"),
    );
    let s = gateway(&origin, &[("ROOST_ORIGIN_TIMEOUT", "4000")]).await;
    let mut resp = s.resp().await;
    resp.cmd(&["GET", "j"]).await;
    let deadline = Instant::now() + DEADLINE;
    while origin.requests_for("j") < 2 {
        assert!(Instant::now() < deadline, "no refresh started");
        resp.cmd(&["GET", "j"]).await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Read on through the expiry: the misses wait for the refresh's answer.
    let until = Instant::now() + Duration::from_millis(1600);
    while Instant::now() < until {
        let reply = resp.cmd(&["GET", "j"]).await;
        assert!(reply.contains(r#""key":"j""#), "{reply}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // No miss after the first load asked the origin: each joined a refresh.
    let text = s.metrics_text().await;
    assert_eq!(requests(&s, "miss").await, 1.0, "{text}");
    assert!(metric(&text, "roost_origin_singleflight_joins_total") >= 1.0);
    assert!(requests(&s, "refresh").await >= 1.0);
    s.shutdown().await;
}

/// One visit: `user:<id>`, a pause, then `feed:<id>`, over RESP.
async fn visit(resp: &mut support::resp::RespClient, id: u64, pause: Duration) {
    for (i, key) in [format!("user:{id}"), format!("feed:{id}")]
        .iter()
        .enumerate()
    {
        if i == 1 {
            tokio::time::sleep(pause).await;
        }
        let reply = resp.cmd(&["GET", key]).await;
        assert!(reply.starts_with('$'), "{key}: {reply}");
    }
}

/// A gateway and its origin after sessions of ids 0..150 (each read once)
/// and time for the predictor to learn from them (it learns every 200 ms).
async fn learned_sessions() -> (TestOrigin, TestServer, support::resp::RespClient) {
    let origin = TestOrigin::start().await;
    let s = gateway(&origin, &[]).await;
    let mut resp = s.resp().await;
    for id in 0..150 {
        visit(&mut resp, id, Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    (origin, s, resp)
}

#[tokio::test]
async fn a_learned_pattern_prefetches_the_follow_up_of_an_id_never_seen() {
    let (origin, s, mut resp) = learned_sessions().await;
    let misses_before = requests(&s, "miss").await;
    // New ids: `user:<id>` misses and predicts `feed:<id>`, fetched beside it.
    let new_ids = 1_000..1_100;
    for id in new_ids.clone() {
        visit(&mut resp, id, Duration::from_millis(20)).await;
    }
    let misses = requests(&s, "miss").await - misses_before;
    let feed_misses = misses - 100.0;
    let status = warming(&s).await;
    // At least 60 % of the follow-ups were served by a prefetch (the issue's
    // target); with warming off every one of them is a miss.
    assert!(
        feed_misses <= 40.0,
        "{feed_misses} feed reads missed: {status}"
    );
    let prefetched = requests(&s, "prefetch").await;
    assert!(prefetched >= 60.0, "{prefetched} prefetches: {status}");
    for id in new_ids {
        let feed = format!("feed:{id}");
        assert!(
            origin.requests_for(&feed) <= 1,
            "{feed} fetched twice: a prefetch and a miss did not share one flight"
        );
    }
    assert!(
        status["prefetch"]["pattern_rules"].as_u64().unwrap() >= 1,
        "{status}"
    );
    let precision = status["prefetch"]["precision"].as_f64().unwrap();
    assert!(precision >= 0.5, "precision {precision}: {status}");
    s.shutdown().await;
}

#[tokio::test]
async fn keys_without_structure_or_order_make_no_prefetches() {
    let origin = TestOrigin::start().await;
    let s = gateway(&origin, &[]).await;
    let mut resp = s.resp().await;
    let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
    let mut next = || {
        // xorshift64: a fixed sequence of keys nobody reads twice.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..4 {
        for _ in 0..500 {
            let key = format!("{}:{}", ["a", "b", "c"][(next() % 3) as usize], next());
            let reply = resp.cmd(&["GET", &key]).await;
            assert!(reply.starts_with('$'), "{key}: {reply}");
        }
        if round == 1 {
            // Past a few learning rounds: whatever is issued from here on
            // would be the model guessing.
            tokio::time::sleep(Duration::from_millis(400)).await;
        }
    }
    let status = warming(&s).await;
    assert_eq!(requests(&s, "prefetch").await, 0.0, "{status}");
    assert_eq!(
        origin.requests(),
        2_000,
        "one origin request per read, none ahead"
    );
    assert_eq!(status["prefetch"]["pattern_rules"], 0, "{status}");
    s.shutdown().await;
}

#[tokio::test]
async fn a_follow_up_that_catches_its_prefetch_in_flight_counts_it_as_used() {
    let (origin, s, mut resp) = learned_sessions().await;
    // The follow-ups are slower to fetch than the pause before their read:
    // each read joins its prefetch's flight and waits for the rest of it.
    for id in 1_000..1_060 {
        origin.set(
            &format!("feed:{id}"),
            Behaviour::slow(Duration::from_millis(80)),
        );
    }
    for id in 1_000..1_060 {
        visit(&mut resp, id, Duration::from_millis(5)).await;
        assert!(origin.requests_for(&format!("feed:{id}")) <= 1);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = warming(&s).await;
    let prefetch = &status["prefetch"];
    // Counted as wasted, these would sink precision and silence the rule.
    assert!(prefetch["used_total"].as_u64().unwrap() >= 40, "{status}");
    assert_eq!(prefetch["wasted_total"], 0, "{status}");
    assert!(prefetch["precision"].as_f64().unwrap() >= 0.5, "{status}");
    assert!(prefetch["pattern_rules"].as_u64().unwrap() >= 1, "{status}");
    s.shutdown().await;
}
