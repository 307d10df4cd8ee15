//! One link: this region pulling one peer's change log. A task per peer
//! (registered in [`Tasks`]) connects to `GET {peer}/api/geo/log` (saying
//! which region asks, its index and its set of regions, which the peer
//! checks), reads the stream frame by frame and, for each batch, observes
//! every version in the HLC, applies the batch through
//! `Cache::apply(Change::Replicate)` — only what is newer than the key holds
//! is stored — and only then reads the next frame, so a slow apply slows the
//! peer's stream instead of filling memory (backpressure).
//!
//! The cursor (the last Seq applied) moves after each applied batch; the geo
//! task persists cursors at most every 100 ms. A record stamped too far
//! ahead or that does not decode is not skipped: the batch stops before it,
//! the cursor stays before it, and the stream ends, so it is asked for again
//! (and applied once this region's clock catches up). A link silent for
//! [`SILENCE`] (the peer heartbeats every second when idle), a broken
//! stream or a refusal reconnects after a backoff: 100 ms doubling to 2 s.
//! A gap (the peer trimmed what this region had not read, or its log
//! started over) moves the clock past the trimmed versions, drops every
//! entry older than them (`Change::DropOlder`) and counts a resync.
//! On start a link reads the peer's whole retained log (this region's store
//! starts empty, see docs/regions.md "Restart"), after the gap the peer
//! sends first if it trimmed anything; the persisted cursor only tells
//! whether changes were trimmed meanwhile, which is reported.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::{header, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use roost_store::Version;
use tokio_util::sync::CancellationToken;

use super::frame::{Frame, FrameReader};
use super::hlc::{self, Hlc};
use super::log::Seq;
use super::record::{Record, RecordError, MAX_KEY_BYTES};
use super::serve::{region_set_hash, LOG_HEADER};
use super::status::{LinkState, PeerLink};
use super::Geo;
use crate::backend::SetEntry;
use crate::cache::{Applied, Cache, Change, Origin, Replicated, Write};
use crate::config::GeoMode;
use crate::origin::Connector;
use crate::telemetry::{EventKind, Throttled};

/// A peer that sends nothing (not even a heartbeat) this long is presumed
/// gone: the link reconnects.
pub const SILENCE: Duration = Duration::from_secs(3);
/// The first wait before reconnecting; it doubles after each failure.
pub const BACKOFF_START: Duration = Duration::from_millis(100);
/// The longest wait before reconnecting, so a healed link resumes within
/// a few seconds.
pub const BACKOFF_CAP: Duration = Duration::from_secs(2);
/// Connecting (TCP and TLS) gives up after this.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// The wait before the attempt after one that waited `previous`.
pub fn next_backoff(previous: Duration) -> Duration {
    (previous * 2).clamp(BACKOFF_START, BACKOFF_CAP)
}

/// A batch made ready to apply: its records up to (not including) the first
/// one refused.
#[derive(Debug, Default)]
pub struct Prepared {
    /// What `Change::Replicate` stores (values or tombstones at their versions).
    pub entries: Vec<SetEntry>,
    /// The last Seq the cursor may move to: the last record in `entries`'
    /// stretch, the Seq before the refused record when one stopped the batch.
    pub last_seq: Seq,
    /// The newest version among the records kept.
    pub newest: Version,
    /// For each record kept: how old its version is here, in ms.
    pub staleness_ms: Vec<u64>,
    /// The record the batch stopped at, if one was refused: it and every
    /// record after it are left for the next stream to ask for again.
    pub stopped: Option<Refusal>,
}

/// A record not applied (yet), and why.
#[derive(Debug)]
pub struct Refusal {
    pub seq: Seq,
    pub why: Refused,
}

#[derive(Debug)]
pub enum Refused {
    /// Stamped too far ahead of this region's clock: applied once the clock
    /// catches up (or the writer's comes back).
    Skew { key: Bytes, skew: hlc::Skew },
    /// Does not decode here (a damaged or incompatible peer, or a value over
    /// this region's `ROOST_MAX_VALUE_BYTES`).
    Malformed(RecordError),
}

impl Refused {
    /// The `reason` label of `roost_geo_refused_total`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refused::Skew { .. } => "clock_skew",
            Refused::Malformed(_) => "malformed",
        }
    }
}

/// Turns a batch into entries: each record is decoded, observed in `hlc` and
/// mapped to what this region stores ([`Record::into_entry`]). The first
/// record that does not decode or is stamped too far ahead stops the batch:
/// what came before it is kept, it and what follows are not looked at, so
/// the cursor never passes a change that was not applied.
pub fn prepare(
    items: Vec<(Seq, Bytes)>,
    hlc: &Hlc,
    mode: GeoMode,
    tombstone_ttl_ms: u64,
    max_value_bytes: usize,
) -> Prepared {
    let mut prepared = Prepared {
        last_seq: items.first().map_or(0, |(seq, _)| seq.saturating_sub(1)),
        ..Prepared::default()
    };
    for (seq, bytes) in items {
        let record = match Record::decode(&bytes, max_value_bytes) {
            Ok(record) => record,
            Err(error) => {
                prepared.stopped = Some(Refusal {
                    seq,
                    why: Refused::Malformed(error),
                });
                break;
            }
        };
        if let Err(skew) = hlc.observe(record.version) {
            prepared.stopped = Some(Refusal {
                seq,
                why: Refused::Skew {
                    key: record.key,
                    skew,
                },
            });
            break;
        }
        let now = hlc.physical_now();
        prepared
            .staleness_ms
            .push(now.saturating_sub(hlc::physical_ms(record.version)));
        prepared.newest = prepared.newest.max(record.version);
        prepared
            .entries
            .push(record.into_entry(mode, now, tombstone_ttl_ms));
        prepared.last_seq = seq;
    }
    prepared
}

/// Why a stream ended.
type Ended = String;

/// The puller of one peer's log.
struct Puller {
    geo: Arc<Geo>,
    link: Arc<PeerLink>,
    cache: Cache,
    client: Client<Connector, Body>,
    /// The Seq to ask for next (0: the start of the peer's retention).
    next: Seq,
    /// The cursor persisted before this start, checked once against the
    /// peer's first retained Seq.
    persisted: Option<Seq>,
    /// The identity of the peer's log `next` counts in (its
    /// [`super::serve::LOG_HEADER`]), sent back as `log=`: a peer whose log
    /// started over sends this link back to its start, however far the new
    /// log has grown. `None` until the first answer; another log's id is
    /// taken only once its gap back to the start was applied (a stream cut
    /// before that must ask as a reader of the old log again).
    log_id: Option<String>,
    /// The id the current stream's answer named.
    serving: Option<String>,
    /// Whether the current stream delivered a frame (resets the backoff).
    streamed: bool,
    /// The Seq of a refused record this link waits to apply: until it is,
    /// the link stays down (it reconnects with backoff and asks again).
    stuck: Option<Seq>,
    /// Refusals are logged and evented at most once per 10 s.
    refusal_log: Throttled,
}

/// Runs the link to `link.peer` until `stop`.
pub async fn run(
    geo: Arc<Geo>,
    link: Arc<PeerLink>,
    cache: Cache,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let mut puller = Puller::new(geo, link, cache)?;
    let mut backoff = BACKOFF_START;
    loop {
        puller.streamed = false;
        let ended = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            ended = puller.stream() => ended,
        };
        puller.down(&ended);
        // A stream that made progress starts the backoff over; one that
        // stopped at a refused change keeps doubling it.
        if puller.streamed && puller.stuck.is_none() {
            backoff = BACKOFF_START;
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(()),
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = next_backoff(backoff);
    }
}

impl Puller {
    fn new(geo: Arc<Geo>, link: Arc<PeerLink>, cache: Cache) -> anyhow::Result<Puller> {
        let https = link.peer.url.starts_with("https://");
        let connector = Connector::new(https, CONNECT_TIMEOUT)?;
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(1)
            .build(connector);
        let persisted = geo.cursors.get(&link.peer.name);
        Ok(Puller {
            geo,
            link,
            cache,
            client,
            next: 0,
            persisted: (persisted > 0).then_some(persisted),
            log_id: None,
            serving: None,
            streamed: false,
            stuck: None,
            refusal_log: Throttled::new(Duration::from_secs(10)),
        })
    }

    fn name(&self) -> &str {
        &self.link.peer.name
    }

    /// One connection: answers why it ended (it never ends well).
    async fn stream(&mut self) -> Ended {
        let settings = &self.geo.settings;
        let mut url = format!(
            "{}/api/geo/log?from={}&region={}&index={}&regions={}",
            self.link.peer.url,
            self.next,
            settings.region,
            settings.region_index(),
            region_set_hash(settings),
        );
        if let Some(id) = &self.log_id {
            url.push_str("&log=");
            url.push_str(id);
        }
        let secret = self.geo.settings.secret.clone().unwrap_or_default();
        let request = Request::get(&url)
            .header(header::AUTHORIZATION, format!("Bearer {secret}"))
            .header(header::USER_AGENT, "roost-geo")
            .body(Body::empty());
        let request = match request {
            Ok(request) => request,
            Err(error) => return format!("building the request to {url}: {error}"),
        };
        let response = match tokio::time::timeout(SILENCE, self.client.request(request)).await {
            Err(_) => return format!("no answer within {} s", SILENCE.as_secs()),
            Ok(Err(error)) => return format!("request failed: {}", chain(&error)),
            Ok(Ok(response)) => response,
        };
        match response.status() {
            StatusCode::OK => {}
            StatusCode::UNAUTHORIZED => {
                return "the peer refused this region's secret (401): ROOST_REGION_SECRET must be the same in every region".into()
            }
            StatusCode::NOT_FOUND => {
                return "the peer is not a region (404): set ROOST_REGION there".into()
            }
            StatusCode::CONFLICT => {
                let why = error_message(response.into_body()).await;
                return format!("the peer refused this region (409): {why}");
            }
            other => return format!("the peer answered {other}"),
        }
        // The log this stream serves; if it is not the one `next` counts
        // in, the peer sends a gap back to its start first.
        self.serving = response
            .headers()
            .get(LOG_HEADER)
            .and_then(|id| id.to_str().ok())
            .map(str::to_owned);
        if self.next == 0 || self.log_id.is_none() {
            self.log_id.clone_from(&self.serving);
        }
        if self.stuck.is_none() {
            self.up();
        }
        let max_frame = self.geo.max_value_bytes + MAX_KEY_BYTES + (4 << 20);
        let mut reader = FrameReader::new(max_frame);
        let mut body = response.into_body();
        loop {
            let frame = match reader.next_frame() {
                Ok(Some(frame)) => frame,
                Ok(None) => match read_chunk(&mut body).await {
                    Ok(Some(chunk)) => {
                        reader.push(&chunk);
                        continue;
                    }
                    Ok(None) => return "the peer ended the stream".into(),
                    Err(why) => return why,
                },
                Err(error) => return format!("unreadable stream: {error}"),
            };
            self.streamed = true;
            if let Err(why) = self.handle(frame).await {
                return why;
            }
        }
    }

    async fn handle(&mut self, frame: Frame) -> Result<(), Ended> {
        match frame {
            Frame::Batch(items) => self.apply_batch(items).await,
            Frame::Heartbeat { hlc, last } => {
                if let Some(version) = Version::new(hlc).filter(|v| !v.is_none()) {
                    // Only to keep the clocks close; a skewed peer's changes
                    // are refused one by one where they arrive.
                    let _ = self.geo.hlc.observe(version);
                }
                self.link.peer_last.store(last, Ordering::Release);
                self.publish_lag();
                Ok(())
            }
            Frame::Gap {
                first,
                trimmed_through,
            } => {
                self.resync(first, trimmed_through).await?;
                // From here on `next` counts in the log this stream serves.
                self.log_id.clone_from(&self.serving);
                Ok(())
            }
        }
    }

    async fn apply_batch(&mut self, items: Vec<(Seq, Bytes)>) -> Result<(), Ended> {
        if items.is_empty() {
            return Ok(());
        }
        let settings = &self.geo.settings;
        let prepared = prepare(
            items,
            &self.geo.hlc,
            settings.mode,
            u64::try_from(settings.tombstone_ttl.as_millis()).unwrap_or(u64::MAX),
            self.geo.max_value_bytes,
        );
        if !prepared.entries.is_empty() {
            let count = prepared.entries.len();
            let write = Write {
                change: Change::Replicate(prepared.entries),
                origin: Origin::Region,
            };
            let done = match self.cache.apply(write).await {
                Ok(Applied::Replicated(done)) => done,
                Ok(other) => return Err(format!("applying {count} changes answered {other:?}")),
                Err(error) => {
                    return Err(format!(
                        "applying {count} changes failed: {}",
                        error.chain()
                    ))
                }
            };
            self.count_applied(&done);
            for ms in &prepared.staleness_ms {
                self.geo
                    .metrics
                    .staleness_seconds
                    .observe(*ms as f64 / 1000.0);
            }
            self.link
                .last_applied_version
                .fetch_max(prepared.newest.get(), Ordering::AcqRel);
        }
        self.advance(prepared.last_seq);
        match prepared.stopped {
            Some(refusal) => Err(self.refuse(refusal)),
            None => Ok(()),
        }
    }

    /// Counts what the store did with a batch, in the link's figures and
    /// the metrics.
    fn count_applied(&self, done: &Replicated) {
        let (link, metrics) = (&self.link, &self.geo.metrics);
        link.applied_total.fetch_add(done.applied, Ordering::AcqRel);
        link.conflicts_total.fetch_add(done.older, Ordering::AcqRel);
        link.forgotten_total
            .fetch_add(done.forgotten, Ordering::AcqRel);
        link.refused_total.fetch_add(done.refused, Ordering::AcqRel);
        metrics
            .applied
            .with_label_values(&[self.name()])
            .inc_by(done.applied);
        metrics.conflicts.inc_by(done.older);
        for (reason, count) in [("limits", done.refused), ("forgotten", done.forgotten)] {
            if count > 0 {
                metrics
                    .refused
                    .with_label_values(&[self.name(), reason])
                    .inc_by(count);
            }
        }
    }

    /// Counts and reports a record that stopped a batch, and answers why the
    /// stream ends: the link asks again from it after a backoff, so a change
    /// refused for clock skew is applied once this region's clock catches
    /// up, and one that does not decode keeps the link down (visibly) until
    /// the peer or this region is fixed.
    fn refuse(&mut self, refusal: Refusal) -> Ended {
        self.stuck = Some(refusal.seq);
        self.link.refused_total.fetch_add(1, Ordering::AcqRel);
        self.geo
            .metrics
            .refused
            .with_label_values(&[self.name(), refusal.why.reason()])
            .inc();
        let seq = refusal.seq;
        let why = match &refusal.why {
            Refused::Skew { key, skew } => format!(
                "change {seq} from region {} refused: key {:?} {skew}; retried until this region's clock catches up",
                self.name(),
                String::from_utf8_lossy(key),
            ),
            Refused::Malformed(error) => format!(
                "change {seq} from region {} does not decode here: {error}; retried (every region must run the same ROOST_MAX_VALUE_BYTES)",
                self.name(),
            ),
        };
        if let Some(suppressed) = self.refusal_log.allow() {
            let message = format!("{why} ({suppressed} refusal reports left out)");
            tracing::warn!(peer = self.name(), seq, reason = refusal.why.reason(), %message, "change refused");
            self.geo.events.record(EventKind::Region, message);
        }
        why
    }

    /// The peer trimmed changes this region had not applied: entries older
    /// than the newest trimmed version cannot be proven fresh, so they go,
    /// and this region's clock moves past that version so its later writes
    /// stamp newer than the trimmed ones. A gap back to before this link's
    /// position means the peer's log started over (its data directory was
    /// replaced): it is read again from `first`.
    ///
    /// On start (asked from 0) the peer sends the gap first if it trimmed
    /// anything: the store started empty, so this only moves the clock and
    /// the forgotten floor; it counts as a resync only if changes after the
    /// persisted cursor were trimmed while this region was down.
    async fn resync(&mut self, first: Seq, trimmed_through: u64) -> Result<(), Ended> {
        let persisted = self.persisted.take();
        let dropped = self
            .geo
            .forget_through(&self.cache, trimmed_through)
            .await
            .map_err(|error| format!("resync failed: {error:#}"))?;
        let read_through = self.next.saturating_sub(1);
        if self.next == 0 {
            match persisted {
                Some(persisted) if first > persisted.saturating_add(1) => {
                    self.report_resync(format!(
                        "changes {} to {} of region {}'s log were trimmed before this region read them (it restarted empty; entries older than version {trimmed_through} dropped here: {dropped})",
                        persisted.saturating_add(1),
                        first.saturating_sub(1),
                        self.name()
                    ));
                }
                _ => tracing::info!(
                    peer = self.name(),
                    first,
                    trimmed_through,
                    "the peer's log starts after trimmed changes: nothing older than them is taken as fresh"
                ),
            }
        } else if first <= read_through {
            self.report_resync(format!(
                "region {}'s log starts over (this region had read it through change {read_through}; was its data directory replaced?): entries older than version {trimmed_through} dropped here ({dropped}); reading it again from {first}",
                self.name(),
            ));
            self.link
                .peer_last
                .store(first.saturating_sub(1), Ordering::Release);
            // A change refused in the log that is gone is no longer owed.
            if self.stuck.take().is_some() {
                self.up();
            }
        } else {
            self.report_resync(format!(
                "region {}'s log no longer holds changes {} to {}: entries older than version {trimmed_through} dropped here ({dropped}); reading on from {first}",
                self.name(),
                self.next,
                first.saturating_sub(1),
            ));
        }
        self.advance(first.saturating_sub(1));
        Ok(())
    }

    fn report_resync(&self, message: String) {
        self.link.resyncs_total.fetch_add(1, Ordering::AcqRel);
        self.geo.metrics.resyncs.inc();
        tracing::warn!(peer = self.name(), %message, "resync");
        self.geo.events.record(EventKind::Region, message);
    }

    /// Everything up to `seq` is applied.
    fn advance(&mut self, seq: Seq) {
        self.next = seq.saturating_add(1);
        if self.stuck.is_some_and(|stuck| seq >= stuck) {
            self.stuck = None;
            self.up();
        }
        self.link.cursor.store(seq, Ordering::Release);
        self.link.peer_last.fetch_max(seq, Ordering::AcqRel);
        self.geo.cursors.set(self.name(), seq);
        self.publish_lag();
    }

    /// Lag in changes and in time (since the last change applied, while
    /// behind; 0 when caught up).
    fn publish_lag(&self) {
        let behind = self.link.lag_changes();
        let last = Version::new(self.link.last_applied_version.load(Ordering::Acquire))
            .unwrap_or(Version::NONE);
        let lag_ms = if behind == 0 || last.is_none() {
            0
        } else {
            self.geo
                .hlc
                .physical_now()
                .saturating_sub(hlc::physical_ms(last))
        };
        self.link.lag_ms.store(lag_ms, Ordering::Release);
        let metrics = &self.geo.metrics;
        metrics
            .lag_seconds
            .with_label_values(&[self.name()])
            .set(lag_ms as f64 / 1000.0);
        metrics
            .lag_changes
            .with_label_values(&[self.name()])
            .set(i64::try_from(behind).unwrap_or(i64::MAX));
    }

    fn up(&self) {
        let now = self.geo.hlc.physical_now();
        self.link.connected_since_ms.store(now, Ordering::Release);
        self.link.set_error(None);
        self.geo
            .metrics
            .link_up
            .with_label_values(&[self.name()])
            .set(1);
        self.link.set_state(LinkState::Up);
        let message = format!(
            "link to region {} up ({}), reading from seq {}",
            self.name(),
            self.link.peer.url,
            self.next
        );
        tracing::info!(peer = self.name(), url = %self.link.peer.url, from = self.next, "region link up");
        self.geo.events.record(EventKind::Region, message);
    }

    /// The stream ended: the link is down (said once per transition).
    fn down(&self, why: &str) {
        self.link.connected_since_ms.store(0, Ordering::Release);
        self.link.set_error(Some(why.to_string()));
        self.geo
            .metrics
            .link_up
            .with_label_values(&[self.name()])
            .set(0);
        let was = self.link.set_state(LinkState::Down);
        if was == LinkState::Down {
            tracing::debug!(peer = self.name(), reason = why, "region link still down");
            return;
        }
        tracing::warn!(peer = self.name(), url = %self.link.peer.url, reason = why, "region link down");
        self.geo.events.record(
            EventKind::Region,
            format!("link to region {} down: {why}", self.name()),
        );
    }
}

/// The next chunk of the body, `None` at its end; an error (or silence past
/// [`SILENCE`]) is why the stream ended.
async fn read_chunk(body: &mut Incoming) -> Result<Option<Bytes>, Ended> {
    loop {
        let polled = std::future::poll_fn(|cx| std::pin::Pin::new(&mut *body).poll_frame(cx));
        let frame = match tokio::time::timeout(SILENCE, polled).await {
            Err(_) => {
                return Err(format!(
                    "the peer sent nothing for {} s (no heartbeat)",
                    SILENCE.as_secs()
                ))
            }
            Ok(None) => return Ok(None),
            Ok(Some(Err(error))) => return Err(format!("the stream broke: {}", chain(&error))),
            Ok(Some(Ok(frame))) => frame,
        };
        if let Ok(data) = frame.into_data() {
            return Ok(Some(data));
        }
    }
}

/// The `error.message` of a refusal's JSON body (`{"error": {"code",
/// "message"}}`), or what the body was when it is not that.
async fn error_message(mut body: Incoming) -> String {
    const MAX_BYTES: usize = 16 << 10;
    let mut bytes = Vec::new();
    while bytes.len() < MAX_BYTES {
        match read_chunk(&mut body).await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(why) => return format!("(no reason: {why})"),
        }
    }
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    match parsed
        .as_ref()
        .and_then(|json| json["error"]["message"].as_str())
    {
        Some(message) => message.to_string(),
        None => String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned(),
    }
}

/// An error and its causes on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use roost_store::{Entry, ManualClock};

    use super::super::record::Kind;
    use super::*;

    const T0: u64 = 1_750_000_000_000;
    const TTL: u64 = 86_400_000;

    fn record(kind: Kind, key: &str, value: &str, version: Version) -> Bytes {
        Record {
            version,
            kind,
            expires_at: Some(T0 + 60_000),
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
        }
        .encode()
    }

    fn clock_and_hlc() -> (ManualClock, Hlc) {
        let clock = ManualClock::new(T0);
        let hlc = Hlc::new(Arc::new(clock.clone()), 0, Duration::from_secs(5));
        (clock, hlc)
    }

    #[test]
    fn replicate_mode_keeps_values_and_tombstones_at_their_versions() {
        let (_, hlc) = clock_and_hlc();
        let v1 = hlc::compose(T0 - 40, 0, 1);
        let v2 = hlc::compose(T0 - 10, 3, 1);
        let items = vec![
            (7, record(Kind::Value, "a", "one", v1)),
            (8, record(Kind::Tombstone, "b", "", v2)),
        ];
        let p = prepare(items, &hlc, GeoMode::Replicate, TTL, 1024);
        assert_eq!(p.last_seq, 8);
        assert_eq!(p.newest, v2);
        assert_eq!(p.staleness_ms, vec![40, 10]);
        let (key, a) = &p.entries[0];
        assert_eq!(
            (&key[..], &a.value[..], a.version()),
            (&b"a"[..], &b"one"[..], v1)
        );
        assert!(!a.is_tombstone());
        assert_eq!(a.expires_at, Some(T0 + 60_000));
        let b = &p.entries[1].1;
        assert!(b.is_tombstone());
        assert_eq!((b.version(), b.expires_at), (v2, Some(T0 + 60_000)));
        assert!(hlc.now() > v2, "every version is observed");
    }

    #[test]
    fn invalidate_mode_turns_values_into_tombstones_for_the_ttl() {
        let (_, hlc) = clock_and_hlc();
        let v = hlc::compose(T0, 0, 2);
        let items = vec![
            (1, record(Kind::Value, "a", "bytes", v)),
            (2, record(Kind::Invalidate, "b", "", v)),
        ];
        let p = prepare(items, &hlc, GeoMode::Invalidate, TTL, 1024);
        for (_, entry) in &p.entries {
            assert!(entry.is_tombstone());
            assert_eq!(entry.version(), v);
            assert_eq!(entry.expires_at, Some(T0 + TTL));
            assert!(entry.value.is_empty());
        }
        assert_eq!(p.entries.len(), 2);
    }

    #[test]
    fn a_change_stamped_too_far_ahead_stops_the_batch_before_it() {
        let (clock, hlc) = clock_and_hlc();
        let ahead = hlc::compose(T0 + 6_000, 0, 1);
        let fine = hlc::compose(T0 + 4_000, 0, 1);
        let items = vec![
            (4, record(Kind::Value, "near", "y", fine)),
            (5, record(Kind::Value, "far", "x", ahead)),
            (6, record(Kind::Value, "after", "z", fine)),
        ];
        let p = prepare(items.clone(), &hlc, GeoMode::Replicate, TTL, 1024);
        assert_eq!(p.entries.len(), 1);
        assert_eq!(&p.entries[0].0[..], b"near");
        assert_eq!(p.last_seq, 4, "the cursor stops before the refused record");
        let stopped = p.stopped.unwrap();
        assert_eq!(stopped.seq, 5);
        match stopped.why {
            Refused::Skew { key, skew } => {
                assert_eq!(&key[..], b"far");
                assert_eq!(skew.ahead_ms, 6_000);
            }
            other => panic!("{other:?}"),
        }
        let next = hlc.now();
        assert!(
            next > fine && next < ahead,
            "the refused version is not observed"
        );

        // Asked again once the clock is within the skew: applied.
        clock.advance(Duration::from_secs(2));
        let p = prepare(items[1..].to_vec(), &hlc, GeoMode::Replicate, TTL, 1024);
        assert!(p.stopped.is_none());
        assert_eq!((p.entries.len(), p.last_seq), (2, 6));
    }

    #[test]
    fn a_record_that_does_not_decode_stops_the_batch_before_it() {
        let (_, hlc) = clock_and_hlc();
        let v = hlc::compose(T0, 0, 1);
        let items = vec![
            (1, record(Kind::Value, "a", "x", v)),
            (2, Bytes::from_static(b"not a record")),
            (3, record(Kind::Value, "b", "y", v)),
        ];
        let p = prepare(items, &hlc, GeoMode::Replicate, TTL, 1024);
        assert_eq!((p.entries.len(), p.last_seq), (1, 1));
        let stopped = p.stopped.unwrap();
        assert_eq!((stopped.seq, stopped.why.reason()), (2, "malformed"));
    }

    #[test]
    fn a_record_over_the_value_limit_is_malformed_here() {
        let (_, hlc) = clock_and_hlc();
        let v = hlc::compose(T0, 0, 1);
        let p = prepare(
            vec![(7, record(Kind::Value, "k", "12345", v))],
            &hlc,
            GeoMode::Replicate,
            TTL,
            4,
        );
        assert!(p.entries.is_empty());
        assert_eq!(p.last_seq, 6, "nothing applied: the cursor stays");
        match p.stopped.unwrap().why {
            Refused::Malformed(error) => {
                assert_eq!(error, RecordError::ValueTooLarge { len: 5, max: 4 })
            }
            other => panic!("{other:?}"),
        }
    }

    /// A region "us" with one peer "eu" (never dialled): its Geo, a versioned
    /// store on a manual clock, and the puller of eu's log, fed frames by
    /// hand.
    struct Harness {
        clock: ManualClock,
        metrics: Arc<crate::telemetry::Metrics>,
        geo: Arc<Geo>,
        cache: Cache,
        puller: Puller,
        _dir: tempfile::TempDir,
    }

    fn harness() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let (geo, metrics) = super::super::test_geo(dir.path(), &clock, &[]);
        let cache =
            crate::cache::test_cache_versioned(Arc::new(clock.clone()), Some(geo.versioning()));
        let puller = Puller::new(geo.clone(), geo.links[0].clone(), cache.clone()).unwrap();
        Harness {
            clock,
            metrics,
            geo,
            cache,
            puller,
            _dir: dir,
        }
    }

    impl Harness {
        fn entry(&self, key: &str) -> Option<Entry> {
            let key = Bytes::copy_from_slice(key.as_bytes());
            self.cache.backend().peek_entries(&[key]).unwrap()[0].clone()
        }

        fn value(&self, key: &str) -> Option<String> {
            self.entry(key)
                .filter(|e| !e.is_tombstone())
                .map(|e| String::from_utf8(e.value.to_vec()).unwrap())
        }

        fn metric(&self, series: &str) -> f64 {
            let text = self.metrics.encode();
            text.lines()
                .find_map(|line| line.strip_prefix(series))
                .map_or(0.0, |rest| rest.trim().parse().unwrap())
        }

        async fn store(&self, key: &str, value: &str, version: Version) {
            let entry = Entry::versioned(Bytes::copy_from_slice(value.as_bytes()), None, version);
            let write = Write {
                change: Change::Replicate(vec![(Bytes::copy_from_slice(key.as_bytes()), entry)]),
                origin: Origin::Region,
            };
            self.cache.apply(write).await.unwrap();
        }
    }

    fn value_record(key: &str, value: &str, version: Version, expires_at: Option<u64>) -> Bytes {
        Record {
            version,
            kind: Kind::Value,
            expires_at,
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Bytes::copy_from_slice(value.as_bytes()),
        }
        .encode()
    }

    #[tokio::test]
    async fn a_resync_moves_the_clock_past_the_trimmed_versions_and_drops_older_entries() {
        let mut h = harness();
        h.puller.advance(3);
        let old = hlc::compose(T0 - 1_000, 0, 1);
        h.store("old", "v", old).await;
        // The peer's clock ran a minute ahead when it stamped what it trimmed.
        let trimmed = hlc::compose(T0 + 60_000, 0, 1);
        h.puller
            .handle(Frame::Gap {
                first: 10,
                trimmed_through: trimmed.get(),
            })
            .await
            .unwrap();
        assert!(
            h.geo.hlc.now() > trimmed,
            "a local write after the resync must stamp above the trimmed versions"
        );
        assert_eq!(
            h.entry("old"),
            None,
            "older than the trimmed versions: dropped"
        );
        assert_eq!((h.puller.next, h.link_cursor()), (10, 9));
        assert_eq!(h.geo.links[0].resyncs_total.load(Ordering::Acquire), 1);
    }

    impl Harness {
        fn link_cursor(&self) -> u64 {
            self.geo.links[0].cursor.load(Ordering::Acquire)
        }
    }

    #[tokio::test]
    async fn a_skewed_change_is_retried_not_skipped() {
        let mut h = harness();
        let near = hlc::compose(T0, 0, 1);
        let far = hlc::compose(T0 + 7_000, 0, 1);
        let batch = vec![
            (1, value_record("a", "1", near, None)),
            (2, value_record("b", "2", far, None)),
            (3, value_record("c", "3", near, None)),
        ];
        let why = h
            .puller
            .handle(Frame::Batch(batch.clone()))
            .await
            .unwrap_err();
        assert!(why.contains("change 2") && why.contains("ahead"), "{why}");
        assert_eq!(h.value("a").as_deref(), Some("1"));
        assert_eq!((h.value("b"), h.value("c")), (None, None));
        assert_eq!(
            (h.link_cursor(), h.puller.next),
            (1, 2),
            "asked again from 2"
        );
        assert_eq!(
            h.metric(r#"roost_geo_refused_total{peer="eu",reason="clock_skew"}"#),
            1.0
        );
        // Still ahead on the next attempt: refused (and counted) again.
        let why = h
            .puller
            .handle(Frame::Batch(batch[1..].to_vec()))
            .await
            .unwrap_err();
        assert!(why.contains("change 2"), "{why}");
        assert_eq!(h.link_cursor(), 1);
        assert_eq!(
            h.metric(r#"roost_geo_refused_total{peer="eu",reason="clock_skew"}"#),
            2.0
        );
        // This region's clock catches up: the same changes apply.
        h.clock.advance(Duration::from_secs(3));
        h.puller
            .handle(Frame::Batch(batch[1..].to_vec()))
            .await
            .unwrap();
        assert_eq!(h.value("b").as_deref(), Some("2"));
        assert_eq!(h.value("c").as_deref(), Some("3"));
        assert_eq!(h.link_cursor(), 3);
        assert_eq!(h.puller.stuck, None);
        assert_eq!(h.geo.links[0].view().state, "up");
    }

    #[tokio::test]
    async fn a_record_that_does_not_decode_stops_the_link_before_it() {
        let mut h = harness();
        let v = hlc::compose(T0, 0, 1);
        let batch = vec![
            (1, value_record("a", "1", v, None)),
            (2, Bytes::from_static(b"garbage")),
            (3, value_record("c", "3", v, None)),
        ];
        let why = h.puller.handle(Frame::Batch(batch)).await.unwrap_err();
        assert!(
            why.contains("change 2") && why.contains("region eu") && why.contains("truncated"),
            "{why}"
        );
        assert_eq!(h.value("a").as_deref(), Some("1"));
        assert_eq!(
            h.value("c"),
            None,
            "nothing after the bad record is applied"
        );
        assert_eq!((h.link_cursor(), h.puller.next), (1, 2));
        assert_eq!(h.puller.stuck, Some(2));
        assert_eq!(
            h.metric(r#"roost_geo_refused_total{peer="eu",reason="malformed"}"#),
            1.0
        );
    }

    #[tokio::test]
    async fn a_forgotten_change_is_counted_as_refused() {
        let mut h = harness();
        let newer = hlc::compose(T0, 5, 1);
        let older = hlc::compose(T0, 1, 1);
        let batch = vec![(1, value_record("k", "new", newer, Some(T0 + 1_000)))];
        h.puller.handle(Frame::Batch(batch)).await.unwrap();
        // It expires here: removed, and the forgotten floor rises to it.
        h.clock.advance(Duration::from_secs(2));
        let batch = vec![(2, value_record("k", "old", older, None))];
        h.puller.handle(Frame::Batch(batch)).await.unwrap();
        assert_eq!(h.value("k"), None, "not provably fresh: not stored");
        assert_eq!(h.geo.links[0].forgotten_total.load(Ordering::Acquire), 1);
        assert_eq!(
            h.metric(r#"roost_geo_refused_total{peer="eu",reason="forgotten"}"#),
            1.0
        );
        assert_eq!(h.link_cursor(), 2);
    }

    #[tokio::test]
    async fn a_gap_back_before_the_cursor_reads_the_restarted_log_again() {
        let mut h = harness();
        h.puller.advance(40);
        h.puller
            .handle(Frame::Gap {
                first: 1,
                trimmed_through: 0,
            })
            .await
            .unwrap();
        assert_eq!((h.link_cursor(), h.puller.next), (0, 1));
        assert_eq!(h.geo.links[0].resyncs_total.load(Ordering::Acquire), 1);
        let v = hlc::compose(T0, 0, 1);
        let batch = vec![(1, value_record("fresh", "1", v, None))];
        h.puller.handle(Frame::Batch(batch)).await.unwrap();
        assert_eq!(h.value("fresh").as_deref(), Some("1"));
        assert_eq!(h.link_cursor(), 1);
    }

    /// A stream served from another log (the peer's data directory was
    /// replaced) is that log's reader only once the gap back to its start
    /// was applied: cut before it, the link must ask as the old log's
    /// reader again, or the peer would resume it inside the new log.
    #[tokio::test]
    async fn another_logs_id_is_taken_only_with_its_gap() {
        let mut h = harness();
        h.puller.advance(40);
        h.puller.log_id = Some("00000000000000aa".into());
        h.puller.serving = Some("00000000000000bb".into());
        let beat = Frame::Heartbeat {
            hlc: hlc::compose(T0, 0, 1).get(),
            last: 40,
        };
        h.puller.handle(beat).await.unwrap();
        assert_eq!(h.puller.log_id.as_deref(), Some("00000000000000aa"));
        let gap = Frame::Gap {
            first: 1,
            trimmed_through: 0,
        };
        h.puller.handle(gap).await.unwrap();
        assert_eq!(h.puller.log_id.as_deref(), Some("00000000000000bb"));
    }

    #[tokio::test]
    async fn the_gap_sent_on_start_is_no_resync_unless_changes_after_the_cursor_went() {
        let mut h = harness();
        let trimmed = hlc::compose(T0 - 5_000, 0, 1);
        h.puller
            .handle(Frame::Gap {
                first: 20,
                trimmed_through: trimmed.get(),
            })
            .await
            .unwrap();
        assert_eq!(h.geo.links[0].resyncs_total.load(Ordering::Acquire), 0);
        assert_eq!(h.puller.next, 20);
        assert!(h.geo.hlc.now() > trimmed);

        let mut h = harness();
        h.puller.persisted = Some(12);
        h.puller
            .handle(Frame::Gap {
                first: 20,
                trimmed_through: trimmed.get(),
            })
            .await
            .unwrap();
        assert_eq!(h.geo.links[0].resyncs_total.load(Ordering::Acquire), 1);
    }

    #[test]
    fn the_backoff_doubles_from_100_ms_to_a_2_s_cap() {
        let mut wait = BACKOFF_START;
        let mut waits = vec![wait];
        for _ in 0..7 {
            wait = next_backoff(wait);
            waits.push(wait);
        }
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [100, 200, 400, 800, 1600, 2000, 2000, 2000]);
    }
}
