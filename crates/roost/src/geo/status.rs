//! What `GET /api/regions` shows: this region, its change log, and each
//! link to a peer — state, lag, what it applied and refused. A link's task
//! writes its [`PeerLink`] (atomics, and one small lock for the last error);
//! the API reads it without waiting on the link.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use parking_lot::Mutex;
use serde::Serialize;

use super::log::LogStats;
use crate::config::Peer;

/// Where a link to a peer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LinkState {
    /// Connecting, or waiting to reconnect for the first time.
    Connecting,
    /// Streaming the peer's log.
    Up,
    /// The last attempt failed; it reconnects after a backoff.
    Down,
}

impl LinkState {
    fn from_u8(state: u8) -> LinkState {
        match state {
            1 => LinkState::Up,
            2 => LinkState::Down,
            _ => LinkState::Connecting,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            LinkState::Connecting => 0,
            LinkState::Up => 1,
            LinkState::Down => 2,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LinkState::Connecting => "connecting",
            LinkState::Up => "up",
            LinkState::Down => "down",
        }
    }
}

/// One link's live figures.
#[derive(Debug)]
pub struct PeerLink {
    pub peer: Peer,
    state: AtomicU8,
    /// The last Seq of the peer's log applied here.
    pub cursor: AtomicU64,
    /// The peer's newest durable Seq, as it last said.
    pub peer_last: AtomicU64,
    pub last_applied_version: AtomicU64,
    pub lag_ms: AtomicU64,
    pub applied_total: AtomicU64,
    pub conflicts_total: AtomicU64,
    pub forgotten_total: AtomicU64,
    pub resyncs_total: AtomicU64,
    pub refused_total: AtomicU64,
    /// Changes applied per second over the last second (f64 bits).
    apply_rate: AtomicU64,
    /// `applied_total` at the last rate sample.
    rate_base: AtomicU64,
    /// Unix ms the current stream started; 0 while not up.
    pub connected_since_ms: AtomicU64,
    last_error: Mutex<Option<String>>,
}

impl PeerLink {
    pub fn new(peer: Peer) -> PeerLink {
        PeerLink {
            peer,
            state: AtomicU8::new(LinkState::Connecting.as_u8()),
            cursor: AtomicU64::new(0),
            peer_last: AtomicU64::new(0),
            last_applied_version: AtomicU64::new(0),
            lag_ms: AtomicU64::new(0),
            applied_total: AtomicU64::new(0),
            conflicts_total: AtomicU64::new(0),
            forgotten_total: AtomicU64::new(0),
            resyncs_total: AtomicU64::new(0),
            refused_total: AtomicU64::new(0),
            apply_rate: AtomicU64::new(0f64.to_bits()),
            rate_base: AtomicU64::new(0),
            connected_since_ms: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    pub fn state(&self) -> LinkState {
        LinkState::from_u8(self.state.load(Ordering::Acquire))
    }

    /// Sets the state; answers the previous one.
    pub fn set_state(&self, state: LinkState) -> LinkState {
        LinkState::from_u8(self.state.swap(state.as_u8(), Ordering::AcqRel))
    }

    pub fn set_error(&self, error: Option<String>) {
        *self.last_error.lock() = error;
    }

    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// Changes in the peer's log not applied here yet.
    pub fn lag_changes(&self) -> u64 {
        self.peer_last
            .load(Ordering::Acquire)
            .saturating_sub(self.cursor.load(Ordering::Acquire))
    }

    /// Takes one rate sample: the changes applied since the last one, over
    /// `seconds`.
    pub fn sample_rate(&self, seconds: f64) {
        let total = self.applied_total.load(Ordering::Acquire);
        let before = self.rate_base.swap(total, Ordering::AcqRel);
        let rate = if seconds > 0.0 {
            total.saturating_sub(before) as f64 / seconds
        } else {
            0.0
        };
        self.apply_rate.store(rate.to_bits(), Ordering::Release);
    }

    pub fn view(&self) -> PeerView {
        let load = |a: &AtomicU64| a.load(Ordering::Acquire);
        let since = load(&self.connected_since_ms);
        PeerView {
            name: self.peer.name.clone(),
            url: self.peer.url.clone(),
            state: self.state().as_str(),
            cursor: load(&self.cursor),
            lag_changes: self.lag_changes(),
            lag_ms: load(&self.lag_ms),
            last_applied_version: load(&self.last_applied_version).to_string(),
            applied_total: load(&self.applied_total),
            apply_rate: f64::from_bits(load(&self.apply_rate)),
            conflicts_total: load(&self.conflicts_total),
            forgotten_total: load(&self.forgotten_total),
            resyncs_total: load(&self.resyncs_total),
            refused_total: load(&self.refused_total),
            last_error: self.last_error(),
            connected_since_ms: (since > 0).then_some(since),
        }
    }
}

/// One peer in `GET /api/regions` (docs/api.md). Versions are decimal
/// strings: a 63-bit number does not survive a JavaScript `number`.
#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    pub name: String,
    pub url: String,
    pub state: &'static str,
    /// The last Seq of the peer's log applied here.
    pub cursor: u64,
    pub lag_changes: u64,
    pub lag_ms: u64,
    pub last_applied_version: String,
    pub applied_total: u64,
    /// Changes applied per second, over the last second.
    pub apply_rate: f64,
    pub conflicts_total: u64,
    /// Changes not stored: the key was absent and not newer than what this
    /// region had forgotten (evicted or expired), so not provably fresh.
    pub forgotten_total: u64,
    pub resyncs_total: u64,
    pub refused_total: u64,
    pub last_error: Option<String>,
    pub connected_since_ms: Option<u64>,
}

/// This region's change log in `GET /api/regions`.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct LogView {
    pub first: u64,
    pub last: u64,
    pub bytes: u64,
    pub segments: u64,
}

impl From<LogStats> for LogView {
    fn from(stats: LogStats) -> LogView {
        LogView {
            first: stats.first,
            last: stats.last,
            bytes: stats.bytes,
            segments: stats.segments,
        }
    }
}

/// `GET /api/regions` with `ROOST_REGION` set.
#[derive(Debug, Clone, Serialize)]
pub struct RegionsStatus {
    /// Always true here; `{"enabled": false}` is the answer without a region.
    pub enabled: bool,
    pub region: String,
    pub mode: &'static str,
    /// This region's clock now (a version), decimal.
    pub version: String,
    pub log: LogView,
    pub peers: Vec<PeerView>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn link() -> PeerLink {
        PeerLink::new(Peer {
            name: "eu".into(),
            url: "http://127.0.0.1:9".into(),
        })
    }

    #[test]
    fn a_peer_serialises_with_the_documented_fields() {
        let link = link();
        link.peer_last.store(10, Ordering::Release);
        link.cursor.store(4, Ordering::Release);
        link.last_applied_version
            .store(u64::MAX >> 1, Ordering::Release);
        link.set_error(Some("connection refused".into()));
        assert_eq!(link.set_state(LinkState::Down), LinkState::Connecting);
        let json = serde_json::to_value(link.view()).unwrap();
        assert_eq!(json["state"], "down");
        assert_eq!(json["lag_changes"], 6);
        assert_eq!(json["last_applied_version"], "9223372036854775807");
        assert_eq!(json["last_error"], "connection refused");
        assert!(json["connected_since_ms"].is_null());
        for field in [
            "name",
            "url",
            "lag_ms",
            "applied_total",
            "apply_rate",
            "conflicts_total",
            "resyncs_total",
            "refused_total",
        ] {
            assert!(json.get(field).is_some(), "{field} missing: {json}");
        }
    }

    #[test]
    fn the_rate_is_what_was_applied_since_the_last_sample() {
        let link = link();
        link.applied_total.store(50, Ordering::Release);
        link.sample_rate(1.0);
        assert_eq!(link.view().apply_rate, 50.0);
        link.applied_total.store(60, Ordering::Release);
        link.sample_rate(2.0);
        assert_eq!(link.view().apply_rate, 5.0);
        link.sample_rate(1.0);
        assert_eq!(link.view().apply_rate, 0.0);
    }
}
