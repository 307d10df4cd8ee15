//! Two regions on loopback, each a real embedded Roost with its own data
//! directory, linked both ways (docs/regions.md): a write or a delete in one
//! reaches the other (as the value in replicate mode, as an invalidation in
//! invalidate mode), the log endpoint answers only the region secret, and
//! `GET /api/regions` shows the links.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::{Ipv4Addr, TcpListener};
use std::time::Duration;

use serde_json::{json, Value};
use support::{eventually, TestServer};
use tempfile::TempDir;

const SECRET: &str = "geo-test-secret-0123456789";
const CONVERGE: Duration = Duration::from_secs(20);

/// A port that was free a moment ago (each region must know the other's
/// address before either starts), chosen below the kernel's ephemeral range
/// (32768 and up by default): a region retrying its link to a peer that is
/// not listening yet can otherwise connect to itself (a TCP simultaneous
/// open when the source port it is given equals the target port), which
/// then holds the peer's port and makes the peer's bind fail.
fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU16, Ordering};
    // Spread the test binaries' starting points by process id; each call
    // then walks on from where the last one stopped.
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = 20_000 + (std::process::id() % 600) as u16 * 20;
    let _ = NEXT.compare_exchange(0, start, Ordering::SeqCst, Ordering::SeqCst);
    loop {
        let port = NEXT.fetch_add(1, Ordering::SeqCst);
        assert!(port < 32_000, "no free port below the ephemeral range");
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            return port;
        }
    }
}

struct Pair {
    us: TestServer,
    eu: TestServer,
    _dirs: (TempDir, TempDir),
}

async fn region(
    name: &str,
    port: u16,
    peer: &str,
    peer_port: u16,
    mode: &str,
    dir: &TempDir,
) -> TestServer {
    TestServer::builder()
        .env("ROOST_HTTP_ADDR", &format!("127.0.0.1:{port}"))
        .env("ROOST_REGION", name)
        .env(
            "ROOST_REGION_PEERS",
            &format!("{peer}=http://127.0.0.1:{peer_port}"),
        )
        .env("ROOST_REGION_SECRET", SECRET)
        .env("ROOST_GEO_MODE", mode)
        .env("ROOST_DATA_DIR", dir.path().to_str().unwrap())
        .start()
        .await
}

async fn pair(mode: &str) -> Pair {
    let (us_port, eu_port) = (free_port(), free_port());
    let dirs = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let us = region("us", us_port, "eu", eu_port, mode, &dirs.0).await;
    let eu = region("eu", eu_port, "us", us_port, mode, &dirs.1).await;
    Pair {
        us,
        eu,
        _dirs: dirs,
    }
}

impl Pair {
    async fn shutdown(self) {
        self.us.shutdown().await;
        self.eu.shutdown().await;
    }
}

async fn value_of(s: &TestServer, key: &str) -> Option<Value> {
    let (status, body) = s.get(&format!("/api/cache/{key}")).await;
    match status {
        200 => Some(body["value"].clone()),
        404 => None,
        other => panic!("GET {key}: {other} {body}"),
    }
}

#[tokio::test]
async fn replicate_mode_carries_writes_and_deletes_both_ways() {
    let p = pair("replicate").await;
    let (status, body) =
        p.us.post(
            "/api/cache",
            json!({"key": "greeting", "value": "hello from us"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    eventually(CONVERGE, "eu holds us's value", || async {
        value_of(&p.eu, "greeting").await == Some(json!("hello from us"))
    })
    .await;

    let (status, _) =
        p.eu.post(
            "/api/cache",
            json!({"key": "greeting", "value": "hello from eu"}),
        )
        .await;
    assert_eq!(status, 200);
    eventually(CONVERGE, "us holds eu's newer value", || async {
        value_of(&p.us, "greeting").await == Some(json!("hello from eu"))
    })
    .await;

    let (status, _) = p.us.delete("/api/cache/greeting").await;
    assert_eq!(status, 200);
    eventually(CONVERGE, "the delete reaches eu", || async {
        value_of(&p.eu, "greeting").await.is_none()
    })
    .await;
    assert_eq!(value_of(&p.us, "greeting").await, None);
    p.shutdown().await;
}

#[tokio::test]
async fn invalidate_mode_drops_the_key_elsewhere_and_keeps_it_where_written() {
    let p = pair("invalidate").await;
    let (status, _) =
        p.eu.post("/api/cache", json!({"key": "k", "value": "old"}))
            .await;
    assert_eq!(status, 200);
    assert_eq!(value_of(&p.eu, "k").await, Some(json!("old")));
    let (status, _) =
        p.us.post("/api/cache", json!({"key": "k", "value": "new"}))
            .await;
    assert_eq!(status, 200);
    eventually(CONVERGE, "eu drops its older value", || async {
        value_of(&p.eu, "k").await.is_none()
    })
    .await;
    assert_eq!(
        value_of(&p.us, "k").await,
        Some(json!("new")),
        "eu's older write must not invalidate us's newer one"
    );
    p.shutdown().await;
}

#[tokio::test]
async fn the_log_answers_the_region_secret_only() {
    let p = pair("invalidate").await;
    let url = p.us.url("/api/geo/log?from=0&region=eu");
    let client = reqwest::Client::new();
    for auth in [
        None,
        Some("Bearer wrong-secret-0123456789"),
        Some("Basic Z2VvOmdlbw=="),
    ] {
        let mut request = client.get(&url);
        if let Some(auth) = auth {
            request = request.header("authorization", auth);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status().as_u16(), 401, "{auth:?}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized", "{body}");
    }
    let mut response = client
        .get(&url)
        .header("authorization", format!("Bearer {SECRET}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    // The stream opens with a heartbeat frame: length 17, type 2.
    let first = response.chunk().await.unwrap().unwrap();
    assert!(first.len() >= 5, "{first:?}");
    assert_eq!(&first[..5], &[0, 0, 0, 17, 2]);
    drop(response);
    p.shutdown().await;
}

#[tokio::test]
async fn regions_shows_this_region_and_its_links() {
    let p = pair("replicate").await;
    eventually(CONVERGE, "us's link to eu is up", || async {
        let (status, body) = p.us.get("/api/regions").await;
        assert_eq!(status, 200, "{body}");
        body["peers"][0]["state"] == "up"
    })
    .await;
    let (_, body) = p.us.get("/api/regions").await;
    assert_eq!(body["enabled"], true);
    assert_eq!(body["region"], "us");
    assert_eq!(body["mode"], "replicate");
    assert!(
        body["version"].as_str().unwrap().parse::<u64>().unwrap() > 0,
        "{body}"
    );
    for field in ["first", "last", "bytes", "segments"] {
        assert!(body["log"][field].is_u64(), "log.{field}: {body}");
    }
    let peer = &body["peers"][0];
    assert_eq!(peer["name"], "eu");
    assert!(peer["url"]
        .as_str()
        .unwrap()
        .starts_with("http://127.0.0.1:"));
    assert!(peer["connected_since_ms"].is_u64(), "{peer}");
    assert!(peer["last_applied_version"].is_string(), "{peer}");
    p.shutdown().await;
}

#[tokio::test]
async fn without_a_region_there_is_no_log_and_regions_says_so() {
    let s = TestServer::builder().start().await;
    let (status, body) = s.get("/api/regions").await;
    assert_eq!((status, body), (200, json!({"enabled": false})));
    let (status, body) = s.get("/api/geo/log?from=0&region=eu").await;
    assert_eq!(status, 404);
    assert_eq!(body["error"]["code"], "not_a_region");
    s.shutdown().await;
}

#[tokio::test]
async fn metrics_doc_names_every_geo_metric() {
    let p = pair("replicate").await;
    let (status, _) =
        p.us.post("/api/cache", json!({"key": "m", "value": 1}))
            .await;
    assert_eq!(status, 200);
    let text = p.us.metrics_text().await;
    let documented = std::fs::read_to_string(format!(
        "{}/../../docs/metrics.md",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| name.starts_with("roost_geo_"))
        .collect();
    assert!(names.len() >= 6, "{names:?}");
    for name in names {
        assert!(
            documented.contains(&format!("`{name}`")),
            "docs/metrics.md does not document {name}"
        );
    }
    p.shutdown().await;
}

#[tokio::test]
async fn a_peer_whose_log_started_over_is_read_again_from_its_start() {
    let (us_port, eu_port) = (free_port(), free_port());
    let dirs = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let us = region("us", us_port, "eu", eu_port, "replicate", &dirs.0).await;
    let eu = region("eu", eu_port, "us", us_port, "replicate", &dirs.1).await;
    for i in 0..5 {
        let (status, _) = us
            .post(
                "/api/cache",
                json!({"key": format!("before-{i}"), "value": i}),
            )
            .await;
        assert_eq!(status, 200);
    }
    eventually(CONVERGE, "eu read us's first log", || async {
        value_of(&eu, "before-4").await == Some(json!(4))
    })
    .await;
    // us loses its data directory and comes back on the same address: its
    // log starts over at 1, behind eu's cursor (5).
    us.shutdown().await;
    for entry in std::fs::read_dir(dirs.0.path()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            std::fs::remove_dir_all(&path).unwrap();
        } else {
            std::fs::remove_file(&path).unwrap();
        }
    }
    let us = region("us", us_port, "eu", eu_port, "replicate", &dirs.0).await;
    let (status, _) = us
        .post("/api/cache", json!({"key": "after", "value": "new log"}))
        .await;
    assert_eq!(status, 200);
    eventually(CONVERGE, "eu reads us's new log from its start", || async {
        value_of(&eu, "after").await == Some(json!("new log"))
    })
    .await;
    let (_, body) = eu.get("/api/regions").await;
    assert!(
        body["peers"][0]["resyncs_total"].as_u64().unwrap() >= 1,
        "{body}"
    );
    us.shutdown().await;
    eu.shutdown().await;
}

#[tokio::test]
async fn regions_listing_different_sets_refuse_each_other() {
    let (us_port, eu_port) = (free_port(), free_port());
    let dirs = (TempDir::new().unwrap(), TempDir::new().unwrap());
    let us = region("us", us_port, "eu", eu_port, "replicate", &dirs.0).await;
    // eu also lists a region "ap" that us does not know: their sorted names,
    // and so the tie-break indexes, differ.
    let eu = TestServer::builder()
        .env("ROOST_HTTP_ADDR", &format!("127.0.0.1:{eu_port}"))
        .env("ROOST_REGION", "eu")
        .env(
            "ROOST_REGION_PEERS",
            &format!("us=http://127.0.0.1:{us_port},ap=http://127.0.0.1:9"),
        )
        .env("ROOST_REGION_SECRET", SECRET)
        .env("ROOST_GEO_MODE", "replicate")
        .env("ROOST_DATA_DIR", dirs.1.path().to_str().unwrap())
        .start()
        .await;
    for s in [&us, &eu] {
        eventually(CONVERGE, "the link says why it is down", || async {
            let (_, body) = s.get("/api/regions").await;
            let peer = body["peers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|p| p["name"] == if s.url("") == us.url("") { "eu" } else { "us" })
                .cloned()
                .unwrap();
            let error = peer["last_error"].as_str().unwrap_or_default();
            peer["state"] == "down" && error.contains("409") && error.contains("ROOST_REGION_PEERS")
        })
        .await;
    }
    let (status, _) = eu
        .post("/api/cache", json!({"key": "k", "value": "eu's"}))
        .await;
    assert_eq!(status, 200);

    let client = reqwest::Client::new();
    let ask = |query: &str| {
        client
            .get(us.url(&format!("/api/geo/log?from=0&{query}")))
            .header("authorization", format!("Bearer {SECRET}"))
            .send()
    };
    let response = ask("region=ap").await.unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "regions_differ", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not one of region us's peers"),
        "{body}"
    );
    let response = ask("region=eu&index=1&regions=0123456789abcdef")
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 409);
    let body: Value = response.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("0123456789abcdef"), "{message}");
    assert!(message.contains("[eu, us]"), "{message}");
    // The identity of the log read so far must be 16 hex digits.
    for bad in ["log=not-hex", "log=abc", "log=%2B123456789abcdef"] {
        let response = ask(&format!("region=eu&{bad}")).await.unwrap();
        assert_eq!(response.status().as_u16(), 400, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "invalid_request", "{bad}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("16 hex digits"),
            "{body}"
        );
    }
    // A stream names the log it serves, for the reader to send back.
    let response = ask("region=eu").await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let served = response.headers()["roost-geo-log"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        served.len() == 16 && served.bytes().all(|b| b.is_ascii_hexdigit()),
        "{served}"
    );
    drop(response);
    assert_eq!(value_of(&us, "k").await, None, "nothing crossed");
    us.shutdown().await;
    eu.shutdown().await;
}
