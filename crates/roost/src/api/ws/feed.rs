//! The one snapshot producer behind `/ws/metrics`: every interval it reads the
//! counters once, serialises one frame, keeps the point in a bounded history
//! and broadcasts the frame to every connected client. A hundred dashboards
//! cost one snapshot per interval, not a hundred.
//!
//! Nothing here buffers without bound: the history holds five minutes of
//! points, the broadcast channel [`FRAMES_BUFFERED`] frames shared by all
//! clients (a client that falls further behind skips frames), and each client
//! has at most one frame in flight.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::ws::Utf8Bytes;
use parking_lot::Mutex;
use prometheus::{IntCounter, IntGauge};
use tokio::sync::broadcast;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::snapshot::{self, Counters};
use crate::app::SharedState;
use crate::stats;
use crate::telemetry::{EventKind, Metrics};

/// Frames the broadcast channel keeps for slow clients before they skip.
pub const FRAMES_BUFFERED: usize = 4;

/// How much history a new client gets first.
pub const HISTORY_SPAN: Duration = Duration::from_secs(300);

/// Events carried in each live frame.
pub const EVENTS_PER_FRAME: usize = 20;

/// Counters of the stream itself, exported on `/metrics`.
#[derive(Debug)]
pub struct FeedMetrics {
    pub clients: IntGauge,
    pub frames_skipped: IntCounter,
    pub clients_dropped: IntCounter,
}

impl FeedMetrics {
    fn register(metrics: &Metrics) -> FeedMetrics {
        let feed = FeedMetrics {
            clients: IntGauge::new("roost_ws_clients", "open /ws/metrics connections")
                .expect("invariant: valid metric"),
            frames_skipped: IntCounter::new(
                "roost_ws_frames_skipped_total",
                "live frames a slow /ws/metrics client skipped",
            )
            .expect("invariant: valid metric"),
            clients_dropped: IntCounter::new(
                "roost_ws_clients_dropped_total",
                "/ws/metrics clients closed because they did not take a frame in time",
            )
            .expect("invariant: valid metric"),
        };
        metrics.register(Box::new(feed.clients.clone()));
        metrics.register(Box::new(feed.frames_skipped.clone()));
        metrics.register(Box::new(feed.clients_dropped.clone()));
        feed
    }
}

/// The producer and what clients subscribe to.
#[derive(Debug)]
pub struct MetricsFeed {
    interval: Duration,
    history_len: usize,
    frames: broadcast::Sender<Utf8Bytes>,
    /// Serialised points, oldest first. A blocking `Mutex`: held to push or copy,
    /// never across an `.await`.
    history: Mutex<VecDeque<String>>,
    pub metrics: FeedMetrics,
    pub shutdown: CancellationToken,
}

impl MetricsFeed {
    /// Creates the feed and registers its metrics; [`MetricsFeed::run`] produces.
    pub fn new(interval: Duration, metrics: &Metrics, shutdown: CancellationToken) -> MetricsFeed {
        let history_len = (HISTORY_SPAN.as_millis() / interval.as_millis().max(1)).max(1) as usize;
        MetricsFeed {
            interval,
            history_len,
            frames: broadcast::channel(FRAMES_BUFFERED).0,
            history: Mutex::new(VecDeque::with_capacity(history_len)),
            metrics: FeedMetrics::register(metrics),
            shutdown,
        }
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// How long a client may take to accept one frame before it is dropped:
    /// ten intervals, at least two and at most thirty seconds.
    pub fn send_timeout(&self) -> Duration {
        (self.interval * 10).clamp(Duration::from_secs(2), Duration::from_secs(30))
    }

    /// The history frame for a new client and its subscription to live frames.
    /// Subscribing first means no frame falls between the two.
    pub fn subscribe(&self) -> (Utf8Bytes, broadcast::Receiver<Utf8Bytes>) {
        let receiver = self.frames.subscribe();
        let history = self.history.lock();
        let mut frame = format!(
            "{{\"type\":\"history\",\"interval_ms\":{},\"points\":[",
            self.interval.as_millis()
        );
        for (i, point) in history.iter().enumerate() {
            if i > 0 {
                frame.push(',');
            }
            frame.push_str(point);
        }
        frame.push_str("]}");
        (Utf8Bytes::from(frame), receiver)
    }

    /// Produces a frame every interval until shutdown.
    pub async fn run(self: Arc<Self>, state: SharedState) {
        let events = &state.events;
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut previous = (Counters::read(&state.cache), Instant::now());
        let mut seq = 0u64;
        loop {
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let current = (Counters::read(&state.cache), Instant::now());
            let flushes = current.0.flushes().saturating_sub(previous.0.flushes());
            let rates = snapshot::rates(&previous.0, &current.0, current.1 - previous.1);
            let overview = stats::overview(&state.cache, &state.history);
            if flushes > 0 {
                events.record(
                    EventKind::Flush,
                    format!(
                        "flush: every entry removed ({flushes} flush request(s)); {} keys now",
                        overview.keys
                    ),
                );
            }
            let frame = snapshot::snapshot(
                seq,
                self.interval,
                now_ms(),
                overview,
                rates,
                events.recent(EVENTS_PER_FRAME),
            );
            self.publish(&frame);
            previous = current;
            seq += 1;
        }
    }

    fn publish(&self, frame: &snapshot::Snapshot) {
        let (Ok(text), Ok(point)) = (
            serde_json::to_string(frame),
            serde_json::to_string(&frame.point),
        ) else {
            tracing::error!("serialising a metrics snapshot failed");
            return;
        };
        {
            let mut history = self.history.lock();
            if history.len() == self.history_len {
                history.pop_front();
            }
            history.push_back(point);
        }
        // An error only means nobody is connected right now.
        let _ = self.frames.send(Utf8Bytes::from(text));
    }

    pub fn history_len(&self) -> usize {
        self.history.lock().len()
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn feed(interval_ms: u64) -> MetricsFeed {
        let metrics = Metrics::new();
        MetricsFeed::new(
            Duration::from_millis(interval_ms),
            &metrics,
            CancellationToken::new(),
        )
    }

    #[test]
    fn history_covers_five_minutes_at_any_interval() {
        assert_eq!(feed(1000).history_len, 300);
        assert_eq!(feed(100).history_len, 3000);
        assert_eq!(feed(60_000).history_len, 5);
    }

    #[test]
    fn an_empty_history_frame_is_valid_json() {
        let (frame, _rx) = feed(1000).subscribe();
        let v: serde_json::Value = serde_json::from_str(frame.as_str()).unwrap();
        assert_eq!(v["type"], "history");
        assert_eq!(v["interval_ms"], 1000);
        assert_eq!(v["points"].as_array().map(Vec::len), Some(0));
    }

    #[test]
    fn the_send_timeout_scales_with_the_interval_within_bounds() {
        assert_eq!(feed(100).send_timeout(), Duration::from_secs(2));
        assert_eq!(feed(1000).send_timeout(), Duration::from_secs(10));
        assert_eq!(feed(60_000).send_timeout(), Duration::from_secs(30));
    }
}
