//! Handlers for the cache endpoints: decode JSON, call the cache service,
//! encode JSON. No cache logic lives here.

use std::time::Duration;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use serde_json::json;
use serde_json::value::RawValue;

use super::error::ApiError;
use super::values::{value_in, ValueOut};
use super::SharedState;
use crate::cache::{CacheHit, Collection, Expiry, Item, MgetCursor};
use crate::error::CacheError;
use crate::telemetry::Disconnect;

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
    /// In a region: the version of the write that stored the value, a u64 in
    /// decimal as a string (JSON numbers lose precision past 2^53).
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
}

/// One key of an mget answer. Serialized straight from the stored bytes: a
/// stored JSON value passes through as raw text and is never parsed into a
/// tree, so no nesting depth can make the answer fail.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum MgetResult<'a> {
    Found(Found<'a>),
    Missing { key: &'a str, hit: bool },
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
            version: hit.version.map(|version| version.get().to_string()),
        }
    }
}

/// `GET /api/cache/{key}`'s query: `as=json` reads a hash, list, set or
/// sorted set whole, as JSON. Other parameters are
/// ignored, as before (a browser's cache-buster must not fail a read).
#[derive(Debug, Default, Deserialize)]
pub struct GetQuery {
    #[serde(rename = "as")]
    as_: Option<String>,
}

pub async fn get(
    State(state): State<SharedState>,
    key: Result<Path<String>, PathRejection>,
    query: Result<Query<GetQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Path(key) = key?;
    let Query(query) =
        query.map_err(|err| ApiError::bad_request("invalid_request", err.body_text()))?;
    match query.as_.as_deref() {
        None => {}
        Some("json") => return get_as_json(&state, &key).await,
        Some(other) => {
            return Err(ApiError::bad_request(
                "invalid_request",
                format!("as={other:?} is not known; as=json reads a hash, list, set or sorted set"),
            ))
        }
    }
    match state.cache.get(key.as_bytes()).await {
        Ok(Some(hit)) => Ok(Json(Found::new(&key, &hit, false)).into_response()),
        Ok(None) => Err(ApiError::not_found(&key)),
        Err(err) if err.is_wrong_type() => Err(wrong_type(&state, &key).await),
        Err(err) => Err(err.into()),
    }
}

/// `409 wrong_type`: the key holds another type than the read asked for.
async fn wrong_type(state: &SharedState, key: &str) -> ApiError {
    let kind = match state.cache.key_type(key.as_bytes()).await {
        Ok(kind) => kind,
        Err(err) => return err.into(),
    };
    let hint = match kind.as_str() {
        "hash" | "list" | "set" | "zset" => "; read it whole with ?as=json",
        _ => "; read it over RESP",
    };
    ApiError::new(
        StatusCode::CONFLICT,
        "wrong_type",
        format!("key {key:?} holds a {kind}, not a string{hint}"),
    )
}

/// `GET /api/cache/{key}?as=json`: a string as usual; a hash as an object, a
/// list or set as an array, a sorted set as `[{member, score}]`.
async fn get_as_json(state: &SharedState, key: &str) -> Result<Response, ApiError> {
    let (kind, read) = state.cache.read_collection(key.as_bytes()).await?;
    let Some(read) = read else {
        return match kind.as_str() {
            "none" => Err(ApiError::not_found(key)),
            "string" => match state.cache.get(key.as_bytes()).await? {
                Some(hit) => Ok(Json(Found::new(key, &hit, false)).into_response()),
                None => Err(ApiError::not_found(key)),
            },
            _ => Err(wrong_type(state, key).await),
        };
    };
    let (value, encoding) = collection_json(&read.collection);
    let node = state.cache.backend().owner(key.as_bytes());
    Ok(Json(json!({
        "key": key,
        "type": read.collection.type_name(),
        "value": value,
        "encoding": encoding,
        "ttl": read.ttl.map(|t| t.as_millis().div_ceil(1000) as u64),
        "node": node.as_ref().map(|n| n.as_str()),
    }))
    .into_response())
}

/// A collection as JSON: its elements as UTF-8 strings when every one is
/// UTF-8, else every one in base64 (the `encoding` says which).
fn collection_json(collection: &Collection) -> (serde_json::Value, &'static str) {
    let utf8 = collection
        .bytes()
        .iter()
        .all(|b| std::str::from_utf8(b).is_ok());
    let text = |bytes: &Bytes| -> String {
        match utf8 {
            true => String::from_utf8_lossy(bytes).into_owned(),
            false => base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    };
    let value = match collection {
        Collection::Hash(pairs) => pairs
            .iter()
            .map(|(field, value)| (text(field), text(value).into()))
            .collect::<serde_json::Map<String, serde_json::Value>>()
            .into(),
        Collection::List(items) | Collection::Set(items) => items.iter().map(text).collect(),
        Collection::SortedSet(pairs) => pairs
            .iter()
            .map(|(member, score)| {
                let score = std::str::from_utf8(score).unwrap_or_default();
                let score = match score.parse::<f64>() {
                    Ok(n) if n.is_finite() => json!(n),
                    _ => json!(score),
                };
                json!({ "member": text(member), "score": score })
            })
            .collect(),
    };
    (value, if utf8 { "utf8" } else { "base64" })
}

pub async fn set(
    State(state): State<SharedState>,
    body: Result<Json<SetRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let key = request.key.clone();
    let write = decode_write(request, state.cache.limits().rest_max_ttl)?;
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

/// `POST /api/cache/mget`: the answer streams, one key's result per chunk, as
/// the cache reads it a slice at a time (`cache/mget.rs`) — an mget of a
/// thousand 1 MiB values never holds more than a slice and a chunk. A bad
/// request or a failing first slice gets its status; a later slice that fails
/// answers its keys with `"error"` objects inside the 200 body.
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
    let mut cursor = state.cache.mget_cursor(&keys)?;
    let first = match state.cache.mget_next(&mut cursor, &keys).await {
        Some((range, found)) => (range, found?),
        None => (0..0, Vec::new()),
    };
    let body = MgetBody {
        holding: state.output_budget.holding(),
        state,
        names: request.keys,
        keys,
        cursor,
        slice: first.1.into_iter().collect(),
        next: 0,
        failed: None,
        opened: false,
        done: false,
    };
    let chunks = futures_util::stream::unfold(body, |mut body| async move {
        let chunk = body.next_chunk().await?;
        Some((chunk, body))
    });
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        axum::body::Body::from_stream(chunks),
    )
        .into_response())
}

/// The streamed mget answer's state: the slice being written and where.
struct MgetBody {
    state: SharedState,
    /// The keys as the client sent them, for the answer.
    names: Vec<String>,
    keys: Vec<Bytes>,
    cursor: MgetCursor,
    slice: std::collections::VecDeque<Option<CacheHit>>,
    /// Index of the next key to answer.
    next: usize,
    /// A later slice's error and the end of the keys it answers for.
    failed: Option<(CacheError, usize)>,
    opened: bool,
    done: bool,
    /// The last chunk, held against the budget for slow readers.
    holding: crate::net::Holding,
}

impl MgetBody {
    /// The next piece of the answer; `None` once it is complete.
    async fn next_chunk(&mut self) -> Option<std::io::Result<Bytes>> {
        if self.done {
            return None;
        }
        let mut chunk = Vec::new();
        if !self.opened {
            self.opened = true;
            chunk.extend_from_slice(b"{\"results\":[");
        }
        if self.next == self.keys.len() {
            self.done = true;
            chunk.extend_from_slice(b"]}");
            return Some(Ok(Bytes::from(chunk)));
        }
        if self.slice.is_empty() && self.failed.is_none() {
            match self
                .state
                .cache
                .mget_next(&mut self.cursor, &self.keys)
                .await
            {
                Some((_, Ok(hits))) => self.slice = hits.into_iter().collect(),
                Some((range, Err(err))) => self.failed = Some((err, range.end)),
                None => {}
            }
        }
        if self.next > 0 {
            chunk.push(b',');
        }
        let key = &self.names[self.next];
        let written = match &self.failed {
            Some((err, _)) => serde_json::to_writer(
                &mut chunk,
                &json!({ "key": key, "hit": false, "error": { "code": err.code(), "message": err.public_message() } }),
            ),
            None => match self.slice.pop_front().flatten() {
                Some(hit) => serde_json::to_writer(
                    &mut chunk,
                    &MgetResult::Found(Found::new(key, &hit, true)),
                ),
                None => serde_json::to_writer(&mut chunk, &MgetResult::Missing { key, hit: false }),
            },
        };
        if written.is_err() {
            return Some(Err(std::io::Error::other("invariant: a result serializes")));
        }
        self.next += 1;
        if self
            .failed
            .as_ref()
            .is_some_and(|(_, end)| self.next >= *end)
        {
            self.failed = None;
        }
        if let Err(exceeded) = self.holding.resize(chunk.len()) {
            self.state
                .cache
                .metrics()
                .doors()
                .disconnect("http", Disconnect::OutputBudget)
                .inc();
            tracing::debug!(%exceeded, "http mget answer cut: the output budget is spent");
            return Some(Err(std::io::Error::other(exceeded)));
        }
        Some(Ok(Bytes::from(chunk)))
    }
}

pub async fn mset(
    State(state): State<SharedState>,
    body: Result<Json<MsetRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(request) = body?;
    let writes = request
        .entries
        .into_iter()
        .map(|entry| decode_write(entry, state.cache.limits().rest_max_ttl))
        .collect::<Result<Vec<_>, _>>()?;
    let stored = state.cache.mset(writes).await?;
    Ok(Json(json!({ "stored": stored })).into_response())
}

fn decode_write(request: SetRequest, max_ttl: Duration) -> Result<Item, ApiError> {
    let value = value_in(&request.value, request.encoding.as_deref())?;
    let expiry = match request.ttl {
        None | Some(serde_json::Value::Null) => Expiry::Default,
        Some(ttl) => Expiry::After(ttl_seconds(&ttl, max_ttl)?),
    };
    Ok(Item {
        key: Bytes::from(request.key),
        value,
        expiry,
    })
}

fn ttl_seconds(ttl: &serde_json::Value, max_ttl: Duration) -> Result<Duration, ApiError> {
    match ttl.as_u64() {
        Some(secs) if secs >= 1 && secs <= max_ttl.as_secs() => Ok(Duration::from_secs(secs)),
        _ => Err(ApiError::bad_request(
            "invalid_ttl",
            format!(
                "ttl must be a positive integer number of seconds up to {} (ROOST_REST_MAX_TTL), got {ttl}",
                max_ttl.as_secs()
            ),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use roost_ring::NodeId;

    use super::*;

    fn hit(version: Option<u64>) -> CacheHit {
        CacheHit {
            value: Bytes::from_static(b"1"),
            ttl: None,
            node: NodeId::from("shard-0"),
            version: version.map(|v| roost_store::Version::new(v).unwrap()),
        }
    }

    #[test]
    fn a_found_value_shows_its_version_in_decimal_only_when_it_has_one() {
        let versioned = hit(Some(u64::MAX >> 1));
        let json = serde_json::to_value(Found::new("k", &versioned, false)).unwrap();
        assert_eq!(
            json["version"], "9223372036854775807",
            "a string: no precision lost"
        );
        let plain = hit(None);
        let json = serde_json::to_value(Found::new("k", &plain, false)).unwrap();
        assert!(json.get("version").is_none(), "{json}");
    }

    #[tokio::test]
    async fn a_write_not_logged_is_a_503_that_says_it_was_applied() {
        let err = CacheError::NotLogged {
            source: Some(crate::error::Cause::text("disk full at /data/geo/log")),
        };
        let response = ApiError::from(err).into_response();
        assert_eq!(
            response.status(),
            axum::http::StatusCode::SERVICE_UNAVAILABLE
        );
        let body = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "not_logged");
        let message = body["error"]["message"].as_str().unwrap();
        assert!(message.contains("applied in this region"), "{message}");
        assert!(!message.contains("/data"), "the cause stays in the log");
    }
}
