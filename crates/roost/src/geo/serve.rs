//! The peer-facing side of replication, and the regions' status, as REST
//! handlers (routed in `api/rest.rs`):
//!
//! - `GET /api/geo/log?from=<seq>&region=<name>`: this region's change log
//!   from `from` (0: the oldest record kept) as a long-lived stream of frames
//!   (`frame.rs`): batches as records become durable, a heartbeat every
//!   second when idle (and at least every second while busy), a gap when
//!   `from` fell out of retention. Guarded by `ROOST_REGION_SECRET` only
//!   (`Authorization: Bearer <secret>`, compared in constant time), never by
//!   a client credential. The stream computes the next frame only when the
//!   previous one was taken by the socket: one batch in flight per stream.
//! - `GET /api/regions`: [`super::status::RegionsStatus`], or
//!   `{"enabled": false}` when this Roost is not a region.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use ring::digest::{digest, SHA256};
use serde::Deserialize;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::watch;
use tokio::time::Instant;

use super::frame::Frame;
use super::log::{LogRead, Seq};
use super::Geo;
use crate::api::rest::{ApiError, SharedState};

/// How often an idle stream says it is alive (a busy one too, at least).
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Records per batch frame, at most.
const BATCH_RECORDS: usize = 1_024;
/// Bytes per batch frame, about (a single larger record goes alone).
const BATCH_BYTES: usize = 1 << 20;

#[derive(Debug, Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    from: Seq,
    #[serde(default)]
    region: String,
}

/// `GET /api/geo/log`.
pub async fn log(
    State(state): State<SharedState>,
    headers: HeaderMap,
    Query(query): Query<LogQuery>,
) -> Result<Response, ApiError> {
    let geo = state.geo.as_ref().ok_or_else(not_a_region)?;
    if !geo.admits(bearer(&headers)) {
        tracing::warn!(
            region = %query.region,
            "replication request refused: missing or wrong ROOST_REGION_SECRET"
        );
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "replication needs Authorization: Bearer <ROOST_REGION_SECRET>",
        ));
    }
    if query.region.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "region=<the pulling region's name> is required",
        ));
    }
    tracing::info!(region = %query.region, from = query.from, "region pulling this log");
    let stream = LogStream::new(geo.clone(), query.from);
    let body = futures_util::stream::unfold(stream, |mut stream| async move {
        let frame = stream.next_frame().await?;
        Some((frame, stream))
    });
    Ok((
        [(header::CONTENT_TYPE, "application/octet-stream")],
        Body::from_stream(body),
    )
        .into_response())
}

/// `GET /api/regions`.
pub async fn regions(State(state): State<SharedState>) -> Response {
    match &state.geo {
        Some(geo) => Json(geo.status()).into_response(),
        None => Json(json!({ "enabled": false })).into_response(),
    }
}

fn not_a_region() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "not_a_region",
        "this Roost is not a region (ROOST_REGION is unset)",
    )
}

/// The bearer token of `Authorization`, and nothing else (no cookie: this
/// is not a client's credential).
fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whether `presented` is `secret`, in time that depends on neither.
pub fn secret_matches(secret: &str, presented: &str) -> bool {
    let want = digest(&SHA256, secret.as_bytes());
    let got = digest(&SHA256, presented.as_bytes());
    bool::from(want.as_ref().ct_eq(got.as_ref()))
}

/// One reader of the log: where it is and when it last said it is alive.
struct LogStream {
    geo: Arc<Geo>,
    next: Seq,
    durable: watch::Receiver<Seq>,
    last_beat: Instant,
}

impl LogStream {
    fn new(geo: Arc<Geo>, from: Seq) -> LogStream {
        let durable = geo.log.subscribe();
        LogStream {
            geo,
            next: from,
            durable,
            // The first frame is a heartbeat: the puller learns the log's
            // end (its lag) at once.
            last_beat: Instant::now()
                .checked_sub(HEARTBEAT)
                .unwrap_or_else(Instant::now),
        }
    }

    /// The next frame's bytes; `None` ends the stream (shutdown, or the
    /// log closed).
    async fn next_frame(&mut self) -> Option<Result<Bytes, std::io::Error>> {
        let stop = self.geo.stop.clone();
        loop {
            if stop.is_cancelled() {
                return None;
            }
            if self.last_beat.elapsed() >= HEARTBEAT {
                self.last_beat = Instant::now();
                let beat = Frame::Heartbeat {
                    hlc: self.geo.hlc.now().get(),
                    last: *self.durable.borrow(),
                };
                return Some(Ok(beat.encode()));
            }
            if self.next == 0 {
                self.next = self.geo.log.stats().first.max(1);
            }
            let read = self
                .geo
                .log
                .read(self.next, BATCH_RECORDS, BATCH_BYTES)
                .await;
            match read {
                Err(error) => {
                    tracing::warn!(%error, from = self.next, "reading the change log for a peer failed; the stream ends");
                    return Some(Err(std::io::Error::other(error.to_string())));
                }
                Ok(LogRead::Gap {
                    first,
                    trimmed_through,
                }) => {
                    self.next = first;
                    return Some(Ok(Frame::Gap {
                        first,
                        trimmed_through,
                    }
                    .encode()));
                }
                Ok(LogRead::Records(items)) if !items.is_empty() => {
                    if let Some((last, _)) = items.last() {
                        self.next = last + 1;
                    }
                    return Some(Ok(Frame::Batch(items).encode()));
                }
                Ok(LogRead::Records(_)) => {
                    let next = self.next;
                    let beat_due = self.last_beat + HEARTBEAT;
                    if *self.durable.borrow() >= next {
                        // Durable yet not readable (a record being trimmed
                        // under the read): look again shortly, not at once.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                    tokio::select! {
                        () = stop.cancelled() => return None,
                        waited = self.durable.wait_for(|durable| *durable >= next) => {
                            if waited.is_err() {
                                return None;
                            }
                        }
                        () = tokio::time::sleep_until(beat_due) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn only_the_exact_secret_matches() {
        let secret = "0123456789abcdef";
        assert!(secret_matches(secret, "0123456789abcdef"));
        for wrong in [
            "",
            "0123456789abcde",
            "0123456789abcdeF",
            "0123456789abcdef0",
        ] {
            assert!(!secret_matches(secret, wrong), "{wrong:?}");
        }
    }

    #[test]
    fn the_secret_comes_from_the_bearer_header_only() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("roost_token=0123456789abcdef"),
        );
        assert_eq!(
            bearer(&headers),
            None,
            "a session cookie is no region secret"
        );
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("bearer s3cret"),
        );
        assert_eq!(bearer(&headers), Some("s3cret"));
        headers.insert(
            header::AUTHORIZATION,
            HeaderValue::from_static("Basic s3cret"),
        );
        assert_eq!(bearer(&headers), None);
    }
}
