//! Plain GETs and SETs run as one batch: which commands qualify ([`Plain`]),
//! the one Cache call for each kind, and the replies written as each command
//! alone would write them. A batch must not change what a client sees: the
//! replies, their order and the per-command counts are those of running the
//! commands one by one.

use bytes::Bytes;
use roost_resp::{write_null, write_simple};

use crate::api::resp::command::{Call, Command, Request};
use crate::api::resp::command_table::Cmd;
use crate::api::resp::dispatch;
use crate::api::resp::output::Output;
use crate::api::resp::reply::RespError;
use crate::api::resp::session::Session;
use crate::api::resp::strings::PLAIN_SET;
use crate::api::resp::RespState;
use crate::cache::Expiry;
use crate::error::CacheError;

/// What a plain SET stores: a key and a value copied out of the read buffer.
pub type StoredWrite = (Bytes, Bytes, Expiry);

/// A command that can run as part of a batch: a plain `GET key`, or a plain
/// `SET key value` (no options; SETEX and the others have their own paths).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plain<'a> {
    Get(&'a Bytes),
    Set(&'a Bytes, &'a Bytes),
}

impl<'a> Plain<'a> {
    /// Read off the typed command; `None` for anything else, a command with a
    /// bad argument included.
    pub fn of(request: &Request<'a>) -> Option<Plain<'a>> {
        let Request::Call(Call {
            cmd,
            command: Ok(command),
            ..
        }) = request
        else {
            return None;
        };
        match (cmd, command) {
            (Cmd::Get, Command::Get { key }) => Some(Plain::Get(key)),
            (
                Cmd::Set,
                Command::Set {
                    key,
                    value,
                    options: PLAIN_SET,
                    get_previous: false,
                },
            ) => Some(Plain::Set(key, value)),
            _ => None,
        }
    }

    /// The table entry it counts as.
    pub fn cmd(self) -> Cmd {
        match self {
            Plain::Get(_) => Cmd::Get,
            Plain::Set(..) => Cmd::Set,
        }
    }

    pub fn is_get(request: &Request<'_>) -> bool {
        matches!(Plain::of(request), Some(Plain::Get(_)))
    }

    pub fn is_set(request: &Request<'_>) -> bool {
        matches!(Plain::of(request), Some(Plain::Set(..)))
    }

    /// A GET's key, for [`get_batch`].
    pub fn get_key(self) -> Option<Bytes> {
        match self {
            Plain::Get(key) => Some(key.clone()),
            Plain::Set(..) => None,
        }
    }

    /// A SET's write, for [`set_batch`].
    pub fn stored_write(self) -> Option<StoredWrite> {
        match self {
            Plain::Set(key, value) => Some(stored_write(key, value)),
            Plain::Get(_) => None,
        }
    }
}

/// What a plain `SET key value` stores: copies of its key and value, so the
/// store never pins the read buffer (`dispatch::owned_pair`, as SET alone).
pub fn stored_write(key: &Bytes, value: &Bytes) -> StoredWrite {
    let (key, value) = dispatch::owned_pair(key, value);
    (key, value, Expiry::Never)
}

/// Plain `GET key`s as one batch; their values in command order, each command
/// counted.
pub async fn get_batch(
    state: &RespState,
    keys: Vec<Bytes>,
) -> Vec<Result<Option<Bytes>, CacheError>> {
    state
        .metrics
        .command(Some(Cmd::Get as usize))
        .inc_by(keys.len() as u64);
    state.app.cache.get_values(&keys).await
}

/// Plain `SET key value`s as one batch; their outcomes in command order, each
/// command counted.
pub async fn set_batch(state: &RespState, writes: Vec<StoredWrite>) -> Vec<Result<(), CacheError>> {
    state
        .metrics
        .command(Some(Cmd::Set as usize))
        .inc_by(writes.len() as u64);
    state.app.cache.put_many(writes).await
}

/// A plain GET's reply, as `GET` writes it.
pub fn write_get_reply(
    out: &mut Output,
    session: &Session,
    value: Result<Option<Bytes>, CacheError>,
) {
    match value {
        Ok(Some(value)) => out.bulk(&value),
        Ok(None) => write_null(out, session.protocol),
        Err(err) => RespError::from(err).write(out),
    }
}

/// A plain SET's reply, as `SET` writes it.
pub fn write_set_reply(out: &mut Output, stored: Result<(), CacheError>) {
    match stored {
        Ok(()) => write_simple(out, b"OK"),
        Err(err) => RespError::from(err).write(out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_gets_and_sets_batch() {
        let plain = |words: &[&str]| {
            let argv: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
            let found = Plain::of(&Request::parse(&argv)).map(|plain| match plain {
                Plain::Get(key) => format!("get {key:?}"),
                Plain::Set(key, value) => format!("set {key:?} {value:?}"),
            });
            found
        };
        assert_eq!(plain(&["get", "k"]).as_deref(), Some("get b\"k\""));
        assert_eq!(
            plain(&["SET", "k", "v"]).as_deref(),
            Some("set b\"k\" b\"v\"")
        );
        for not_plain in [
            &["GET"][..],
            &["GET", "k", "x"],
            &["SET", "k", "v", "EX", "10"],
            &["SET", "k", "v", "NX"],
            &["SET", "k", "v", "GET"],
            &["SET", "k", "v", "KEEPTTL"],
            &["SET", "k", "v", "BAD"],
            &["SETEX", "k", "10", "v"],
            &["SETNX", "k", "v"],
            &["GETDEL", "k"],
        ] {
            assert_eq!(plain(not_plain), None, "{not_plain:?}");
        }
    }
}
