//! One `/ws/metrics` connection: the history frame first, then every live
//! frame the feed broadcasts. A client that falls behind the broadcast buffer
//! skips the frames it missed; one that does not take a frame within the
//! feed's send timeout is dropped. Either way the server holds at most one
//! frame for it. Ends when the client closes or the server shuts down.

use std::time::Duration;

use axum::extract::ws::{Message, Utf8Bytes};
use futures_util::{Sink, SinkExt, Stream, StreamExt};
use tokio::sync::broadcast::error::RecvError;

use super::feed::MetricsFeed;

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// The client closed or the connection failed.
    ClientGone,
    /// The client did not take a frame within the send timeout.
    TooSlow,
    /// The server is shutting down.
    Shutdown,
}

enum Sent {
    Ok,
    Failed,
    TimedOut,
}

async fn send<S>(sink: &mut S, frame: Utf8Bytes, timeout: Duration) -> Sent
where
    S: Sink<Message> + Unpin,
{
    match tokio::time::timeout(timeout, sink.send(Message::Text(frame))).await {
        Ok(Ok(())) => Sent::Ok,
        Ok(Err(_)) => Sent::Failed,
        Err(_) => Sent::TimedOut,
    }
}

/// Serves one client over `sink` (frames out) and `incoming` (its messages,
/// read only to notice a close; the protocol layer answers pings).
pub async fn serve<S, R, E>(feed: &MetricsFeed, mut sink: S, mut incoming: R) -> Ending
where
    S: Sink<Message> + Unpin,
    R: Stream<Item = Result<Message, E>> + Unpin,
{
    let (history, mut frames) = feed.subscribe();
    let timeout = feed.send_timeout();
    feed.metrics.clients.inc();
    let ending = 'serving: {
        match send(&mut sink, history, timeout).await {
            Sent::Ok => {}
            Sent::Failed => break 'serving Ending::ClientGone,
            Sent::TimedOut => break 'serving Ending::TooSlow,
        }
        loop {
            tokio::select! {
                _ = feed.shutdown.cancelled() => break 'serving Ending::Shutdown,
                message = incoming.next() => match message {
                    None | Some(Err(_)) | Some(Ok(Message::Close(_))) => {
                        break 'serving Ending::ClientGone
                    }
                    Some(Ok(_)) => {}
                },
                frame = frames.recv() => match frame {
                    Ok(frame) => match send(&mut sink, frame, timeout).await {
                        Sent::Ok => {}
                        Sent::Failed => break 'serving Ending::ClientGone,
                        Sent::TimedOut => break 'serving Ending::TooSlow,
                    },
                    Err(RecvError::Lagged(missed)) => feed.metrics.frames_skipped.inc_by(missed),
                    Err(RecvError::Closed) => break 'serving Ending::Shutdown,
                },
            }
        }
    };
    feed.metrics.clients.dec();
    match ending {
        Ending::TooSlow => {
            feed.metrics.clients_dropped.inc();
            tracing::info!(timeout = ?timeout, "dropped a /ws/metrics client that stopped reading");
        }
        Ending::Shutdown => {
            let _ =
                tokio::time::timeout(Duration::from_secs(1), sink.send(Message::Close(None))).await;
        }
        Ending::ClientGone => {}
    }
    ending
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::convert::Infallible;
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use tokio_util::sync::CancellationToken;

    use super::*;
    use crate::telemetry::Metrics;

    /// A client whose socket never accepts a byte.
    struct StuckSink;

    impl Sink<Message> for StuckSink {
        type Error = Infallible;
        fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Pending
        }
        fn start_send(self: Pin<&mut Self>, _: Message) -> Result<(), Infallible> {
            Ok(())
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Pending
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Pending
        }
    }

    fn feed() -> MetricsFeed {
        MetricsFeed::new(
            Duration::from_secs(1),
            &Metrics::new(),
            CancellationToken::new(),
        )
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_that_never_reads_is_dropped_after_the_send_timeout() {
        let feed = feed();
        let silent = futures_util::stream::pending::<Result<Message, Infallible>>();
        let ending = serve(&feed, StuckSink, silent).await;
        assert_eq!(ending, Ending::TooSlow);
        assert_eq!(feed.metrics.clients_dropped.get(), 1);
        assert_eq!(feed.metrics.clients.get(), 0);
    }

    #[tokio::test]
    async fn the_history_comes_first_and_a_close_ends_the_connection() {
        let feed = feed();
        let mut sent: Vec<Message> = Vec::new();
        let closing = futures_util::stream::iter([Ok::<_, Infallible>(Message::Close(None))]);
        // The close is seen only after the history frame was sent.
        let ending = serve(&feed, &mut sent, closing).await;
        assert_eq!(ending, Ending::ClientGone);
        match sent.as_slice() {
            [Message::Text(text)] => assert!(text.as_str().contains("\"history\"")),
            other => panic!("expected only the history frame, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn shutdown_ends_the_connection_with_a_close_frame() {
        let feed = feed();
        feed.shutdown.cancel();
        let mut sent: Vec<Message> = Vec::new();
        let silent = futures_util::stream::pending::<Result<Message, Infallible>>();
        assert_eq!(serve(&feed, &mut sent, silent).await, Ending::Shutdown);
        assert!(
            matches!(sent.as_slice(), [Message::Text(_), Message::Close(None)]),
            "{sent:?}"
        );
    }
}
