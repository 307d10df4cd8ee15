//! One link: this region pulling one peer's change log. A task per peer
//! (registered in [`Tasks`]) connects to `GET {peer}/api/geo/log`, reads
//! the stream frame by frame and, for each batch, observes every version in
//! the HLC (refusing one stamped too far ahead), applies the batch through
//! `Cache::apply(Change::Replicate)` — only what is newer than the key holds
//! is stored — and only then reads the next frame, so a slow apply slows the
//! peer's stream instead of filling memory (backpressure).
//!
//! The cursor (the last Seq applied) moves after each applied batch; the geo
//! task persists cursors at most every 100 ms. A link silent for
//! [`SILENCE`] (the peer heartbeats every second when idle), a broken
//! stream or a refusal reconnects after a backoff: 100 ms doubling to 2 s.
//! A gap (the peer trimmed what this region had not read) drops every entry
//! older than the trimmed changes (`Change::DropOlder`) and counts a resync.
//! On start a link reads the peer's whole retained log (this region's store
//! starts empty, see docs/regions.md "Restart"); the persisted cursor only
//! tells whether changes were trimmed meanwhile, which is reported.

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
use roost_store::{Entry, Version};
use tokio_util::sync::CancellationToken;

use super::frame::{Frame, FrameReader};
use super::hlc::{self, Hlc};
use super::log::Seq;
use super::record::{Kind, Record, MAX_KEY_BYTES};
use super::status::{LinkState, PeerLink};
use super::Geo;
use crate::backend::SetEntry;
use crate::cache::{Applied, Cache, Change, Origin, Write};
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

/// A batch made ready to apply.
#[derive(Debug, Default)]
pub struct Prepared {
    /// What `Change::Replicate` stores (values or tombstones at their versions).
    pub entries: Vec<SetEntry>,
    /// Records refused: stamped too far ahead of this region's clock.
    pub skewed: Vec<(Bytes, hlc::Skew)>,
    /// Records that did not decode (a damaged or incompatible peer).
    pub malformed: u64,
    /// The last Seq of the batch.
    pub last_seq: Seq,
    /// The newest version among the records applied.
    pub newest: Version,
    /// For each record kept: how old its version is here, in ms.
    pub staleness_ms: Vec<u64>,
}

/// Turns a batch into entries: each record is decoded, observed in `hlc`
/// (refused if too far ahead) and, in invalidate mode, a value becomes a
/// tombstone at its version, remembered for `tombstone_ttl_ms` from `now`.
pub fn prepare(
    items: Vec<(Seq, Bytes)>,
    hlc: &Hlc,
    mode: GeoMode,
    tombstone_ttl_ms: u64,
    max_value_bytes: usize,
) -> Prepared {
    let mut prepared = Prepared::default();
    for (seq, bytes) in items {
        prepared.last_seq = prepared.last_seq.max(seq);
        let record = match Record::decode(&bytes, max_value_bytes) {
            Ok(record) => record,
            Err(error) => {
                tracing::debug!(seq, %error, "malformed record from a peer");
                prepared.malformed += 1;
                continue;
            }
        };
        if let Err(skew) = hlc.observe(record.version) {
            prepared.skewed.push((record.key, skew));
            continue;
        }
        let now = hlc.physical_now();
        let remember_until = Some(now.saturating_add(tombstone_ttl_ms));
        let entry = match (record.kind, mode) {
            (Kind::Value, GeoMode::Replicate) => {
                Entry::versioned(record.value, record.expires_at, record.version)
            }
            (Kind::Value | Kind::Invalidate, _) => Entry::tombstone(record.version, remember_until),
            (Kind::Tombstone, _) => {
                Entry::tombstone(record.version, record.expires_at.or(remember_until))
            }
        };
        prepared
            .staleness_ms
            .push(now.saturating_sub(hlc::physical_ms(record.version)));
        prepared.newest = prepared.newest.max(record.version);
        prepared.entries.push((record.key, entry));
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
    /// Whether the current stream delivered a frame (resets the backoff).
    streamed: bool,
    skew_log: Throttled,
}

/// Runs the link to `link.peer` until `stop`.
pub async fn run(
    geo: Arc<Geo>,
    link: Arc<PeerLink>,
    cache: Cache,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    let https = link.peer.url.starts_with("https://");
    let connector = Connector::new(https, CONNECT_TIMEOUT)?;
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(1)
        .build(connector);
    let persisted = geo.cursors.get(&link.peer.name);
    let mut puller = Puller {
        geo,
        link,
        cache,
        client,
        next: 0,
        persisted: (persisted > 0).then_some(persisted),
        streamed: false,
        skew_log: Throttled::new(Duration::from_secs(10)),
    };
    let mut backoff = BACKOFF_START;
    loop {
        puller.streamed = false;
        let ended = tokio::select! {
            () = stop.cancelled() => return Ok(()),
            ended = puller.stream() => ended,
        };
        puller.down(&ended);
        if puller.streamed {
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
    fn name(&self) -> &str {
        &self.link.peer.name
    }

    /// One connection: answers why it ended (it never ends well).
    async fn stream(&mut self) -> Ended {
        let url = format!(
            "{}/api/geo/log?from={}&region={}",
            self.link.peer.url, self.next, self.geo.settings.region
        );
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
            other => return format!("the peer answered {other}"),
        }
        self.up();
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
            } => self.resync(first, trimmed_through).await,
        }
    }

    async fn apply_batch(&mut self, items: Vec<(Seq, Bytes)>) -> Result<(), Ended> {
        let Some(first_seq) = items.first().map(|(seq, _)| *seq) else {
            return Ok(());
        };
        if let Some(persisted) = self.persisted.take() {
            if first_seq > persisted.saturating_add(1) {
                self.report_resync(format!(
                    "changes {} to {} of region {}'s log were trimmed before this region read them (it restarted empty, so nothing older is held)",
                    persisted.saturating_add(1),
                    first_seq.saturating_sub(1),
                    self.name()
                ));
            }
        }
        let settings = &self.geo.settings;
        let prepared = prepare(
            items,
            &self.geo.hlc,
            settings.mode,
            u64::try_from(settings.tombstone_ttl.as_millis()).unwrap_or(u64::MAX),
            self.geo.max_value_bytes,
        );
        self.refuse(&prepared);
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
            if done.refused > 0 {
                metrics
                    .refused
                    .with_label_values(&[self.name(), "limits"])
                    .inc_by(done.refused);
            }
            for ms in &prepared.staleness_ms {
                metrics.staleness_seconds.observe(*ms as f64 / 1000.0);
            }
            link.last_applied_version
                .fetch_max(prepared.newest.get(), Ordering::AcqRel);
        }
        self.advance(prepared.last_seq);
        Ok(())
    }

    /// Counts and reports the records a batch refused.
    fn refuse(&self, prepared: &Prepared) {
        let refused = prepared.skewed.len() as u64 + prepared.malformed;
        if refused == 0 {
            return;
        }
        self.link.refused_total.fetch_add(refused, Ordering::AcqRel);
        let metrics = &self.geo.metrics;
        if prepared.malformed > 0 {
            metrics
                .refused
                .with_label_values(&[self.name(), "malformed"])
                .inc_by(prepared.malformed);
            tracing::warn!(
                peer = self.name(),
                count = prepared.malformed,
                "records from a peer did not decode; refused"
            );
        }
        let Some((key, skew)) = prepared.skewed.first() else {
            return;
        };
        metrics
            .refused
            .with_label_values(&[self.name(), "clock_skew"])
            .inc_by(prepared.skewed.len() as u64);
        if let Some(suppressed) = self.skew_log.allow() {
            let message = format!(
                "{} change(s) from region {} refused: key {:?} {skew} (and {suppressed} refusal reports left out)",
                prepared.skewed.len(),
                self.name(),
                String::from_utf8_lossy(key),
            );
            tracing::warn!(peer = self.name(), %message, "change refused for clock skew");
            self.geo.events.record(EventKind::Region, message);
        }
    }

    /// The peer trimmed changes this region had not applied: entries older
    /// than the newest trimmed version cannot be proven fresh, so they go.
    async fn resync(&mut self, first: Seq, trimmed_through: u64) -> Result<(), Ended> {
        self.persisted = None;
        let floor = Version::new(trimmed_through.saturating_add(1)).unwrap_or(Version::MAX);
        let write = Write {
            change: Change::DropOlder(floor),
            origin: Origin::Region,
        };
        let dropped = match self.cache.apply(write).await {
            Ok(Applied::Count(n)) => n.to_string(),
            Ok(other) => format!("{other:?}"),
            Err(error) => return Err(format!("resync failed: {}", error.chain())),
        };
        self.report_resync(format!(
            "region {}'s log no longer holds changes {} to {}: entries older than version {trimmed_through} dropped here ({dropped}); reading on from {first}",
            self.name(),
            self.next,
            first.saturating_sub(1),
        ));
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
    use roost_store::ManualClock;

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
    fn a_change_stamped_too_far_ahead_is_refused_and_not_observed() {
        let (_, hlc) = clock_and_hlc();
        let ahead = hlc::compose(T0 + 6_000, 0, 1);
        let fine = hlc::compose(T0 + 4_000, 0, 1);
        let items = vec![
            (1, record(Kind::Value, "far", "x", ahead)),
            (2, Bytes::from_static(b"not a record")),
            (3, record(Kind::Value, "near", "y", fine)),
        ];
        let p = prepare(items, &hlc, GeoMode::Replicate, TTL, 1024);
        assert_eq!(p.skewed.len(), 1);
        assert_eq!(&p.skewed[0].0[..], b"far");
        assert_eq!(p.skewed[0].1.ahead_ms, 6_000);
        assert_eq!(p.malformed, 1);
        assert_eq!(p.entries.len(), 1);
        assert_eq!(p.last_seq, 3, "the cursor passes refused records too");
        let next = hlc.now();
        assert!(next > fine && next < ahead);
    }

    #[test]
    fn a_record_over_the_value_limit_is_malformed_here() {
        let (_, hlc) = clock_and_hlc();
        let v = hlc::compose(T0, 0, 1);
        let p = prepare(
            vec![(1, record(Kind::Value, "k", "12345", v))],
            &hlc,
            GeoMode::Replicate,
            TTL,
            4,
        );
        assert_eq!((p.entries.len(), p.malformed), (0, 1));
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
