//! Origin read-through with the embedded store, against a real HTTP origin
//! (`support::origin::TestOrigin`): a miss through either door is loaded,
//! stored and answered; Cache-Control decides the TTL; 404s are remembered;
//! every failure has its error and leaves nothing waiting; stale-if-error,
//! the concurrency bound, single-flight, and writes that race a fill.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use roost_store::ManualClock;
use serde_json::{json, Value};
use support::origin::{refusing_url, Behaviour, TestOrigin};
use support::{eventually, metric, TestServer};

const DEADLINE: Duration = Duration::from_secs(10);

async fn gateway(origin_url: &str, settings: &[(&str, &str)]) -> TestServer {
    let mut builder = TestServer::builder().env("ROOST_ORIGIN_URL", origin_url);
    for (key, value) in settings {
        builder = builder.env(key, value);
    }
    builder.start().await
}

#[tokio::test]
async fn a_miss_through_either_door_is_loaded_once_stored_and_answered() {
    let origin = TestOrigin::start().await;
    let s = gateway(&origin.url(), &[]).await;

    let (status, body) = s.get("/api/cache/user:1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["value"], json!({"key": "user:1", "n": 1}));
    assert_eq!(body["ttl"], json!(3600), "no Cache-Control: CACHE_TTL");
    let (status, body) = s.get("/api/cache/user:1").await;
    assert_eq!((status, &body["value"]["n"]), (200, &json!(1)), "a hit now");
    assert_eq!(origin.requests_for("user:1"), 1);

    let mut resp = s.resp().await;
    let reply = resp.cmd(&["GET", "resp key/1"]).await;
    assert!(reply.contains(r#"{"key":"resp key/1","n":1}"#), "{reply}");
    let replies = resp
        .pipeline(&[
            vec!["GET", "p:1"],
            vec!["GET", "p:2"],
            vec!["GET", "user:1"],
        ])
        .await;
    assert!(replies[0].contains(r#""key":"p:1""#), "{replies:?}");
    assert!(replies[1].contains(r#""key":"p:2""#), "{replies:?}");
    let reply = resp.cmd(&["MGET", "m:1", "user:1", "m:2"]).await;
    assert!(reply.starts_with("*3\r\n"), "{reply}");
    assert!(
        reply.contains(r#""key":"m:1""#) && reply.contains(r#""key":"m:2""#),
        "{reply}"
    );

    let (status, body) = s
        .post("/api/cache/mget", json!({"keys": ["r:1", "user:1", "p:1"]}))
        .await;
    assert_eq!(status, 200, "{body}");
    let text = body.to_string();
    assert!(text.contains(r#""key":"r:1""#), "{text}");
    for key in ["user:1", "resp key/1", "p:1", "p:2", "m:1", "m:2", "r:1"] {
        assert_eq!(origin.requests_for(key), 1, "{key} fetched once");
    }
    // Stored: RESP reads what the REST miss loaded, without the origin.
    let before = origin.requests();
    let reply = resp.cmd(&["GET", "r:1"]).await;
    assert!(reply.contains(r#""key":"r:1""#), "{reply}");
    assert_eq!(origin.requests(), before);
    let text = s.metrics_text().await;
    assert_eq!(
        metric(&text, "roost_origin_fetches_total{outcome=\"value\"}"),
        7.0
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_json_body_reads_back_as_the_same_json_value() {
    let origin = TestOrigin::start().await;
    let document = json!({"name": "roost", "tags": ["a", "b"], "nested": {"n": 1.5, "none": null}});
    origin.set("doc", Behaviour::body(document.to_string()));
    origin.set("text", Behaviour::body("plain words"));
    let s = gateway(&origin.url(), &[]).await;
    let (status, body) = s.get("/api/cache/doc").await;
    assert_eq!((status, &body["value"]), (200, &document), "{body}");
    let (_, body) = s.get("/api/cache/doc").await;
    assert_eq!(body["value"], document, "the stored copy too");
    let (_, body) = s.get("/api/cache/text").await;
    assert_eq!(
        (&body["value"], &body["encoding"]),
        (&json!("plain words"), &json!("utf8"))
    );
    s.shutdown().await;
}

#[tokio::test]
async fn cache_control_decides_the_ttl_and_no_store_stores_nothing() {
    let origin = TestOrigin::start().await;
    origin.set(
        "max",
        Behaviour::default().cache_control("public, max-age=120"),
    );
    origin.set(
        "shared",
        Behaviour::default().cache_control("max-age=120, s-maxage=30"),
    );
    origin.set("never", Behaviour::default().cache_control("no-store"));
    origin.set("zero", Behaviour::default().cache_control("max-age=0"));
    let s = gateway(&origin.url(), &[("CACHE_TTL", "900")]).await;
    let ttl = |body: &Value| body["ttl"].as_u64().unwrap();

    let (_, body) = s.get("/api/cache/max").await;
    assert!((110..=120).contains(&ttl(&body)), "{body}");
    let (_, body) = s.get("/api/cache/shared").await;
    assert!((20..=30).contains(&ttl(&body)), "s-maxage wins: {body}");
    let (_, body) = s.get("/api/cache/plain").await;
    assert!((890..=900).contains(&ttl(&body)), "CACHE_TTL: {body}");
    let mut resp = s.resp().await;
    let reply = resp.cmd(&["TTL", "max"]).await;
    let left: u64 = reply.trim_start_matches(':').trim().parse().unwrap();
    assert!((110..=120).contains(&left), "{reply}");

    for key in ["never", "zero"] {
        for n in 1..=2 {
            let (status, body) = s.get(&format!("/api/cache/{key}")).await;
            assert_eq!((status, &body["value"]["n"]), (200, &json!(n)), "{body}");
        }
        assert_eq!(
            resp.cmd(&["EXISTS", key]).await,
            ":0\r\n",
            "{key} not stored"
        );
    }
    s.shutdown().await;
}

#[tokio::test]
async fn a_404_is_a_miss_remembered_for_the_negative_ttl() {
    let origin = TestOrigin::start().await;
    origin.set("gone", Behaviour::status(404));
    let s = gateway(&origin.url(), &[("ROOST_ORIGIN_NEGATIVE_TTL", "1")]).await;
    let (status, body) = s.get("/api/cache/gone").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (404, &json!("not_found")),
        "{body}"
    );
    let mut resp = s.resp().await;
    assert_eq!(resp.cmd(&["GET", "gone"]).await, "$-1\r\n");
    assert_eq!(
        resp.cmd(&["MGET", "gone", "gone"]).await,
        "*2\r\n$-1\r\n$-1\r\n"
    );
    assert_eq!(
        resp.cmd(&["EXISTS", "gone"]).await,
        ":0\r\n",
        "no marker in the store"
    );
    assert_eq!(origin.requests_for("gone"), 1, "remembered");
    let until = std::time::Instant::now() + DEADLINE;
    while origin.requests_for("gone") < 2 {
        assert!(
            std::time::Instant::now() < until,
            "the negative entry never expired"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(resp.cmd(&["GET", "gone"]).await, "$-1\r\n");
    }
    // A client write forgets the 404 at once.
    origin.set("later", Behaviour::status(404));
    assert_eq!(resp.cmd(&["GET", "later"]).await, "$-1\r\n");
    assert_eq!(resp.cmd(&["SET", "later", "mine"]).await, "+OK\r\n");
    assert_eq!(resp.cmd(&["GET", "later"]).await, "$4\r\nmine\r\n");
    let text = s.metrics_text().await;
    assert!(
        metric(&text, "roost_origin_negative_hits_total") >= 3.0,
        "{text}"
    );
    s.shutdown().await;
}

/// One failing key: the REST error, the RESP error, and every one of many
/// concurrent waiters answered (none left behind: the next miss fetches again).
async fn assert_fails(s: &TestServer, origin: Option<&TestOrigin>, key: &str, words: &str) {
    let client = s.client.clone();
    let url = s.url(&format!("/api/cache/{key}"));
    let waiters: Vec<_> = (0..20)
        .map(|_| {
            let (client, url) = (client.clone(), url.clone());
            tokio::spawn(async move {
                let r = client.get(url).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        })
        .collect();
    for waiter in waiters {
        let (status, body) = waiter.await.unwrap();
        assert_eq!(
            (status, &body["error"]["code"]),
            (502, &json!("origin_failed")),
            "{body}"
        );
        let message = body["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with("origin ") && message.contains(words),
            "{message}"
        );
    }
    let mut resp = s.resp().await;
    let reply = resp.cmd(&["GET", key]).await;
    assert!(
        reply.starts_with("-ERR origin ") && reply.contains(words),
        "{reply}"
    );
    if let Some(origin) = origin {
        let fetched = origin.requests_for(key);
        assert!(
            fetched <= 2,
            "{fetched} fetches for 20 waiters and one RESP GET"
        );
        resp.cmd(&["GET", key]).await;
        assert_eq!(
            origin.requests_for(key),
            fetched + 1,
            "nothing left in flight"
        );
    }
    let text = s.metrics_text().await;
    assert_eq!(metric(&text, "roost_origin_fetches_in_flight"), 0.0);
}

#[tokio::test]
async fn every_origin_failure_has_its_error_and_leaves_no_waiter_behind() {
    let origin = TestOrigin::start().await;
    origin.set("broken", Behaviour::status(503));
    origin.set("slow", Behaviour::slow(Duration::from_secs(5)));
    origin.set("huge", Behaviour::body(vec![b'x'; 4096]));
    let s = gateway(
        &origin.url(),
        &[
            ("ROOST_ORIGIN_TIMEOUT", "200"),
            ("ROOST_MAX_VALUE_BYTES", "1KiB"),
        ],
    )
    .await;
    assert_fails(&s, Some(&origin), "broken", "answered 503").await;
    assert_fails(&s, Some(&origin), "slow", "did not answer within 200ms").await;
    assert_fails(&s, Some(&origin), "huge", "larger than 1024 bytes").await;
    let (status, body) = s
        .post("/api/cache/mget", json!({"keys": ["broken", "fine"]}))
        .await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (502, &json!("origin_failed")),
        "{body}"
    );
    s.shutdown().await;

    let s = gateway(&refusing_url().await, &[]).await;
    assert_fails(&s, None, "anything", "refused or unreachable").await;
    let text = s.metrics_text().await;
    assert!(metric(&text, "roost_origin_fetches_total{outcome=\"failed\"}") >= 2.0);
    s.shutdown().await;
}

#[tokio::test]
async fn a_stale_copy_answers_within_the_window_when_the_origin_fails() {
    let origin = TestOrigin::start().await;
    origin.set("k", Behaviour::default().cache_control("max-age=10"));
    let clock = ManualClock::new(1_700_000_000_000);
    let s = TestServer::builder()
        .env("ROOST_ORIGIN_URL", &origin.url())
        .env("ROOST_ORIGIN_STALE_IF_ERROR", "60")
        .clock(clock.clone())
        .start()
        .await;
    let (_, body) = s.get("/api/cache/k").await;
    assert_eq!(body["value"]["n"], json!(1));
    origin.set("k", Behaviour::status(500));
    clock.advance(Duration::from_secs(30));
    let (status, body) = s.get("/api/cache/k").await;
    assert_eq!(
        (status, &body["value"]["n"]),
        (200, &json!(1)),
        "stale: {body}"
    );
    assert_eq!(origin.requests_for("k"), 2, "the origin was asked first");
    clock.advance(Duration::from_secs(41));
    let (status, body) = s.get("/api/cache/k").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (502, &json!("origin_failed")),
        "{body}"
    );
    let text = s.metrics_text().await;
    assert_eq!(
        metric(&text, "roost_origin_fetches_total{outcome=\"stale\"}"),
        1.0
    );
    s.shutdown().await;
}

#[tokio::test]
async fn fetches_beyond_the_concurrency_bound_are_refused_as_overloaded() {
    let origin = TestOrigin::start().await;
    for key in ["a", "b", "c"] {
        origin.set(key, Behaviour::slow(Duration::from_secs(2)));
    }
    let s = gateway(
        &origin.url(),
        &[
            ("ROOST_ORIGIN_MAX_CONCURRENCY", "2"),
            ("ROOST_ORIGIN_TIMEOUT", "10000"),
        ],
    )
    .await;
    let pending: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|key| {
            let (client, url) = (s.client.clone(), s.url(&format!("/api/cache/{key}")));
            tokio::spawn(async move { client.get(url).send().await.unwrap().status().as_u16() })
        })
        .collect();
    eventually(DEADLINE, "two fetches in flight", || async {
        origin.requests() == 2
    })
    .await;
    let (status, body) = s.get("/api/cache/c").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("overloaded")),
        "{body}"
    );
    let mut resp = s.resp().await;
    let reply = resp.cmd(&["GET", "c"]).await;
    assert!(
        reply.starts_with("-ERR the origin has 2 fetches in flight"),
        "{reply}"
    );
    let (status, _) = s.get("/api/cache/a").await;
    assert_eq!(status, 200, "joining a fetch in flight needs no slot");
    for waiter in pending {
        assert_eq!(waiter.await.unwrap(), 200);
    }
    assert_eq!(origin.requests_for("c"), 0);
    s.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_misses_make_one_origin_request() {
    let origin = Arc::new(TestOrigin::start().await);
    origin.set("hot", Behaviour::slow(Duration::from_millis(300)));
    let s = gateway(&origin.url(), &[]).await;
    let mut waiters = Vec::new();
    for i in 0..1000 {
        let (client, url, resp_addr) = (s.client.clone(), s.url("/api/cache/hot"), s.resp_addr);
        waiters.push(tokio::spawn(async move {
            if i % 2 == 0 {
                let r = client.get(url).send().await.unwrap();
                let body: Value = r.json().await.unwrap();
                body["value"]["n"].as_u64().unwrap()
            } else {
                let mut resp = support::resp::RespClient::connect(resp_addr).await;
                let reply = resp.cmd(&["GET", "hot"]).await;
                assert!(reply.contains(r#""n":1"#), "{reply}");
                1
            }
        }));
    }
    for waiter in waiters {
        assert_eq!(waiter.await.unwrap(), 1);
    }
    assert_eq!(origin.requests_for("hot"), 1);
    let text = s.metrics_text().await;
    assert!(metric(&text, "roost_origin_singleflight_joins_total") > 0.0);
    s.shutdown().await;
}

#[tokio::test]
async fn a_client_that_goes_away_does_not_cancel_the_fetch_for_others() {
    let origin = TestOrigin::start().await;
    origin.set("k", Behaviour::slow(Duration::from_millis(500)));
    let s = gateway(&origin.url(), &[]).await;
    let impatient = s
        .client
        .get(s.url("/api/cache/k"))
        .timeout(Duration::from_millis(100))
        .send()
        .await;
    assert!(impatient.is_err(), "the first client gave up");
    let (status, body) = s.get("/api/cache/k").await;
    assert_eq!((status, &body["value"]["n"]), (200, &json!(1)), "{body}");
    let (_, body) = s.get("/api/cache/k").await;
    assert_eq!(body["value"]["n"], json!(1));
    assert_eq!(
        origin.requests_for("k"),
        1,
        "the fetch went on and was stored"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn a_write_or_delete_during_a_fetch_wins_over_its_fill() {
    let origin = TestOrigin::start().await;
    origin.set("w", Behaviour::slow(Duration::from_millis(400)));
    origin.set("d", Behaviour::slow(Duration::from_millis(400)));
    let s = gateway(&origin.url(), &[]).await;
    for key in ["w", "d"] {
        let (client, url) = (s.client.clone(), s.url(&format!("/api/cache/{key}")));
        let reader = tokio::spawn(async move { client.get(url).send().await.unwrap().status() });
        eventually(DEADLINE, "the fetch reached the origin", || async {
            origin.requests_for(key) == 1
        })
        .await;
        let mut resp = s.resp().await;
        if key == "w" {
            assert_eq!(resp.cmd(&["SET", "w", "mine"]).await, "+OK\r\n");
        } else {
            assert_eq!(resp.cmd(&["DEL", "d"]).await, ":0\r\n");
        }
        assert_eq!(
            reader.await.unwrap().as_u16(),
            200,
            "the reader got the fetched value"
        );
        if key == "w" {
            assert_eq!(
                resp.cmd(&["GET", "w"]).await,
                "$4\r\nmine\r\n",
                "the write won"
            );
        } else {
            assert_eq!(resp.cmd(&["EXISTS", "d"]).await, ":0\r\n", "the delete won");
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn a_miss_after_a_delete_does_not_join_the_fetch_that_began_before_it() {
    let origin = TestOrigin::start().await;
    origin.set("k", Behaviour::slow(Duration::from_secs(3)));
    let s = gateway(&origin.url(), &[("ROOST_ORIGIN_TIMEOUT", "10000")]).await;
    let (client, url) = (s.client.clone(), s.url("/api/cache/k"));
    let before = tokio::spawn(async move { client.get(url).send().await.unwrap().status() });
    eventually(DEADLINE, "the first fetch reached the origin", || async {
        origin.requests_for("k") == 1
    })
    .await;
    let mut resp = s.resp().await;
    assert_eq!(resp.cmd(&["DEL", "k"]).await, ":0\r\n");
    origin.set("k", Behaviour::body("after the delete"));
    // The first fetch is still in flight (3 s): a GET now must not join it.
    let (status, body) = s.get("/api/cache/k").await;
    assert_eq!(
        (status, &body["value"]),
        (200, &json!("after the delete")),
        "{body}"
    );
    assert_eq!(origin.requests_for("k"), 2);
    assert_eq!(before.await.unwrap().as_u16(), 200);
    s.shutdown().await;
}

#[tokio::test]
async fn a_404_or_a_value_fetched_before_a_write_is_not_kept_after_it() {
    let origin = TestOrigin::start().await;
    origin.set(
        "gone",
        Behaviour::status(404).with_latency(Duration::from_secs(2)),
    );
    origin.set("w", Behaviour::slow(Duration::from_secs(2)));
    let s = gateway(&origin.url(), &[("ROOST_ORIGIN_TIMEOUT", "10000")]).await;
    let mut resp = s.resp().await;
    for key in ["gone", "w"] {
        let (client, url) = (s.client.clone(), s.url(&format!("/api/cache/{key}")));
        let reader = tokio::spawn(async move {
            let r = client.get(url).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        });
        eventually(DEADLINE, "the fetch reached the origin", || async {
            origin.requests_for(key) == 1
        })
        .await;
        if key == "gone" {
            assert_eq!(resp.cmd(&["DEL", "gone"]).await, ":0\r\n");
            origin.set("gone", Behaviour::body("made after the delete"));
            assert_eq!(reader.await.unwrap().0, 404, "the reader got the 404");
            let (status, body) = s.get("/api/cache/gone").await;
            assert_eq!(
                (status, &body["value"]),
                (200, &json!("made after the delete")),
                "the 404 was not remembered past the delete: {body}"
            );
        } else {
            assert_eq!(resp.cmd(&["SET", "w", "mine"]).await, "+OK\r\n");
            let (status, body) = reader.await.unwrap();
            assert_eq!(
                (status, &body["ttl"]),
                (200, &json!(0)),
                "answered, not stored: {body}"
            );
        }
    }
    s.shutdown().await;
}

#[tokio::test]
async fn an_mget_with_more_misses_than_origin_slots_loads_them_all() {
    let origin = TestOrigin::start().await;
    let keys: Vec<String> = (0..100).map(|i| format!("many:{i}")).collect();
    for key in &keys {
        origin.set(key, Behaviour::slow(Duration::from_millis(50)));
    }
    let s = gateway(&origin.url(), &[("ROOST_ORIGIN_MAX_CONCURRENCY", "40")]).await;
    let mut args = vec!["MGET"];
    args.extend(keys.iter().map(String::as_str));
    let reply = s.resp().await.cmd(&args).await;
    assert!(reply.starts_with("*100\r\n"), "{reply}");
    for key in &keys {
        assert!(
            reply.contains(&format!(r#""key":"{key}""#)),
            "{key}: {reply}"
        );
        assert_eq!(origin.requests_for(key), 1);
    }
    s.shutdown().await;
}
