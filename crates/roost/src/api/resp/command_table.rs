//! The one table of RESP commands Roost understands: name, arity, flags, key
//! positions, group and summary. Dispatch, the arity check, COMMAND COUNT /
//! INFO / DOCS / GETKEYS, pipeline grouping and the per-command metric labels
//! all read it, so a command cannot be served without being described (or
//! described without being served), and which arguments are keys is said here
//! and nowhere else.
//!
//! Two parts: [`COMMANDS`], the commands Roost serves itself on every backend
//! (each a [`Cmd`]), and [`FORWARDED`], the data-type commands it forwards to
//! the key's node in front of Redis (`forward_table.rs`, generated from
//! Redis's own COMMAND INFO; `forward.rs` runs them).

use crate::auth::Role;

pub use super::forward_table::FORWARDED;

/// Every command, in table order (`COMMANDS[cmd as usize]` describes `cmd`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmd {
    Ping,
    Echo,
    Quit,
    Hello,
    Auth,
    Select,
    Client,
    Acl,
    Command,
    Config,
    Info,
    Dbsize,
    Flushall,
    Flushdb,
    Get,
    Set,
    Setex,
    Psetex,
    Setnx,
    Getdel,
    Getex,
    Mget,
    Mset,
    Msetnx,
    Del,
    Unlink,
    Exists,
    Expire,
    Pexpire,
    Expireat,
    Pexpireat,
    Ttl,
    Pttl,
    Persist,
    Type,
    Incr,
    Incrby,
    Decr,
    Decrby,
    Append,
    Strlen,
    Scan,
    Keys,
    Multi,
    Exec,
    Discard,
    Watch,
    Unwatch,
}

/// How Redis describes a command (the fields COMMAND INFO and DOCS report).
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    /// The command Roost serves itself; `None` for a forwarded one.
    pub cmd: Option<Cmd>,
    /// Lower-case, as Redis names commands in replies and errors.
    pub name: &'static str,
    /// Redis's convention: `n` exactly n arguments (name included), `-n` at least n.
    pub arity: i64,
    pub flags: &'static [&'static str],
    /// First key, last key (-1 = the last argument), step between keys; 0 0 0 = no keys.
    pub keys: (i64, i64, i64),
    pub categories: &'static [&'static str],
    pub group: &'static str,
    pub since: &'static str,
    pub summary: &'static str,
    /// The role a user needs to run it, from its flags (see [`role_of`]).
    role: Role,
    /// Runs before authentication (flag `no_auth`: AUTH, HELLO, QUIT).
    no_auth: bool,
}

impl Spec {
    /// The role a user needs to run it: admin for commands that write and are
    /// flagged admin (FLUSHALL, FLUSHDB), write for the other writes, read for
    /// everything else (CONFIG here only reads). Worked out once, with the table.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Whether it runs before the connection has authenticated (flag `no_auth`).
    pub fn no_auth(&self) -> bool {
        self.no_auth
    }

    /// Whether it names keys at all (its key spec is not 0 0 0).
    pub fn has_keys(&self) -> bool {
        self.keys.0 > 0
    }

    /// The positions of the keys in a command of `argc` arguments (name
    /// included), read from the key spec as Redis reads `first`, `last` (negative:
    /// counted from the end) and `step`; positions past the end are skipped.
    pub fn key_positions(&self, argc: usize) -> std::iter::StepBy<std::ops::RangeInclusive<usize>> {
        let (first, last, step) = self.keys;
        let argc = argc as i64;
        let last = if last < 0 { argc + last } else { last }.min(argc - 1);
        let (first, last) = match first > 0 && step > 0 && last >= first {
            true => (first as usize, last as usize),
            false => (1, 0),
        };
        (first..=last).step_by(step.max(1) as usize)
    }

    /// Whether `argc` arguments (name included) satisfy the arity.
    pub fn arity_allows(&self, argc: usize) -> bool {
        let argc = argc as i64;
        if self.arity >= 0 {
            argc == self.arity
        } else {
            argc >= -self.arity
        }
    }
}

const READ: &[&str] = &["readonly", "fast"];
const WRITE: &[&str] = &["write", "denyoom"];
const WRITE_FAST: &[&str] = &["write", "denyoom", "fast"];
const DELETE: &[&str] = &["write"];
const CONN: &[&str] = &["noscript", "loading", "stale", "fast"];
const NO_AUTH: &[&str] = &["noscript", "loading", "stale", "fast", "no_auth"];
const ADMIN: &[&str] = &["write", "admin"];
const SLOW_READ: &[&str] = &["readonly"];
const READ_CAT: &[&str] = &["@read", "@string", "@fast"];
const WRITE_CAT: &[&str] = &["@write", "@string", "@slow"];
const KEY_READ_CAT: &[&str] = &["@keyspace", "@read", "@fast"];
const KEY_WRITE_CAT: &[&str] = &["@keyspace", "@write", "@fast"];
const CONN_CAT: &[&str] = &["@fast", "@connection"];
const ADMIN_CAT: &[&str] = &["@keyspace", "@write", "@slow", "@dangerous"];
const TX: &[&str] = &["noscript", "loading", "stale", "fast", "allow_busy"];
const TX_CAT: &[&str] = &["@fast", "@transaction"];

#[allow(clippy::too_many_arguments)]
const fn spec(
    cmd: Cmd,
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    categories: &'static [&'static str],
    group: &'static str,
    summary: &'static str,
) -> Spec {
    let mut spec = fwd(
        name, arity, flags, keys, categories, group, "1.0.0", summary,
    );
    spec.cmd = Some(cmd);
    spec
}

/// Forwarded commands that need the admin role whatever their flags say: a
/// script or function may call any command on the node (FLUSHALL, SELECT…),
/// which Roost's roles cannot see inside it, and RESTORE loads a payload the
/// node trusts (`@dangerous`).
const ADMIN_ONLY: &[&str] = &["eval", "evalsha", "fcall", "function", "script", "restore"];

/// A forwarded command's entry, as Redis describes it (see [`FORWARDED`]);
/// [`spec`] makes a served one's from it.
#[allow(clippy::too_many_arguments)]
pub const fn fwd(
    name: &'static str,
    arity: i64,
    flags: &'static [&'static str],
    keys: (i64, i64, i64),
    categories: &'static [&'static str],
    group: &'static str,
    since: &'static str,
    summary: &'static str,
) -> Spec {
    Spec {
        cmd: None,
        name,
        arity,
        flags,
        keys,
        categories,
        group,
        since,
        summary,
        role: match has_flag(ADMIN_ONLY, name) {
            true => Role::Admin,
            false => role_of(flags),
        },
        no_auth: has_flag(flags, "no_auth"),
    }
}

/// The role a command with `flags` needs (for [`Spec::role`]), at compile time.
const fn role_of(flags: &[&str]) -> Role {
    // A command whose keys its arguments name and that is not read-only may
    // write them (EVAL, EVALSHA, FCALL carry neither flag).
    let writes = has_flag(flags, "write")
        || (has_flag(flags, "movablekeys") && !has_flag(flags, "readonly"));
    match (writes, has_flag(flags, "admin")) {
        (true, true) => Role::Admin,
        (true, false) => Role::Write,
        _ => Role::Read,
    }
}

const fn has_flag(flags: &[&str], wanted: &str) -> bool {
    let mut i = 0;
    while i < flags.len() {
        let (flag, wanted) = (flags[i].as_bytes(), wanted.as_bytes());
        if flag.len() == wanted.len() {
            let mut j = 0;
            while j < flag.len() && flag[j] == wanted[j] {
                j += 1;
            }
            if j == flag.len() {
                return true;
            }
        }
        i += 1;
    }
    false
}

const NONE: (i64, i64, i64) = (0, 0, 0);
const ONE: (i64, i64, i64) = (1, 1, 1);
const ALL: (i64, i64, i64) = (1, -1, 1);
const PAIRS: (i64, i64, i64) = (1, -1, 2);

use Cmd as C;

/// The table, in [`Cmd`] order. One line per command reads better than rustfmt's
/// one argument per line.
#[rustfmt::skip]
pub const COMMANDS: &[Spec] = &[
    spec(C::Ping, "ping", -1, CONN, NONE, CONN_CAT, "connection", "Returns the server's liveliness response."),
    spec(C::Echo, "echo", 2, CONN, NONE, CONN_CAT, "connection", "Returns the given string."),
    spec(C::Quit, "quit", -1, NO_AUTH, NONE, CONN_CAT, "connection", "Closes the connection."),
    spec(C::Hello, "hello", -1, NO_AUTH, NONE, CONN_CAT, "connection", "Handshakes with the Redis server."),
    spec(C::Auth, "auth", -2, NO_AUTH, NONE, CONN_CAT, "connection", "Authenticates the connection."),
    spec(C::Select, "select", 2, CONN, NONE, CONN_CAT, "connection", "Changes the selected database (only 0 exists)."),
    spec(C::Client, "client", -2, CONN, NONE, &["@slow", "@connection"], "connection", "A container for client connection commands."),
    spec(C::Acl, "acl", -2, &["noscript", "loading", "stale"], NONE, &["@slow"], "server", "A container for Access List Control commands (WHOAMI only)."),
    spec(C::Command, "command", -1, &["loading", "stale"], NONE, &["@slow", "@connection"], "server", "Returns detailed information about all commands."),
    spec(C::Config, "config", -2, &["admin", "loading", "stale"], NONE, &["@slow"], "server", "A container for server configuration commands (GET only)."),
    spec(C::Info, "info", -1, &["loading", "stale"], NONE, &["@slow", "@dangerous"], "server", "Returns information and statistics about the server."),
    spec(C::Dbsize, "dbsize", 1, READ, NONE, KEY_READ_CAT, "server", "Returns the number of keys in the database."),
    spec(C::Flushall, "flushall", -1, ADMIN, NONE, ADMIN_CAT, "server", "Removes all keys (admin)."),
    spec(C::Flushdb, "flushdb", -1, ADMIN, NONE, ADMIN_CAT, "server", "Removes all keys of the database (admin)."),
    spec(C::Get, "get", 2, READ, ONE, READ_CAT, "string", "Returns the string value of a key."),
    spec(C::Set, "set", -3, WRITE, ONE, WRITE_CAT, "string", "Sets the string value of a key, ignoring its type."),
    spec(C::Setex, "setex", 4, WRITE, ONE, WRITE_CAT, "string", "Sets the string value and expiration time of a key."),
    spec(C::Psetex, "psetex", 4, WRITE, ONE, WRITE_CAT, "string", "Sets both string value and expiration time in milliseconds of a key."),
    spec(C::Setnx, "setnx", 3, WRITE_FAST, ONE, WRITE_CAT, "string", "Set the string value of a key only when the key doesn't exist."),
    spec(C::Getdel, "getdel", 2, WRITE_FAST, ONE, WRITE_CAT, "string", "Returns the string value of a key after deleting the key."),
    spec(C::Getex, "getex", -2, WRITE_FAST, ONE, WRITE_CAT, "string", "Returns the string value of a key after setting its expiration time."),
    spec(C::Mget, "mget", -2, READ, ALL, READ_CAT, "string", "Atomically returns the string values of one or more keys."),
    spec(C::Mset, "mset", -3, WRITE, PAIRS, WRITE_CAT, "string", "Atomically creates or modifies the string values of one or more keys."),
    spec(C::Msetnx, "msetnx", -3, WRITE, PAIRS, WRITE_CAT, "string", "Modifies the string values of one or more keys only when all keys don't exist."),
    spec(C::Del, "del", -2, DELETE, ALL, KEY_WRITE_CAT, "generic", "Deletes one or more keys."),
    spec(C::Unlink, "unlink", -2, DELETE, ALL, KEY_WRITE_CAT, "generic", "Deletes one or more keys."),
    spec(C::Exists, "exists", -2, READ, ALL, KEY_READ_CAT, "generic", "Determines whether one or more keys exist."),
    spec(C::Expire, "expire", -3, WRITE_FAST, ONE, KEY_WRITE_CAT, "generic", "Sets the expiration time of a key in seconds."),
    spec(C::Pexpire, "pexpire", -3, WRITE_FAST, ONE, KEY_WRITE_CAT, "generic", "Sets the expiration time of a key in milliseconds."),
    spec(C::Expireat, "expireat", -3, WRITE_FAST, ONE, KEY_WRITE_CAT, "generic", "Sets the expiration time of a key to a Unix timestamp."),
    spec(C::Pexpireat, "pexpireat", -3, WRITE_FAST, ONE, KEY_WRITE_CAT, "generic", "Sets the expiration time of a key to a Unix milliseconds timestamp."),
    spec(C::Ttl, "ttl", 2, READ, ONE, KEY_READ_CAT, "generic", "Returns the expiration time in seconds of a key."),
    spec(C::Pttl, "pttl", 2, READ, ONE, KEY_READ_CAT, "generic", "Returns the expiration time in milliseconds of a key."),
    spec(C::Persist, "persist", 2, WRITE_FAST, ONE, KEY_WRITE_CAT, "generic", "Removes the expiration time of a key."),
    spec(C::Type, "type", 2, READ, ONE, KEY_READ_CAT, "generic", "Determines the type of value stored at a key."),
    spec(C::Incr, "incr", 2, WRITE_FAST, ONE, WRITE_CAT, "string", "Increments the integer value of a key by one."),
    spec(C::Incrby, "incrby", 3, WRITE_FAST, ONE, WRITE_CAT, "string", "Increments the integer value of a key by a number."),
    spec(C::Decr, "decr", 2, WRITE_FAST, ONE, WRITE_CAT, "string", "Decrements the integer value of a key by one."),
    spec(C::Decrby, "decrby", 3, WRITE_FAST, ONE, WRITE_CAT, "string", "Decrements a number from the integer value of a key."),
    spec(C::Append, "append", 3, WRITE_FAST, ONE, WRITE_CAT, "string", "Appends a string to the value of a key. Creates the key if it doesn't exist."),
    spec(C::Strlen, "strlen", 2, READ, ONE, READ_CAT, "string", "Returns the length of a string value."),
    spec(C::Scan, "scan", -2, SLOW_READ, NONE, &["@keyspace", "@read", "@slow"], "generic", "Iterates over the key names in the database."),
    spec(C::Keys, "keys", 2, SLOW_READ, NONE, &["@keyspace", "@read", "@slow", "@dangerous"], "generic", "Returns all key names that match a pattern."),
    spec(C::Multi, "multi", 1, TX, NONE, TX_CAT, "transactions", "Starts a transaction (in front of Redis)."),
    spec(C::Exec, "exec", 1, &["noscript", "loading", "stale", "skip_slowlog"], NONE, &["@slow", "@transaction"], "transactions", "Executes all commands in a transaction."),
    spec(C::Discard, "discard", 1, TX, NONE, TX_CAT, "transactions", "Discards a transaction."),
    spec(C::Watch, "watch", -2, TX, ALL, TX_CAT, "transactions", "Monitors changes to keys to determine the execution of a transaction."),
    spec(C::Unwatch, "unwatch", 1, TX, NONE, TX_CAT, "transactions", "Forgets about watched keys of a transaction."),
];

impl Cmd {
    pub fn spec(self) -> &'static Spec {
        let spec = &COMMANDS[self as usize];
        debug_assert_eq!(
            spec.cmd,
            Some(self),
            "invariant: the table is in enum order"
        );
        spec
    }
}

/// The longest command name in the table, in bytes.
const LONGEST_NAME: usize = 9;

/// Finds a command by name, case-insensitively, without allocating.
pub fn lookup(name: &[u8]) -> Option<Cmd> {
    let mut upper = [0u8; LONGEST_NAME];
    let upper = folded(name, &mut upper, true)?;
    Some(match upper {
        b"PING" => C::Ping,
        b"ECHO" => C::Echo,
        b"QUIT" => C::Quit,
        b"HELLO" => C::Hello,
        b"AUTH" => C::Auth,
        b"SELECT" => C::Select,
        b"CLIENT" => C::Client,
        b"ACL" => C::Acl,
        b"COMMAND" => C::Command,
        b"CONFIG" => C::Config,
        b"INFO" => C::Info,
        b"DBSIZE" => C::Dbsize,
        b"FLUSHALL" => C::Flushall,
        b"FLUSHDB" => C::Flushdb,
        b"GET" => C::Get,
        b"SET" => C::Set,
        b"SETEX" => C::Setex,
        b"PSETEX" => C::Psetex,
        b"SETNX" => C::Setnx,
        b"GETDEL" => C::Getdel,
        b"GETEX" => C::Getex,
        b"MGET" => C::Mget,
        b"MSET" => C::Mset,
        b"MSETNX" => C::Msetnx,
        b"DEL" => C::Del,
        b"UNLINK" => C::Unlink,
        b"EXISTS" => C::Exists,
        b"EXPIRE" => C::Expire,
        b"PEXPIRE" => C::Pexpire,
        b"EXPIREAT" => C::Expireat,
        b"PEXPIREAT" => C::Pexpireat,
        b"TTL" => C::Ttl,
        b"PTTL" => C::Pttl,
        b"PERSIST" => C::Persist,
        b"TYPE" => C::Type,
        b"INCR" => C::Incr,
        b"INCRBY" => C::Incrby,
        b"DECR" => C::Decr,
        b"DECRBY" => C::Decrby,
        b"APPEND" => C::Append,
        b"STRLEN" => C::Strlen,
        b"SCAN" => C::Scan,
        b"KEYS" => C::Keys,
        b"MULTI" => C::Multi,
        b"EXEC" => C::Exec,
        b"DISCARD" => C::Discard,
        b"WATCH" => C::Watch,
        b"UNWATCH" => C::Unwatch,
        _ => return None,
    })
}

/// `name` copied into `buf` in upper (or lower) case; `None` when it does not
/// fit, so no name longer than the table's longest is looked at further.
fn folded<'b>(name: &[u8], buf: &'b mut [u8], upper: bool) -> Option<&'b [u8]> {
    let folded = buf.get_mut(..name.len())?;
    folded.copy_from_slice(name);
    match upper {
        true => folded.make_ascii_uppercase(),
        false => folded.make_ascii_lowercase(),
    }
    Some(folded)
}

/// The longest forwarded command name, in bytes (GEORADIUSBYMEMBER_RO).
const LONGEST_FORWARDED: usize = 20;

/// Finds a forwarded command by name, case-insensitively, without allocating:
/// its index in [`FORWARDED`] (sorted by name).
pub fn lookup_forwarded(name: &[u8]) -> Option<usize> {
    let mut lower = [0u8; LONGEST_FORWARDED];
    let lower = folded(name, &mut lower, false)?;
    FORWARDED
        .binary_search_by(|spec| spec.name.as_bytes().cmp(lower))
        .ok()
}

/// Any command's entry by name: one Roost serves, else one it forwards.
pub fn lookup_spec(name: &[u8]) -> Option<&'static Spec> {
    match lookup(name) {
        Some(cmd) => Some(cmd.spec()),
        None => lookup_forwarded(name).map(|i| &FORWARDED[i]),
    }
}

/// The metric index of the forwarded command at `index` in [`FORWARDED`]:
/// they are counted after the commands Roost serves.
pub fn forwarded_metric(index: usize) -> usize {
    COMMANDS.len() + index
}

/// The command names in metric order (served, then forwarded), for the labels.
pub fn names() -> Vec<&'static str> {
    COMMANDS.iter().chain(FORWARDED).map(|s| s.name).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_order_matches_the_enum_and_every_name_is_found() {
        for (index, spec) in COMMANDS.iter().enumerate() {
            let cmd = spec.cmd.expect("a served command names its Cmd");
            assert_eq!(cmd as usize, index, "{} is out of order", spec.name);
            assert!(spec.name.len() <= LONGEST_NAME);
            assert_eq!(lookup(spec.name.as_bytes()), Some(cmd));
            assert_eq!(lookup(spec.name.to_uppercase().as_bytes()), Some(cmd));
            assert_eq!(
                lookup_forwarded(spec.name.as_bytes()),
                None,
                "{} is served, not forwarded",
                spec.name
            );
        }
        for (index, spec) in FORWARDED.iter().enumerate() {
            assert!(spec.cmd.is_none() && spec.name.len() <= LONGEST_FORWARDED);
            assert_eq!(
                lookup_forwarded(spec.name.as_bytes()),
                Some(index),
                "{} (sorted?)",
                spec.name
            );
            assert_eq!(
                lookup_forwarded(spec.name.to_uppercase().as_bytes()),
                Some(index)
            );
            let movable = spec.flags.contains(&"movablekeys");
            let everywhere = matches!(spec.name, "script" | "function");
            assert!(
                spec.has_keys() || movable || everywhere,
                "{} names its keys",
                spec.name
            );
            assert!(!spec.no_auth());
        }
        assert!(
            lookup_forwarded(b"blpop").is_some(),
            "blocking commands are forwarded"
        );
        assert!(
            lookup_forwarded(b"zunionstore").is_some(),
            "numkeys commands too"
        );
        assert_eq!(
            lookup_forwarded(b"sort"),
            None,
            "SORT is not: BY and GET name keys"
        );
        assert_eq!(lookup(b"nosuchcmd"), None);
        assert_eq!(lookup(b"getdelete"), None);
        assert_eq!(lookup(b""), None);
    }

    #[test]
    fn roles_follow_what_a_command_changes() {
        assert_eq!(Cmd::Get.spec().role(), Role::Read);
        assert_eq!(Cmd::Scan.spec().role(), Role::Read);
        assert_eq!(Cmd::Config.spec().role(), Role::Read);
        assert_eq!(Cmd::Set.spec().role(), Role::Write);
        assert_eq!(Cmd::Getex.spec().role(), Role::Write);
        assert_eq!(Cmd::Del.spec().role(), Role::Write);
        assert_eq!(Cmd::Flushall.spec().role(), Role::Admin);
        assert_eq!(Cmd::Flushdb.spec().role(), Role::Admin);
        let forwarded =
            |name: &str| FORWARDED[lookup_forwarded(name.as_bytes()).expect("forwarded")].role();
        assert_eq!(forwarded("hget"), Role::Read);
        assert_eq!(forwarded("object"), Role::Read);
        assert_eq!(forwarded("hset"), Role::Write);
        assert_eq!(forwarded("xgroup"), Role::Write);
        assert_eq!(forwarded("eval"), Role::Admin, "a script may call anything");
        assert_eq!(forwarded("fcall"), Role::Admin);
        assert_eq!(
            forwarded("script"),
            Role::Admin,
            "it changes what nodes run"
        );
        assert_eq!(forwarded("restore"), Role::Admin);
        assert_eq!(
            forwarded("eval_ro"),
            Role::Read,
            "Redis lets it write nothing"
        );
        assert_eq!(forwarded("sintercard"), Role::Read);
        assert_eq!(forwarded("zunionstore"), Role::Write);
    }

    #[test]
    fn only_the_connection_handshake_runs_before_authentication() {
        let before: Vec<&str> = COMMANDS
            .iter()
            .filter(|s| s.no_auth())
            .map(|s| s.name)
            .collect();
        assert_eq!(before, ["quit", "hello", "auth"]);
    }

    #[test]
    fn key_positions_follow_the_key_spec_as_redis_reads_it() {
        let positions = |cmd: Cmd, argc| cmd.spec().key_positions(argc).collect::<Vec<_>>();
        assert_eq!(positions(Cmd::Get, 2), [1]);
        assert_eq!(positions(Cmd::Set, 6), [1], "options are not keys");
        assert_eq!(positions(Cmd::Del, 4), [1, 2, 3]);
        assert_eq!(positions(Cmd::Mset, 5), [1, 3]);
        assert_eq!(positions(Cmd::Mset, 4), [1, 3], "a key without its value");
        assert_eq!(positions(Cmd::Ping, 2), Vec::<usize>::new());
        assert_eq!(positions(Cmd::Scan, 4), Vec::<usize>::new());
        assert_eq!(
            positions(Cmd::Get, 1),
            Vec::<usize>::new(),
            "never past the end"
        );
        assert!(Cmd::Mget.spec().has_keys() && !Cmd::Keys.spec().has_keys());
    }

    #[test]
    fn arity_follows_redis_convention() {
        assert!(Cmd::Get.spec().arity_allows(2));
        assert!(!Cmd::Get.spec().arity_allows(3));
        assert!(Cmd::Set.spec().arity_allows(3));
        assert!(Cmd::Set.spec().arity_allows(9));
        assert!(!Cmd::Set.spec().arity_allows(2));
    }
}
