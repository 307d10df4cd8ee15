//! Fuzz target: arbitrary REST requests — JSON bodies for set, mget and mset,
//! arbitrary keys in paths, arbitrary values written as base64 or as raw JSON —
//! against the real axum router over an embedded store, with no panic layer
//! (a panic is a finding). Checks that every answer is one of the documented
//! statuses with a JSON body (`{"error":{"code","message"}}` for errors), and
//! that a value stored through REST reads back through REST as exactly the
//! bytes the cache holds.
//!
//! Input layout: the first byte picks the request; the rest is its body, key or
//! value.

#![no_main]

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, OnceLock};

use arc_swap::ArcSwap;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use base64::Engine;
use libfuzzer_sys::fuzz_target;
use roost::api::rest;
use roost::app::{AppState, SharedState};
use roost::auth::Auth;
use roost::backend::{Backend, Embedded};
use roost::cache::Cache;
use roost::config::{Limits, OpenEndpoints};
use roost::net::OutputBudget;
use roost::telemetry::{Events, History, Metrics};
use roost_store::{PolicyKind, StoreConfig, SystemClock};
use serde_json::value::RawValue;
use tower::ServiceExt;

const DOCUMENTED: &[u16] = &[200, 201, 202, 400, 401, 403, 404, 405, 408, 413, 415, 503];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime")
    })
}

fn state() -> &'static SharedState {
    static STATE: OnceLock<SharedState> = OnceLock::new();
    STATE.get_or_init(|| {
        let store = StoreConfig {
            shards: NonZeroUsize::new(2).expect("2 > 0"),
            max_memory_bytes: 16 << 20,
            policy: PolicyKind::default(),
        };
        let limits = Limits {
            max_key_bytes: 512,
            max_value_bytes: 64 * 1024,
            max_batch_keys: 100,
            max_body_bytes: 256 * 1024,
        };
        let metrics = Arc::new(Metrics::new());
        let budget = OutputBudget::new(1 << 30, metrics.doors().output_pending.clone());
        let backend = Backend::Embedded(Embedded::new(
            store,
            Arc::new(SystemClock),
            metrics.clone(),
        ));
        let cache = Cache::new(backend, limits, None, metrics);
        Arc::new(AppState {
            cache,
            history: Arc::new(History::default()),
            events: Arc::new(Events::default()),
            auth: ArcSwap::from_pointee(Auth::default()),
            open: OpenEndpoints {
                probes: true,
                metrics: true,
                openapi: true,
            },
            tls: false,
            output_budget: budget,
            ready: AtomicBool::new(true),
        })
    })
}

/// The key as one percent-encoded path segment.
fn path_key(key: &[u8]) -> String {
    key.iter().map(|b| format!("%{b:02X}")).collect()
}

async fn call(method: Method, uri: &str, body: Vec<u8>) -> (StatusCode, Vec<u8>) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .expect("a request from a valid uri");
    let response = rest::router(state().clone())
        .oneshot(request)
        .await
        .expect("infallible");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    check(status, &body);
    (status, body.to_vec())
}

/// Every answer: a documented status, a JSON body, and the error shape on errors.
fn check(status: StatusCode, body: &[u8]) {
    assert!(DOCUMENTED.contains(&status.as_u16()), "undocumented status {status}");
    let parsed: HashMap<String, Box<RawValue>> =
        serde_json::from_slice(body).unwrap_or_else(|e| panic!("{status}: not JSON ({e})"));
    if !status.is_success() {
        let error: HashMap<String, Box<RawValue>> =
            serde_json::from_str(parsed["error"].get()).expect("an error object");
        assert!(error.contains_key("code") && error.contains_key("message"));
    }
}

/// What a REST read answered for the key's value, as bytes.
fn value_bytes(body: &[u8]) -> Vec<u8> {
    let found: HashMap<String, Box<RawValue>> = serde_json::from_slice(body).expect("JSON");
    let raw = found["value"].get();
    let encoding = found
        .get("encoding")
        .map(|e| serde_json::from_str::<String>(e.get()).expect("a string"));
    match encoding.as_deref() {
        None => raw.as_bytes().to_vec(),
        Some("utf8") => serde_json::from_str::<String>(raw).expect("text").into_bytes(),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(serde_json::from_str::<String>(raw).expect("text"))
            .expect("base64"),
        Some(other) => panic!("unknown encoding {other}"),
    }
}

/// Reads `key` over REST and checks the bytes against what the cache holds.
async fn reads_back(key: &str) {
    let (status, body) = call(Method::GET, &format!("/api/cache/{}", path_key(key.as_bytes())), Vec::new()).await;
    let held = state().cache.get_value(key.as_bytes()).await.expect("a read");
    match held {
        Some(held) => {
            assert_eq!(status, StatusCode::OK);
            assert_eq!(value_bytes(&body), held.to_vec(), "REST changed the stored bytes");
        }
        None => assert_eq!(status, StatusCode::NOT_FOUND),
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&op, rest)) = data.split_first() else {
        return;
    };
    runtime().block_on(async {
        match op % 7 {
            0 => drop(call(Method::POST, "/api/cache", rest.to_vec()).await),
            1 => drop(call(Method::POST, "/api/cache/mget", rest.to_vec()).await),
            2 => drop(call(Method::POST, "/api/cache/mset", rest.to_vec()).await),
            3 => drop(call(Method::GET, &format!("/api/cache/{}", path_key(rest)), Vec::new()).await),
            4 => drop(call(Method::DELETE, &format!("/api/cache/{}", path_key(rest)), Vec::new()).await),
            5 => {
                let body = serde_json::json!({
                    "key": "rt",
                    "value": base64::engine::general_purpose::STANDARD.encode(rest),
                    "encoding": "base64",
                });
                let (status, _) = call(Method::POST, "/api/cache", body.to_string().into_bytes()).await;
                if status == StatusCode::OK {
                    reads_back("rt").await;
                }
            }
            _ => {
                let mut body = b"{\"key\":\"raw\",\"value\":".to_vec();
                body.extend_from_slice(rest);
                body.push(b'}');
                let (status, _) = call(Method::POST, "/api/cache", body).await;
                if status == StatusCode::OK {
                    reads_back("raw").await;
                }
                let (status, body) = call(
                    Method::POST,
                    "/api/cache/mget",
                    br#"{"keys":["raw","rt","absent"]}"#.to_vec(),
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
            }
        }
    });
});
