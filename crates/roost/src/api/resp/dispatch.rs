//! From a parsed command to its reply: find the command in the table, count it,
//! check arity and authentication in Redis's order (unknown command, then arity,
//! then NOAUTH), call its handler, and write an error reply if it failed.

use bytes::{Bytes, BytesMut};
use roost_resp::{write_null, write_simple, Protocol};

use super::command_table::{lookup, Cmd};
use super::reply::RespError;
use super::session::Session;
use super::{handshake, introspection, keyspace, strings, RespState};
use crate::cache::Cache;

/// What a handler gets: the shared state, the connection's session and the
/// output buffer its reply goes into.
pub struct Cx<'a> {
    pub state: &'a RespState,
    pub session: &'a mut Session,
    pub out: &'a mut BytesMut,
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
}

/// Runs one command and appends its reply (or error) to `out`.
pub async fn execute(state: &RespState, session: &mut Session, args: &[Bytes], out: &mut BytesMut) {
    let cmd = lookup(&args[0]);
    state.metrics.command(cmd.map(|c| c as usize)).inc();
    let mut cx = Cx {
        state,
        session,
        out,
    };
    if let Err(error) = run(&mut cx, cmd, args).await {
        error.write(cx.out);
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
    if !cx.session.authenticated && !matches!(cmd, Cmd::Auth | Cmd::Hello | Cmd::Quit) {
        return Err(RespError::NoAuth);
    }
    match cmd {
        Cmd::Ping => handshake::ping(cx, args),
        Cmd::Echo => handshake::echo(cx, args),
        Cmd::Quit => handshake::quit(cx),
        Cmd::Hello => handshake::hello(cx, args),
        Cmd::Auth => handshake::auth(cx, args),
        Cmd::Select => handshake::select(cx, args),
        Cmd::Client => handshake::client(cx, args),
        Cmd::Command => introspection::command(cx, args),
        Cmd::Config => introspection::config(cx, args),
        Cmd::Info => introspection::info(cx, args),
        Cmd::Dbsize => keyspace::dbsize(cx),
        Cmd::Flushall | Cmd::Flushdb => keyspace::flush(cx, args, spec.name).await,
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
