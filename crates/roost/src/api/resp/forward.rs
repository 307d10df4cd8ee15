//! The data-type commands Roost forwards (the `FORWARDED` table): their keys
//! from the table's key spec, the command sent as the client wrote it to the
//! node that holds those keys (`backend/fleet/forward.rs`), and the node's
//! reply written back in Redis's own encoding.
//!
//! A RESP2 client's command is asked over RESP2, and redis-rs reads both of
//! RESP2's nulls (`$-1` and `*-1`) as one `Nil`; which one Redis sent is
//! known from the command ([`NullShape`]), so the client gets the same bytes
//! as from Redis. A RESP3 client's command is asked over a RESP3 connection
//! to the node, so its reply keeps RESP3's maps, sets, doubles and nulls.

use std::time::Duration;

use bytes::Bytes;
use redis::Value;
use redis::VerbatimFormat;
use roost_resp::{
    write_array_header, write_big_number, write_boolean, write_double, write_error, write_integer,
    write_map_header, write_null, write_null_array, write_set_header, write_simple, write_verbatim,
    Protocol,
};

use super::command::{xread_options, Forward};
use super::dispatch::{integer, is, Cx};
use super::output::Output;
use super::reply::RespError;
use crate::auth::Role;
use crate::backend::{Block, Forwarded, Spread};

/// Runs a forwarded command for a session allowed to run it.
pub async fn run(cx: &mut Cx<'_>, command: Forward<'_>) -> Result<(), RespError> {
    let spec = command.spec();
    if spec.name == "copy" && command.argv[3..].iter().any(|arg| is(arg, "DB")) {
        return Err(RespError::NotSupported(
            "COPY … DB is not supported through Roost: it serves one database",
        ));
    }
    let keys: Vec<&[u8]> = command.keys().map(|k| &k[..]).collect();
    let forwarded = Forwarded {
        name: spec.name,
        argv: command.argv,
        keys: &keys,
        write: spec.role() != Role::Read,
        spread: match spec.name {
            "touch" => Spread::Sum,
            "script" | "function" => Spread::Everywhere,
            _ => Spread::One,
        },
        block: block_of(spec.name, command.argv),
        resp3: cx.protocol() == Protocol::Resp3,
    };
    let reply = cx.cache().forward(forwarded).await?;
    let shape = NullShape::of(spec.name, command.argv.len());
    let protocol = cx.protocol();
    write_node_reply(cx.out, reply, shape, protocol);
    Ok(())
}

/// How long a command may block, from its timeout argument: seconds (a
/// float) last for BLPOP and its kind, second for BLMPOP/BZMPOP, the last
/// `BLOCK ms` for XREAD/XREADGROUP (read as Redis reads their options). 0
/// waits for ever; so does an argument Roost cannot read: Redis either
/// refuses it at once or reads it its own way (a hex float), and Roost must
/// never give up on a command Redis still blocks.
fn block_of(name: &str, argv: &[Bytes]) -> Block {
    let seconds = |arg: Option<&Bytes>| {
        let secs = arg
            .and_then(|a| std::str::from_utf8(a).ok())
            .and_then(|a| a.parse::<f64>().ok());
        match secs {
            Some(s) if s > 0.0 && s < MAX_BLOCK_SECS => Block::For(Duration::from_secs_f64(s)),
            _ => Block::Forever,
        }
    };
    match name {
        "blpop" | "brpop" | "bzpopmin" | "bzpopmax" | "blmove" | "brpoplpush" => {
            seconds(argv.last())
        }
        "blmpop" | "bzmpop" => seconds(argv.get(1)),
        "xread" | "xreadgroup" => match xread_options(argv).block {
            None => Block::No,
            Some(ms) => match integer(ms) {
                Ok(ms) if ms > 0 => Block::For(Duration::from_millis(ms.unsigned_abs())),
                _ => Block::Forever,
            },
        },
        _ => Block::No,
    }
}

/// A wait this long or longer is a wait for ever (and fits a `Duration`).
const MAX_BLOCK_SECS: f64 = 1e12;

/// Where Redis answers a null as a null *array* (`*-1` in RESP2) rather
/// than a null bulk string (`$-1`): its `addReplyNullArray` calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NullShape {
    /// Every null is `$-1`.
    Bulk,
    /// The reply itself, when null, is `*-1` (LPOP/RPOP with a count,
    /// XRANGE/XREVRANGE with COUNT 0, LMPOP/ZMPOP/XREAD finding nothing, a
    /// blocking pop that timed out).
    TopArray,
    /// Nulls inside the reply are `*-1` (GEOPOS of a missing member).
    NestedArray,
    /// XPENDING's summary of an empty group: `[0, $-1, $-1, *-1]`.
    LastNestedArray,
}

impl NullShape {
    pub fn of(name: &str, argc: usize) -> NullShape {
        match name {
            "lpop" | "rpop" if argc == 3 => NullShape::TopArray,
            "xrange" | "xrevrange" | "xread" | "xreadgroup" | "lmpop" | "zmpop" | "blpop"
            | "brpop" | "blmpop" | "bzpopmin" | "bzpopmax" | "bzmpop" | "blmove" | "brpoplpush" => {
                NullShape::TopArray
            }
            "geopos" => NullShape::NestedArray,
            "xpending" if argc == 3 => NullShape::LastNestedArray,
            _ => NullShape::Bulk,
        }
    }

    /// Whether a null at `depth`, the `index`-th of `len` siblings, is an array.
    fn is_array(self, depth: usize, index: usize, len: usize) -> bool {
        match self {
            NullShape::Bulk => false,
            NullShape::TopArray => depth == 0,
            NullShape::NestedArray => depth > 0,
            NullShape::LastNestedArray => depth == 1 && index + 1 == len && len == 4,
        }
    }
}

/// Writes a node's reply to a command as Redis would have written it itself.
pub fn write_node_reply(out: &mut Output, value: Value, shape: NullShape, protocol: Protocol) {
    write_value(out, value, shape, protocol, 0, (0, 1));
}

fn write_value(
    out: &mut Output,
    value: Value,
    shape: NullShape,
    protocol: Protocol,
    depth: usize,
    (index, len): (usize, usize),
) {
    match value {
        Value::Nil if shape.is_array(depth, index, len) => write_null_array(out, protocol),
        Value::Nil => write_null(out, protocol),
        Value::Int(n) => write_integer(out, n),
        Value::BulkString(bytes) => out.bulk(&Bytes::from(bytes)),
        Value::SimpleString(text) => write_simple(out, text.as_bytes()),
        Value::Okay => write_simple(out, b"OK"),
        Value::Set(items) => {
            write_set_header(out, items.len(), protocol);
            let len = items.len();
            for (i, item) in items.into_iter().enumerate() {
                write_value(out, item, shape, protocol, depth + 1, (i, len));
            }
        }
        Value::Array(items) | Value::Push { data: items, .. } => {
            write_array_header(out, items.len());
            let len = items.len();
            for (i, item) in items.into_iter().enumerate() {
                write_value(out, item, shape, protocol, depth + 1, (i, len));
            }
        }
        // A RESP3 client's commands are asked over RESP3: these keep their
        // RESP3 types (and fold to RESP2's as Redis folds them otherwise).
        // An attribute annotates the reply it comes with: the reply is what
        // the client asked for.
        Value::Attribute { data, .. } => {
            write_value(out, *data, shape, protocol, depth, (index, len))
        }
        Value::Map(pairs) => {
            write_map_header(out, pairs.len(), protocol);
            let len = pairs.len() * 2;
            for (i, (k, v)) in pairs.into_iter().enumerate() {
                write_value(out, k, shape, protocol, depth + 1, (2 * i, len));
                write_value(out, v, shape, protocol, depth + 1, (2 * i + 1, len));
            }
        }
        Value::Double(d) => write_double(out, d, protocol),
        Value::Boolean(b) => write_boolean(out, b, protocol),
        Value::VerbatimString { format, text } => {
            let format = match format {
                VerbatimFormat::Markdown => *b"mkd",
                _ => *b"txt",
            };
            write_verbatim(out, format, text.as_bytes(), protocol);
        }
        Value::BigNumber(digits) => write_big_number(out, &digits, protocol),
        Value::ServerError(err) => {
            let text = match err.details() {
                Some(detail) => format!("{} {detail}", err.code()),
                None => err.code().to_string(),
            };
            write_error(out, text.as_bytes());
        }
        // `Value` is non-exhaustive: a kind a later redis-rs adds.
        other => write_error(
            out,
            format!("ERR unexpected reply from the node: {other:?}").as_bytes(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(value: Value, shape: NullShape) -> String {
        let mut out = Output::default();
        write_node_reply(&mut out, value, shape, Protocol::Resp2);
        String::from_utf8(out.contiguous().expect("one buffer").to_vec()).expect("text")
    }

    #[test]
    fn nulls_take_the_shape_redis_gives_them() {
        assert_eq!(NullShape::of("lpop", 2), NullShape::Bulk);
        assert_eq!(written(Value::Nil, NullShape::of("lpop", 3)), "*-1\r\n");
        assert_eq!(written(Value::Nil, NullShape::of("hget", 3)), "$-1\r\n");
        let geopos = Value::Array(vec![
            Value::Array(vec![
                Value::BulkString(b"1".to_vec()),
                Value::BulkString(b"2".to_vec()),
            ]),
            Value::Nil,
        ]);
        assert_eq!(
            written(geopos, NullShape::of("geopos", 4)),
            "*2\r\n*2\r\n$1\r\n1\r\n$1\r\n2\r\n*-1\r\n"
        );
        let pending = Value::Array(vec![Value::Int(0), Value::Nil, Value::Nil, Value::Nil]);
        assert_eq!(
            written(pending, NullShape::of("xpending", 3)),
            "*4\r\n:0\r\n$-1\r\n$-1\r\n*-1\r\n"
        );
    }
}
