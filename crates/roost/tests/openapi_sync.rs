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
