//! From a parsed command to its reply: find the command in the table, count it,
//! check arity, authentication and the user's role in Redis's order (unknown
//! command, then arity, then NOAUTH, then NOPERM), call its handler, and write
//! an error reply if it failed. A handler that panics (a bug) answers
//! `-ERR internal error` for that command alone; it is logged and counted.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use roost_resp::{write_null, write_simple, Protocol};

use super::command_table::{lookup, Cmd};
use super::connection::FLUSH_AT;
use super::output::Output;
use super::reply::RespError;
use super::session::Session;
use super::writer::Wire;
use super::{handshake, introspection, keyspace, strings, RespState};
use crate::cache::Cache;
use crate::telemetry::Throttled;

/// What a handler gets: the shared state, the connection's session, the
/// output its reply goes into, and — when the command runs alone, not inside
/// a concurrent group — the socket, so a long answer can be written in parts.
pub struct Cx<'a> {
    pub state: &'a RespState,
    pub session: &'a mut Session,
    pub out: &'a mut Output,
    pub wire: Option<&'a mut Wire>,
}

impl Cx<'_> {
    pub fn cache(&self) -> &Cache {
        &self.state.app.cache
    }

    pub fn protocol(&self) -> Protocol {
        self.session.protocol
    }

    pub fn ok(&mut self) {
        write_simple(self.out, b"OK");
    }

    pub fn null(&mut self) {
        write_null(self.out, self.session.protocol);
    }

    /// Writes out what the reply holds so far once it passes [`FLUSH_AT`], when
    /// the command runs alone; a failure ends the command and the connection.
    pub async fn flush_if_full(&mut self) -> Result<(), RespError> {
        match &mut self.wire {
            Some(wire) if self.out.len() >= FLUSH_AT => match wire.flush(self.out).await {
                Ok(()) => Ok(()),
                Err(error) => {
                    wire.fail(error);
                    Err(RespError::ConnectionLost)
                }
            },
            _ => Ok(()),
        }
    }
}

/// Runs one command and appends its reply (or error) to `out`.
pub async fn execute(
    state: &RespState,
    session: &mut Session,
    args: &[Bytes],
    out: &mut Output,
    wire: Option<&mut Wire>,
) {
    let cmd = lookup(&args[0]);
    state.metrics.command(cmd.map(|c| c as usize)).inc();
    let mut cx = Cx {
        state,
        session,
        out,
        wire,
    };
    let outcome = AssertUnwindSafe(run(&mut cx, cmd, args))
        .catch_unwind()
        .await;
    let error = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(error)) => error,
        Err(panic) => {
            panicked(state, cmd, panic);
            RespError::Internal
        }
    };
    error.write(cx.out);
}

/// Logs and counts a handler that panicked.
fn panicked(state: &RespState, cmd: Option<Cmd>, panic: Box<dyn std::any::Any + Send>) {
    static LOG: Throttled = Throttled::new(Duration::from_secs(10));
    state.app.cache.metrics().doors().panic("resp").inc();
    let message = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    if let Some(suppressed) = LOG.allow() {
        let command = cmd.map_or("unknown", |c| c.spec().name);
        tracing::error!(
            command,
            panic = message,
            suppressed,
            "bug: a RESP command panicked; answered an error"
        );
    }
}

async fn run(cx: &mut Cx<'_>, cmd: Option<Cmd>, args: &[Bytes]) -> Result<(), RespError> {
    let Some(cmd) = cmd else {
        return Err(RespError::unknown_command(args));
    };
    let spec = cmd.spec();
    if !spec.arity_allows(args.len()) {
        return Err(RespError::WrongArity(spec.name));
    }
    match cx.session.identity.as_ref() {
        None if !spec.no_auth() => return Err(RespError::NoAuth),
        Some(who) if !who.role.allows(spec.role()) => {
            refused(cx, "the user's role does not allow it", spec.name);
            return Err(RespError::NoPermission(spec.name));
        }
        _ => {}
    }
    match cmd {
        Cmd::Ping => handshake::ping(cx, args),
        Cmd::Echo => handshake::echo(cx, args),
        Cmd::Quit => handshake::quit(cx),
        Cmd::Hello => handshake::hello(cx, args),
        Cmd::Auth => handshake::auth(cx, args),
        Cmd::Select => handshake::select(cx, args),
        Cmd::Client => handshake::client(cx, args),
        Cmd::Acl => handshake::acl(cx, args),
        Cmd::Command => introspection::command(cx, args),
        Cmd::Config => introspection::config(cx, args),
        Cmd::Info => introspection::info(cx, args),
        Cmd::Dbsize => keyspace::dbsize(cx),
        Cmd::Flushall | Cmd::Flushdb => keyspace::flush(cx, args).await,
        Cmd::Get => strings::get(cx, args).await,
        Cmd::Set => strings::set(cx, args).await,
        Cmd::Setex => strings::setex(cx, args, 1000, "setex").await,
        Cmd::Psetex => strings::setex(cx, args, 1, "psetex").await,
        Cmd::Setnx => strings::setnx(cx, args).await,
        Cmd::Getdel => strings::getdel(cx, args).await,
        Cmd::Getex => strings::getex(cx, args).await,
        Cmd::Mget => strings::mget(cx, args).await,
        Cmd::Mset => strings::mset(cx, args).await,
        Cmd::Msetnx => strings::msetnx(cx, args).await,
        Cmd::Incr => strings::incr_by(cx, &args[1], 1).await,
        Cmd::Decr => strings::incr_by(cx, &args[1], -1).await,
        Cmd::Incrby => strings::incrby(cx, args, false).await,
        Cmd::Decrby => strings::incrby(cx, args, true).await,
        Cmd::Append => strings::append(cx, args).await,
        Cmd::Strlen => strings::strlen(cx, args).await,
        Cmd::Del | Cmd::Unlink => keyspace::del(cx, args).await,
        Cmd::Exists => keyspace::exists(cx, args).await,
        Cmd::Expire => keyspace::expire(cx, args, 1000, false, "expire").await,
        Cmd::Pexpire => keyspace::expire(cx, args, 1, false, "pexpire").await,
        Cmd::Expireat => keyspace::expire(cx, args, 1000, true, "expireat").await,
        Cmd::Pexpireat => keyspace::expire(cx, args, 1, true, "pexpireat").await,
        Cmd::Ttl => keyspace::ttl(cx, args, false).await,
        Cmd::Pttl => keyspace::ttl(cx, args, true).await,
        Cmd::Persist => keyspace::persist(cx, args).await,
        Cmd::Type => keyspace::key_type(cx, args).await,
        Cmd::Scan => keyspace::scan(cx, args).await,
        Cmd::Keys => keyspace::keys(cx, args).await,
    }
}

/// Counts, and logs at most once per interval, a refused command or AUTH:
/// what a client guessing tokens or probing commands can repeat at will.
pub fn refused(cx: &Cx<'_>, why: &'static str, command: &'static str) {
    static LOG: Throttled = Throttled::new(Duration::from_secs(10));
    let doors = cx.state.app.cache.metrics().doors();
    doors.auth_failure("resp").inc();
    if let Some(suppressed) = LOG.allow() {
        let user = cx.session.identity.as_ref().map(|i| i.user.clone());
        let peer = cx.session.client.peer;
        tracing::warn!(client = cx.session.client.id, %peer, ?user, command, why, suppressed, "resp command refused");
    }
}

/// Case-insensitive comparison of an argument with an upper-case option name.
pub fn is(arg: &[u8], option: &str) -> bool {
    arg.eq_ignore_ascii_case(option.as_bytes())
}

/// An integer argument, by Redis's rules.
pub fn integer(arg: &[u8]) -> Result<i64, RespError> {
    crate::integer::parse_i64(arg).ok_or(RespError::NotAnInteger)
}

/// A copy of an argument that will be stored: arguments are slices of the
/// connection's read buffer, and keeping one would pin the whole buffer.
pub fn owned(arg: &Bytes) -> Bytes {
    Bytes::copy_from_slice(arg)
}

/// Key and value together at most this long are copied into one allocation.
const SHARED_ALLOCATION_MAX: usize = 128;

/// Copies of a key and the value to store under it. A small pair shares one
/// allocation: one malloc and one free instead of two, and a lookup that reads the
/// key (to compare it) brings the value's bytes into the cache with it. Larger pairs
/// are copied apart, so a store that keeps an entry's first key (LRU replaces only
/// the value) never pins more than this bound of an old value.
pub fn owned_pair(key: &Bytes, value: &Bytes) -> (Bytes, Bytes) {
    if key.len() + value.len() > SHARED_ALLOCATION_MAX {
        return (owned(key), owned(value));
    }
    let mut both = BytesMut::with_capacity(key.len() + value.len());
    both.extend_from_slice(key);
    both.extend_from_slice(value);
    let value = both.split_off(key.len());
    (both.freeze(), value.freeze())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_pair_shares_one_allocation_and_a_large_one_does_not() {
        let (key, value) = owned_pair(&Bytes::from("key:1"), &Bytes::from("xyz"));
        assert_eq!((&key[..], &value[..]), (&b"key:1"[..], &b"xyz"[..]));
        assert_eq!(
            value.as_ptr() as usize,
            key.as_ptr() as usize + key.len(),
            "the value follows the key in the same buffer"
        );
        let big = Bytes::from(vec![7u8; SHARED_ALLOCATION_MAX]);
        let (key, value) = owned_pair(&Bytes::from("k"), &big);
        assert_eq!((&key[..], value.len()), (&b"k"[..], SHARED_ALLOCATION_MAX));
        assert_ne!(value.as_ptr() as usize, key.as_ptr() as usize + 1);
    }
}
