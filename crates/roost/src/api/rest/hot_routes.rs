//! `GET /api/cache/hot-keys`: the hottest keys as the latest fold of the
//! hot-key tracker saw them, with the node that owns each and whether this
//! gateway's near cache holds it. Reads the published snapshot only: the
//! tracker is never locked by a request.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::SharedState;
use crate::hot::{HotKey, FOLD_EVERY, MAX_LISTED};

/// Keys listed when the request names no `limit`.
pub const DEFAULT_LIMIT: usize = 20;

#[derive(Debug, Deserialize)]
pub struct HotKeysQuery {
    limit: Option<String>,
}

#[derive(Debug, Serialize)]
struct HotKeysAnswer<'a> {
    enabled: bool,
    keys: Vec<HotKeyOut>,
    limit: usize,
    /// Keys in the table now and its capacity (`ROOST_HOT_KEYS_CAPACITY`).
    tracked: usize,
    capacity: usize,
    /// Keys `is_hot` answers yes for (the near cache's admission set).
    hot: usize,
    total_requests_per_sec: f64,
    window: Window,
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<&'a str>,
}

/// How the estimates are made: decay half-life, fold period, sampling.
#[derive(Debug, Serialize)]
struct Window {
    half_life_secs: f64,
    fold_interval_ms: u64,
    sample_one_in: u64,
    sampled_total: u64,
    lost_total: u64,
}

#[derive(Debug, Serialize)]
struct HotKeyOut {
    key: String,
    /// `utf8`, or `base64` for a key that is not UTF-8 (as values are shown).
    key_encoding: &'static str,
    /// The whole key's length; `key` holds its first 64 bytes when longer.
    key_bytes: usize,
    truncated: bool,
    requests_per_sec: f64,
    share: f64,
    /// The owning node; `null` for a truncated key (its placement needs the whole key).
    node: Option<String>,
    near_cached: bool,
}

pub async fn list(
    State(state): State<SharedState>,
    query: Result<Query<HotKeysQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::bad_request("invalid_query", e.body_text()))?;
    let limit = parse_limit(query.limit.as_deref())?;
    let snapshot = state.hot.snapshot();
    let backend = state.cache.backend();
    let keys = snapshot
        .keys
        .iter()
        .take(limit)
        .map(|hot| {
            let (key, key_encoding) = render_key(hot);
            let whole = !hot.truncated();
            HotKeyOut {
                key,
                key_encoding,
                key_bytes: hot.len,
                truncated: !whole,
                requests_per_sec: round(hot.requests_per_sec),
                share: hot.share,
                node: whole
                    .then(|| backend.owner(&hot.key))
                    .flatten()
                    .map(|n| n.as_str().to_owned()),
                near_cached: whole && backend.is_near_cached(&hot.key),
            }
        })
        .collect();
    let enabled = state.hot.is_enabled();
    let answer = HotKeysAnswer {
        enabled,
        keys,
        limit,
        tracked: snapshot.tracked,
        capacity: snapshot.capacity,
        hot: snapshot.hot_count(),
        total_requests_per_sec: round(snapshot.total_per_sec),
        window: Window {
            half_life_secs: snapshot.half_life.as_secs_f64(),
            fold_interval_ms: FOLD_EVERY.as_millis() as u64,
            sample_one_in: snapshot.sample_one_in,
            sampled_total: snapshot.sampled_total,
            lost_total: snapshot.lost_total,
        },
        note: (!enabled).then_some("hot-key tracking is off (ROOST_HOT_KEYS=off)"),
    };
    Ok(Json(answer).into_response())
}

/// `limit`: 1 to [`MAX_LISTED`], [`DEFAULT_LIMIT`] when absent.
fn parse_limit(raw: Option<&str>) -> Result<usize, ApiError> {
    let Some(raw) = raw else {
        return Ok(DEFAULT_LIMIT);
    };
    match raw.parse::<usize>() {
        Ok(n) if (1..=MAX_LISTED).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(
            "invalid_limit",
            format!("limit must be an integer from 1 to {MAX_LISTED}, got {raw:?}"),
        )),
    }
}

/// A key as text when it is UTF-8 (a truncated key cut inside a character
/// loses that character's start), else base64.
fn render_key(hot: &HotKey) -> (String, &'static str) {
    match std::str::from_utf8(&hot.key) {
        Ok(text) => (text.to_owned(), "utf8"),
        Err(e) if hot.truncated() && e.error_len().is_none() => {
            let text = String::from_utf8_lossy(&hot.key[..e.valid_up_to()]);
            (text.into_owned(), "utf8")
        }
        Err(_) => (
            base64::engine::general_purpose::STANDARD.encode(&hot.key),
            "base64",
        ),
    }
}

/// Rates to a tenth: more digits would claim a precision sampling does not have.
fn round(rate: f64) -> f64 {
    (rate * 10.0).round() / 10.0
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;

    use super::*;

    #[test]
    fn limits_outside_one_to_a_thousand_are_refused() {
        assert_eq!(parse_limit(None).unwrap(), 20);
        assert_eq!(parse_limit(Some("1")).unwrap(), 1);
        assert_eq!(parse_limit(Some("1000")).unwrap(), 1000);
        for bad in ["0", "1001", "-1", "ten", "", "2.5"] {
            assert!(parse_limit(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn keys_render_as_text_or_base64() {
        let key = |bytes: &[u8], len| HotKey {
            key: Bytes::copy_from_slice(bytes),
            len,
            requests_per_sec: 0.0,
            share: 0.0,
        };
        assert_eq!(render_key(&key(b"user:1", 6)), ("user:1".into(), "utf8"));
        assert_eq!(render_key(&key(&[0xff, 0], 2)), ("/wA=".into(), "base64"));
        // "é" is two bytes; a prefix cut between them keeps what came before.
        let cut = [b"ab".as_slice(), &[0xc3]].concat();
        assert_eq!(render_key(&key(&cut, 70)), ("ab".into(), "utf8"));
    }
}
