//! Handlers for the cache endpoints: decode JSON, call the cache service,
//! encode JSON. No cache logic lives here.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

use super::error::ApiError;
use super::values::{value_in, ValueOut};
use super::SharedState;
use crate::cache::{CacheHit, Expiry, Write};
use crate::config::MAX_TTL;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRequest {
    key: String,
    value: Box<RawValue>,
    #[serde(default)]
    ttl: Option<serde_json::Value>,
    #[serde(default)]
    encoding: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MgetRequest {
    keys: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MsetRequest {
    entries: Vec<SetRequest>,
}

/// One found value as the API shows it.
#[derive(Debug, Serialize)]
struct Found<'a> {
    key: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    hit: Option<bool>,
    value: ValueOut<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    encoding: Option<&'static str>,
    /// Seconds left, rounded up; `null` when the entry never expires.
    ttl: Option<u64>,
    node: &'a str,
}

impl<'a> Found<'a> {
    fn new(key: &'a str, hit: &'a CacheHit, in_batch: bool) -> Found<'a> {
        let value = ValueOut::from_stored(&hit.value);
        Found {
            key,
            hit: in_batch.then_some(true),
            encoding: value.encoding(),
            value,
            ttl: hit.ttl.map(|t| t.as_millis().div_ceil(1000) as u64),
            node: hit.node.as_str(),
        }
    }
}

pub async fn get(
    State(state): State<SharedState>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = key?;
    match state.cache.get(key.as_bytes()).await? {
        Some(hit) => Ok(Json(Found::new(&key, &hit, false)).into_response()),
        None => Err(ApiError::not_found(&key)),
    }
}

pub async fn set(
    State(state): State<SharedState>,
    body: Result<Json<SetRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let key = request.key.clone();
    let write = decode_write(request)?;
    let ttl = write.expiry;
    let node = state
        .cache
        .set(write.key, write.value, write.expiry)
        .await?;
    let ttl = match ttl {
        Expiry::After(t) => Some(t.as_secs()),
        _ => state.cache.default_ttl().map(|t| t.as_secs()),
    };
    Ok(Json(json!({ "key": key, "node": node.as_str(), "ttl": ttl })).into_response())
}

pub async fn delete(
    State(state): State<SharedState>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = key?;
    if state.cache.delete(key.as_bytes()).await? {
        Ok(Json(json!({ "key": key, "deleted": true })).into_response())
    } else {
        Err(ApiError::not_found(&key))
    }
}

pub async fn mget(
    State(state): State<SharedState>,
    body: Result<Json<MgetRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let keys: Vec<Bytes> = request
        .keys
        .iter()
        .map(|k| Bytes::copy_from_slice(k.as_bytes()))
        .collect();
    let found = state.cache.mget(&keys).await?;
    let results: Vec<serde_json::Value> = request
        .keys
        .iter()
        .zip(&found)
        .map(|(key, hit)| match hit {
            Some(hit) => serde_json::to_value(Found::new(key, hit, true))
                .expect("invariant: a found value serializes"),
            None => json!({ "key": key, "hit": false }),
        })
        .collect();
    Ok(Json(json!({ "results": results })).into_response())
}

pub async fn mset(
    State(state): State<SharedState>,
    body: Result<Json<MsetRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let writes = request
        .entries
        .into_iter()
        .map(decode_write)
        .collect::<Result<Vec<_>, _>>()?;
    let stored = state.cache.mset(writes).await?;
    Ok(Json(json!({ "stored": stored })).into_response())
}

fn decode_write(request: SetRequest) -> Result<Write, ApiError> {
    let value = value_in(&request.value, request.encoding.as_deref())?;
    let expiry = match request.ttl {
        None | Some(serde_json::Value::Null) => Expiry::Default,
        Some(ttl) => Expiry::After(ttl_seconds(&ttl)?),
    };
    Ok(Write {
        key: Bytes::from(request.key),
        value,
        expiry,
    })
}

fn ttl_seconds(ttl: &serde_json::Value) -> Result<Duration, ApiError> {
    match ttl.as_u64() {
        Some(secs) if secs >= 1 && secs <= MAX_TTL.as_secs() => Ok(Duration::from_secs(secs)),
        _ => Err(ApiError::bad_request(
            "invalid_ttl",
            format!(
                "ttl must be a positive integer number of seconds up to {} (30 days), got {ttl}",
                MAX_TTL.as_secs()
            ),
        )),
    }
}
