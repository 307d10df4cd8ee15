//! The recent-events ring buffer: things an operator should see happen (start-up,
//! configuration, flushes, and — once health checks and the topology API land —
//! nodes ejected or re-admitted and topology changes). The dashboard shows them
//! from the `/ws/metrics` snapshots; every event is also one structured log line.
//!
//! Bounded: the newest [`EVENTS_KEPT`] events are kept, older ones are dropped.
//! It must not be used on the request path (it takes a short lock).

use std::collections::VecDeque;
use std::time::{SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::Serialize;

/// How many events are kept.
pub const EVENTS_KEPT: usize = 100;

/// What kind of thing happened. A closed set so the dashboard can style each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// The server started.
    Startup,
    /// The effective configuration (addresses, intervals).
    Config,
    /// Every entry was removed by a flush.
    Flush,
    /// A node stopped answering and was taken off the ring.
    NodeEjected,
    /// An ejected node answers again and is back on the ring.
    NodeReadmitted,
    /// A node was added or drained through the topology API.
    TopologyChange,
    /// A background task ended with an error or a panic.
    TaskFailed,
    /// Warming did something an operator should see: a snapshot written or
    /// loaded (or skipped as damaged), a new node's warm-up started or done.
    Warming,
    /// Geographic coherence did something an operator should see: a link to
    /// a peer region up or down, a resync, a change refused for clock skew.
    Region,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Startup => "startup",
            EventKind::Config => "config",
            EventKind::Flush => "flush",
            EventKind::NodeEjected => "node_ejected",
            EventKind::NodeReadmitted => "node_readmitted",
            EventKind::TopologyChange => "topology_change",
            EventKind::TaskFailed => "task_failed",
            EventKind::Warming => "warming",
            EventKind::Region => "region",
        }
    }
}

/// One recorded event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    /// Increases by one per event, so a client can tell which it has seen.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    pub kind: EventKind,
    pub message: String,
}

#[derive(Debug, Default)]
struct Ring {
    next_seq: u64,
    events: VecDeque<Event>,
}

/// The buffer. A blocking `Mutex` because it is held only to push or copy a few
/// events and never across an `.await`.
#[derive(Debug, Default)]
pub struct Events {
    ring: Mutex<Ring>,
}

impl Events {
    /// Records an event now, logs it, and returns its sequence number.
    pub fn record(&self, kind: EventKind, message: impl Into<String>) -> u64 {
        let message = message.into();
        tracing::info!(kind = kind.as_str(), message = %message, "event");
        let at_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        let mut ring = self.ring.lock();
        let seq = ring.next_seq;
        ring.next_seq += 1;
        if ring.events.len() == EVENTS_KEPT {
            ring.events.pop_front();
        }
        ring.events.push_back(Event {
            seq,
            at_ms,
            kind,
            message,
        });
        seq
    }

    /// The newest `limit` events, oldest first.
    pub fn recent(&self, limit: usize) -> Vec<Event> {
        let ring = self.ring.lock();
        let skip = ring.events.len().saturating_sub(limit);
        ring.events.iter().skip(skip).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.ring.lock().events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recent_returns_the_newest_in_order() {
        let events = Events::default();
        assert!(events.recent(5).is_empty());
        for i in 0..4 {
            events.record(EventKind::Flush, format!("flush {i}"));
        }
        let recent = events.recent(2);
        let messages: Vec<&str> = recent.iter().map(|e| e.message.as_str()).collect();
        assert_eq!(messages, ["flush 2", "flush 3"]);
        assert_eq!(recent[0].seq + 1, recent[1].seq);
        assert!(recent[0].at_ms > 0);
    }

    #[test]
    fn the_buffer_is_bounded_and_sequence_numbers_keep_counting() {
        let events = Events::default();
        for i in 0..(EVENTS_KEPT as u64 * 3) {
            assert_eq!(events.record(EventKind::Config, "x"), i);
        }
        assert_eq!(events.len(), EVENTS_KEPT);
        let all = events.recent(usize::MAX);
        assert_eq!(all.first().map(|e| e.seq), Some(EVENTS_KEPT as u64 * 2));
        assert_eq!(all.last().map(|e| e.seq), Some(EVENTS_KEPT as u64 * 3 - 1));
    }

    #[test]
    fn kinds_serialise_as_their_names() {
        let json = serde_json::to_string(&EventKind::NodeReadmitted).expect("serialises");
        assert_eq!(json, format!("\"{}\"", EventKind::NodeReadmitted.as_str()));
    }
}
