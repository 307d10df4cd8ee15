//! Pipelined commands against a remote backend run concurrently.
//!
//! With the embedded store every command completes without waiting, so a batch
//! runs in order, one after another. In front of Redis each command waits a
//! network round trip; run one after another, a pipeline of 16 costs 16 round
//! trips. So consecutive commands on *different* keys run concurrently (their
//! requests reach each Redis node's connection together, in batch order) and
//! their replies are written in the order the client sent them. A command that
//! touches a key already in the running group, and every command that is not
//! about keys (AUTH, HELLO, SELECT, CLIENT, FLUSHALL, SCAN, INFO…), waits for
//! the group to finish and then runs alone — so commands on one key keep the
//! client's order exactly, as Redis guarantees per connection.

use std::collections::HashSet;

use bytes::{Bytes, BytesMut};
use futures_util::future::join_all;

use roost_resp::{write_bulk, write_null, write_simple};

use super::command_table::{lookup, Cmd};
use super::dispatch;
use super::reply::RespError;
use super::session::Session;
use super::RespState;
use crate::cache::Expiry;

/// Most commands run concurrently for one connection.
pub const MAX_GROUP: usize = 256;

/// The keys a command touches, when it touches only keys and may run beside
/// commands on other keys; `None` for everything else.
fn keys_of(args: &[Bytes]) -> Option<Vec<&[u8]>> {
    use Cmd::*;
    let keys = args.get(1..).filter(|rest| !rest.is_empty())?;
    match lookup(&args[0])? {
        Get | Set | Setex | Psetex | Setnx | Getdel | Getex | Incr | Decr | Incrby | Decrby
        | Append | Strlen | Expire | Pexpire | Expireat | Pexpireat | Ttl | Pttl | Persist
        | Type => Some(vec![&keys[0][..]]),
        Mget | Del | Unlink | Exists => Some(keys.iter().map(|k| &k[..]).collect()),
        Mset | Msetnx => Some(keys.iter().step_by(2).map(|k| &k[..]).collect()),
        _ => None,
    }
}

/// Runs `commands` in client order semantics, appending every reply to `out`.
/// Stops early when a command (QUIT) marks the session closing.
pub async fn execute_all(
    state: &RespState,
    session: &mut Session,
    commands: &[Vec<Bytes>],
    out: &mut BytesMut,
) {
    let mut start = 0;
    let mut group_keys: HashSet<&[u8]> = HashSet::new();
    for (i, args) in commands.iter().enumerate() {
        let keys = keys_of(args).filter(|_| session.authenticated);
        let joins = keys
            .as_ref()
            .is_some_and(|ks| ks.iter().all(|k| !group_keys.contains(k)));
        if !joins {
            run_group(state, session, &commands[start..i], out).await;
            group_keys.clear();
            start = i;
            if keys.is_none() {
                dispatch::execute(state, session, args, out).await;
                start = i + 1;
                if session.closing {
                    return;
                }
                continue;
            }
        }
        group_keys.extend(keys.into_iter().flatten());
    }
    run_group(state, session, &commands[start..], out).await;
}

/// Runs a group of commands on distinct keys concurrently; replies in order.
/// The group's plain `GET key`s go to the cache as one batch, and so do its
/// plain `SET key value`s, so a Redis node gets one request for each batch
/// rather than one per command.
async fn run_group(
    state: &RespState,
    session: &mut Session,
    group: &[Vec<Bytes>],
    out: &mut BytesMut,
) {
    let batch_of = |cmd: Cmd, arity: usize| -> Vec<usize> {
        let members: Vec<usize> = (0..group.len())
            .filter(|&i| group[i].len() == arity && lookup(&group[i][0]) == Some(cmd))
            .collect();
        if members.len() >= 2 {
            members
        } else {
            Vec::new()
        }
    };
    let (gets, sets) = (batch_of(Cmd::Get, 2), batch_of(Cmd::Set, 3));
    if gets.is_empty() && sets.is_empty() {
        return run_each(state, session, group, out).await;
    }
    let keys: Vec<Bytes> = gets.iter().map(|&i| group[i][1].clone()).collect();
    let writes: Vec<(Bytes, Bytes, Expiry)> = sets
        .iter()
        .map(|&i| {
            let (key, value) = dispatch::owned_pair(&group[i][1], &group[i][2]);
            (key, value, Expiry::Never)
        })
        .collect();
    let others: Vec<usize> = (0..group.len())
        .filter(|i| gets.binary_search(i).is_err() && sets.binary_search(i).is_err())
        .collect();
    let shared: &Session = session;
    let cache = &state.app.cache;
    let (values, stored, other_replies) = futures_util::join!(
        async {
            if keys.is_empty() {
                Vec::new()
            } else {
                cache.get_values(&keys).await
            }
        },
        async {
            if writes.is_empty() {
                Vec::new()
            } else {
                cache.put_many(writes).await
            }
        },
        join_all(
            others
                .iter()
                .map(|&i| execute_alone(state, shared, &group[i]))
        )
    );
    let mut replies: Vec<BytesMut> = vec![BytesMut::new(); group.len()];
    for (&i, reply) in others.iter().zip(other_replies) {
        replies[i] = reply;
    }
    let get_count = state.metrics.command(Some(Cmd::Get as usize));
    for (&i, value) in gets.iter().zip(values) {
        get_count.inc();
        match value {
            Ok(Some(value)) => write_bulk(&mut replies[i], &value),
            Ok(None) => write_null(&mut replies[i], session.protocol),
            Err(err) => RespError::from(err).write(&mut replies[i]),
        }
    }
    let set_count = state.metrics.command(Some(Cmd::Set as usize));
    for (&i, result) in sets.iter().zip(stored) {
        set_count.inc();
        match result {
            Ok(()) => write_simple(&mut replies[i], b"OK"),
            Err(err) => RespError::from(err).write(&mut replies[i]),
        }
    }
    for reply in replies {
        out.extend_from_slice(&reply);
    }
}

/// Runs each command of `group` concurrently, replies in order.
async fn run_each(
    state: &RespState,
    session: &mut Session,
    group: &[Vec<Bytes>],
    out: &mut BytesMut,
) {
    match group {
        [] => {}
        [only] => dispatch::execute(state, session, only, out).await,
        many => {
            let shared: &Session = session;
            let replies =
                join_all(many.iter().map(|args| execute_alone(state, shared, args))).await;
            for reply in replies {
                out.extend_from_slice(&reply);
            }
        }
    }
}

/// One command of a concurrent group, on its own copy of the session (group
/// members are key commands, which do not change it); its reply.
async fn execute_alone(state: &RespState, session: &Session, args: &[Bytes]) -> BytesMut {
    let mut reply = BytesMut::new();
    let mut own = session.clone();
    dispatch::execute(state, &mut own, args, &mut reply).await;
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
        assert_eq!(keys_of(&args(&["get", "a"])), Some(vec![&b"a"[..]]));
        assert_eq!(
            keys_of(&args(&["MSET", "a", "1", "b", "2"])),
            Some(vec![&b"a"[..], &b"b"[..]])
        );
        assert_eq!(keys_of(&args(&["DEL", "a", "b"])).map(|k| k.len()), Some(2));
        for barrier in [
            &["AUTH", "x"][..],
            &["FLUSHALL"],
            &["SCAN", "0"],
            &["GET"],
            &["NOPE", "a"],
        ] {
            assert_eq!(keys_of(&args(barrier)), None, "{barrier:?}");
        }
    }
}
