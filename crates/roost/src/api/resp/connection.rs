//! One RESP connection: read what the client sent, parse every complete command
//! in the buffer (up to [`pipeline::MAX_GROUP`] at a time), execute them
//! appending each reply to one [`Output`] (see `pipeline.rs`), and write it
//! with one (vectored) write — so a pipeline of N commands costs one read and
//! one write, not N of each.
//!
//! Bounds: the parser rejects over-limit lengths as soon as they are declared;
//! the read buffer may hold at most `max_query_bytes` of an incomplete command;
//! replies are written out whenever the output passes [`FLUSH_AT`] — between
//! commands, and inside a command that answers in parts (MGET, KEYS, SCAN) —
//! and nothing more is read until they are, under the limits of `writer.rs`
//! (hard, soft, the global budget, the write timeout). So a client that
//! pipelines and never reads is disconnected instead of growing the server's
//! memory. Malformed input gets `-ERR Protocol error: …` and the connection
//! is closed, as Redis does. With authentication on, a client that has not
//! authenticated within [`AUTH_GRACE`] is closed.

use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use roost_resp::{write_error, CommandParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;

use super::output::Output;
use super::pipeline;
use super::session::{Registered, Session};
use super::writer::{Wire, WriteError};
use super::RespState;
use crate::net::Stream;
use crate::telemetry::{Disconnect, Throttled};

/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 16 * 1024;
/// Output size at which replies are written out before the next command runs.
pub const FLUSH_AT: usize = 64 * 1024;
/// How long a connection closed for a protocol error keeps reading (and dropping)
/// input so that the client gets to read the error.
const DRAIN_GRACE: Duration = Duration::from_millis(200);
/// Buffers that grew past this (one big command or reply) are given back once empty.
const KEEP_CAPACITY: usize = 256 * 1024;
/// How long a client may stay unauthenticated when authentication is on.
pub const AUTH_GRACE: Duration = Duration::from_secs(10);

/// Why a connection ended; only for the debug log.
#[derive(Debug)]
enum End {
    ClientClosed,
    Quit,
    ShuttingDown,
    ProtocolError,
    /// Roost closed it because of a limit.
    Cut(Disconnect, String),
    Io(std::io::Error),
}

impl From<std::io::Error> for End {
    fn from(error: std::io::Error) -> Self {
        End::Io(error)
    }
}

impl From<WriteError> for End {
    fn from(error: WriteError) -> Self {
        match error {
            WriteError::Io(error) => End::Io(error),
            WriteError::Limit(reason, detail) => End::Cut(reason, detail),
        }
    }
}

pub async fn run(
    stream: Stream,
    state: Arc<RespState>,
    registered: Registered,
    cancel: CancellationToken,
) {
    state.metrics.connections.inc();
    // Replies are batched already; Nagle would only add latency to the last one.
    let _ = stream.set_nodelay(true);
    let auth_on = state.app.auth.load().is_enabled();
    let mut session = Session::new(registered.entry.clone(), auth_on);
    let holding = state.app.output_budget.holding();
    let limits = state.output;
    let mut wire = Wire::new(stream, limits, holding, cancel.clone());
    let end = serve(&mut wire, &state, &mut session, &cancel).await;
    let (id, peer) = (session.client.id, session.client.peer);
    match end {
        End::Io(error) => tracing::debug!(id, %peer, %error, "resp connection failed"),
        End::Cut(reason, detail) => cut(&state, id, peer, reason, &detail),
        end => tracing::debug!(id, %peer, ?end, "resp connection closed"),
    }
    state.metrics.connections.dec();
    drop(registered);
}

/// Counts, and logs at most once per interval, a connection Roost closed.
fn cut(state: &RespState, id: u64, peer: std::net::SocketAddr, reason: Disconnect, detail: &str) {
    static LOG: Throttled = Throttled::new(Duration::from_secs(10));
    let doors = state.app.cache.metrics().doors();
    doors.disconnect("resp", reason).inc();
    if let Some(suppressed) = LOG.allow() {
        tracing::warn!(
            id,
            %peer,
            reason = reason.as_str(),
            detail,
            suppressed,
            "resp client disconnected by a limit"
        );
    }
}

async fn serve(
    wire: &mut Wire,
    state: &RespState,
    session: &mut Session,
    cancel: &CancellationToken,
) -> End {
    let mut parser = CommandParser::new(state.parser_limits);
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut out = Output::with_capacity(READ_CHUNK);
    let mut idle = Idle::new();
    loop {
        let read = read_more(wire.stream(), state, session, &mut input, cancel, &mut idle);
        if let Err(end) = read.await {
            return end;
        }
        session.client.touch(idle.last);
        if let Err(end) = run_batch(wire, state, session, &mut parser, &mut input, &mut out).await {
            return end;
        }
        if input.len() > state.max_query_bytes {
            let reason = format!(
                "Protocol error: query buffer of {} bytes holds no complete command (limit {})",
                input.len(),
                state.max_query_bytes
            );
            return protocol_error(wire, state, &mut out, &reason).await;
        }
        if input.is_empty() && input.capacity() > KEEP_CAPACITY {
            input = BytesMut::with_capacity(READ_CHUNK);
        }
        out.clear(KEEP_CAPACITY);
    }
}

/// Executes every complete command in `input` and writes their replies.
async fn run_batch(
    wire: &mut Wire,
    state: &RespState,
    session: &mut Session,
    parser: &mut CommandParser,
    input: &mut BytesMut,
    out: &mut Output,
) -> Result<(), End> {
    let concurrent = state.app.cache.backend().is_remote();
    let mut pending: Vec<Vec<bytes::Bytes>> = Vec::new();
    loop {
        let (complete, failure) = match parser.parse(input) {
            Ok(Some(args)) => {
                pending.push(args);
                (true, None)
            }
            Ok(None) => (false, None),
            Err(error) => (false, Some(error)),
        };
        let group_full = pending.len() >= pipeline::MAX_GROUP;
        if !pending.is_empty() && (group_full || !complete) {
            if concurrent {
                pipeline::execute_all(state, session, &pending, out, wire).await;
            } else {
                pipeline::execute_in_order(state, session, &pending, out, wire).await;
            }
            if let Some(failed) = wire.take_failure() {
                return Err(failed.into());
            }
            pending.clear();
        }
        if session.closing {
            wire.flush(out).await?;
            return Err(End::Quit);
        }
        if out.len() >= FLUSH_AT {
            wire.flush(out).await?;
        }
        if let Some(error) = failure {
            return Err(protocol_error(wire, state, out, &error.to_string()).await);
        }
        if !complete {
            break;
        }
    }
    wire.flush(out).await?;
    Ok(())
}

/// The idle (or authentication) deadline without a timer per read: a read
/// only notes the time, and the one sleep, armed for the earliest moment the
/// connection could have been idle long enough, re-arms itself to the real
/// deadline when it wakes early. Re-arming a timer on every read cost a timer
/// wheel insert and removal per request.
struct Idle {
    sleep: Pin<Box<Sleep>>,
    /// When the client last sent something (or connected).
    last: Instant,
}

impl Idle {
    fn new() -> Idle {
        let now = Instant::now();
        Idle {
            sleep: Box::pin(tokio::time::sleep_until(now.into())),
            last: now,
        }
    }
}

/// Waits for more bytes, the idle (or authentication) timeout, or shutdown.
async fn read_more(
    stream: &mut Stream,
    state: &RespState,
    session: &Session,
    input: &mut BytesMut,
    cancel: &CancellationToken,
    idle: &mut Idle,
) -> Result<(), End> {
    input.reserve(READ_CHUNK);
    let (limit, reason) = match (session.authenticated(), state.settings.idle_timeout) {
        (false, idle) => (
            Some(idle.map_or(AUTH_GRACE, |idle| idle.min(AUTH_GRACE))),
            Disconnect::AuthTimeout,
        ),
        (true, idle) => (idle, Disconnect::IdleTimeout),
    };
    loop {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => return Err(End::ShuttingDown),
            read = stream.read_buf(input) => {
                idle.last = Instant::now();
                return match read.map_err(End::Io)? {
                    0 => Err(End::ClientClosed),
                    _ => Ok(()),
                };
            }
            _ = idle.sleep.as_mut(), if limit.is_some() => {
                let limit = limit.expect("invariant: the branch runs only with a limit");
                let deadline = idle.last + limit;
                if Instant::now() >= deadline {
                    let detail = format!("sent nothing for {} s", limit.as_secs());
                    return Err(End::Cut(reason, detail));
                }
                idle.sleep.as_mut().reset(deadline.into());
            }
        }
    }
}

/// Replies `-ERR <reason>` after whatever replies are pending, then ends the
/// connection.
async fn protocol_error(wire: &mut Wire, state: &RespState, out: &mut Output, reason: &str) -> End {
    state.metrics.protocol_errors.inc();
    tracing::debug!(reason, "resp protocol error; closing the connection");
    let mut message = String::with_capacity(reason.len() + 4);
    message.push_str("ERR ");
    message.push_str(reason);
    write_error(out, message.as_bytes());
    if let Err(error) = wire.flush(out).await {
        return error.into();
    }
    let stream = wire.stream();
    let _ = stream.shutdown().await;
    drain(stream).await;
    End::ProtocolError
}

/// Reads and drops what the client is still sending, briefly, so closing does not
/// reset the connection before the client has read the error.
async fn drain(stream: &mut Stream) {
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(DRAIN_GRACE, async {
        while let Ok(1..) = stream.read(&mut sink).await {}
    })
    .await;
}
