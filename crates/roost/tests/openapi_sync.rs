//! Keeps `/api/openapi.json` and the router in step: every route the router
//! declares is documented with the same methods, and every documented operation
//! is answered by a real handler (not the no-route or wrong-method fallback).

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeSet;

use serde_json::Value;
use support::TestServer;

/// (method, path) pairs declared in the router's source with `.route(...)`.
fn routes_in_source() -> BTreeSet<(String, String)> {
    let source = include_str!("../src/api/rest.rs");
    let mut routes = BTreeSet::new();
    for chunk in source.split(".route(").skip(1) {
        let path = chunk.split('"').nth(1).unwrap().to_string();
        let call = chunk.split(".route(").next().unwrap();
        let call = call.split(".fallback(").next().unwrap();
        for method in ["get", "post", "delete", "put", "patch"] {
            if call.contains(&format!("{method}(")) {
                routes.insert((method.to_string(), path.clone()));
            }
        }
    }
    routes
}

fn routes_in_openapi() -> BTreeSet<(String, String)> {
    let doc: Value = serde_json::from_str(roost::api::rest::OPENAPI).unwrap();
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            routes.insert((method.clone(), path.clone()));
        }
    }
    routes
}

#[test]
fn every_route_is_documented_and_nothing_else() {
    let source = routes_in_source();
    assert!(source.len() >= 11, "parsed too few routes: {source:?}");
    assert_eq!(source, routes_in_openapi());
}

#[tokio::test]
async fn every_documented_operation_reaches_a_handler() {
    let s = TestServer::builder().start().await;
    for (method, path) in routes_in_openapi() {
        let url = s.url(&path.replace("{key}", "some-key"));
        let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let r = s
            .client
            .request(method.clone(), &url)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        let code = body["error"]["code"].as_str().unwrap_or("");
        assert!(
            code != "no_route" && code != "method_not_allowed" && status != 405,
            "{method} {path} is documented but not routed ({status} {body})"
        );
    }
    s.shutdown().await;
}

/// The schema `#/components/schemas/<name>`.
fn schema(doc: &Value, name: &str) -> Value {
    doc["components"]["schemas"][name].clone()
}

/// A schema's properties, and that every one is required (the types below
/// serialize each field, `null` or not).
fn fields(schema: &Value) -> BTreeSet<String> {
    let properties: BTreeSet<String> = schema["properties"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    let required: BTreeSet<String> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    assert_eq!(properties, required, "{schema}");
    properties
}

fn keys(value: &Value) -> BTreeSet<String> {
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn the_warming_schema_has_the_fields_of_the_snapshot_and_warm_up_status() {
    use roost::backend::fleet::{WarmupReason, WarmupState, WarmupStatus};
    use roost::snapshot::{LastLoad, LastSnapshot, LoadState, SnapshotStatus};

    let doc: Value = serde_json::from_str(roost::api::rest::OPENAPI).unwrap();
    let warming = schema(&doc, "WarmingStatus");
    assert_eq!(
        warming["properties"]["snapshot"]["oneOf"][0]["$ref"],
        "#/components/schemas/SnapshotStatus"
    );
    assert_eq!(
        warming["properties"]["node_warmups"]["items"]["$ref"],
        "#/components/schemas/NodeWarmup"
    );

    let snapshot = serde_json::to_value(SnapshotStatus {
        last_snapshot: Some(LastSnapshot::default()),
        last_load: Some(LastLoad {
            at_ms: 1,
            state: LoadState::Done,
            entries: 2,
            skipped: 0,
            duration_ms: 3,
            error: None,
        }),
    })
    .unwrap();
    assert_eq!(keys(&snapshot), fields(&schema(&doc, "SnapshotStatus")));
    assert_eq!(
        keys(&snapshot["last_snapshot"]),
        fields(&schema(&doc, "LastSnapshot"))
    );
    let load = schema(&doc, "LastLoad");
    assert_eq!(keys(&snapshot["last_load"]), fields(&load));
    let states: Vec<Value> = [
        LoadState::Loading,
        LoadState::Done,
        LoadState::Failed,
        LoadState::Skipped,
    ]
    .iter()
    .map(|s| serde_json::to_value(s).unwrap())
    .collect();
    assert_eq!(load["properties"]["state"]["enum"], Value::from(states));

    let warmup = serde_json::to_value(WarmupStatus {
        node: "n4".into(),
        reason: WarmupReason::Added,
        state: WarmupState::Copying,
        copied: 0,
        skipped: 0,
        total: 0,
        started_at_ms: 1,
        finished_at_ms: None,
    })
    .unwrap();
    let node_warmup = schema(&doc, "NodeWarmup");
    assert_eq!(keys(&warmup), fields(&node_warmup));
    let reasons: Vec<Value> = [WarmupReason::Added, WarmupReason::Readmitted]
        .iter()
        .map(|r| serde_json::to_value(r).unwrap())
        .collect();
    assert_eq!(
        node_warmup["properties"]["reason"]["enum"],
        Value::from(reasons)
    );
    let states: Vec<Value> = [
        WarmupState::Copying,
        WarmupState::Done,
        WarmupState::Stopped,
    ]
    .iter()
    .map(|s| serde_json::to_value(s).unwrap())
    .collect();
    assert_eq!(
        node_warmup["properties"]["state"]["enum"],
        Value::from(states)
    );
}

#[test]
fn the_regions_schema_has_the_fields_of_the_status() {
    use roost::config::Peer;
    use roost::geo::log::LogStats;
    use roost::geo::status::{PeerLink, RegionsStatus};

    let doc: Value = serde_json::from_str(roost::api::rest::OPENAPI).unwrap();
    let link = PeerLink::new(Peer {
        name: "eu".into(),
        url: "http://127.0.0.1:1".into(),
    });
    let status = serde_json::to_value(RegionsStatus {
        enabled: true,
        region: "us".into(),
        mode: "invalidate",
        version: "1".into(),
        log: LogStats::default().into(),
        peers: vec![link.view()],
    })
    .unwrap();
    assert_eq!(keys(&status), fields(&schema(&doc, "RegionsStatus")));
    assert_eq!(keys(&status["log"]), fields(&schema(&doc, "RegionLog")));
    assert_eq!(
        keys(&status["peers"][0]),
        fields(&schema(&doc, "RegionPeer"))
    );
}
