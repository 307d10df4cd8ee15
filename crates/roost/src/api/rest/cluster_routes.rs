//! The topology API: list the Redis nodes behind this gateway, add one, drain
//! and remove one, and preview what a change would move. Only a fleet backend
//! has a topology; the embedded store answers 404 `no_topology`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::ApiError;
use super::SharedState;
use crate::backend::fleet::{NodeSpec, Preview, TopologyError};
use crate::backend::{Backend, Fleet, NodeReport};

/// One node as the topology API shows it (the shape `docs/api.md` documents).
fn node_json(node: &NodeReport) -> Value {
    let probe = node.last_probe.as_ref().map(
        |p| json!({ "at_ms": p.at_ms, "ok": p.ok, "latency_us": p.latency_us, "error": p.error }),
    );
    json!({
        "id": node.id,
        "address": node.address,
        "state": node.status.as_str(),
        "weight": node.weight,
        "ring_share": node.ring_share,
        "keys": node.keys,
        "used_memory": node.used_bytes,
        "max_memory": node.capacity_bytes,
        "evicted_keys": node.evictions,
        "expired_keys": node.expirations,
        "ops": node.ops,
        "errors": node.errors,
        "missed_writes": node.missed_writes,
        "state_since_ms": node.status_since_ms,
        "last_probe": probe,
    })
}

fn preview_json(preview: &Preview) -> Value {
    json!({
        "moved_share": preview.moved_share,
        "nodes_before": preview.nodes_before,
        "nodes_after": preview.nodes_after,
    })
}

fn fleet(state: &SharedState) -> Result<&Arc<Fleet>, ApiError> {
    match state.cache.backend() {
        Backend::Fleet(fleet) => Ok(fleet),
        Backend::Embedded(_) => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no_topology",
            "the embedded store has no node topology; start roost with REDIS_CLUSTER_NODES to use the topology API",
        )),
    }
}

impl From<TopologyError> for ApiError {
    fn from(err: TopologyError) -> ApiError {
        let (status, code) = match &err {
            TopologyError::InvalidAddress(_) | TopologyError::InvalidWeight => {
                (StatusCode::BAD_REQUEST, "invalid_node")
            }
            TopologyError::Unknown(_) => (StatusCode::NOT_FOUND, "unknown_node"),
            TopologyError::Duplicate(_) => (StatusCode::CONFLICT, "duplicate_node"),
            TopologyError::TooFewNodes { .. } => (StatusCode::CONFLICT, "too_few_nodes"),
            TopologyError::Busy => (StatusCode::CONFLICT, "change_in_progress"),
            TopologyError::ClusterManaged => (StatusCode::CONFLICT, "cluster_managed"),
            TopologyError::InRegion => (StatusCode::CONFLICT, "in_region"),
            TopologyError::Ring(_) => (StatusCode::BAD_REQUEST, "invalid_node"),
        };
        ApiError::new(status, code, err.to_string())
    }
}

pub async fn list(State(state): State<SharedState>) -> Result<Response, ApiError> {
    let fleet = fleet(&state)?;
    let settings = fleet.settings();
    Ok(Json(json!({
        "backend": fleet.kind_name(),
        "replicas": settings.replicas,
        "write_quorum": settings.write_quorum,
        "gutter_ttl_secs": settings.gutter_ttl.map(|t| t.as_secs()),
        "moving": fleet.topology().previous.is_some(),
        "nodes": fleet.nodes().iter().map(node_json).collect::<Vec<_>>(),
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddNode {
    address: String,
    id: Option<String>,
    weight: Option<u32>,
}

pub async fn add(
    State(state): State<SharedState>,
    body: Result<Json<AddNode>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let fleet = fleet(&state)?;
    let spec = NodeSpec::parse(&body.address, body.id.as_deref(), body.weight)?;
    let id = spec.id.to_string();
    let preview = fleet.change(vec![spec], &[]).await?;
    let node = fleet.nodes().iter().find(|n| n.id == id).map(node_json);
    Ok((
        StatusCode::CREATED,
        Json(json!({ "node": node, "moved_share": preview.moved_share })),
    )
        .into_response())
}

pub async fn remove(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let fleet = fleet(&state)?;
    let preview = fleet.change(Vec::new(), std::slice::from_ref(&id)).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({ "draining": id, "moved_share": preview.moved_share })),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PreviewQuery {
    add: Option<String>,
    weight: Option<u32>,
    remove: Option<String>,
}

pub async fn preview(
    State(state): State<SharedState>,
    query: Result<Query<PreviewQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let fleet = fleet(&state)?;
    if query.add.is_none() && query.remove.is_none() {
        return Err(ApiError::bad_request(
            "invalid_query",
            "name a change: ?add=redis://host:port[&weight=N] or ?remove=<node id>",
        ));
    }
    let spec = query
        .add
        .as_deref()
        .map(|url| NodeSpec::parse(url, None, query.weight))
        .transpose()?;
    let preview = fleet.preview(spec.as_ref(), query.remove.as_deref())?;
    Ok(Json(preview_json(&preview)).into_response())
}
