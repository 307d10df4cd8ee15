//! Hash commands: HSET … HRANDFIELD.

use roost_store::collection::Hash;

use super::args::{self, bulk, bulks, err, int_reply};
use super::{pairs_reply, pick, random_args, Call};
use crate::backend::NodeReply;
use crate::error::CacheError;

/// The commands this file runs.
pub(super) const NAMES: &[&str] = &[
    "hset",
    "hmset",
    "hsetnx",
    "hget",
    "hmget",
    "hgetall",
    "hdel",
    "hlen",
    "hexists",
    "hstrlen",
    "hkeys",
    "hvals",
    "hincrby",
    "hincrbyfloat",
    "hrandfield",
];

pub(super) fn run(call: &Call<'_>, name: &'static str) -> Result<NodeReply, CacheError> {
    let key = call.key();
    let argv = call.argv;
    match name {
        "hset" | "hmset" => hset(call, name),
        "hsetnx" => call.write(key, call.growth_of::<Hash>(2), |h: &mut Hash| {
            let new = !h.contains(&argv[2]);
            if new {
                h.insert(&argv[2], &argv[3]);
            }
            NodeReply::Int(new.into())
        }),
        "hget" => call
            .read(key, |h: &Hash| h.get(&argv[2]).map_or(NodeReply::Nil, bulk))
            .map(|r| r.unwrap_or(NodeReply::Nil)),
        "hmget" => call
            .read(key, |h: &Hash| {
                let values = argv[2..]
                    .iter()
                    .map(|f| h.get(f).map_or(NodeReply::Nil, bulk));
                NodeReply::Array(values.collect())
            })
            .map(|r| r.unwrap_or_else(|| NodeReply::Array(vec![NodeReply::Nil; argv.len() - 2]))),
        "hgetall" => call
            .read(key, |h: &Hash| pairs(h.iter(), call.resp3))
            .map(|r| r.unwrap_or_else(|| pairs(std::iter::empty(), call.resp3))),
        "hdel" => call.write(key, 0, |h: &mut Hash| {
            int_reply(argv[2..].iter().filter(|f| h.remove(f)).count())
        }),
        "hlen" => count(call, |h| h.len()),
        "hexists" => count(call, |h| usize::from(h.contains(&argv[2]))),
        "hstrlen" => count(call, |h| h.get(&argv[2]).map_or(0, <[u8]>::len)),
        "hkeys" => list(call, |h| bulks(h.iter().map(|(f, _)| f))),
        "hvals" => list(call, |h| bulks(h.iter().map(|(_, v)| v))),
        "hincrby" => hincrby(call),
        "hincrbyfloat" => hincrbyfloat(call),
        "hrandfield" => hrandfield(call),
        _ => Err(CacheError::NeedsRedis { command: name }),
    }
}

fn count(call: &Call<'_>, f: impl FnOnce(&Hash) -> usize) -> Result<NodeReply, CacheError> {
    Ok(int_reply(call.read(call.key(), f)?.unwrap_or(0)))
}

fn list(call: &Call<'_>, f: impl FnOnce(&Hash) -> NodeReply) -> Result<NodeReply, CacheError> {
    Ok(call
        .read(call.key(), f)?
        .unwrap_or(NodeReply::Array(Vec::new())))
}

/// Fields and values: a map for RESP3, a flat array for RESP2.
fn pairs<'a>(items: impl Iterator<Item = (&'a [u8], &'a [u8])>, resp3: bool) -> NodeReply {
    if resp3 {
        NodeReply::Map(items.map(|(f, v)| (bulk(f), bulk(v))).collect())
    } else {
        NodeReply::Array(items.flat_map(|(f, v)| [bulk(f), bulk(v)]).collect())
    }
}

fn hset(call: &Call<'_>, name: &str) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    if argv.len() % 2 != 0 {
        return Err(err(&format!(
            "ERR wrong number of arguments for '{name}' command"
        )));
    }
    let growth = call.growth_of::<roost_store::collection::Hash>(2);
    let added = call.write(call.key(), growth, |h: &mut Hash| {
        argv[2..]
            .chunks_exact(2)
            .filter(|pair| h.insert(&pair[0], &pair[1]))
            .count()
    })?;
    Ok(if name == "hmset" {
        NodeReply::Okay
    } else {
        int_reply(added)
    })
}

fn hincrby(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    let delta = args::int(&argv[3])?;
    let growth = call.growth_of::<Hash>(2) + 20;
    call.write(call.key(), growth, |h: &mut Hash| {
        let current = match h.get(&argv[2]) {
            None => 0,
            Some(text) => match crate::integer::parse_i64(text) {
                Some(n) => n,
                None => return Err(err("ERR hash value is not an integer")),
            },
        };
        let sum = current
            .checked_add(delta)
            .ok_or_else(|| err("ERR increment or decrement would overflow"))?;
        h.insert(&argv[2], itoa::Buffer::new().format(sum).as_bytes());
        Ok(NodeReply::Int(sum))
    })?
}

fn hincrbyfloat(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    let delta = args::float(&argv[3])?;
    let growth = call.growth_of::<Hash>(2) + 400;
    call.write(call.key(), growth, |h: &mut Hash| {
        let current = match h.get(&argv[2]) {
            None => 0.0,
            Some(text) => match args::parse_float(text) {
                Some(x) => x,
                None => return Err(err("ERR hash value is not a float")),
            },
        };
        let sum = current + delta;
        if !sum.is_finite() {
            return Err(err("ERR increment would produce NaN or Infinity"));
        }
        let text = args::human(sum);
        h.insert(&argv[2], text.as_bytes());
        Ok(NodeReply::BulkString(text.into_bytes()))
    })?
}

fn hrandfield(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let Some((count, with_values)) = random_args(call.argv, Some("withvalues"))? else {
        let one = call.read(call.key(), |h: &Hash| {
            h.get_index(fastrand::usize(..h.len().max(1)))
                .map_or(NodeReply::Nil, |(f, _)| bulk(f))
        })?;
        return Ok(one.unwrap_or(NodeReply::Nil));
    };
    let picked = call.read(call.key(), |h: &Hash| {
        let chosen = pick(h.len(), count)
            .into_iter()
            .filter_map(|i| h.get_index(i));
        pairs_reply(
            chosen.map(|(f, v)| (bulk(f), bulk(v))),
            with_values,
            call.resp3,
        )
    })?;
    Ok(picked.unwrap_or(NodeReply::Array(Vec::new())))
}
