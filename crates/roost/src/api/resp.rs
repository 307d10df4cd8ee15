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
//!   execute, write all replies of the batch at once; idle timeout; buffer bounds;
//! - `dispatch.rs`: name → command, arity and authentication checks, the handler call;
//! - `command_table.rs`: the one table of commands (arity, flags, docs);
//! - `handshake.rs`: PING ECHO QUIT HELLO AUTH SELECT CLIENT;
//! - `strings.rs`: GET SET … APPEND STRLEN; `keyspace.rs`: DEL EXISTS EXPIRE … SCAN
//!   KEYS FLUSHALL; `introspection.rs`: COMMAND CONFIG INFO;
//! - `session.rs`: the client registry and per-connection state; `reply.rs`: every
//!   error with Redis's text.
//!
//! The codec (`roost-resp`) never does I/O; this module owns the sockets.

mod command_table;
mod connection;
mod dispatch;
mod handshake;
mod introspection;
mod keyspace;
mod pipeline;
mod reply;
mod session;
mod strings;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::rest::SharedState;
use crate::config::RespSettings;
use crate::telemetry::RespMetrics;

pub use session::ClientRegistry;

/// Longest inline command (and header line), as Redis's `PROTO_INLINE_MAX_SIZE`.
const MAX_INLINE_BYTES: usize = 64 * 1024;
/// Arguments a command may carry beyond a full batch of key/value pairs (the
/// command name and options such as `SET k v EX 10 NX GET`).
const SPARE_ARGS: usize = 16;
/// How long a refused client gets to read its error before the socket closes.
const REFUSAL_GRACE: Duration = Duration::from_secs(1);
/// Pause after a failed accept (e.g. out of file descriptors) so the loop does
/// not spin while the condition lasts.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// What every RESP connection shares.
#[derive(Debug)]
pub struct RespState {
    pub app: SharedState,
    pub settings: RespSettings,
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
    pub fn new(app: SharedState, settings: RespSettings, addr: SocketAddr) -> RespState {
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
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => admit(&mut connections, &state, &cancel, stream, peer),
                Err(error) => {
                    tracing::warn!(%error, "resp accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
        }
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}

fn admit(
    connections: &mut JoinSet<()>,
    state: &Arc<RespState>,
    cancel: &CancellationToken,
    stream: TcpStream,
    peer: SocketAddr,
) {
    let local = stream.local_addr().unwrap_or(state.addr);
    let max = state.settings.max_connections;
    match state.clients.admit(peer, local, max) {
        Some(registered) => {
            state.metrics.connections_total.inc();
            let (state, cancel) = (state.clone(), cancel.clone());
            connections.spawn(connection::run(stream, state, registered, cancel));
        }
        None => {
            state.metrics.connections_rejected.inc();
            tracing::warn!(%peer, max, "resp connection refused: connection limit reached");
            connections.spawn(refuse(stream));
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
