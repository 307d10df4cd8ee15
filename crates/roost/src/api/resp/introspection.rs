//! What clients ask about the server: COMMAND (COUNT, INFO, DOCS, LIST, GETKEYS),
//! CONFIG GET and INFO, in Redis's shapes and field names so redis-cli, redis-py
//! and redis-benchmark find what they look for. Everything is read from the
//! command table, the settings and the same counters `/metrics` exports.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;
use roost_resp::{
    write_array_header, write_bulk, write_integer, write_map_header, write_null, write_set_header,
    write_simple, write_verbatim, Protocol,
};

use super::command::movable_keys;
use super::command::Command;
use super::command_table::{lookup_spec, Spec, COMMANDS, FORWARDED};
use super::dispatch::{is, Cx};
use super::forward::{write_node_reply, NullShape};
use super::handshake::REDIS_VERSION;
use super::reply::RespError;
use crate::auth::Role;
use crate::backend::{Block, Forwarded, Spread};
use crate::cache::glob_match;

/// INFO's sections, in Redis's order.
const SECTIONS: [&str; 5] = ["server", "clients", "memory", "stats", "keyspace"];

/// COMMAND's sub-commands, read: [COUNT | INFO [name ...] | DOCS [name ...] |
/// LIST | GETKEYS command [arg ...]]; no sub-command is INFO of every command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandQuery<'a> {
    /// COMMAND INFO of these names; every command when empty.
    Info(&'a [Bytes]),
    Count,
    List,
    /// COMMAND DOCS of these names; every command when empty.
    Docs(&'a [Bytes]),
    /// The keys the command in these arguments (name first) would touch.
    GetKeys(&'a [Bytes]),
}

impl<'a> CommandQuery<'a> {
    pub fn parse(argv: &'a [Bytes]) -> Result<CommandQuery<'a>, RespError> {
        let Some(sub) = argv.get(1) else {
            return Ok(CommandQuery::Info(&[]));
        };
        let names = &argv[2..];
        Ok(if is(sub, "COUNT") {
            CommandQuery::Count
        } else if is(sub, "LIST") {
            CommandQuery::List
        } else if is(sub, "INFO") {
            CommandQuery::Info(names)
        } else if is(sub, "DOCS") {
            CommandQuery::Docs(names)
        } else if is(sub, "GETKEYS") {
            // Redis's arity for it is -4: the command and at least one argument.
            if argv.len() < 4 {
                return Err(RespError::WrongArity("command|getkeys"));
            }
            CommandQuery::GetKeys(names)
        } else {
            return Err(RespError::unknown_subcommand("COMMAND", sub));
        })
    }
}

pub fn command(cx: &mut Cx<'_>, query: CommandQuery<'_>) -> Result<(), RespError> {
    let protocol = cx.protocol();
    // In front of Redis every command is here; the embedded store has no
    // transactions and runs the forwarded commands of its collections only.
    let remote = cx.cache().backend().is_remote();
    let here = |spec: &&Spec| match (remote, spec.cmd) {
        (true, _) => true,
        (false, Some(_)) => spec.group != "transactions",
        (false, None) => crate::backend::Embedded::runs(spec.name),
    };
    let table: Vec<&'static Spec> = COMMANDS.iter().chain(FORWARDED).filter(here).collect();
    let known = |name: &[u8]| lookup_spec(name).filter(here);
    let out = &mut *cx.out;
    let named = |names: &[Bytes]| -> Vec<Option<&'static Spec>> {
        names.iter().map(|name| known(name)).collect()
    };
    match query {
        CommandQuery::Count => write_integer(out, table.len() as i64),
        CommandQuery::List => {
            write_array_header(out, table.len());
            table
                .iter()
                .for_each(|spec| write_bulk(out, spec.name.as_bytes()));
        }
        CommandQuery::Info([]) => {
            write_array_header(out, table.len());
            table
                .iter()
                .for_each(|spec| write_info(out, spec, protocol));
        }
        CommandQuery::Info(names) => {
            write_array_header(out, names.len());
            for spec in named(names) {
                match spec {
                    Some(spec) => write_info(out, spec, protocol),
                    None => write_null(out, protocol),
                }
            }
        }
        CommandQuery::Docs(names) => {
            let specs: Vec<&Spec> = match names.is_empty() {
                true => table,
                false => named(names).into_iter().flatten().collect(),
            };
            write_map_header(out, specs.len(), protocol);
            for spec in specs {
                write_bulk(out, spec.name.as_bytes());
                write_docs(out, spec, protocol);
            }
        }
        CommandQuery::GetKeys(argv) => write_keys_of(out, known(&argv[0]), argv)?,
    }
    Ok(())
}

/// COMMAND GETKEYS: the keys `argv` would touch, from the same key spec that
/// COMMAND INFO reports and pipeline grouping reads, with Redis's errors in
/// Redis's order.
fn write_keys_of(
    out: &mut bytes::BytesMut,
    spec: Option<&Spec>,
    argv: &[Bytes],
) -> Result<(), RespError> {
    let spec = spec.ok_or(RespError::GetKeysUnknownCommand)?;
    let movable = movable_keys(spec.name, argv);
    if !spec.has_keys() && movable.is_none() {
        return Err(RespError::GetKeysNoKeys);
    }
    if !spec.arity_allows(argv.len()) {
        return Err(RespError::GetKeysWrongArity);
    }
    let positions: Vec<usize> = movable.unwrap_or_else(|| spec.key_positions(argv.len()).collect());
    write_array_header(out, positions.len());
    positions.iter().for_each(|&i| write_bulk(out, &argv[i]));
    Ok(())
}

/// Redis 7's ten-element COMMAND INFO entry (no tips, key specs or subcommands).
fn write_info(out: &mut bytes::BytesMut, spec: &Spec, protocol: Protocol) {
    write_array_header(out, 10);
    write_bulk(out, spec.name.as_bytes());
    write_integer(out, spec.arity);
    write_set_header(out, spec.flags.len(), protocol);
    spec.flags
        .iter()
        .for_each(|f| write_simple(out, f.as_bytes()));
    write_integer(out, spec.keys.0);
    write_integer(out, spec.keys.1);
    write_integer(out, spec.keys.2);
    write_set_header(out, spec.categories.len(), protocol);
    spec.categories
        .iter()
        .for_each(|c| write_simple(out, c.as_bytes()));
    write_array_header(out, 0);
    write_array_header(out, 0);
    write_array_header(out, 0);
}

fn write_docs(out: &mut bytes::BytesMut, spec: &Spec, protocol: Protocol) {
    write_map_header(out, 3, protocol);
    write_bulk(out, b"summary");
    write_bulk(out, spec.summary.as_bytes());
    write_bulk(out, b"since");
    write_bulk(out, spec.since.as_bytes());
    write_bulk(out, b"group");
    write_bulk(out, spec.group.as_bytes());
}

/// Redis's per-type encoding parameters: in front of Redis, CONFIG GET reads
/// them from a node and CONFIG SET sets them on every node; the embedded
/// store, which has no such encodings, accepts a CONFIG SET of them and
/// changes nothing.
pub const ENCODING_PARAMETERS: &[&str] = &[
    "hash-max-listpack-entries",
    "hash-max-listpack-value",
    "hash-max-ziplist-entries",
    "hash-max-ziplist-value",
    "list-max-listpack-size",
    "list-max-ziplist-size",
    "list-compress-depth",
    "set-max-intset-entries",
    "zset-max-listpack-entries",
    "zset-max-listpack-value",
    "zset-max-ziplist-entries",
    "zset-max-ziplist-value",
    "stream-node-max-bytes",
    "stream-node-max-entries",
    "hll-sparse-max-bytes",
];

/// CONFIG GET pattern [pattern ...] or CONFIG SET parameter value [...].
pub fn parse_config(argv: &[Bytes]) -> Result<Command<'_>, RespError> {
    let sub = &argv[1];
    if is(sub, "SET") {
        let pairs = &argv[2..];
        if pairs.is_empty() || pairs.len() % 2 != 0 {
            return Err(RespError::WrongArity("config|set"));
        }
        return Ok(Command::ConfigSet { pairs });
    }
    if !is(sub, "GET") {
        return Err(RespError::unknown_subcommand("CONFIG", sub));
    }
    if argv.len() < 3 {
        return Err(RespError::WrongArity("config|get"));
    }
    Ok(Command::ConfigGet {
        patterns: &argv[2..],
    })
}

/// CONFIG SET of encoding parameters only (any other is refused: Roost is
/// configured at start-up), by an admin: on every node in front of Redis,
/// accepted without effect by the embedded store.
pub async fn config_set(cx: &mut Cx<'_>, pairs: &[Bytes]) -> Result<(), RespError> {
    if !cx
        .session
        .identity
        .as_ref()
        .is_some_and(|who| who.role.allows(Role::Admin))
    {
        super::dispatch::refused(cx, "CONFIG SET needs the admin role", "config|set");
        return Err(RespError::NoPermission("config|set"));
    }
    for name in pairs.iter().step_by(2) {
        let name = name.to_ascii_lowercase();
        if !ENCODING_PARAMETERS.iter().any(|p| p.as_bytes() == name) {
            return Err(RespError::ConfigSetRefused(
                String::from_utf8_lossy(&name).into_owned(),
            ));
        }
    }
    if cx.cache().backend().is_remote() {
        let mut argv = vec![Bytes::from_static(b"CONFIG"), Bytes::from_static(b"SET")];
        argv.extend(pairs.iter().cloned());
        let reply = cx.cache().forward(everywhere("config", &argv)).await?;
        write_node_reply(cx.out, reply, NullShape::Bulk, cx.session.protocol);
        return Ok(());
    }
    cx.ok();
    Ok(())
}

/// A command for every node (`Fleet::forward_everywhere`).
fn everywhere<'a>(name: &'static str, argv: &'a [Bytes]) -> Forwarded<'a> {
    Forwarded {
        name,
        argv,
        keys: &[],
        write: true,
        spread: Spread::Everywhere,
        block: Block::No,
        resp3: false,
    }
}

/// CONFIG GET: the parameters clients and redis-benchmark ask for, read-only.
pub async fn config_get(cx: &mut Cx<'_>, patterns: &[Bytes]) -> Result<(), RespError> {
    let mut parameters = config_parameters(cx);
    let patterns: Vec<Vec<u8>> = patterns.iter().map(|p| p.to_ascii_lowercase()).collect();
    let matches = |name: &str| patterns.iter().any(|p| glob_match(p, name.as_bytes()));
    let encodings: Vec<&str> = ENCODING_PARAMETERS
        .iter()
        .copied()
        .filter(|name| matches(name))
        .collect();
    if cx.cache().backend().is_remote() && !encodings.is_empty() {
        parameters.extend(node_parameters(cx, &encodings).await?);
    }
    let found: Vec<_> = parameters
        .iter()
        .filter(|(name, _)| matches(name))
        .collect();
    write_map_header(cx.out, found.len(), cx.session.protocol);
    for (name, value) in found {
        write_bulk(cx.out, name.as_bytes());
        write_bulk(cx.out, value.as_bytes());
    }
    Ok(())
}

/// The encoding parameters `names` as one node has them (CONFIG GET there).
async fn node_parameters(
    cx: &Cx<'_>,
    names: &[&'static str],
) -> Result<Vec<(&'static str, String)>, RespError> {
    let mut argv = vec![Bytes::from_static(b"CONFIG"), Bytes::from_static(b"GET")];
    argv.extend(names.iter().map(|n| Bytes::from_static(n.as_bytes())));
    let command = Forwarded {
        write: false,
        spread: Spread::One,
        ..everywhere("config", &argv)
    };
    let reply = cx.cache().forward(command).await?;
    let redis::Value::Array(items) = reply else {
        return Ok(Vec::new());
    };
    let value_of = |wanted: &str| {
        items.chunks(2).find_map(|pair| match pair {
            [redis::Value::BulkString(name), redis::Value::BulkString(value)]
                if name == wanted.as_bytes() =>
            {
                Some(String::from_utf8_lossy(value).into_owned())
            }
            _ => None,
        })
    };
    // In the table's order, whatever order the node answered in.
    Ok(names
        .iter()
        .filter_map(|name| value_of(name).map(|value| (*name, value)))
        .collect())
}

fn config_parameters(cx: &Cx<'_>) -> Vec<(&'static str, String)> {
    let settings = &cx.state.settings;
    let idle = settings.idle_timeout.map_or(0, |d| d.as_secs());
    vec![
        ("bind", cx.state.addr.ip().to_string()),
        ("port", cx.state.addr.port().to_string()),
        ("databases", "1".into()),
        ("save", String::new()),
        ("appendonly", "no".into()),
        (
            "maxmemory",
            cx.cache().backend().max_memory_bytes().to_string(),
        ),
        ("maxclients", settings.max_connections.to_string()),
        ("timeout", idle.to_string()),
        (
            "proto-max-bulk-len",
            cx.state.parser_limits.max_bulk_len.to_string(),
        ),
    ]
}

/// INFO [section ...]: server, clients, memory, stats, keyspace (`all`,
/// `everything` and `default` mean every one; unknown sections are empty).
pub fn info(cx: &mut Cx<'_>, sections: &[Bytes]) -> Result<(), RespError> {
    let wanted = |section: &str| {
        sections.is_empty()
            || sections
                .iter()
                .any(|a| is(a, section) || is(a, "all") || is(a, "everything") || is(a, "default"))
    };
    let mut text = String::with_capacity(1024);
    for section in SECTIONS.into_iter().filter(|s| wanted(s)) {
        if !text.is_empty() {
            text.push_str("\r\n");
        }
        write_section(cx, section, &mut text);
    }
    write_verbatim(cx.out, *b"txt", text.as_bytes(), cx.session.protocol);
    Ok(())
}

fn write_section(cx: &Cx<'_>, section: &str, text: &mut String) {
    let cache = cx.cache();
    let state = cx.state;
    let nodes = cache.backend().nodes();
    let used: u64 = nodes.iter().map(|n| n.used_bytes).sum();
    let max = cache.backend().max_memory_bytes();
    let title = section[..1].to_uppercase() + &section[1..];
    let _ = write!(text, "# {title}\r\n");
    let mut field = |name: &str, value: &dyn std::fmt::Display| {
        let _ = write!(text, "{name}:{value}\r\n");
    };
    match section {
        "server" => {
            let uptime = cache.uptime().as_secs();
            field("redis_version", &REDIS_VERSION);
            field("roost_version", &env!("CARGO_PKG_VERSION"));
            field("redis_mode", &"standalone");
            field("os", &std::env::consts::OS);
            field("arch_bits", &(usize::BITS));
            field("process_id", &std::process::id());
            field("tcp_port", &state.addr.port());
            field("uptime_in_seconds", &uptime);
            field("uptime_in_days", &(uptime / 86_400));
        }
        "clients" => {
            field("connected_clients", &state.clients.len());
            field("maxclients", &state.settings.max_connections);
            field("blocked_clients", &0);
        }
        "memory" => {
            field("used_memory", &used);
            field("used_memory_human", &human_bytes(used));
            field("maxmemory", &max);
            field("maxmemory_human", &human_bytes(max));
        }
        "stats" => {
            let rate = state
                .app
                .history
                .rate(Duration::from_secs(2))
                .unwrap_or(0.0);
            let metrics = cache.metrics();
            field(
                "total_connections_received",
                &state.metrics.connections_total.get(),
            );
            field("total_commands_processed", &state.metrics.commands_total());
            field("instantaneous_ops_per_sec", &(rate.round() as u64));
            field(
                "rejected_connections",
                &state.metrics.connections_rejected.get(),
            );
            field(
                "expired_keys",
                &nodes.iter().map(|n| n.expirations).sum::<u64>(),
            );
            field(
                "evicted_keys",
                &nodes.iter().map(|n| n.evictions).sum::<u64>(),
            );
            field("keyspace_hits", &metrics.hits());
            field("keyspace_misses", &metrics.misses());
        }
        _ => {
            let keys = cache.len();
            if keys > 0 {
                let expires = cache.backend().deadlines();
                field(
                    "db0",
                    &format_args!("keys={keys},expires={expires},avg_ttl=0"),
                );
            }
        }
    }
}

/// Redis's `used_memory_human` style: `1.50M`, `512B`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "G"), (1 << 20, "M"), (1 << 10, "K")];
    for (size, unit) in UNITS {
        if bytes >= size {
            return format!("{:.2}{unit}", bytes as f64 / size as f64);
        }
    }
    format!("{bytes}B")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::resp::command::Command;
    use crate::api::resp::testing::Harness;

    #[tokio::test]
    async fn command_answers_from_the_table() {
        let mut h = Harness::new();
        let embedded = COMMANDS
            .iter()
            .filter(|s| s.group != "transactions")
            .count();
        let collections = FORWARDED
            .iter()
            .filter(|s| crate::backend::Embedded::runs(s.name))
            .count();
        assert_eq!(collections, 102, "the data-type commands the store runs");
        let count = format!(":{}\r\n", embedded + collections);
        assert_eq!(
            h.apply(Command::Commands(CommandQuery::Count)).await,
            count,
            "the embedded store lists no transactions, and its collections' commands"
        );
        let names = [Bytes::from_static(b"GET"), Bytes::from_static(b"nosuch")];
        let info = h.apply(Command::Commands(CommandQuery::Info(&names))).await;
        assert!(
            info.starts_with(
                "*2\r\n*10\r\n$3\r\nget\r\n:2\r\n*2\r\n+readonly\r\n+fast\r\n:1\r\n:1\r\n:1\r\n"
            ),
            "{info}"
        );
        let docs = h.send(&["COMMAND", "DOCS", "mset"]).await;
        assert!(docs.starts_with("*2\r\n$4\r\nmset\r\n"), "{docs}");
        assert_eq!(
            h.send(&["COMMAND", "NOPE"]).await,
            "-ERR unknown subcommand 'NOPE'. Try COMMAND HELP.\r\n"
        );
    }

    #[tokio::test]
    async fn getkeys_reads_the_key_spec_with_redis_errors() {
        let mut h = Harness::new();
        let cases: &[(&[&str], &str)] = &[
            (
                &["mset", "a", "1", "b", "2"],
                "*2\r\n$1\r\na\r\n$1\r\nb\r\n",
            ),
            (&["MSET", "a", "1", "b"], "*2\r\n$1\r\na\r\n$1\r\nb\r\n"),
            (&["SET", "a", "b", "EX", "1"], "*1\r\n$1\r\na\r\n"),
            (&["expire", "a", "1", "nx"], "*1\r\n$1\r\na\r\n"),
            (&["nosuch", "a"], "-ERR Invalid command specified\r\n"),
            (&["ping", "x"], "-ERR The command has no key arguments\r\n"),
            (&["keys", "a*"], "-ERR The command has no key arguments\r\n"),
            (
                &["get", "a", "b"],
                "-ERR Invalid number of arguments specified for command\r\n",
            ),
            (
                &["get"],
                "-ERR wrong number of arguments for 'command|getkeys' command\r\n",
            ),
        ];
        for (command, expected) in cases {
            let mut words = vec!["COMMAND", "GETKEYS"];
            words.extend_from_slice(command);
            assert_eq!(h.send(&words).await, *expected, "{command:?}");
        }
    }

    #[tokio::test]
    async fn config_get_and_info_answer_what_clients_ask() {
        let mut h = Harness::new();
        assert_eq!(
            h.send(&["CONFIG", "GET", "PORT"]).await,
            "*2\r\n$4\r\nport\r\n$4\r\n6380\r\n"
        );
        let patterns = [Bytes::from_static(b"max*")];
        let max = h
            .apply(Command::ConfigGet {
                patterns: &patterns,
            })
            .await;
        assert!(max.starts_with("*4\r\n$9\r\nmaxmemory\r\n"), "{max}");
        assert_eq!(
            h.send(&["CONFIG", "GET"]).await,
            "-ERR wrong number of arguments for 'config|get' command\r\n"
        );
        assert!(h
            .send(&["CONFIG", "SET", "maxmemory", "1"])
            .await
            .starts_with("-ERR CONFIG SET of 'maxmemory' is not supported"));
        assert_eq!(
            h.send(&["CONFIG", "SET", "hash-max-listpack-entries", "64"])
                .await,
            "+OK\r\n",
            "an encoding parameter is accepted; the embedded store has no such encoding"
        );
        assert_eq!(
            h.send(&["CONFIG", "SET", "hash-max-listpack-entries"])
                .await,
            "-ERR wrong number of arguments for 'config|set' command\r\n"
        );
        let sections = [Bytes::from_static(b"clients")];
        let info = h
            .apply(Command::Info {
                sections: &sections,
            })
            .await;
        assert!(
            info.contains("# Clients\r\nconnected_clients:1\r\n"),
            "{info}"
        );
        assert!(!info.contains("# Server"), "{info}");
    }

    #[test]
    fn human_sizes_read_like_redis() {
        assert_eq!(human_bytes(512), "512B");
        assert_eq!(human_bytes(1536), "1.50K");
        assert_eq!(human_bytes(256 << 20), "256.00M");
    }
}
