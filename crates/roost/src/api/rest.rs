//! The REST front door: the brief's `/api/cache…` endpoints plus probes,
//! Prometheus metrics and the OpenAPI document. Built by [`router`] so tests can
//! drive it with `oneshot` and no socket.

mod cache_routes;
mod cluster_routes;
mod error;
mod values;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde_json::json;
use subtle::ConstantTimeEq;

pub use error::ApiError;

use crate::cache::Cache;
use crate::stats;
use crate::telemetry::{Events, History};

/// The OpenAPI 3.1 description of every route below; a test keeps them in step.
pub const OPENAPI: &str = include_str!("rest/openapi.json");

/// Everything a handler may touch.
#[derive(Debug)]
pub struct AppState {
    pub cache: Cache,
    pub history: Arc<History>,
    /// Recent events for the dashboard; record what an operator should see.
    pub events: Arc<Events>,
    pub admin_token: Option<String>,
    /// Cleared when shutdown begins so load balancers stop sending traffic.
    pub ready: AtomicBool,
}

pub type SharedState = Arc<AppState>;

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
        .route("/api/cache/flush/all", delete(flush_all))
        .route(
            "/api/cluster/nodes",
            get(cluster_routes::list).post(cluster_routes::add),
        )
        .route("/api/cluster/nodes/{id}", delete(cluster_routes::remove))
        .route("/api/cluster/preview", get(cluster_routes::preview))
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

async fn flush_all(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize_admin(&state, &headers)?;
    let flushed = state.cache.flush().await?;
    Ok(Json(json!({ "flushed": flushed })).into_response())
}

/// Admin endpoints need `Authorization: Bearer <ROOST_ADMIN_TOKEN>` when a
/// token is configured. Compared in constant time.
fn authorize_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.admin_token else {
        return Ok(());
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this endpoint needs Authorization: Bearer <admin token>",
            )
        })?;
    if bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        Ok(())
    } else {
        tracing::warn!("admin request with a wrong token refused");
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "the admin token is not valid",
        ))
    }
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn healthz() -> Response {
    Json(json!({ "status": "ok" })).into_response()
}

async fn readyz(State(state): State<SharedState>) -> Result<Response, ApiError> {
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
