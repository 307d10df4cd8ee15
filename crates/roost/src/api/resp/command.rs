//! A RESP command parsed once, before it runs: the table entry its name finds,
//! its argument count checked against the arity, and its arguments read into a
//! typed [`Command`] (sub-commands, options, numbers) with Redis's errors. The
//! pipeline groups and batches by it, dispatch checks the user and runs it, and
//! handler tests build one without a socket. It must not touch the cache or the
//! session: parsing is pure, so when a pipeline parses a command makes no
//! difference.
//!
//! Redis answers an unknown name or a wrong argument count before it looks at
//! authentication, and a bad argument only after: so [`Request::Invalid`] holds
//! the first kind, and a [`Call`] keeps its argument error until dispatch has
//! checked the user (an unauthenticated client gets NOAUTH, not a syntax error).
//!
//! The keys a command touches come from the table's key spec applied to its
//! arguments ([`Call::keys`]), the same spec COMMAND INFO and COMMAND GETKEYS
//! report; the typed fields name the same arguments (a unit test checks that
//! they agree for every command in the table).
//!
//! Nothing is copied: keys and values are the codec's slices of the read buffer,
//! borrowed; a handler copies what it stores.

use std::iter::StepBy;
use std::ops::RangeInclusive;

use bytes::Bytes;

use super::command_table::{forwarded_metric, lookup, lookup_forwarded, Cmd, Spec, FORWARDED};
use super::dispatch::{integer, is};
use super::handshake::{AclCommand, ClientCommand, Hello};
use super::introspection::CommandQuery;
use super::keyspace::{ExpireArgs, ScanArgs};
use super::reply::RespError;
use super::strings::{ExpiryUnit, PLAIN_SET};
use crate::cache::{Expiry, SetOptions};

/// One command as a client sent it, parsed.
#[derive(Debug)]
pub enum Request<'a> {
    /// Answered with `error` whatever the session: an unknown name (`cmd` is
    /// `None`) or a number of arguments the command's arity does not allow.
    Invalid { cmd: Option<Cmd>, error: RespError },
    /// A known command with an allowed number of arguments.
    Call(Call<'a>),
    /// A command forwarded to the key's node in front of Redis; its arity is
    /// checked when it runs (before authentication, as Redis does).
    Forward(Forward<'a>),
}

/// A forwarded command (see `forward.rs`): its entry in [`FORWARDED`] and
/// its arguments as sent.
#[derive(Debug)]
pub struct Forward<'a> {
    pub index: usize,
    pub argv: &'a [Bytes],
}

impl<'a> Forward<'a> {
    pub fn spec(&self) -> &'static Spec {
        &FORWARDED[self.index]
    }

    /// Its keys: by the table's key spec (as for [`Call::keys`]), or as its
    /// arguments say ([`movable_keys`]).
    pub fn keys(&self) -> Keys<'a> {
        let spec = self.spec();
        let positions = match movable_keys(spec.name, self.argv) {
            Some(listed) => Positions::Listed(listed.into_iter()),
            None => Positions::Spec(spec.key_positions(self.argv.len())),
        };
        Keys {
            argv: self.argv,
            positions,
        }
    }
}

/// A known command with an allowed number of arguments.
#[derive(Debug)]
pub struct Call<'a> {
    pub cmd: Cmd,
    /// The arguments as sent, name first.
    pub argv: &'a [Bytes],
    /// The typed command, or the error its arguments get — answered only once
    /// the session may run `cmd`.
    pub command: Result<Command<'a>, RespError>,
}

impl<'a> Request<'a> {
    /// Parses `argv`, a command as the codec returns it (name first, never empty).
    pub fn parse(argv: &'a [Bytes]) -> Request<'a> {
        let Some(cmd) = lookup(&argv[0]) else {
            if let Some(index) = lookup_forwarded(&argv[0]) {
                return Request::Forward(Forward { index, argv });
            }
            let error = RespError::unknown_command(argv);
            return Request::Invalid { cmd: None, error };
        };
        let spec = cmd.spec();
        if !spec.arity_allows(argv.len()) {
            let error = RespError::WrongArity(spec.name);
            return Request::Invalid {
                cmd: Some(cmd),
                error,
            };
        }
        let command = Command::parse(cmd, argv);
        Request::Call(Call { cmd, argv, command })
    }

    /// The table entry the name found, if any, of a command Roost serves.
    pub fn cmd(&self) -> Option<Cmd> {
        match self {
            Request::Invalid { cmd, .. } => *cmd,
            Request::Call(call) => Some(call.cmd),
            Request::Forward(_) => None,
        }
    }

    /// Which counter of `roost_resp_commands_total` counts it (`None`: unknown).
    pub fn metric(&self) -> Option<usize> {
        match self {
            Request::Forward(forward) => Some(forwarded_metric(forward.index)),
            _ => self.cmd().map(|cmd| cmd as usize),
        }
    }
}

impl<'a> Call<'a> {
    /// The keys this command touches: the table's key spec over its arguments.
    pub fn keys(&self) -> Keys<'a> {
        Keys {
            argv: self.argv,
            positions: Positions::Spec(self.cmd.spec().key_positions(self.argv.len())),
        }
    }
}

/// The keys of a command, in argument order (see [`Call::keys`]).
#[derive(Debug, Clone)]
pub struct Keys<'a> {
    argv: &'a [Bytes],
    positions: Positions,
}

/// Where a command's keys are: by its key spec, or listed (a command whose
/// arguments say which are keys).
#[derive(Debug, Clone)]
enum Positions {
    Spec(StepBy<RangeInclusive<usize>>),
    Listed(std::vec::IntoIter<usize>),
}

impl<'a> Iterator for Keys<'a> {
    type Item = &'a Bytes;

    fn next(&mut self) -> Option<&'a Bytes> {
        let next = match &mut self.positions {
            Positions::Spec(range) => range.next(),
            Positions::Listed(listed) => listed.next(),
        };
        next.and_then(|i| self.argv.get(i))
    }
}

/// XREAD's and XREADGROUP's options as Redis's xreadGetKeys and
/// xreadCommand walk them: BLOCK and COUNT take one argument, GROUP two,
/// NOACK none; STREAMS ends them; the last BLOCK counts.
pub struct XreadOptions<'a> {
    pub block: Option<&'a Bytes>,
    /// The position of the STREAMS that starts the keys.
    pub streams: Option<usize>,
}

pub fn xread_options(argv: &[Bytes]) -> XreadOptions<'_> {
    let mut options = XreadOptions {
        block: None,
        streams: None,
    };
    let mut i = 1;
    while i < argv.len() {
        let arg = &argv[i];
        if is(arg, "BLOCK") {
            options.block = argv.get(i + 1);
            i += 2;
        } else if is(arg, "COUNT") {
            i += 2;
        } else if is(arg, "GROUP") {
            i += 3;
        } else if is(arg, "NOACK") {
            i += 1;
        } else {
            if is(arg, "STREAMS") {
                options.streams = Some(i);
            }
            break;
        }
    }
    options
}

/// The key positions of a forwarded command whose arguments say which are
/// keys (flag `movablekeys`), read as Redis's own getkeys procedures read
/// them; `None` for every other command. Arguments Redis will refuse (a
/// numkeys that is not a count of the arguments there) give the fixed keys
/// only, and Redis answers its own error wherever the command goes.
pub fn movable_keys(name: &str, argv: &[Bytes]) -> Option<Vec<usize>> {
    let counted = |at: usize, fixed: &[usize]| {
        let mut keys = fixed.to_vec();
        let count = argv.get(at).and_then(|n| integer(n).ok());
        if let Some(count) = count.and_then(|n| usize::try_from(n).ok()) {
            if at.checked_add(count).is_some_and(|last| last < argv.len()) {
                keys.extend(at + 1..=at + count);
            }
        }
        keys
    };
    Some(match name {
        "zunionstore" | "zinterstore" | "zdiffstore" => counted(2, &[1]),
        "zunion" | "zinter" | "zdiff" | "zintercard" | "sintercard" | "lmpop" | "zmpop" => {
            counted(1, &[])
        }
        "blmpop" | "bzmpop" => counted(2, &[]),
        "eval" | "evalsha" | "eval_ro" | "evalsha_ro" | "fcall" | "fcall_ro" => counted(2, &[]),
        // Redis's georadiusGetKeys: options from the sixth argument; the
        // last STORE or STOREDIST names the destination.
        "georadius" | "georadiusbymember" => {
            let (mut store, mut i) = (None, 5);
            while i < argv.len() {
                if (is(&argv[i], "STORE") || is(&argv[i], "STOREDIST")) && i + 1 < argv.len() {
                    store = Some(i + 1);
                    i += 1;
                }
                i += 1;
            }
            std::iter::once(1).chain(store).collect()
        }
        "xread" | "xreadgroup" => match xread_options(argv).streams {
            Some(at) if argv.len() - at > 1 && (argv.len() - at - 1) % 2 == 0 => {
                (at + 1..at + 1 + (argv.len() - at - 1) / 2).collect()
            }
            _ => Vec::new(),
        },
        _ => return None,
    })
}

/// What a command does, with its arguments read. Some variants serve several
/// names (SETEX is a SET with an expiry, UNLINK a DEL): the [`Call`] keeps the
/// name for the metrics and the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    // Connection (handshake.rs).
    Ping {
        message: Option<&'a Bytes>,
    },
    Echo {
        message: &'a Bytes,
    },
    Quit,
    Hello(Hello<'a>),
    Auth {
        user: Option<&'a Bytes>,
        password: &'a Bytes,
    },
    /// SELECT 0, the only database.
    Select,
    Client(ClientCommand<'a>),
    Acl(AclCommand),
    // Server (introspection.rs; DBSIZE and FLUSH* in keyspace.rs).
    /// COMMAND and its sub-commands.
    Commands(CommandQuery<'a>),
    ConfigGet {
        patterns: &'a [Bytes],
    },
    /// CONFIG SET of Redis's encoding parameters (introspection.rs).
    ConfigSet {
        pairs: &'a [Bytes],
    },
    Info {
        sections: &'a [Bytes],
    },
    Dbsize,
    /// FLUSHALL or FLUSHDB (one database: the same).
    Flush,
    // Strings (strings.rs).
    Get {
        key: &'a Bytes,
    },
    /// SET, SETEX and PSETEX.
    Set {
        key: &'a Bytes,
        value: &'a Bytes,
        options: SetOptions,
        /// SET … GET: answer the value it replaced.
        get_previous: bool,
    },
    Setnx {
        key: &'a Bytes,
        value: &'a Bytes,
    },
    Getdel {
        key: &'a Bytes,
    },
    Getex {
        key: &'a Bytes,
        /// `None` leaves the deadline alone.
        expiry: Option<Expiry>,
    },
    Mget {
        keys: &'a [Bytes],
    },
    /// Keys and values in turn, an even number of them.
    Mset {
        pairs: &'a [Bytes],
    },
    Msetnx {
        pairs: &'a [Bytes],
    },
    /// INCR, DECR, INCRBY and DECRBY.
    IncrBy {
        key: &'a Bytes,
        delta: i64,
    },
    Append {
        key: &'a Bytes,
        value: &'a Bytes,
    },
    Strlen {
        key: &'a Bytes,
    },
    // Keyspace (keyspace.rs).
    /// DEL and UNLINK.
    Del {
        keys: &'a [Bytes],
    },
    Exists {
        keys: &'a [Bytes],
    },
    /// EXPIRE, PEXPIRE, EXPIREAT and PEXPIREAT.
    Expire(ExpireArgs<'a>),
    Ttl {
        key: &'a Bytes,
    },
    Pttl {
        key: &'a Bytes,
    },
    Persist {
        key: &'a Bytes,
    },
    Type {
        key: &'a Bytes,
    },
    Scan(ScanArgs<'a>),
    Keys {
        pattern: &'a Bytes,
    },
    // Transactions (transaction.rs), in front of Redis.
    Multi,
    Exec,
    Discard,
    Watch {
        keys: &'a [Bytes],
    },
    Unwatch,
}

impl<'a> Command<'a> {
    /// Reads the arguments of `cmd`; `argv` has a count its arity allows, so
    /// the positions it guarantees are indexed directly.
    pub fn parse(cmd: Cmd, argv: &'a [Bytes]) -> Result<Command<'a>, RespError> {
        use Command as C;
        let name = cmd.spec().name;
        let one = || &argv[1];
        Ok(match cmd {
            Cmd::Ping => match argv {
                [_] => C::Ping { message: None },
                [_, message] => C::Ping {
                    message: Some(message),
                },
                _ => return Err(RespError::WrongArity(name)),
            },
            Cmd::Echo => C::Echo { message: one() },
            Cmd::Quit => C::Quit,
            Cmd::Hello => C::Hello(Hello::parse(argv)?),
            Cmd::Auth => match &argv[1..] {
                [password] => C::Auth {
                    user: None,
                    password,
                },
                [user, password] => C::Auth {
                    user: Some(user),
                    password,
                },
                _ => return Err(RespError::Syntax),
            },
            Cmd::Select => match integer(one())? {
                0 => C::Select,
                _ => return Err(RespError::DbIndexOutOfRange),
            },
            Cmd::Client => C::Client(ClientCommand::parse(argv)?),
            Cmd::Acl => C::Acl(AclCommand::parse(argv)?),
            Cmd::Command => C::Commands(CommandQuery::parse(argv)?),
            Cmd::Config => super::introspection::parse_config(argv)?,
            Cmd::Info => C::Info {
                sections: &argv[1..],
            },
            Cmd::Dbsize => C::Dbsize,
            Cmd::Flushall | Cmd::Flushdb => match &argv[1..] {
                [] => C::Flush,
                [mode] if is(mode, "ASYNC") || is(mode, "SYNC") => C::Flush,
                _ => return Err(RespError::Syntax),
            },
            Cmd::Get => C::Get { key: one() },
            Cmd::Set => super::strings::parse_set(argv)?,
            Cmd::Setex | Cmd::Psetex => {
                let unit_ms = if cmd == Cmd::Setex { 1000 } else { 1 };
                let unit = ExpiryUnit {
                    unit_ms,
                    absolute: false,
                };
                C::Set {
                    key: one(),
                    value: &argv[3],
                    options: SetOptions {
                        expiry: unit.expiry(&argv[2], name)?,
                        ..PLAIN_SET
                    },
                    get_previous: false,
                }
            }
            Cmd::Setnx => C::Setnx {
                key: one(),
                value: &argv[2],
            },
            Cmd::Getdel => C::Getdel { key: one() },
            Cmd::Getex => C::Getex {
                key: one(),
                expiry: super::strings::parse_getex_expiry(&argv[2..])?,
            },
            Cmd::Mget => C::Mget { keys: &argv[1..] },
            Cmd::Mset => C::Mset {
                pairs: pairs(argv, name)?,
            },
            Cmd::Msetnx => C::Msetnx {
                pairs: pairs(argv, name)?,
            },
            Cmd::Incr => C::IncrBy {
                key: one(),
                delta: 1,
            },
            Cmd::Decr => C::IncrBy {
                key: one(),
                delta: -1,
            },
            Cmd::Incrby => C::IncrBy {
                key: one(),
                delta: integer(&argv[2])?,
            },
            Cmd::Decrby => C::IncrBy {
                key: one(),
                delta: integer(&argv[2])?
                    .checked_neg()
                    .ok_or(RespError::DecrementOverflow)?,
            },
            Cmd::Append => C::Append {
                key: one(),
                value: &argv[2],
            },
            Cmd::Multi => C::Multi,
            Cmd::Exec => C::Exec,
            Cmd::Discard => C::Discard,
            Cmd::Watch => C::Watch { keys: &argv[1..] },
            Cmd::Unwatch => C::Unwatch,
            Cmd::Strlen => C::Strlen { key: one() },
            Cmd::Del | Cmd::Unlink => C::Del { keys: &argv[1..] },
            Cmd::Exists => C::Exists { keys: &argv[1..] },
            Cmd::Expire | Cmd::Pexpire | Cmd::Expireat | Cmd::Pexpireat => {
                C::Expire(ExpireArgs::parse(cmd, argv)?)
            }
            Cmd::Ttl => C::Ttl { key: one() },
            Cmd::Pttl => C::Pttl { key: one() },
            Cmd::Persist => C::Persist { key: one() },
            Cmd::Type => C::Type { key: one() },
            Cmd::Scan => C::Scan(ScanArgs::parse(argv)?),
            Cmd::Keys => C::Keys { pattern: one() },
        })
    }
}

/// The key/value arguments of MSET and MSETNX: a key without its value is
/// Redis's arity error, reported by the command itself (after authentication).
fn pairs<'a>(argv: &'a [Bytes], name: &'static str) -> Result<&'a [Bytes], RespError> {
    match argv.len() % 2 {
        0 => Err(RespError::WrongArity(name)),
        _ => Ok(&argv[1..]),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::api::resp::command_table::COMMANDS;

    fn argv(words: &[&str]) -> Vec<Bytes> {
        words.iter().map(|w| Bytes::from(w.to_string())).collect()
    }

    /// A valid use of every command (the match is exhaustive, so a new command
    /// needs one here).
    fn sample(cmd: Cmd) -> &'static [&'static str] {
        match cmd {
            Cmd::Ping => &["ping"],
            Cmd::Echo => &["echo", "hi"],
            Cmd::Quit => &["quit"],
            Cmd::Hello => &["hello", "3", "SETNAME", "w1"],
            Cmd::Auth => &["auth", "user", "pw"],
            Cmd::Select => &["select", "0"],
            Cmd::Client => &["client", "id"],
            Cmd::Acl => &["acl", "whoami"],
            Cmd::Command => &["command", "count"],
            Cmd::Config => &["config", "get", "port"],
            Cmd::Info => &["info", "server"],
            Cmd::Dbsize => &["dbsize"],
            Cmd::Flushall => &["flushall", "async"],
            Cmd::Flushdb => &["flushdb"],
            Cmd::Get => &["get", "k1"],
            Cmd::Set => &["set", "k1", "v", "EX", "10", "GET"],
            Cmd::Setex => &["setex", "k1", "10", "v"],
            Cmd::Psetex => &["psetex", "k1", "10", "v"],
            Cmd::Setnx => &["setnx", "k1", "v"],
            Cmd::Getdel => &["getdel", "k1"],
            Cmd::Getex => &["getex", "k1", "PX", "5"],
            Cmd::Mget => &["mget", "k1", "k2", "k3"],
            Cmd::Mset => &["mset", "k1", "v1", "k2", "v2"],
            Cmd::Msetnx => &["msetnx", "k1", "v1", "k2", "v2"],
            Cmd::Del => &["del", "k1", "k2"],
            Cmd::Unlink => &["unlink", "k1", "k2"],
            Cmd::Exists => &["exists", "k1", "k2", "k1"],
            Cmd::Expire => &["expire", "k1", "10", "NX"],
            Cmd::Pexpire => &["pexpire", "k1", "10"],
            Cmd::Expireat => &["expireat", "k1", "10"],
            Cmd::Pexpireat => &["pexpireat", "k1", "10", "GT"],
            Cmd::Ttl => &["ttl", "k1"],
            Cmd::Pttl => &["pttl", "k1"],
            Cmd::Persist => &["persist", "k1"],
            Cmd::Type => &["type", "k1"],
            Cmd::Incr => &["incr", "k1"],
            Cmd::Incrby => &["incrby", "k1", "5"],
            Cmd::Decr => &["decr", "k1"],
            Cmd::Decrby => &["decrby", "k1", "5"],
            Cmd::Append => &["append", "k1", "v"],
            Cmd::Strlen => &["strlen", "k1"],
            Cmd::Scan => &["scan", "0", "MATCH", "k*", "COUNT", "5"],
            Cmd::Keys => &["keys", "k*"],
            Cmd::Multi => &["multi"],
            Cmd::Exec => &["exec"],
            Cmd::Discard => &["discard"],
            Cmd::Watch => &["watch", "k1", "k2"],
            Cmd::Unwatch => &["unwatch"],
        }
    }

    /// The arguments a typed command's fields use as keys. Test code only:
    /// the server reads keys from the table, and this checks the two agree.
    fn typed_keys<'a>(command: &Command<'a>) -> Vec<&'a Bytes> {
        use Command as C;
        match command {
            C::Get { key }
            | C::Set { key, .. }
            | C::Setnx { key, .. }
            | C::Getdel { key }
            | C::Getex { key, .. }
            | C::IncrBy { key, .. }
            | C::Append { key, .. }
            | C::Strlen { key }
            | C::Ttl { key }
            | C::Pttl { key }
            | C::Persist { key }
            | C::Type { key } => vec![*key],
            C::Expire(args) => vec![args.key],
            C::Mget { keys } | C::Del { keys } | C::Exists { keys } | C::Watch { keys } => {
                keys.iter().collect()
            }
            C::Mset { pairs } | C::Msetnx { pairs } => pairs.iter().step_by(2).collect(),
            C::Ping { .. }
            | C::Echo { .. }
            | C::Quit
            | C::Hello(_)
            | C::Auth { .. }
            | C::Select
            | C::Client(_)
            | C::Acl(_)
            | C::Commands(_)
            | C::ConfigGet { .. }
            | C::ConfigSet { .. }
            | C::Info { .. }
            | C::Dbsize
            | C::Flush
            | C::Scan(_)
            | C::Keys { .. }
            | C::Multi
            | C::Exec
            | C::Discard
            | C::Unwatch => Vec::new(),
        }
    }

    #[test]
    fn movable_keys_are_read_as_redis_reads_them() {
        let keys = |words: &[&str]| {
            let argv = argv(words);
            let name = words[0].to_ascii_lowercase();
            movable_keys(&name, &argv)
                .map(|at| at.iter().map(|&i| words[i].to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            keys(&["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "1", "2"]).unwrap(),
            ["d", "a", "b"]
        );
        assert_eq!(
            keys(&["ZUNIONSTORE", "d", "9", "a"]).unwrap(),
            ["d"],
            "a count past the end names none"
        );
        assert_eq!(
            keys(&["EVAL", "s", "18446744073709551615", "a"]).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            keys(&["EVAL", "s", "-1", "a"]).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            keys(&[
                "GEORADIUS",
                "src",
                "1",
                "2",
                "3",
                "km",
                "STORE",
                "a",
                "STOREDIST",
                "b"
            ])
            .unwrap(),
            ["src", "b"],
            "the last STORE wins"
        );
        assert_eq!(
            keys(&["GEORADIUSBYMEMBER", "k", "STORE", "10", "km"]).unwrap(),
            ["k"],
            "options start after the unit"
        );
        assert_eq!(
            keys(&["GEORADIUS", "k", "1", "2", "3", "km", "STORE"]).unwrap(),
            ["k"]
        );
        assert_eq!(
            keys(&["XREADGROUP", "GROUP", "STREAMS", "c", "STREAMS", "s", ">"]).unwrap(),
            ["s"],
            "a group named STREAMS"
        );
        assert_eq!(
            keys(&["XREAD", "COUNT", "2", "STREAMS", "a", "b", "0", "0"]).unwrap(),
            ["a", "b"]
        );
        assert_eq!(
            keys(&["XREAD", "STREAMS", "a", "b", "0"]).unwrap(),
            Vec::<String>::new(),
            "odd: Redis's syntax error"
        );
        assert_eq!(keys(&["HSET", "h", "f", "v"]), None);
    }

    #[test]
    fn xread_takes_the_last_block() {
        let args = argv(&["XREAD", "BLOCK", "1", "BLOCK", "0", "STREAMS", "s", "$"]);
        let options = xread_options(&args);
        assert_eq!(options.block.map(|b| &b[..]), Some(&b"0"[..]));
        assert_eq!(options.streams, Some(5));
    }

    #[test]
    fn typed_commands_use_as_keys_the_arguments_the_table_names() {
        for spec in COMMANDS {
            let argv = argv(sample(spec.cmd.unwrap()));
            let Request::Call(call) = Request::parse(&argv) else {
                panic!("the sample of {} does not parse", spec.name);
            };
            let command = match &call.command {
                Ok(command) => command,
                Err(error) => panic!("the sample of {} fails: {error}", spec.name),
            };
            let address = |key: &Bytes| key as *const Bytes as usize;
            let from_table: Vec<usize> = call.keys().map(address).collect();
            let typed: Vec<usize> = typed_keys(command).into_iter().map(address).collect();
            assert_eq!(typed, from_table, "{}", spec.name);
            assert_eq!(spec.has_keys(), !from_table.is_empty(), "{}", spec.name);
        }
    }

    #[test]
    fn parsing_any_arguments_never_panics() {
        const WORDS: &[&str] = &[
            "",
            "k",
            "0",
            "1",
            "-1",
            "2",
            "3",
            "9223372036854775807",
            "-9223372036854775808",
            "x y",
            "EX",
            "PX",
            "EXAT",
            "PXAT",
            "KEEPTTL",
            "NX",
            "XX",
            "GT",
            "LT",
            "GET",
            "PERSIST",
            "AUTH",
            "SETNAME",
            "MATCH",
            "COUNT",
            "TYPE",
            "WHOAMI",
            "HELP",
            "INFO",
            "DOCS",
            "LIST",
            "SET",
            "ASYNC",
            "ID",
            "SETINFO",
            "GETNAME",
        ];
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed as usize
        };
        for spec in COMMANDS {
            for _ in 0..500 {
                let mut words = vec![spec.name];
                let argc = next() % 8;
                words.extend((0..argc).map(|_| WORDS[next() % WORDS.len()]));
                let argv = argv(&words);
                if let Request::Call(Call {
                    command: Ok(Command::Hello(hello)),
                    ..
                }) = Request::parse(&argv)
                {
                    // HELLO's options are read as they are acted on.
                    hello.options.for_each(drop);
                }
            }
        }
    }

    /// The error text, or the command.
    fn parsed(words: &[&str]) -> Result<String, String> {
        let argv = argv(words);
        match Request::parse(&argv) {
            Request::Invalid { error, .. } => Err(format!("before auth: {error}")),
            Request::Forward(forward) => Ok(format!("forward {}", forward.spec().name)),
            Request::Call(call) => match call.command {
                Ok(command) => Ok(format!("{command:?}")),
                Err(error) => Err(format!("after auth: {error}")),
            },
        }
    }

    #[test]
    fn names_and_counts_fail_before_authentication_and_arguments_after() {
        let before = |words: &[&str], text: &str| {
            assert_eq!(
                parsed(words),
                Err(format!("before auth: {text}")),
                "{words:?}"
            )
        };
        before(
            &["nope", "a"],
            "ERR unknown command 'nope', with args beginning with: 'a' ",
        );
        before(&["GET"], "ERR wrong number of arguments for 'get' command");
        before(
            &["get", "a", "b"],
            "ERR wrong number of arguments for 'get' command",
        );
        let after = |words: &[&str], text: &str| {
            assert_eq!(
                parsed(words),
                Err(format!("after auth: {text}")),
                "{words:?}"
            )
        };
        after(&["SET", "k", "v", "NX", "XX"], "ERR syntax error");
        after(
            &["SET", "k", "v", "EX", "0"],
            "ERR invalid expire time in 'set' command",
        );
        after(
            &["PSETEX", "k", "-1", "v"],
            "ERR invalid expire time in 'psetex' command",
        );
        after(
            &["MSET", "a", "1", "b"],
            "ERR wrong number of arguments for 'mset' command",
        );
        after(
            &["PING", "a", "b"],
            "ERR wrong number of arguments for 'ping' command",
        );
        after(
            &["DECRBY", "k", "-9223372036854775808"],
            "ERR decrement would overflow",
        );
        after(&["SELECT", "1"], "ERR DB index is out of range");
        after(&["SCAN", "x"], "ERR invalid cursor");
    }

    #[test]
    fn setex_is_a_set_with_an_expiry_and_decr_an_incr_by_minus_one() {
        let setex = argv(&["SETEX", "k", "10", "v"]);
        let Request::Call(call) = Request::parse(&setex) else {
            panic!("SETEX parses")
        };
        assert_eq!(
            call.cmd,
            Cmd::Setex,
            "the name stays for metrics and errors"
        );
        assert_eq!(
            call.command.unwrap(),
            Command::Set {
                key: &setex[1],
                value: &setex[3],
                options: SetOptions {
                    expiry: Expiry::After(Duration::from_secs(10)),
                    ..PLAIN_SET
                },
                get_previous: false,
            }
        );
        let decr = argv(&["decr", "n"]);
        let Request::Call(call) = Request::parse(&decr) else {
            panic!("DECR parses")
        };
        let expected = Command::IncrBy {
            key: &decr[1],
            delta: -1,
        };
        assert_eq!(call.command.unwrap(), expected);
    }
}
