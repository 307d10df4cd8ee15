//! The WebSocket front door: `GET /ws/metrics` streams what the cache is doing
//! to the live dashboard. On connect a client gets one `history` frame (the
//! last five minutes of points), then one `snapshot` frame per interval
//! (`ROOST_METRICS_INTERVAL`). Frames are JSON; docs/metrics.md describes them.
//!
//! [`feed`] owns the single producer, [`client`] one connection, [`snapshot`]
//! what a frame says. It reads counters only: no cache operation goes through
//! here, and no client can slow the data path.

mod client;
mod feed;
mod snapshot;

use std::sync::Arc;

use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use futures_util::StreamExt;

pub use client::Ending;
pub use feed::{MetricsFeed, EVENTS_PER_FRAME, FRAMES_BUFFERED, HISTORY_SPAN};
pub use snapshot::{Latency, NodeState, Point, Snapshot};

/// Largest message accepted from a dashboard; it has nothing to send.
const MAX_INCOMING_BYTES: usize = 4 * 1024;

/// The `/ws/metrics` route, to merge into the HTTP application.
pub fn router(feed: Arc<MetricsFeed>) -> Router {
    Router::new()
        .route("/ws/metrics", get(upgrade))
        .with_state(feed)
}

async fn upgrade(State(feed): State<Arc<MetricsFeed>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(MAX_INCOMING_BYTES)
        .max_frame_size(MAX_INCOMING_BYTES)
        .on_upgrade(move |socket: WebSocket| async move {
            let (sink, incoming) = socket.split();
            client::serve(&feed, sink, incoming).await;
        })
}
