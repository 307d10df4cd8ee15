//! Pipelined commands: batched against the embedded store, concurrent against
//! a remote backend.
//!
//! With the embedded store every command completes without waiting, so a batch
//! runs in order, one after another, and what costs is taking a shard's lock
//! per command: consecutive plain GETs (or SETs) go to the store as one batch
//! ([`execute_in_order`]). In front of Redis each command waits a
//! network round trip; run one after another, a pipeline of 16 costs 16 round
//! trips. So consecutive commands on *different* keys run concurrently (their
//! requests reach each Redis node's connection together, in batch order) and
//! their replies are written in the order the client sent them. A command that
//! touches a key already in the running group, and every command that is not
//! about keys (AUTH, HELLO, SELECT, CLIENT, FLUSHALL, SCAN, INFO…), waits for
//! the group to finish and then runs alone — so commands on one key keep the
//! client's order exactly, as Redis guarantees per connection.

use std::collections::HashSet;

use bytes::Bytes;
use futures_util::future::join_all;

use roost_resp::{write_null, write_simple};

use super::command_table::{lookup, Cmd};
use super::connection::FLUSH_AT;
use super::dispatch;
use super::output::Output;
use super::reply::RespError;
use super::session::Session;
use super::writer::Wire;
use super::RespState;
use crate::cache::Expiry;
use crate::error::CacheError;

/// Most commands a connection parses before running them as a group (their
/// replies are buffered until the group is done).
pub const MAX_GROUP: usize = 256;

/// Most commands in one batch against the embedded store, and most commands
/// that answer with a value in one concurrent group in front of Redis: this
/// bounds the replies held before the connection can write them out.
const MAX_RUN: usize = 32;

/// The command and the keys it touches (the table's key spec over its
/// arguments), when it touches keys and may run beside commands on other keys;
/// `None` for everything else (MGET too: it answers in parts, written out as it
/// goes, so it runs alone).
fn keys_of(args: &[Bytes]) -> Option<(Cmd, Vec<&[u8]>)> {
    let cmd = lookup(&args[0])?;
    let spec = cmd.spec();
    if !spec.has_keys() || cmd == Cmd::Mget || !spec.arity_allows(args.len()) {
        return None;
    }
    let keys = spec.key_positions(args.len()).map(|i| &args[i][..]);
    Some((cmd, keys.collect()))
}

/// Whether a command answers with a stored value (its reply may be large).
fn answers_a_value(cmd: Cmd) -> bool {
    matches!(cmd, Cmd::Get | Cmd::Getdel | Cmd::Getex | Cmd::Set)
}

/// Runs `commands` in client order semantics, appending every reply to `out`
/// and writing `out` to `wire` between groups once it passes [`FLUSH_AT`].
/// Stops early when a command (QUIT) marks the session closing or a write
/// fails (the failure stays in `wire`).
pub async fn execute_all(
    state: &RespState,
    session: &mut Session,
    commands: &[Vec<Bytes>],
    out: &mut Output,
    wire: &mut Wire,
) {
    let mut start = 0;
    let mut reads = 0;
    let mut group_keys: HashSet<&[u8]> = HashSet::new();
    for (i, args) in commands.iter().enumerate() {
        if wire.has_failed() {
            return;
        }
        let (cmd, keys) = match keys_of(args) {
            Some((cmd, keys)) if session.may_run(cmd) => (Some(cmd), Some(keys)),
            _ => (None, None),
        };
        let reads_value = cmd.is_some_and(answers_a_value);
        let joins = keys
            .as_ref()
            .is_some_and(|ks| ks.iter().all(|k| !group_keys.contains(k)))
            && !(reads_value && reads >= MAX_RUN);
        if !joins {
            run_group(state, session, &commands[start..i], out).await;
            group_keys.clear();
            reads = 0;
            start = i;
            if !written_out(out, wire).await {
                return;
            }
            if keys.is_none() {
                dispatch::execute(state, session, args, out, Some(&mut *wire)).await;
                start = i + 1;
                if session.closing || !written_out(out, wire).await {
                    return;
                }
                continue;
            }
        }
        reads += usize::from(reads_value);
        group_keys.extend(keys.into_iter().flatten());
    }
    run_group(state, session, &commands[start..], out).await;
}

/// Writes `out` once it passes [`FLUSH_AT`]; `false` when the write failed
/// (the failure is kept in `wire` for the connection).
async fn written_out(out: &mut Output, wire: &mut Wire) -> bool {
    if out.len() < FLUSH_AT {
        return true;
    }
    match wire.flush(out).await {
        Ok(()) => true,
        Err(error) => {
            wire.fail(error);
            false
        }
    }
}

/// Embedded backend: runs `commands` one after another, appending every reply
/// to `out`, except that two or more (up to [`MAX_RUN`]) consecutive plain
/// `GET key`s (or plain `SET key value`s) go to the cache as one batch, which
/// takes each shard's lock once for all its keys. The replies and their order
/// are those of running the commands one by one (a batch of SETs stores its
/// entries in order). Returns how many commands ran: it stops once `out` holds
/// [`FLUSH_AT`] bytes, so the caller can write them before running the rest,
/// and when a command (QUIT) marks the session closing. A batch of GETs, and a
/// command that answers in parts (MGET, KEYS), write to `wire` as they go, so
/// what waits for the client is one value and [`FLUSH_AT`] bytes at most; when
/// such a write fails it returns at once (the failure is in `wire`).
pub async fn execute_in_order(
    state: &RespState,
    session: &mut Session,
    commands: &[Vec<Bytes>],
    out: &mut Output,
    wire: &mut Wire,
) -> usize {
    let mut start = 0;
    while start < commands.len() && out.len() < FLUSH_AT && !session.closing && !wire.has_failed() {
        let kind = plain(&commands[start]).filter(|&kind| session.may_run(kind));
        let run = kind.map_or(1, |kind| {
            commands[start..]
                .iter()
                .take(MAX_RUN)
                .take_while(|args| plain(args) == Some(kind))
                .count()
        });
        let batch = &commands[start..start + run];
        match kind {
            Some(Cmd::Get) if run >= 2 => {
                for value in get_batch(state, batch.iter()).await {
                    write_get_reply(out, session, value);
                    if !written_out(out, wire).await {
                        return commands.len();
                    }
                }
            }
            Some(Cmd::Set) if run >= 2 => {
                for stored in set_batch(state, batch.iter()).await {
                    write_set_reply(out, stored);
                }
            }
            _ => dispatch::execute(state, session, &batch[0], out, Some(&mut *wire)).await,
        }
        start += run;
    }
    start
}

/// `Get` for a plain `GET key`, `Set` for a plain `SET key value` (no options):
/// the commands that can run as a batch.
fn plain(args: &[Bytes]) -> Option<Cmd> {
    match (args.len(), lookup(&args[0])?) {
        (2, Cmd::Get) => Some(Cmd::Get),
        (3, Cmd::Set) => Some(Cmd::Set),
        _ => None,
    }
}

/// Plain `GET key` commands as one batch; their values in command order, each
/// command counted.
async fn get_batch<'a>(
    state: &RespState,
    commands: impl Iterator<Item = &'a Vec<Bytes>>,
) -> Vec<Result<Option<Bytes>, CacheError>> {
    let keys: Vec<Bytes> = commands.map(|args| args[1].clone()).collect();
    state
        .metrics
        .command(Some(Cmd::Get as usize))
        .inc_by(keys.len() as u64);
    state.app.cache.get_values(&keys).await
}

/// Plain `SET key value` commands as one batch; their outcomes in command
/// order, each command counted.
async fn set_batch<'a>(
    state: &RespState,
    commands: impl Iterator<Item = &'a Vec<Bytes>>,
) -> Vec<Result<(), CacheError>> {
    let writes: Vec<(Bytes, Bytes, Expiry)> = commands
        .map(|args| {
            let (key, value) = dispatch::owned_pair(&args[1], &args[2]);
            (key, value, Expiry::Never)
        })
        .collect();
    state
        .metrics
        .command(Some(Cmd::Set as usize))
        .inc_by(writes.len() as u64);
    state.app.cache.put_many(writes).await
}

/// A plain GET's reply, as `GET` writes it.
fn write_get_reply(out: &mut Output, session: &Session, value: Result<Option<Bytes>, CacheError>) {
    match value {
        Ok(Some(value)) => out.bulk(&value),
        Ok(None) => write_null(out, session.protocol),
        Err(err) => RespError::from(err).write(out),
    }
}

/// A plain SET's reply, as `SET` writes it.
fn write_set_reply(out: &mut Output, stored: Result<(), CacheError>) {
    match stored {
        Ok(()) => write_simple(out, b"OK"),
        Err(err) => RespError::from(err).write(out),
    }
}

/// Runs a group of commands on distinct keys concurrently; replies in order.
/// The group's plain `GET key`s go to the cache as one batch, and so do its
/// plain `SET key value`s, so a Redis node gets one request for each batch
/// rather than one per command.
async fn run_group(
    state: &RespState,
    session: &mut Session,
    group: &[Vec<Bytes>],
    out: &mut Output,
) {
    let batch_of = |kind: Cmd| -> Vec<usize> {
        let members: Vec<usize> = (0..group.len())
            .filter(|&i| plain(&group[i]) == Some(kind))
            .collect();
        if members.len() >= 2 {
            members
        } else {
            Vec::new()
        }
    };
    let (gets, sets) = (batch_of(Cmd::Get), batch_of(Cmd::Set));
    if gets.is_empty() && sets.is_empty() {
        return run_each(state, session, group, out).await;
    }
    let others: Vec<usize> = (0..group.len())
        .filter(|i| gets.binary_search(i).is_err() && sets.binary_search(i).is_err())
        .collect();
    let shared: &Session = session;
    let (values, stored, other_replies) = futures_util::join!(
        async {
            if gets.is_empty() {
                Vec::new()
            } else {
                get_batch(state, gets.iter().map(|&i| &group[i])).await
            }
        },
        async {
            if sets.is_empty() {
                Vec::new()
            } else {
                set_batch(state, sets.iter().map(|&i| &group[i])).await
            }
        },
        join_all(
            others
                .iter()
                .map(|&i| execute_alone(state, shared, &group[i]))
        )
    );
    let mut replies: Vec<Output> = (0..group.len()).map(|_| Output::default()).collect();
    for (&i, reply) in others.iter().zip(other_replies) {
        replies[i] = reply;
    }
    for (&i, value) in gets.iter().zip(values) {
        write_get_reply(&mut replies[i], session, value);
    }
    for (&i, stored) in sets.iter().zip(stored) {
        write_set_reply(&mut replies[i], stored);
    }
    for reply in replies {
        out.append(reply);
    }
}

/// Runs each command of `group` concurrently, replies in order.
async fn run_each(
    state: &RespState,
    session: &mut Session,
    group: &[Vec<Bytes>],
    out: &mut Output,
) {
    match group {
        [] => {}
        [only] => dispatch::execute(state, session, only, out, None).await,
        many => {
            let shared: &Session = session;
            let replies =
                join_all(many.iter().map(|args| execute_alone(state, shared, args))).await;
            for reply in replies {
                out.append(reply);
            }
        }
    }
}

/// One command of a concurrent group, on its own copy of the session (group
/// members are key commands, which do not change it); its reply.
async fn execute_alone(state: &RespState, session: &Session, args: &[Bytes]) -> Output {
    let mut reply = Output::default();
    let mut own = session.clone();
    dispatch::execute(state, &mut own, args, &mut reply, None).await;
    reply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    #[test]
    fn key_commands_name_their_keys_and_the_rest_are_barriers() {
        let keys = |words: &[&str]| {
            let args = args(words);
            keys_of(&args).map(|(_, keys)| keys.iter().map(|k| k.to_vec()).collect::<Vec<_>>())
        };
        assert_eq!(keys(&["get", "a"]), Some(vec![b"a".to_vec()]));
        assert_eq!(
            keys(&["MSET", "a", "1", "b", "2"]),
            Some(vec![b"a".to_vec(), b"b".to_vec()])
        );
        assert_eq!(keys(&["DEL", "a", "b"]).map(|k| k.len()), Some(2));
        assert!(answers_a_value(Cmd::Get) && !answers_a_value(Cmd::Del));
        for barrier in [
            &["AUTH", "x"][..],
            &["FLUSHALL"],
            &["SCAN", "0"],
            &["GET"],
            &["NOPE", "a"],
            &["MGET", "a", "b"],
        ] {
            assert!(keys_of(&args(barrier)).is_none(), "{barrier:?}");
        }
    }
}
