//! MULTI, EXEC, DISCARD, WATCH and UNWATCH, in front of Redis (the embedded
//! store answers them `NeedsRedis`). Between MULTI and EXEC a command is not
//! run but checked and queued, as Redis does: an unknown command, a wrong
//! number of arguments, a command the user may not run, one Roost cannot
//! queue (no keys: INFO, SCAN, FLUSHALL…; PING and ECHO may) or one whose
//! keys do not live with the transaction's first key answers its error and
//! marks the transaction failed, so EXEC answers EXECABORT; anything else
//! answers `+QUEUED`. A bad argument is Redis's to find: the command is sent
//! as written and its error comes back in EXEC's reply, as from Redis.
//! EXEC sends the whole transaction to the keys' node
//! (`backend/fleet/transaction.rs`).

use bytes::Bytes;
use roost_resp::{write_array_header, write_simple, Protocol};

use super::command::Request;
use super::dispatch::Cx;
use super::forward::{write_node_reply, NullShape};
use super::reply::RespError;
use crate::auth::Role;
use crate::backend::Pinned;
use crate::error::CacheError;

/// Commands one transaction may queue.
pub const MAX_QUEUED: usize = 10_000;
/// Bytes of arguments one transaction may queue.
pub const MAX_QUEUED_BYTES: usize = 64 << 20;

/// A transaction being queued (MULTI was called).
#[derive(Debug, Clone, Default)]
pub struct Transaction {
    /// Each command as sent, copied out of the read buffer.
    queued: Vec<Vec<Bytes>>,
    bytes: usize,
    /// Every key the queued commands name; the first places the transaction.
    keys: Vec<Bytes>,
    /// A queued command may write.
    writes: bool,
    /// A command was refused while queueing: EXEC answers EXECABORT.
    failed: bool,
}

/// Keys a client WATCHes: the connection they are watched on, and the first
/// of them (what later WATCHes and the transaction must live with).
#[derive(Debug, Clone)]
pub struct Watching {
    pinned: Pinned,
    anchor: Bytes,
}

/// Whether `request` runs at once even inside MULTI.
pub fn runs_at_once(request: &Request<'_>) -> bool {
    use super::command_table::Cmd;
    matches!(
        request.cmd(),
        Some(Cmd::Exec | Cmd::Discard | Cmd::Multi | Cmd::Watch | Cmd::Quit)
    )
}

/// Queues `request` into the session's transaction (see the module docs).
pub fn queue(cx: &mut Cx<'_>, request: Request<'_>) -> Result<(), RespError> {
    let queued = check(cx, request);
    let Some(transaction) = cx.session.transaction.as_mut() else {
        return Err(RespError::Internal);
    };
    match queued {
        Ok((argv, keys, writes)) => {
            let bytes: usize = argv.iter().map(Bytes::len).sum();
            if transaction.queued.len() >= MAX_QUEUED
                || transaction.bytes + bytes > MAX_QUEUED_BYTES
            {
                transaction.failed = true;
                return Err(RespError::NotSupported(
                    "a transaction through Roost queues at most 10000 commands and 64 MiB",
                ));
            }
            transaction.bytes += bytes;
            transaction.queued.push(argv);
            transaction.keys.extend(keys);
            transaction.writes |= writes;
            write_simple(cx.out, b"QUEUED");
            Ok(())
        }
        Err(error) => {
            transaction.failed = true;
            Err(error)
        }
    }
}

/// What queueing `request` would add (the command, its keys, whether it may
/// write), or the error that fails the transaction.
fn check(cx: &Cx<'_>, request: Request<'_>) -> Result<(Vec<Bytes>, Vec<Bytes>, bool), RespError> {
    let (spec, argv, keys): (_, _, Vec<&Bytes>) = match request {
        Request::Invalid { error, .. } => return Err(error),
        Request::Call(call) => (call.cmd.spec(), call.argv, call.keys().collect()),
        Request::Forward(forward) => {
            let spec = forward.spec();
            if !spec.arity_allows(forward.argv.len()) {
                return Err(RespError::WrongArity(spec.name));
            }
            (spec, forward.argv, forward.keys().collect())
        }
    };
    super::dispatch::authorize(cx, spec)?;
    if keys.is_empty() && !matches!(spec.name, "ping" | "echo") {
        return Err(RespError::NotQueueable(spec.name));
    }
    let anchor = cx
        .session
        .transaction
        .as_ref()
        .and_then(|t| t.keys.first().cloned())
        .or_else(|| cx.session.watching.as_ref().map(|w| w.anchor.clone()));
    let anchor = anchor.as_ref().or(keys.first().copied());
    let backend = cx.cache().backend();
    if let Some(anchor) = anchor {
        if keys.iter().any(|key| !backend.colocated(anchor, key)) {
            return Err(RespError::Cache(CacheError::cross_slot()));
        }
    }
    let owned = |args: &[Bytes]| args.iter().map(|a| Bytes::copy_from_slice(a)).collect();
    let keys = keys
        .into_iter()
        .map(|k| Bytes::copy_from_slice(k))
        .collect();
    Ok((owned(argv), keys, spec.role() != Role::Read))
}

pub fn multi(cx: &mut Cx<'_>) -> Result<(), RespError> {
    if !cx.cache().backend().is_remote() {
        return Err(CacheError::NeedsRedis { command: "multi" }.into());
    }
    if cx.session.transaction.is_some() {
        return Err(RespError::NestedMulti);
    }
    cx.session.transaction = Some(Transaction::default());
    cx.ok();
    Ok(())
}

pub fn discard(cx: &mut Cx<'_>) -> Result<(), RespError> {
    if cx.session.transaction.take().is_none() {
        return Err(RespError::DiscardWithoutMulti);
    }
    cx.session.watching = None;
    cx.ok();
    Ok(())
}

pub async fn exec(cx: &mut Cx<'_>) -> Result<(), RespError> {
    let transaction = cx
        .session
        .transaction
        .take()
        .ok_or(RespError::ExecWithoutMulti)?;
    let watching = cx.session.watching.take();
    if transaction.failed {
        return Err(RespError::ExecAbort);
    }
    // The queued commands' keys: where the transaction runs (a watching
    // client's pinned connection decides instead) and what it may have
    // written; a key only watched keeps its copies.
    let keys = transaction.keys;
    let reply = cx
        .cache()
        .backend()
        .exec(
            &transaction.queued,
            &keys,
            transaction.writes,
            watching.map(|w| w.pinned),
            cx.protocol() == Protocol::Resp3,
        )
        .await?;
    let protocol = cx.protocol();
    match reply {
        redis::Value::Array(replies) => {
            write_array_header(cx.out, replies.len());
            for (reply, argv) in replies.into_iter().zip(&transaction.queued) {
                let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
                write_node_reply(cx.out, reply, NullShape::of(&name, argv.len()), protocol);
            }
        }
        // A watched key changed: EXEC answers a null array.
        other => write_node_reply(cx.out, other, NullShape::TopArray, protocol),
    }
    Ok(())
}

pub async fn watch(cx: &mut Cx<'_>, keys: &[Bytes]) -> Result<(), RespError> {
    if cx.session.transaction.is_some() {
        return Err(RespError::WatchInMulti);
    }
    let backend = cx.cache().backend();
    let anchor = cx
        .session
        .watching
        .as_ref()
        .map_or(&keys[0], |w| &w.anchor)
        .clone();
    if keys.iter().any(|key| !backend.colocated(&anchor, key)) {
        return Err(RespError::Cache(CacheError::cross_slot()));
    }
    let keys: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
    let pinned = cx.session.watching.take().map(|w| w.pinned);
    let resp3 = cx.protocol() == Protocol::Resp3;
    let pinned = cx.cache().backend().watch(&keys, pinned, resp3).await?;
    cx.session.watching = Some(Watching { pinned, anchor });
    cx.ok();
    Ok(())
}

pub fn unwatch(cx: &mut Cx<'_>) -> Result<(), RespError> {
    cx.session.watching = None;
    cx.ok();
    Ok(())
}
