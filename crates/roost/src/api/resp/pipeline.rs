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
//!
//! Each command is parsed once, when it is reached ([`Request`]). Which keys
//! it touches is the command table's key spec
//! ([`Call::keys`](super::command::Call::keys)); whether it is a plain GET or
//! SET is read off its typed form ([`Plain`]).

use std::collections::HashSet;
use std::iter::Peekable;

use bytes::Bytes;
use futures_util::future::join_all;

use super::command::{Keys, Request};
use super::command_table::Cmd;
use super::connection::FLUSH_AT;
use super::dispatch;
use super::output::Output;
use super::session::Session;
use super::writer::Wire;
use super::RespState;
use batch::{
    get_batch, set_batch, stored_write, write_get_reply, write_set_reply, Plain, StoredWrite,
};

mod batch;

/// Most commands a connection parses before running them as a group (their
/// replies are buffered until the group is done).
pub const MAX_GROUP: usize = 256;

/// Most commands in one batch against the embedded store, and most commands
/// that answer with a value in one concurrent group in front of Redis: this
/// bounds the replies held before the connection can write them out.
const MAX_RUN: usize = 32;

/// The keys of a command that may run beside commands on other keys: a known
/// command this session may run whose key spec names keys, forwarded ones
/// included (`None` for everything else; for MGET, which answers in parts,
/// written out as it goes; for WATCH and inside MULTI, which change the
/// session: those run alone).
fn groupable_keys<'a>(request: &Request<'a>, session: &Session) -> Option<Keys<'a>> {
    // Inside MULTI every command is queued on the session, in order; WATCH
    // changes the session too.
    if session.transaction.is_some() {
        return None;
    }
    match request {
        Request::Call(call)
            if call.cmd.spec().has_keys()
                && call.cmd != Cmd::Mget
                && call.cmd != Cmd::Watch
                && session.may_run(call.cmd.spec()) =>
        {
            Some(call.keys())
        }
        // A forwarded command without keys (SCRIPT, FUNCTION, EVAL … 0)
        // is a barrier: what it loads or flushes must land before what
        // follows runs.
        Request::Forward(forward)
            if forward.spec().arity_allows(forward.argv.len())
                && session.may_run(forward.spec())
                && forward.keys().next().is_some() =>
        {
            Some(forward.keys())
        }
        _ => None,
    }
}

/// Whether a command may answer with a large reply: a stored value, or
/// anything a forwarded command returns (LRANGE, HGETALL…).
fn answers_a_value(request: &Request<'_>) -> bool {
    match request {
        Request::Forward(_) => true,
        _ => request
            .cmd()
            .is_some_and(|cmd| matches!(cmd, Cmd::Get | Cmd::Getdel | Cmd::Getex | Cmd::Set)),
    }
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
    let mut group: Vec<Request<'_>> = Vec::new();
    let mut reads = 0;
    let mut group_keys: HashSet<&[u8]> = HashSet::new();
    for argv in commands {
        if wire.has_failed() {
            return;
        }
        let request = dispatch::parse(state, argv);
        let keys = groupable_keys(&request, session);
        let reads_value = keys.is_some() && answers_a_value(&request);
        let joins = keys
            .clone()
            .is_some_and(|mut ks| ks.all(|k| !group_keys.contains(&k[..])))
            && !(reads_value && reads >= MAX_RUN);
        if !joins {
            run_group(state, session, &mut group, out).await;
            group_keys.clear();
            reads = 0;
            if !written_out(out, wire).await {
                return;
            }
            if keys.is_none() {
                dispatch::execute(state, session, request, out, Some(&mut *wire)).await;
                if session.closing || !written_out(out, wire).await {
                    return;
                }
                continue;
            }
        }
        reads += usize::from(reads_value);
        group_keys.extend(keys.into_iter().flatten().map(|k| &k[..]));
        group.push(request);
    }
    run_group(state, session, &mut group, out).await;
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
/// entries in order). Whenever `out` holds [`FLUSH_AT`] bytes it is written
/// before the next command runs; a batch of GETs, and a command that answers
/// in parts (MGET, KEYS), write to `wire` as they go, so what waits for the
/// client is one value and [`FLUSH_AT`] bytes at most. Stops when a command
/// (QUIT) marks the session closing, and at once when a write fails (the
/// failure is in `wire`).
pub async fn execute_in_order(
    state: &RespState,
    session: &mut Session,
    commands: &[Vec<Bytes>],
    out: &mut Output,
    wire: &mut Wire,
) {
    let mut requests = Requests {
        state,
        commands: commands.iter(),
    }
    .peekable();
    while let Some(request) = requests.next() {
        if session.closing || wire.has_failed() {
            return;
        }
        let plain = Plain::of(&request).filter(|plain| session.may_run(plain.cmd().spec()));
        match plain {
            Some(Plain::Get(key)) if requests.peek().is_some_and(Plain::is_get) => {
                let keys = take_run(&mut requests, key.clone(), Plain::get_key);
                for value in get_batch(state, keys).await {
                    write_get_reply(out, session, value);
                    if !written_out(out, wire).await {
                        return;
                    }
                }
            }
            Some(Plain::Set(key, value)) if requests.peek().is_some_and(Plain::is_set) => {
                let writes = take_run(&mut requests, stored_write(key, value), Plain::stored_write);
                for stored in set_batch(state, writes).await {
                    write_set_reply(out, stored);
                }
            }
            _ => dispatch::execute(state, session, request, out, Some(&mut *wire)).await,
        }
        if !written_out(out, wire).await {
            return;
        }
    }
}

/// A batch's commands, each parsed once, when it is reached.
struct Requests<'s, 'a> {
    state: &'s RespState,
    commands: std::slice::Iter<'a, Vec<Bytes>>,
}

impl<'a> Iterator for Requests<'_, 'a> {
    type Item = Request<'a>;

    fn next(&mut self) -> Option<Request<'a>> {
        let argv = self.commands.next()?;
        Some(dispatch::parse(self.state, argv))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.commands.size_hint()
    }
}

/// A batch of plain commands of one kind: `first`, then the commands after it
/// that `item` takes, up to [`MAX_RUN`] in all; one allocation of the size the
/// batch can reach.
fn take_run<'a, T>(
    requests: &mut Peekable<Requests<'_, 'a>>,
    first: T,
    item: fn(Plain<'a>) -> Option<T>,
) -> Vec<T> {
    let mut run = Vec::with_capacity(MAX_RUN.min(requests.size_hint().0 + 1));
    run.push(first);
    while run.len() < MAX_RUN {
        match requests.peek().and_then(Plain::of).and_then(item) {
            Some(next) => {
                requests.next();
                run.push(next);
            }
            None => break,
        }
    }
    run
}

/// Runs a group of commands on distinct keys concurrently, replies in order,
/// and leaves `group` empty. The group's plain `GET key`s go to the cache as
/// one batch, and so do its plain `SET key value`s, so a Redis node gets one
/// request for each batch rather than one per command.
async fn run_group(
    state: &RespState,
    session: &mut Session,
    group: &mut Vec<Request<'_>>,
    out: &mut Output,
) {
    let batch_of = |is_kind: fn(&Request<'_>) -> bool| -> Vec<usize> {
        let members: Vec<usize> = (0..group.len()).filter(|&i| is_kind(&group[i])).collect();
        if members.len() >= 2 {
            members
        } else {
            Vec::new()
        }
    };
    let (gets, sets) = (batch_of(Plain::is_get), batch_of(Plain::is_set));
    if gets.is_empty() && sets.is_empty() {
        return run_each(state, session, group, out).await;
    }
    let plain = |i: &usize| Plain::of(&group[*i]);
    let keys: Vec<Bytes> = gets.iter().filter_map(|i| plain(i)?.get_key()).collect();
    let writes: Vec<StoredWrite> = sets
        .iter()
        .filter_map(|i| plain(i)?.stored_write())
        .collect();
    let batched = |i: &usize| gets.binary_search(i).is_ok() || sets.binary_search(i).is_ok();
    let count = group.len();
    let others: Vec<(usize, Request<'_>)> = group
        .drain(..)
        .enumerate()
        .filter(|(i, _)| !batched(i))
        .collect();
    let shared: &Session = session;
    let (values, stored, other_replies) =
        futures_util::join!(
            async {
                if keys.is_empty() {
                    Vec::new()
                } else {
                    get_batch(state, keys).await
                }
            },
            async {
                if writes.is_empty() {
                    Vec::new()
                } else {
                    set_batch(state, writes).await
                }
            },
            join_all(others.into_iter().map(|(i, request)| async move {
                (i, execute_alone(state, shared, request).await)
            }))
        );
    let mut replies: Vec<Output> = (0..count).map(|_| Output::default()).collect();
    for (i, reply) in other_replies {
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

/// Runs each command of `group` concurrently, replies in order, and leaves
/// `group` empty.
async fn run_each(
    state: &RespState,
    session: &mut Session,
    group: &mut Vec<Request<'_>>,
    out: &mut Output,
) {
    if group.len() == 1 {
        if let Some(only) = group.pop() {
            dispatch::execute(state, session, only, out, None).await;
        }
        return;
    }
    let shared: &Session = session;
    let replies = join_all(
        group
            .drain(..)
            .map(|request| execute_alone(state, shared, request)),
    )
    .await;
    for reply in replies {
        out.append(reply);
    }
}

/// One command of a concurrent group, on its own copy of the session (group
/// members are key commands, which do not change it); its reply.
async fn execute_alone(state: &RespState, session: &Session, request: Request<'_>) -> Output {
    let mut reply = Output::default();
    let mut own = session.clone();
    dispatch::execute(state, &mut own, request, &mut reply, None).await;
    reply
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resp::testing::Harness;

    fn args(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    fn keys(session: &Session, words: &[&str]) -> Option<Vec<String>> {
        let argv = args(words);
        let request = Request::parse(&argv);
        let keys = groupable_keys(&request, session)?;
        Some(
            keys.map(|k| String::from_utf8_lossy(k).into_owned())
                .collect(),
        )
    }

    #[test]
    fn key_commands_name_their_keys_and_the_rest_are_barriers() {
        let session = &Harness::new().session;
        assert_eq!(keys(session, &["get", "a"]), Some(vec!["a".into()]));
        assert_eq!(
            keys(session, &["MSET", "a", "1", "b", "2"]),
            Some(vec!["a".into(), "b".into()])
        );
        assert_eq!(keys(session, &["DEL", "a", "b"]).map(|k| k.len()), Some(2));
        assert_eq!(
            keys(session, &["SET", "a", "1", "NX", "XX"]),
            Some(vec!["a".into()]),
            "a bad argument is answered in its turn, inside the group"
        );
        let answers = |words: &[&str]| answers_a_value(&Request::parse(&args(words)));
        assert!(answers(&["GET", "a"]) && answers(&["HGETALL", "h"]) && !answers(&["DEL", "a"]));
        assert_eq!(
            keys(session, &["SINTER", "a", "b"]),
            Some(vec!["a".into(), "b".into()]),
            "a forwarded command groups by its keys"
        );
        assert_eq!(
            keys(session, &["FUNCTION", "LOAD", "code"]),
            None,
            "keyless: a barrier"
        );
        assert_eq!(keys(session, &["EVAL", "return 1", "0"]), None);
        for barrier in [
            &["AUTH", "x"][..],
            &["FLUSHALL"],
            &["SCAN", "0"],
            &["GET"],
            &["GET", "a", "b"],
            &["NOPE", "a"],
            &["MGET", "a", "b"],
        ] {
            assert!(keys(session, barrier).is_none(), "{barrier:?}");
        }
    }

    #[test]
    fn a_command_the_user_may_not_run_is_a_barrier() {
        let session = &Harness::with_env(&[("ROOST_RESP_PASSWORD", "pw")]).session;
        assert!(keys(session, &["GET", "a"]).is_none(), "before AUTH");
    }
}
