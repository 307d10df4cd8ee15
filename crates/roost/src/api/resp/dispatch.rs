//! From a parsed command to its reply: count it, check authentication and the
//! user's role in Redis's order (unknown command and arity, found when the
//! command was parsed, then NOAUTH, then NOPERM, then argument errors), call its
//! handler with the typed command, and write an error reply if it failed. A
//! command whose parsing or handler panics (a bug) answers `-ERR internal
//! error` for that command alone; it is logged and counted.

use std::panic::AssertUnwindSafe;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures_util::FutureExt;
use roost_resp::{write_null, write_simple, Protocol};

use super::command::{Command, Request};
use super::command_table::{lookup, Cmd, Spec};
use super::connection::FLUSH_AT;
use super::output::Output;
use super::reply::RespError;
use super::session::Session;
use super::writer::Wire;
use super::{forward, handshake, introspection, keyspace, strings, transaction, RespState};
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

/// Parses a command once ([`Request::parse`]). Parsing is meant never to
/// panic; should a bug make it, the command answers `-ERR internal error`
/// like a handler's panic, and the connection carries on.
pub fn parse<'a>(state: &RespState, argv: &'a [Bytes]) -> Request<'a> {
    match std::panic::catch_unwind(AssertUnwindSafe(|| Request::parse(argv))) {
        Ok(request) => request,
        Err(panic) => {
            let cmd = lookup(&argv[0]);
            panicked(state, cmd, panic);
            Request::Invalid {
                cmd,
                error: RespError::Internal,
            }
        }
    }
}

/// Runs one parsed command and appends its reply (or error) to `out`.
pub async fn execute(
    state: &RespState,
    session: &mut Session,
    request: Request<'_>,
    out: &mut Output,
    wire: Option<&mut Wire>,
) {
    let cmd = request.cmd();
    state.metrics.command(request.metric()).inc();
    let mut cx = Cx {
        state,
        session,
        out,
        wire,
    };
    let outcome = AssertUnwindSafe(run(&mut cx, request)).catch_unwind().await;
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

/// Logs and counts a command that panicked.
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

/// Redis's order: an unknown name or wrong arity (found by parsing), then
/// NOAUTH, then NOPERM, then a bad argument (also found by parsing, answered
/// only now), then the command.
async fn run(cx: &mut Cx<'_>, request: Request<'_>) -> Result<(), RespError> {
    if cx.session.transaction.is_some() && !transaction::runs_at_once(&request) {
        return transaction::queue(cx, request);
    }
    let call = match request {
        Request::Invalid { error, .. } => return Err(error),
        Request::Forward(forwarded) => {
            let spec = forwarded.spec();
            if !spec.arity_allows(forwarded.argv.len()) {
                return Err(RespError::WrongArity(spec.name));
            }
            authorize(cx, spec)?;
            return forward::run(cx, forwarded).await;
        }
        Request::Call(call) => call,
    };
    authorize(cx, call.cmd.spec())?;
    apply(cx, call.command?).await
}

/// NOAUTH, then NOPERM: whether this session may run `spec`.
pub fn authorize(cx: &Cx<'_>, spec: &Spec) -> Result<(), RespError> {
    match cx.session.identity.as_ref() {
        None if !spec.no_auth() => Err(RespError::NoAuth),
        Some(who) if !who.role.allows(spec.role()) => {
            refused(cx, "the user's role does not allow it", spec.name);
            Err(RespError::NoPermission(spec.name))
        }
        _ => Ok(()),
    }
}

/// Runs a typed command for a session allowed to run it: the handler call.
pub async fn apply(cx: &mut Cx<'_>, command: Command<'_>) -> Result<(), RespError> {
    use Command as C;
    match command {
        C::Ping { message } => handshake::ping(cx, message),
        C::Echo { message } => handshake::echo(cx, message),
        C::Quit => handshake::quit(cx),
        C::Hello(hello) => handshake::hello(cx, hello),
        C::Auth { user, password } => handshake::auth(cx, user, password),
        C::Select => {
            cx.ok();
            Ok(())
        }
        C::Client(sub) => handshake::client(cx, sub),
        C::Acl(sub) => handshake::acl(cx, sub),
        C::Commands(query) => introspection::command(cx, query),
        C::ConfigGet { patterns } => introspection::config_get(cx, patterns).await,
        C::ConfigSet { pairs } => introspection::config_set(cx, pairs).await,
        C::Info { sections } => introspection::info(cx, sections),
        C::Dbsize => keyspace::dbsize(cx),
        C::Flush => keyspace::flush(cx).await,
        C::Get { key } => strings::get(cx, key).await,
        C::Set {
            key,
            value,
            options,
            get_previous,
        } => strings::set(cx, key, value, options, get_previous).await,
        C::Setnx { key, value } => strings::setnx(cx, key, value).await,
        C::Getdel { key } => strings::getdel(cx, key).await,
        C::Getex { key, expiry } => strings::getex(cx, key, expiry).await,
        C::Mget { keys } => strings::mget(cx, keys).await,
        C::Mset { pairs } => strings::mset(cx, pairs).await,
        C::Msetnx { pairs } => strings::msetnx(cx, pairs).await,
        C::IncrBy { key, delta } => strings::incr_by(cx, key, delta).await,
        C::Append { key, value } => strings::append(cx, key, value).await,
        C::Strlen { key } => strings::strlen(cx, key).await,
        C::Del { keys } => keyspace::del(cx, keys).await,
        C::Exists { keys } => keyspace::exists(cx, keys).await,
        C::Expire(args) => keyspace::expire(cx, args).await,
        C::Ttl { key } => keyspace::ttl(cx, key, false).await,
        C::Pttl { key } => keyspace::ttl(cx, key, true).await,
        C::Persist { key } => keyspace::persist(cx, key).await,
        C::Type { key } => keyspace::key_type(cx, key).await,
        C::Scan(args) => keyspace::scan(cx, args).await,
        C::Keys { pattern } => keyspace::keys(cx, pattern).await,
        C::Multi => transaction::multi(cx),
        C::Exec => transaction::exec(cx).await,
        C::Discard => transaction::discard(cx),
        C::Watch { keys } => transaction::watch(cx, keys).await,
        C::Unwatch => transaction::unwatch(cx),
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
    use crate::api::resp::testing::Harness;

    #[tokio::test]
    async fn checks_come_in_redis_order() {
        let mut h = Harness::with_env(&[
            ("ROOST_RESP_PASSWORD", "pw"),
            ("ROOST_API_TOKENS", "reader:read:rtok"),
        ]);
        let unknown = "-ERR unknown command 'NOPE', with args beginning with: 'a' \r\n";
        let arity = "-ERR wrong number of arguments for 'set' command\r\n";
        assert_eq!(h.send(&["NOPE", "a"]).await, unknown);
        assert_eq!(h.send(&["SET", "k"]).await, arity, "before NOAUTH");
        assert_eq!(
            h.send(&["SET", "k", "v", "NX", "XX"]).await,
            "-NOAUTH Authentication required.\r\n",
            "a bad argument is not looked at before authentication"
        );
        assert_eq!(h.send(&["AUTH", "reader", "rtok"]).await, "+OK\r\n");
        assert_eq!(h.send(&["SET", "k"]).await, arity, "before NOPERM");
        assert_eq!(
            h.send(&["SET", "k", "v", "NX", "XX"]).await,
            "-NOPERM this user has no permissions to run the 'set' command\r\n"
        );
        assert_eq!(h.send(&["AUTH", "pw"]).await, "+OK\r\n");
        assert_eq!(
            h.send(&["SET", "k", "v", "NX", "XX"]).await,
            "-ERR syntax error\r\n"
        );
        assert_eq!(h.send(&["SET", "k", "v", "NX"]).await, "+OK\r\n");
        assert_eq!(
            h.state.metrics.command(Some(Cmd::Set as usize)).get(),
            6,
            "every SET counted, refused or not"
        );
    }

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
