//! The HTTP listeners (REST API and dashboard): hyper driven directly instead
//! of `axum::serve`, because a cache in front of every service needs what that
//! one configures none of:
//!
//! - a cap on open connections per listener (`ROOST_HTTP_MAX_CONNECTIONS`); one
//!   more is answered `503` and closed;
//! - a deadline for a request's headers (`ROOST_HTTP_HEADER_TIMEOUT`, also the
//!   keep-alive idle limit and the TLS handshake's) and a cap on their size;
//! - writes that may not stall (`ROOST_CLIENT_WRITE_TIMEOUT`), so a client that
//!   never reads its response does not hold the connection forever;
//! - TLS on the same port when configured;
//! - a shutdown that closes idle and half-sent connections at once, lets
//!   requests in flight finish, and owns every connection task.
//!
//! HTTP/1.1 only (with WebSocket upgrades): every client Roost serves speaks it,
//! and it keeps one set of limits to reason about.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::Router;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::config::{HttpLimits, OutputLimits};
use crate::net::{self, Stream, TimedStream, Tls};
use crate::telemetry::{Disconnect, DoorMetrics, Throttled};

/// How long a refused client gets to read its `503` before the socket closes.
const REFUSAL_GRACE: Duration = Duration::from_millis(500);
/// Refusals in flight at once; past it a refused socket is closed unanswered,
/// so a flood of connections cannot hold descriptors through refusals.
const MAX_REFUSALS: usize = 64;

const TOO_MANY: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
connection: close\r\nretry-after: 1\r\ncontent-length: 95\r\n\r\n\
{\"error\":{\"code\":\"too_many_connections\",\"message\":\"this listener has no free connection slot\"}}";

/// What an HTTP listener serves and how it treats clients; every connection
/// of the listener shares it.
pub struct Door {
    /// `http` or `dashboard`: the metric label and log field.
    pub door: &'static str,
    pub app: Router,
    pub limits: HttpLimits,
    pub output: OutputLimits,
    pub tls: Option<Arc<Tls>>,
    pub metrics: Arc<crate::telemetry::Metrics>,
}

/// Serves `door` on `listener` until `cancel` fires, then closes the listener
/// (new clients are refused at once), lets every connection finish its
/// request in flight, and waits for all of them.
pub async fn serve(listener: TcpListener, door: Door, cancel: CancellationToken) {
    let http = Arc::new(door);
    let slots = Arc::new(Semaphore::new(http.limits.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    let mut connections = JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            accepted = net::accept(&listener, http.door) => accepted,
        };
        let doors = http.metrics.doors();
        match slots.clone().try_acquire_owned() {
            Ok(slot) => {
                doors
                    .http_connections_total
                    .with_label_values(&[http.door])
                    .inc();
                let (http, cancel) = (http.clone(), cancel.clone());
                connections.spawn(async move {
                    let _slot = slot;
                    serve_connection(&http, stream, peer, cancel).await;
                });
            }
            Err(_) => {
                refused(doors, http.door, peer, http.limits.max_connections);
                if let Ok(permit) = refusals.clone().try_acquire_owned() {
                    connections.spawn(async move {
                        refuse(stream).await;
                        drop(permit);
                    });
                }
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

fn refused(doors: &DoorMetrics, door: &'static str, peer: SocketAddr, max: usize) {
    static LOG: Throttled = Throttled::new(Duration::from_secs(10));
    doors
        .http_connections_rejected
        .with_label_values(&[door])
        .inc();
    if let Some(suppressed) = LOG.allow() {
        tracing::warn!(door, %peer, max, suppressed, "http connection refused: connection limit reached");
    }
}

async fn serve_connection(
    http: &Door,
    tcp: TcpStream,
    peer: SocketAddr,
    cancel: CancellationToken,
) {
    let open = http
        .metrics
        .doors()
        .http_connections
        .with_label_values(&[http.door]);
    open.inc();
    let _ = tcp.set_nodelay(true);
    let stream = match &http.tls {
        None => Some(Stream::Plain(tcp)),
        Some(tls) => {
            let handshake = tls.accept(tcp, http.limits.header_timeout);
            let shaken = tokio::select! {
                shaken = handshake => Some(shaken),
                _ = cancel.cancelled() => None,
            };
            match shaken {
                Some(Ok(stream)) => Some(stream),
                Some(Err(error)) => {
                    http.metrics.doors().tls_handshake_failure(http.door).inc();
                    tracing::debug!(door = http.door, %peer, %error, "tls handshake failed");
                    None
                }
                None => None,
            }
        }
    };
    if let Some(stream) = stream {
        let io = TimedStream::new(stream, http.output.write_timeout, cancel.clone());
        let in_flight = Arc::new(AtomicUsize::new(0));
        let (app, counter) = (http.app.clone(), in_flight.clone());
        let service = hyper::service::service_fn(move |request: hyper::Request<Incoming>| {
            let in_flight = InFlight::new(&counter);
            let answered = app.clone().oneshot(request);
            async move {
                let response = answered.await?;
                Ok::<_, std::convert::Infallible>(response.map(|body| TrackedBody {
                    body,
                    _in_flight: in_flight,
                }))
            }
        });
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(http.limits.header_timeout)
            .max_header_size(http.limits.max_header_bytes);
        let connection = builder
            .serve_connection(TokioIo::new(io), service)
            .with_upgrades();
        tokio::pin!(connection);
        let served = tokio::select! {
            served = connection.as_mut() => served,
            _ = cancel.cancelled() => {
                // Idle and half-sent connections close now; a request in
                // flight finishes (its writes may stall at most SHUTDOWN_STALL).
                connection.as_mut().graceful_shutdown();
                if in_flight.load(Ordering::Acquire) == 0 {
                    Ok(())
                } else {
                    connection.await
                }
            }
        };
        if let Err(error) = served {
            if let Some(reason) = limit_reached(&error) {
                http.metrics.doors().disconnect(http.door, reason).inc();
            }
            tracing::debug!(door = http.door, %peer, %error, "http connection ended with an error");
        }
    }
    open.dec();
}

/// Which limit ended a connection, if one did: the header deadline (a
/// half-sent request, or a kept-alive connection left idle) or a write that
/// made no progress.
fn limit_reached(error: &hyper::Error) -> Option<Disconnect> {
    if error.is_timeout() {
        return Some(Disconnect::IdleTimeout);
    }
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return Some(Disconnect::WriteTimeout);
            }
        }
        source = cause.source();
    }
    None
}

/// One request from its complete headers until its response body is written
/// (or dropped): what shutdown waits for, and nothing else.
struct InFlight(Arc<AtomicUsize>);

impl InFlight {
    fn new(counter: &Arc<AtomicUsize>) -> InFlight {
        counter.fetch_add(1, Ordering::AcqRel);
        InFlight(counter.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// A response body that keeps its request counted as in flight.
struct TrackedBody {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Tells a client over the limit why, then closes; reading until the client
/// closes (or the grace ends) lets the answer arrive before a reset.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(REFUSAL_GRACE, async {
        stream.write_all(TOO_MANY).await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_refusal_is_a_complete_http_response() {
        let text = std::str::from_utf8(TOO_MANY).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|n| n.parse().ok())
            .expect("a content length");
        assert_eq!(body.len(), length);
        assert!(serde_json::from_str::<serde_json::Value>(body).is_ok());
    }
}
