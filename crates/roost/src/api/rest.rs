//! The REST front door: the brief's `/api/cache…` endpoints plus probes,
//! Prometheus metrics and the OpenAPI document. Built by [`router`] so tests can
//! drive it with `oneshot` and no socket.

pub mod access;
mod cache_routes;
mod cluster_routes;
mod error;
mod guard;
mod hot_routes;
mod panics;
mod session;
mod values;

use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;

pub use error::ApiError;

pub use crate::app::SharedState;
use crate::backend::Backend;
use crate::geo;
use crate::stats;

/// The OpenAPI 3.1 description of every route below; a test keeps them in step.
pub const OPENAPI: &str = include_str!("rest/openapi.json");

/// Builds the HTTP application.
pub fn router(state: SharedState) -> Router {
    let body_limit = state.cache.limits().max_body_bytes;
    Router::new()
        .route("/api/cache", post(cache_routes::set))
        .route(
            "/api/cache/{key}",
            get(cache_routes::get).delete(cache_routes::delete),
        )
        .route("/api/cache/mget", post(cache_routes::mget))
        .route("/api/cache/mset", post(cache_routes::mset))
        .route("/api/cache/stats/overview", get(stats_overview))
        .route("/api/cache/hot-keys", get(hot_routes::list))
        .route("/api/cache/warming", get(warming_status))
        .route("/api/cache/flush/all", delete(flush_all))
        .route("/api/regions", get(geo::serve::regions))
        .route("/api/geo/log", get(geo::serve::log))
        .route(
            "/api/cluster/nodes",
            get(cluster_routes::list).post(cluster_routes::add),
        )
        .route("/api/cluster/nodes/{id}", delete(cluster_routes::remove))
        .route("/api/cluster/preview", get(cluster_routes::preview))
        .route(
            "/api/auth/session",
            post(session::sign_in).delete(session::sign_out),
        )
        .route("/api/auth/whoami", get(session::whoami))
        .route("/api/openapi.json", get(openapi))
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(body_limit))
        .with_state(state)
}

async fn stats_overview(State(state): State<SharedState>) -> Response {
    Json(stats::overview(&state.cache, &state.history)).into_response()
}

/// Warming's state, budget and counters (docs/api.md); atomics only.
async fn warming_status(State(state): State<SharedState>) -> Response {
    let mut status = state.warming.status();
    status.snapshot = state.snapshots.as_ref().map(|s| s.status());
    if let Backend::Fleet(fleet) = state.cache.backend() {
        status.node_warmups = fleet.warmups();
    }
    Json(status).into_response()
}

async fn flush_all(State(state): State<SharedState>) -> Result<Response, ApiError> {
    let flushed = state.cache.flush().await?;
    Ok(Json(json!({ "flushed": flushed })).into_response())
}

/// The layers every route of the HTTP app runs under, outermost first: a
/// panic answers 500 `internal` for that request alone (`panics.rs`); then
/// the caller's credential is checked against [`access::access`] and the
/// request gets `timeout` from its headers to its response (`guard.rs`).
pub fn harden(app: Router, state: SharedState, timeout: Duration) -> Router {
    let metrics = state.cache.shared_metrics();
    app.layer(guard::GuardLayer { state, timeout })
        .layer(panics::catch_panics(metrics))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(state): State<SharedState>) -> Result<Response, ApiError> {
    // With ROOST_READY_AFTER_WARM, a load balancer sends traffic only once
    // the snapshot is loaded (the server itself already answers meanwhile).
    if state
        .snapshots
        .as_ref()
        .is_some_and(|s| s.holds_readiness())
    {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "loading the snapshot",
        ));
    }
    if state.ready.load(Ordering::Acquire) {
        Ok(
            Json(json!({ "status": "ready", "backend": state.cache.backend().name() }))
                .into_response(),
        )
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "not_ready",
            "shutting down",
        ))
    }
}

async fn metrics(State(state): State<SharedState>) -> Response {
    stats::refresh_metrics(&state.cache);
    let body = state.cache.metrics().encode();
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        body,
    )
        .into_response()
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_route",
        format!("no route for {method} {}", uri.path()),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{method} is not allowed on {}", uri.path()),
    )
}
