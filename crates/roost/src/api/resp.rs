//! The RESP front door: Redis clients and tools (redis-cli, redis-py,
//! redis-benchmark) talk to Roost on `ROOST_RESP_ADDR` in RESP2, or RESP3 after
//! `HELLO 3`. Every command becomes calls on the same [`Cache`](crate::cache::Cache)
//! service REST uses; nothing here knows how entries are stored.
//!
//! # Layout
//!
//! - this file: [`RespState`] (what every connection shares) and [`serve`], the
//!   accept loop with the connection limit;
//! - `connection.rs`: one connection — read, parse every complete command,
//!   execute, write all replies of the batch at once; idle and auth timeouts;
//!   buffer bounds;
//! - `output.rs`: replies on their way out, large values shared with the store
//!   rather than copied; `writer.rs`: writing them under the output limits;
//! - `command.rs`: a command parsed once — table entry, arity, typed arguments —
//!   and the keys it touches (from the table's key spec);
//! - `pipeline.rs`: a batch's commands in order, plain GETs and SETs batched,
//!   commands on distinct keys concurrent in front of Redis;
//! - `dispatch.rs`: authentication and role checks in Redis's order, the handler
//!   call;
//! - `command_table.rs`: the one table of commands (arity, flags, key spec, docs);
//! - `handshake.rs`: PING ECHO QUIT HELLO AUTH SELECT CLIENT;
//! - `strings.rs`: GET SET … APPEND STRLEN; `keyspace.rs`: DEL EXISTS EXPIRE … SCAN
//!   KEYS FLUSHALL; `introspection.rs`: COMMAND CONFIG INFO;
//! - `session.rs`: the client registry and per-connection state; `reply.rs`: every
//!   error with Redis's text;
//! - `testing.rs` (tests only): commands run over an embedded cache, no socket.
//!
//! The codec (`roost-resp`) never does I/O; this module owns the sockets.

mod command;
mod command_table;
mod connection;
mod dispatch;
mod forward;
mod forward_table;
mod handshake;
mod introspection;
mod keyspace;
mod output;
mod pipeline;
mod reply;
mod session;
mod strings;
#[cfg(test)]
mod testing;
mod transaction;
mod writer;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::app::SharedState;
use crate::config::{OutputLimits, RespSettings};
use crate::net::{self, Stream, Tls};
use crate::telemetry::{Disconnect, RespMetrics, Throttled};

pub use session::ClientRegistry;

/// Longest inline command (and header line), as Redis's `PROTO_INLINE_MAX_SIZE`.
const MAX_INLINE_BYTES: usize = 64 * 1024;
/// Arguments a command may carry beyond a full batch of key/value pairs (the
/// command name and options such as `SET k v EX 10 NX GET`).
const SPARE_ARGS: usize = 16;
/// How long a refused client gets to read its error before the socket closes.
const REFUSAL_GRACE: Duration = Duration::from_secs(1);
/// Refusals in flight at once; past it a refused socket is closed unanswered,
/// so a flood of connections cannot hold descriptors through refusals.
const MAX_REFUSALS: usize = 64;

/// What every RESP connection shares.
#[derive(Debug)]
pub struct RespState {
    pub app: SharedState,
    pub settings: RespSettings,
    /// What replies waiting for a client may hold (`writer.rs`).
    pub output: OutputLimits,
    /// TLS on this listener when configured; the handshake is bounded by
    /// `handshake_timeout`.
    pub tls: Option<Arc<Tls>>,
    pub handshake_timeout: Duration,
    /// The bound address (CONFIG GET port, INFO tcp_port).
    pub addr: SocketAddr,
    pub clients: Arc<ClientRegistry>,
    pub metrics: RespMetrics,
    /// Parser limits derived from the cache limits.
    pub parser_limits: roost_resp::Limits,
    /// Most bytes a connection may buffer while a command is incomplete.
    pub max_query_bytes: usize,
}

impl RespState {
    pub fn new(
        app: SharedState,
        settings: RespSettings,
        listeners: &crate::config::ListenerSettings,
        tls: Option<Arc<Tls>>,
        addr: SocketAddr,
    ) -> RespState {
        let limits = app.cache.limits();
        let max_bulk_len = limits.max_value_bytes.max(limits.max_key_bytes);
        let parser_limits = roost_resp::Limits {
            max_bulk_len,
            max_multibulk_len: (limits.max_batch_keys * 2 + SPARE_ARGS).max(1024),
            max_inline_len: MAX_INLINE_BYTES,
            ..roost_resp::Limits::default()
        };
        let max_query_bytes = limits
            .max_body_bytes
            .max(max_bulk_len.saturating_mul(2) + MAX_INLINE_BYTES);
        let metrics = RespMetrics::register(app.cache.metrics(), &command_table::names());
        RespState {
            app,
            settings,
            output: listeners.output,
            tls,
            handshake_timeout: listeners.http.header_timeout,
            addr,
            clients: Arc::new(ClientRegistry::default()),
            metrics,
            parser_limits,
            max_query_bytes,
        }
    }
}

/// Accepts connections until `cancel` fires, then waits for open connections to
/// finish their current batch and close.
pub async fn serve(listener: TcpListener, state: Arc<RespState>, cancel: CancellationToken) {
    let mut connections = JoinSet::new();
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS));
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            (stream, peer) = net::accept(&listener, "resp") => {
                admit(&mut connections, &state, &cancel, &refusals, stream, peer);
            }
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

fn admit(
    connections: &mut JoinSet<()>,
    state: &Arc<RespState>,
    cancel: &CancellationToken,
    refusals: &Arc<Semaphore>,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let local = stream.local_addr().unwrap_or(state.addr);
    let max = state.settings.max_connections;
    match state.clients.admit(peer, local, max, cancel) {
        Some(admitted) => {
            if let Some(evicted) = admitted.evicted {
                state
                    .app
                    .cache
                    .metrics()
                    .doors()
                    .disconnect("resp", Disconnect::Evicted)
                    .inc();
                tracing::debug!(%evicted, %peer, "resp connection limit reached: closed the longest idle client");
            }
            state.metrics.connections_total.inc();
            let state = state.clone();
            connections.spawn(async move {
                let registered = admitted.registered;
                let closer = registered.entry.closer.clone();
                let shaken = tokio::select! {
                    shaken = handshake(&state, stream, peer) => shaken,
                    _ = closer.cancelled() => None,
                };
                if let Some(stream) = shaken {
                    connection::run(stream, state, registered, closer).await;
                }
            });
        }
        None => {
            static LOG: Throttled = Throttled::new(Duration::from_secs(10));
            state.metrics.connections_rejected.inc();
            if let Some(suppressed) = LOG.allow() {
                tracing::warn!(%peer, max, suppressed, "resp connection refused: connection limit reached");
            }
            if let Ok(permit) = refusals.clone().try_acquire_owned() {
                connections.spawn(async move {
                    refuse(stream).await;
                    drop(permit);
                });
            }
        }
    }
}

/// The TLS handshake when TLS is on; `None` when it failed (counted, logged
/// at debug: a port scanner is not news).
async fn handshake(state: &RespState, tcp: TcpStream, peer: SocketAddr) -> Option<Stream> {
    let Some(tls) = &state.tls else {
        return Some(Stream::Plain(tcp));
    };
    match tls.accept(tcp, state.handshake_timeout).await {
        Ok(stream) => Some(stream),
        Err(error) => {
            let doors = state.app.cache.metrics().doors();
            doors.tls_handshake_failure("resp").inc();
            tracing::debug!(%peer, %error, "resp tls handshake failed");
            None
        }
    }
}

/// Tells a client over the limit why, as Redis does, then closes. Reading until
/// the client closes (or the grace ends) lets the error arrive before a reset.
async fn refuse(mut stream: TcpStream) {
    let _ = tokio::time::timeout(REFUSAL_GRACE, async {
        stream
            .write_all(b"-ERR max number of clients reached\r\n")
            .await?;
        stream.shutdown().await?;
        let mut sink = [0u8; 1024];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    })
    .await;
}
