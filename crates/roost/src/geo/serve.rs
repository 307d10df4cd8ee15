//! The peer-facing side of replication, and the regions' status, as REST
//! handlers (routed in `api/rest.rs`):
//!
//! - `GET /api/geo/log?from=<seq>&region=<name>&index=<i>&regions=<hash>`:
//!   this region's change log from `from` (0: the oldest record kept) as a
//!   long-lived stream of frames (`frame.rs`): batches as records become
//!   durable, a heartbeat every second when idle (and at least every second
//!   while busy), a gap when `from` fell out of retention — also first thing
//!   for a reader from 0 once anything was trimmed, and when `from` is past
//!   this log's end (this log started over: its data directory was
//!   replaced). Guarded by `ROOST_REGION_SECRET` only (`Authorization:
//!   Bearer <secret>`, compared in constant time), never by a client
//!   credential. `409` when the asking region is not one of this region's
//!   peers or lists another set of regions (`index`, `regions`: its
//!   tie-break index and [`region_set_hash`]), since versions would then
//!   tie-break inconsistently. The stream computes the next frame only when
//!   the previous one was taken by the socket: one batch in flight per
//!   stream.
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
use crate::config::GeoSettings;

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
    /// The asking region's tie-break index (a link always sends it; a
    /// hand-made request may leave it out).
    index: Option<u8>,
    /// [`region_set_hash`] of the asking region's settings (likewise).
    regions: Option<String>,
    /// The identity of the log the reader read up to `from` (the
    /// [`LOG_HEADER`] it was served, 16 hex digits); another log's means
    /// this log started over.
    log: Option<String>,
}

/// The response header naming the log a stream serves
/// ([`super::log::identity`]), which the reader sends back as `log=`.
pub const LOG_HEADER: &str = "roost-geo-log";

/// A short, stable name for the set of regions `settings` lists (this one
/// and its peers): the first 8 bytes of SHA-256 over the sorted names joined
/// by `,`, in hex. Two regions agree on every tie-break index exactly when
/// they agree on this.
pub fn region_set_hash(settings: &GeoSettings) -> String {
    let names = settings.region_names().join(",");
    digest(&SHA256, names.as_bytes()).as_ref()[..8]
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Why `query` may not pull this region's log: the asker is not one of
/// `settings`' peers, or it lists another set of regions (or, with the same
/// set, claims another index).
fn disagreement(settings: &GeoSettings, query: &LogQuery) -> Option<String> {
    let names = settings.region_names();
    let listed = format!("[{}]", names.join(", "));
    if !settings.peers.iter().any(|peer| peer.name == query.region) {
        return Some(format!(
            "region {:?} is not one of region {}'s peers {listed}: every region must list the same set in ROOST_REGION_PEERS",
            query.region, settings.region
        ));
    }
    let ours = region_set_hash(settings);
    if let Some(theirs) = query.regions.as_deref().filter(|theirs| **theirs != ours) {
        return Some(format!(
            "region {} lists another set of regions (hash {theirs}) than region {} does ({listed}, hash {ours}): every region must list the same set in ROOST_REGION_PEERS, since the sorted names give each region its tie-break index",
            query.region, settings.region
        ));
    }
    let expected = names.iter().position(|name| *name == query.region);
    match (query.index, expected) {
        (Some(index), Some(expected)) if usize::from(index) != expected => Some(format!(
            "region {} says its index is {index}, region {} counts it {expected} among {listed}: every region must list the same set in ROOST_REGION_PEERS",
            query.region, settings.region
        )),
        _ => None,
    }
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
    if let Some(why) = disagreement(geo.settings(), &query) {
        tracing::warn!(region = %query.region, reason = %why, "replication request refused");
        return Err(ApiError::new(StatusCode::CONFLICT, "regions_differ", why));
    }
    let own = geo.log.identity().id;
    let hex = |id: &str| {
        let digits = id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit());
        digits.then(|| u64::from_str_radix(id, 16).ok()).flatten()
    };
    let read = match query.log.as_deref().map(hex) {
        None => None,
        Some(Some(id)) => Some(id),
        Some(None) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "log=<the identity of the log read so far> must be 16 hex digits",
            ))
        }
    };
    tracing::info!(region = %query.region, from = query.from, "region pulling this log");
    let mut stream = LogStream::new(geo.clone(), query.from);
    if query.from > 0 && read.is_some_and(|read| read != own) {
        tracing::warn!(
            region = %query.region,
            from = query.from,
            "a peer read another log of this region (its data directory was replaced); it starts over"
        );
        stream.started_over = true;
    }
    let body = futures_util::stream::unfold(stream, |mut stream| async move {
        let frame = stream.next_frame().await?;
        Some((frame, stream))
    });
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::HeaderName::from_static(LOG_HEADER),
                format!("{own:016x}"),
            ),
        ],
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
    /// The reader read another log of this region: it is sent back to this
    /// log's start first.
    started_over: bool,
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
            started_over: false,
        }
    }

    /// The gap that sends a reader of a log this region no longer has back
    /// to this log's start: everything older than this log's birth (or than
    /// what it trimmed since) is what the lost log may have changed.
    fn start_over(&mut self) -> Frame {
        let (first, trimmed_through) = match self.geo.log.trimmed() {
            Some(LogRead::Gap {
                first,
                trimmed_through,
            }) => (first, trimmed_through),
            _ => (1, 0),
        };
        self.next = first;
        Frame::Gap {
            first,
            trimmed_through: trimmed_through.max(self.geo.log.identity().born),
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
            if std::mem::take(&mut self.started_over) {
                return Some(Ok(self.start_over().encode()));
            }
            if self.next == 0 {
                // A reader from the start is owed what retention removed, so
                // it drops what it cannot prove fresh before its first batch.
                self.next = 1;
                if let Some(LogRead::Gap {
                    first,
                    trimmed_through,
                }) = self.geo.log.trimmed()
                {
                    self.next = first;
                    return Some(Ok(Frame::Gap {
                        first,
                        trimmed_through,
                    }
                    .encode()));
                }
            }
            let durable = *self.durable.borrow();
            if self.next > durable.saturating_add(1) {
                // Past this log's end: the reader read a log this region no
                // longer has (its data directory was replaced; a reader
                // that does not send `log=`). Waiting would be forever; it
                // starts over from what is kept.
                tracing::warn!(
                    from = self.next,
                    last = durable,
                    "a peer asked past the end of this log (it read a log this region no longer has); it starts over"
                );
                return Some(Ok(self.start_over().encode()));
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
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::http::HeaderValue;
    use roost_store::ManualClock;

    use super::super::frame::FrameReader;
    use super::super::hlc;
    use super::*;

    const T0: u64 = 1_750_000_000_000;

    fn settings(region: &str, peers: &[&str]) -> GeoSettings {
        let peers: Vec<String> = peers
            .iter()
            .enumerate()
            .map(|(i, name)| format!("{name}=http://127.0.0.1:{}", 9000 + i))
            .collect();
        let env: std::collections::HashMap<String, String> = [
            ("ROOST_REGION", region.to_string()),
            ("ROOST_REGION_PEERS", peers.join(",")),
            ("ROOST_REGION_SECRET", "0123456789abcdef".to_string()),
            ("ROOST_DATA_DIR", "/nonexistent".to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        crate::config::Config::from_layers(&crate::config::Layers::defaults().with_env(&env))
            .unwrap()
            .geo
            .unwrap()
    }

    fn asking(region: &str, asker: &GeoSettings) -> LogQuery {
        LogQuery {
            from: 0,
            region: region.to_string(),
            index: Some(asker.region_index()),
            regions: Some(region_set_hash(asker)),
            log: None,
        }
    }

    #[test]
    fn the_region_set_hash_is_stable_and_order_free() {
        let us = settings("us", &["eu", "ap"]);
        let eu = settings("eu", &["ap", "us"]);
        assert_eq!(region_set_hash(&us), region_set_hash(&eu));
        assert_eq!(region_set_hash(&us).len(), 16);
        // SHA-256 of "ap,eu,us": the same in every build and every region.
        assert_eq!(region_set_hash(&us), "ab1903dc1feec3e4");
        assert_ne!(
            region_set_hash(&us),
            region_set_hash(&settings("us", &["eu"]))
        );
    }

    #[test]
    fn only_a_peer_listing_the_same_regions_may_pull() {
        let us = settings("us", &["eu", "ap"]);
        let eu = settings("eu", &["ap", "us"]);
        assert_eq!(disagreement(&us, &asking("eu", &eu)), None);
        // A hand-made request without index and hash is checked by name only.
        let bare = LogQuery {
            from: 0,
            region: "eu".into(),
            index: None,
            regions: None,
            log: None,
        };
        assert_eq!(disagreement(&us, &bare), None);

        let stranger = settings("sa", &["us"]);
        let why = disagreement(&us, &asking("sa", &stranger)).unwrap();
        assert!(
            why.contains("\"sa\" is not one of region us's peers [ap, eu, us]"),
            "{why}"
        );

        let short = settings("eu", &["us"]);
        let why = disagreement(&us, &asking("eu", &short)).unwrap();
        assert!(why.contains(&region_set_hash(&short)), "{why}");
        assert!(why.contains(&region_set_hash(&us)), "{why}");
        assert!(why.contains("ROOST_REGION_PEERS"), "{why}");

        let mut wrong_index = asking("eu", &eu);
        wrong_index.index = Some(2);
        let why = disagreement(&us, &wrong_index).unwrap();
        assert!(
            why.contains("index is 2") && why.contains("counts it 1"),
            "{why}"
        );
    }

    /// The first `max` frames a stream from `from` sends, heartbeats left
    /// out; a stream that only heartbeats (it waits) fails the test.
    async fn frames(geo: &Arc<Geo>, from: Seq, max: usize) -> Vec<Frame> {
        let mut stream = LogStream::new(geo.clone(), from);
        let mut reader = FrameReader::new(8 << 20);
        let (mut out, mut beats) = (Vec::new(), 0);
        while out.len() < max {
            let bytes = stream.next_frame().await.unwrap().unwrap();
            reader.push(&bytes);
            match reader.next_frame().unwrap().unwrap() {
                Frame::Heartbeat { .. } => {
                    beats += 1;
                    assert!(
                        beats < 3,
                        "the stream waits instead of sending; so far {out:?}"
                    );
                }
                frame => out.push(frame),
            }
        }
        out
    }

    #[tokio::test]
    async fn a_reader_from_the_start_learns_what_was_trimmed_before_any_record() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let (geo, _) =
            super::super::test_geo(dir.path(), &clock, &[("ROOST_GEO_LOG_MAX_BYTES", "1MiB")]);
        let big = Bytes::from(vec![7u8; 600 << 10]);
        for version in [100, 300, 200] {
            geo.log.append(vec![(version, big.clone())]).await.unwrap();
        }
        assert!(geo.log.trim().unwrap() > 0);
        let Some(LogRead::Gap { first, .. }) = geo.log.trimmed() else {
            panic!("nothing trimmed");
        };
        let got = frames(&geo, 0, 2).await;
        assert_eq!(
            got[0],
            Frame::Gap {
                first,
                trimmed_through: 300
            }
        );
        match &got[1] {
            Frame::Batch(items) => assert_eq!(items[0].0, first),
            other => panic!("{other:?}"),
        }
    }

    #[tokio::test]
    async fn a_reader_past_the_end_of_a_log_that_started_over_is_sent_back_to_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let (geo, _) = super::super::test_geo(dir.path(), &clock, &[]);
        geo.log
            .append(vec![(5, Bytes::from_static(b"one"))])
            .await
            .unwrap();
        // A peer that had read this region's previous log through 40.
        let got = frames(&geo, 41, 2).await;
        let born = geo.log.identity().born;
        assert_eq!(born, hlc::compose(T0, 0, 0).get(), "a new log is born now");
        assert_eq!(
            got,
            vec![
                Frame::Gap {
                    first: 1,
                    trimmed_through: born
                },
                Frame::Batch(vec![(1, Bytes::from_static(b"one"))]),
            ]
        );
    }

    /// A reader of another log of this region (its data directory was
    /// replaced) is sent back to this log's start even when this log has
    /// already grown past the reader's cursor, dropping what the lost log
    /// may have changed (everything older than this log's birth).
    #[tokio::test]
    async fn a_reader_of_a_lost_log_starts_over_even_inside_this_ones_range() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let (geo, _) = super::super::test_geo(dir.path(), &clock, &[]);
        for i in 1..=5u8 {
            geo.log
                .append(vec![(u64::from(i), Bytes::from(vec![i]))])
                .await
                .unwrap();
        }
        let own = geo.log.identity();
        let mut stream = LogStream::new(geo.clone(), 3);
        stream.started_over = true;
        let mut reader = FrameReader::new(1 << 20);
        let mut got = Vec::new();
        while got.len() < 2 {
            reader.push(&stream.next_frame().await.unwrap().unwrap());
            match reader.next_frame().unwrap().unwrap() {
                Frame::Heartbeat { .. } => {}
                frame => got.push(frame),
            }
        }
        assert_eq!(
            got[0],
            Frame::Gap {
                first: 1,
                trimmed_through: own.born
            }
        );
        match &got[1] {
            Frame::Batch(items) => assert_eq!(items.len(), 5, "read again from 1"),
            other => panic!("{other:?}"),
        }
        // The same log's reader resumes where it was.
        assert_eq!(frames(&geo, 3, 1).await[0], {
            let items = (3..=5u8).map(|i| (u64::from(i), Bytes::from(vec![i])));
            Frame::Batch(items.collect())
        });
    }

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
