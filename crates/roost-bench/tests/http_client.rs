//! The REST client, `load` and `fill` against an in-test stub of Roost's REST API.
//!
//! The stub implements only the documented contract (DESIGN.md §3) over a HashMap; it
//! checks the client's requests and parsing, not Roost. End-to-end runs against the
//! real server happen in demo.sh and bench/.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use roost_bench::fill::{run_fill, FillError, FillOptions};
use roost_bench::load::http::{HttpTarget, MSetEntry};
use roost_bench::load::target::TargetError;
use roost_bench::load::workload::{KeyDistribution, WorkloadSpec};
use roost_bench::load::{run_load, LoadOptions, StopCondition};
use serde_json::{json, Value};

#[derive(Default)]
struct Stub {
    entries: Mutex<HashMap<String, Value>>,
    get_hits: AtomicU64,
    mset_calls: AtomicU64,
    /// When set, every mset fails with 503.
    refuse_writes: bool,
}

type Shared = Arc<Stub>;
type Reply = (StatusCode, Json<Value>);

fn not_found(key: &str) -> Reply {
    let error = json!({"error": {"code": "not_found", "message": format!("key {key} not found")}});
    (StatusCode::NOT_FOUND, Json(error))
}

async fn get_key(State(stub): State<Shared>, Path(key): Path<String>) -> Reply {
    if key == "boom" {
        let error = json!({"error": {"code": "internal", "message": "stub failure"}});
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(error));
    }
    match stub.entries.lock().unwrap().get(&key) {
        Some(value) => {
            stub.get_hits.fetch_add(1, Ordering::Relaxed);
            let reply = json!({"key": key, "value": value, "ttl": null, "node": "stub-0"});
            (StatusCode::OK, Json(reply))
        }
        None => not_found(&key),
    }
}

async fn delete_key(State(stub): State<Shared>, Path(key): Path<String>) -> Reply {
    match stub.entries.lock().unwrap().remove(&key) {
        Some(_) => (StatusCode::OK, Json(json!({"key": key, "deleted": true}))),
        None => not_found(&key),
    }
}

async fn set_key(State(stub): State<Shared>, Json(body): Json<Value>) -> Reply {
    let key = body["key"].as_str().unwrap().to_owned();
    stub.entries
        .lock()
        .unwrap()
        .insert(key.clone(), body["value"].clone());
    (
        StatusCode::OK,
        Json(json!({"key": key, "node": "stub-0", "ttl": body.get("ttl")})),
    )
}

async fn mget(State(stub): State<Shared>, Json(body): Json<Value>) -> Reply {
    let entries = stub.entries.lock().unwrap();
    let keys = body["keys"].as_array().unwrap();
    let mut results: Vec<Value> = keys
        .iter()
        .map(|key| match entries.get(key.as_str().unwrap()) {
            Some(value) => {
                json!({"key": key, "hit": true, "value": value, "ttl": null, "node": "stub-0"})
            }
            None => json!({"key": key, "hit": false}),
        })
        .collect();
    if keys.iter().any(|key| key == "truncate") {
        results.pop();
    }
    (StatusCode::OK, Json(json!({ "results": results })))
}

async fn mset(State(stub): State<Shared>, Json(body): Json<Value>) -> Reply {
    stub.mset_calls.fetch_add(1, Ordering::Relaxed);
    if stub.refuse_writes {
        let error = json!({"error": {"code": "unavailable", "message": "no healthy node"}});
        return (StatusCode::SERVICE_UNAVAILABLE, Json(error));
    }
    let batch = body["entries"].as_array().unwrap();
    let mut entries = stub.entries.lock().unwrap();
    for entry in batch {
        entries.insert(
            entry["key"].as_str().unwrap().to_owned(),
            entry["value"].clone(),
        );
    }
    (StatusCode::OK, Json(json!({"stored": batch.len()})))
}

async fn stats(State(stub): State<Shared>) -> Json<Value> {
    let count = stub.entries.lock().unwrap().len();
    Json(json!({"memory": {"used_bytes": count * 100}}))
}

/// Serves the stub on 127.0.0.1:0 and returns its base URL.
async fn serve(stub: Shared) -> String {
    let app = Router::new()
        .route("/api/cache", post(set_key))
        .route("/api/cache/mget", post(mget))
        .route("/api/cache/mset", post(mset))
        .route("/api/cache/stats/overview", get(stats))
        .route("/api/cache/{key}", get(get_key).delete(delete_key))
        .with_state(stub);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{address}")
}

#[tokio::test]
async fn single_key_calls_round_trip_with_encoded_keys() {
    let stub = Arc::new(Stub::default());
    let target = HttpTarget::new(&serve(Arc::clone(&stub)).await, 2);
    let key = "user 7/profile:1";

    assert_eq!(target.get(key).await.unwrap(), None);
    target.set(key, "hello", Some(60)).await.unwrap();
    // The server saw the decoded key, so the percent-encoding was right.
    assert!(stub.entries.lock().unwrap().contains_key(key));
    assert_eq!(target.get(key).await.unwrap(), Some(json!("hello")));
    assert!(target.delete(key).await.unwrap());
    assert!(!target.delete(key).await.unwrap());
    assert_eq!(target.get(key).await.unwrap(), None);
}

#[tokio::test]
async fn mget_mset_and_stats_parse_the_documented_shapes() {
    let stub = Arc::new(Stub::default());
    let target = HttpTarget::new(&serve(Arc::clone(&stub)).await, 2);
    let entries = [
        MSetEntry {
            key: "a",
            value: "1",
            ttl: None,
        },
        MSetEntry {
            key: "b",
            value: "2",
            ttl: Some(5),
        },
    ];
    target.mset(&entries).await.unwrap();
    let keys: Vec<String> = ["a", "x", "b"].map(String::from).to_vec();
    assert_eq!(target.mget(&keys).await.unwrap(), (2, 1));
    let stats = target.stats_overview().await.unwrap();
    assert_eq!(stats["memory"]["used_bytes"], json!(200));
}

#[tokio::test]
async fn server_errors_and_short_replies_are_errors_not_misses() {
    let stub = Arc::new(Stub::default());
    let target = HttpTarget::new(&serve(stub).await, 1);
    let error = target.get("boom").await.unwrap_err();
    assert!(
        matches!(&error, TargetError::Status { status: 500, body } if body.contains("stub failure")),
        "{error}"
    );
    let keys = vec!["a".to_owned(), "truncate".to_owned()];
    assert!(matches!(
        target.mget(&keys).await,
        Err(TargetError::Protocol(_))
    ));
}

#[tokio::test]
async fn unreachable_server_is_a_transport_error() {
    // Bind then drop a listener so the port is very likely closed.
    let address = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let target = HttpTarget::new(&format!("http://{address}"), 1);
    assert!(matches!(
        target.get("k").await,
        Err(TargetError::Transport(_))
    ));
}

#[tokio::test]
async fn load_run_counts_every_request_and_the_servers_hits() {
    let stub = Arc::new(Stub::default());
    let target = Arc::new(HttpTarget::new(&serve(Arc::clone(&stub)).await, 4));
    let options = LoadOptions {
        connections: 4,
        pipeline: 1,
        threads: 1,
        rate: None,
        stop: StopCondition::Requests(600),
        workload: Arc::new(WorkloadSpec {
            keyspace: 50,
            distribution: KeyDistribution::Zipf { exponent: 0.99 },
            key_prefix: "key:".into(),
            key_digits: 0,
            value_size: 16,
            mix: "get=6,set=3,mget=1".parse().unwrap(),
            mget_keys: 3,
            ttl_seconds: Some(30),
            ttl_ratio: 0.5,
        }),
        show_progress: false,
        seed: 1,
    };
    let report = run_load(target, &options).await.unwrap();
    assert_eq!((report.total_ops, report.total_errors), (600, 0));
    let counted: u64 = report.operations.iter().map(|row| row.count).sum();
    assert_eq!(counted, 600);
    let get = report
        .operations
        .iter()
        .find(|row| row.operation == "get")
        .unwrap();
    // Every GET hit the client counted is one the stub served as a hit.
    assert_eq!(get.hits, stub.get_hits.load(Ordering::Relaxed));
    assert!(
        get.hits > 0 && get.misses > 0,
        "hits {} misses {}",
        get.hits,
        get.misses
    );
    assert!(get.p50_micros <= get.p99_micros && get.p99_micros <= get.max_micros);
    let mget = report
        .operations
        .iter()
        .find(|row| row.operation == "mget")
        .unwrap();
    assert_eq!(mget.hits + mget.misses, 3 * mget.count);
}

#[tokio::test]
async fn timed_load_run_stops_near_its_deadline() {
    let stub = Arc::new(Stub::default());
    let target = Arc::new(HttpTarget::new(&serve(stub).await, 2));
    let options = LoadOptions {
        connections: 2,
        pipeline: 1,
        threads: 1,
        rate: None,
        stop: StopCondition::After(Duration::from_millis(300)),
        workload: Arc::new(WorkloadSpec {
            keyspace: 10,
            distribution: KeyDistribution::Uniform,
            key_prefix: "k".into(),
            key_digits: 0,
            value_size: 4,
            mix: "get=1".parse().unwrap(),
            mget_keys: 1,
            ttl_seconds: None,
            ttl_ratio: 0.0,
        }),
        show_progress: false,
        seed: 2,
    };
    let report = tokio::time::timeout(Duration::from_secs(20), run_load(target, &options))
        .await
        .unwrap()
        .unwrap();
    assert!(report.total_ops > 0);
    assert!(
        (0.3..5.0).contains(&report.elapsed_seconds),
        "{}",
        report.elapsed_seconds
    );
    assert_eq!(report.get_hit_ratio, Some(0.0));
}

fn fill_options(keys: u64) -> FillOptions {
    FillOptions {
        keys,
        value_size: 100,
        batch: 1000,
        key_digits: 0,
        prefix: "key:".into(),
        connections: 3,
        show_progress: false,
    }
}

#[tokio::test]
async fn fill_writes_every_key_once_in_batches() {
    let stub = Arc::new(Stub::default());
    let target = HttpTarget::new(&serve(Arc::clone(&stub)).await, 3);
    let report = run_fill(&target, &fill_options(2_500)).await.unwrap();
    assert_eq!(report.keys, 2_500);
    assert_eq!(stub.mset_calls.load(Ordering::Relaxed), 3);
    let entries = stub.entries.lock().unwrap();
    assert_eq!(entries.len(), 2_500);
    assert_eq!(entries["key:0"].as_str().unwrap().len(), 100);
    assert!(entries.contains_key("key:2499") && !entries.contains_key("key:2500"));
}

#[tokio::test]
async fn fill_stops_with_an_error_when_the_server_refuses() {
    let stub = Arc::new(Stub {
        refuse_writes: true,
        ..Stub::default()
    });
    let target = HttpTarget::new(&serve(Arc::clone(&stub)).await, 3);
    let error = run_fill(&target, &fill_options(100_000)).await.unwrap_err();
    assert!(matches!(
        error,
        FillError::Batch {
            source: TargetError::Status { status: 503, .. },
            ..
        }
    ));
    // Workers stop after the first failure instead of sending all 100 batches.
    assert!(stub.mset_calls.load(Ordering::Relaxed) <= 6);
}
