//! One RESP connection: read what the client sent, parse every complete command
//! in the buffer (up to [`pipeline::MAX_GROUP`] at a time), execute them
//! appending each reply to one output buffer (see `pipeline.rs`), and write
//! that buffer with one write — so a pipeline of N commands costs one read and
//! one write, not N of each.
//!
//! Bounds: the parser rejects over-limit lengths as soon as they are declared; the
//! read buffer may hold at most `max_query_bytes` of an incomplete command; replies
//! are written out whenever the output passes [`FLUSH_AT`] (with the embedded store
//! after each command or batch of up to 32, in front of Redis after a group of up to
//! [`pipeline::MAX_GROUP`]), and nothing more is read
//! until they are, so a client that pipelines and never reads stalls itself (TCP
//! back-pressure) instead of growing the server's memory. Malformed input gets
//! `-ERR Protocol error: …` and the connection is closed, as Redis does.

use std::sync::Arc;

use bytes::BytesMut;
use roost_resp::{write_error, CommandParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::pipeline;
use super::session::{Registered, Session};
use super::RespState;

/// Room made in the read buffer before each read.
const READ_CHUNK: usize = 16 * 1024;
/// Output size at which replies are written out before the next command runs.
const FLUSH_AT: usize = 64 * 1024;
/// How long a connection closed for a protocol error keeps reading (and dropping)
/// input so that the client gets to read the error.
const DRAIN_GRACE: std::time::Duration = std::time::Duration::from_millis(200);
/// Buffers that grew past this (one big command or reply) are given back once empty.
const KEEP_CAPACITY: usize = 256 * 1024;

/// Why a connection ended; only for the debug log.
#[derive(Debug)]
enum End {
    ClientClosed,
    Quit,
    IdleTimeout,
    ShuttingDown,
    ProtocolError,
    Io(std::io::Error),
}

impl From<std::io::Error> for End {
    fn from(error: std::io::Error) -> Self {
        End::Io(error)
    }
}

pub async fn run(
    mut stream: TcpStream,
    state: Arc<RespState>,
    registered: Registered,
    cancel: CancellationToken,
) {
    state.metrics.connections.inc();
    // Replies are batched already; Nagle would only add latency to the last one.
    let _ = stream.set_nodelay(true);
    let password_required = state.settings.password.is_some();
    let admin_open = state.app.admin_token.is_none();
    let mut session = Session::new(registered.entry.clone(), password_required, admin_open);
    let end = serve(&mut stream, &state, &mut session, &cancel).await;
    let (id, peer) = (session.client.id, session.client.peer);
    match end {
        End::Io(error) => tracing::debug!(id, %peer, %error, "resp connection failed"),
        end => tracing::debug!(id, %peer, ?end, "resp connection closed"),
    }
    state.metrics.connections.dec();
    drop(registered);
}

async fn serve(
    stream: &mut TcpStream,
    state: &RespState,
    session: &mut Session,
    cancel: &CancellationToken,
) -> End {
    let mut parser = CommandParser::new(state.parser_limits);
    let mut input = BytesMut::with_capacity(READ_CHUNK);
    let mut out = BytesMut::with_capacity(READ_CHUNK);
    loop {
        if let Err(end) = read_more(stream, state, &mut input, cancel).await {
            return end;
        }
        session.client.touch();
        if let Err(end) = run_batch(stream, state, session, &mut parser, &mut input, &mut out).await
        {
            return end;
        }
        if input.len() > state.max_query_bytes {
            let reason = format!(
                "Protocol error: query buffer of {} bytes holds no complete command (limit {})",
                input.len(),
                state.max_query_bytes
            );
            return protocol_error(stream, state, &mut out, &reason).await;
        }
        if input.is_empty() && input.capacity() > KEEP_CAPACITY {
            input = BytesMut::with_capacity(READ_CHUNK);
        }
        if out.capacity() > KEEP_CAPACITY {
            out = BytesMut::with_capacity(READ_CHUNK);
        }
    }
}

/// Executes every complete command in `input` and writes their replies.
async fn run_batch(
    stream: &mut TcpStream,
    state: &RespState,
    session: &mut Session,
    parser: &mut CommandParser,
    input: &mut BytesMut,
    out: &mut BytesMut,
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
                pipeline::execute_all(state, session, &pending, out).await;
            } else {
                let mut done = 0;
                while done < pending.len() && !session.closing {
                    let rest = &pending[done..];
                    done += pipeline::execute_in_order(state, session, rest, out, FLUSH_AT).await;
                    if out.len() >= FLUSH_AT {
                        stream.write_all(out).await?;
                        out.clear();
                    }
                }
            }
            pending.clear();
        }
        if session.closing {
            stream.write_all(out).await?;
            return Err(End::Quit);
        }
        if out.len() >= FLUSH_AT {
            stream.write_all(out).await?;
            out.clear();
        }
        if let Some(error) = failure {
            return Err(protocol_error(stream, state, out, &error.to_string()).await);
        }
        if !complete {
            break;
        }
    }
    if !out.is_empty() {
        stream.write_all(out).await?;
        out.clear();
    }
    Ok(())
}

/// Waits for more bytes, the idle timeout, or shutdown.
async fn read_more(
    stream: &mut TcpStream,
    state: &RespState,
    input: &mut BytesMut,
    cancel: &CancellationToken,
) -> Result<(), End> {
    input.reserve(READ_CHUNK);
    let read = async {
        match state.settings.idle_timeout {
            Some(idle) => tokio::time::timeout(idle, stream.read_buf(input))
                .await
                .map_err(|_| End::IdleTimeout)?
                .map_err(End::Io),
            None => stream.read_buf(input).await.map_err(End::Io),
        }
    };
    tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(End::ShuttingDown),
        read = read => match read? {
            0 => Err(End::ClientClosed),
            _ => Ok(()),
        },
    }
}

/// Replies `-ERR <reason>` after whatever replies are pending, then ends the
/// connection.
async fn protocol_error(
    stream: &mut TcpStream,
    state: &RespState,
    out: &mut BytesMut,
    reason: &str,
) -> End {
    state.metrics.protocol_errors.inc();
    tracing::debug!(reason, "resp protocol error; closing the connection");
    let mut message = String::with_capacity(reason.len() + 4);
    message.push_str("ERR ");
    message.push_str(reason);
    write_error(out, message.as_bytes());
    if let Err(error) = stream.write_all(out).await {
        return End::Io(error);
    }
    let _ = stream.shutdown().await;
    drain(stream).await;
    End::ProtocolError
}

/// Reads and drops what the client is still sending, briefly, so closing does not
/// reset the connection before the client has read the error.
async fn drain(stream: &mut TcpStream) {
    let mut sink = [0u8; 4096];
    let _ = tokio::time::timeout(DRAIN_GRACE, async {
        while let Ok(1..) = stream.read(&mut sink).await {}
    })
    .await;
}
