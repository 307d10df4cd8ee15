//! Set commands: SADD … SINTERCARD, SMOVE and the *STORE forms.

use indexmap::IndexSet;
use roost_store::collection::Set;

use super::args::{self, bulk, err, int_reply};
use super::{pick, random_args, Call};
use crate::backend::NodeReply;
use crate::error::CacheError;

/// The commands this file runs.
pub(super) const NAMES: &[&str] = &[
    "sadd",
    "srem",
    "scard",
    "sismember",
    "smismember",
    "smembers",
    "spop",
    "srandmember",
    "sinter",
    "sunion",
    "sdiff",
    "sintercard",
    "smove",
    "sinterstore",
    "sunionstore",
    "sdiffstore",
];

pub(super) fn run(call: &Call<'_>, name: &'static str) -> Result<NodeReply, CacheError> {
    let key = call.key();
    let argv = call.argv;
    match name {
        "sadd" => call
            .write(key, call.growth_of::<Set>(2), |s: &mut Set| {
                argv[2..].iter().filter(|m| s.insert(m)).count()
            })
            .map(int_reply),
        "srem" => call
            .write(key, 0, |s: &mut Set| {
                argv[2..].iter().filter(|m| s.remove(m)).count()
            })
            .map(int_reply),
        "scard" => Ok(int_reply(call.read(key, |s: &Set| s.len())?.unwrap_or(0))),
        "sismember" => Ok(int_reply(
            call.read(key, |s: &Set| usize::from(s.contains(&argv[2])))?
                .unwrap_or(0),
        )),
        "smismember" => {
            let each = |s: Option<&Set>| {
                let found = argv[2..].iter().map(|m| s.is_some_and(|s| s.contains(m)));
                NodeReply::Array(found.map(|f| NodeReply::Int(f.into())).collect())
            };
            Ok(match call.read(key, |s: &Set| each(Some(s)))? {
                Some(reply) => reply,
                None => each(None),
            })
        }
        "smembers" => Ok(set_reply(
            call.read(key, |s: &Set| s.iter().map(bulk).collect())?
                .unwrap_or_default(),
            call.resp3,
        )),
        "spop" => spop(call),
        "srandmember" => srandmember(call),
        "sinter" | "sunion" | "sdiff" => combine(call, name, &argv[1..], None)
            .map(|members| set_reply(members.iter().map(|m| bulk(m)).collect(), call.resp3)),
        "sintercard" => sintercard(call),
        "smove" => smove(call),
        "sinterstore" | "sunionstore" | "sdiffstore" => {
            let op = name.trim_end_matches("store");
            let members = combine(call, op, &argv[2..], None)?;
            let mut set = Set::default();
            for member in &members {
                set.insert(member);
            }
            let card = set.len();
            call.put(&argv[1], roost_store::Collection::Set(set))?;
            Ok(int_reply(card))
        }
        _ => Err(CacheError::NeedsRedis { command: name }),
    }
}

/// Members: RESP3's set, RESP2's array.
fn set_reply(members: Vec<NodeReply>, resp3: bool) -> NodeReply {
    if resp3 {
        NodeReply::Set(members)
    } else {
        NodeReply::Array(members)
    }
}

fn spop(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let count = match call.argv.get(2) {
        None => None,
        Some(arg) => Some(args::count(arg)?),
    };
    if call.argv.len() > 3 {
        return Err(args::syntax());
    }
    call.write(call.key(), 0, |s: &mut Set| match count {
        // An absent key (a stored set is never empty).
        None if s.is_empty() => NodeReply::Nil,
        None => {
            let at = fastrand::usize(..s.len().max(1));
            s.take_index(at).map_or(NodeReply::Nil, |m| bulk(&m))
        }
        Some(n) => {
            let popped = std::iter::from_fn(|| {
                let at = fastrand::usize(..s.len().max(1));
                s.take_index(at)
            })
            .take(n)
            .map(|m| bulk(&m))
            .collect();
            set_reply(popped, call.resp3)
        }
    })
}

fn srandmember(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let Some((count, _)) = random_args(call.argv, None)? else {
        let one = call.read(call.key(), |s: &Set| {
            s.get_index(fastrand::usize(..s.len().max(1)))
                .map_or(NodeReply::Nil, bulk)
        })?;
        return Ok(one.unwrap_or(NodeReply::Nil));
    };
    let picked = call.read(call.key(), |s: &Set| {
        let members = pick(s.len(), count)
            .into_iter()
            .filter_map(|i| s.get_index(i));
        NodeReply::Array(members.map(bulk).collect())
    })?;
    Ok(picked.unwrap_or(NodeReply::Array(Vec::new())))
}

/// SINTER, SUNION or SDIFF of `keys`, read one after the other; an
/// intersection stops at `limit` members. Redis's order of checks: an
/// absent key ends an intersection at once (empty), a key of another type
/// is WRONGTYPE where it is met.
fn combine(
    call: &Call<'_>,
    name: &str,
    keys: &[bytes::Bytes],
    limit: Option<usize>,
) -> Result<IndexSet<Vec<u8>>, CacheError> {
    let mut result: Option<IndexSet<Vec<u8>>> = None;
    for key in keys {
        let members = call.read(key, |s: &Set| {
            s.iter().map(<[u8]>::to_vec).collect::<Vec<_>>()
        })?;
        let Some(members) = members else {
            if name == "sinter" {
                return Ok(IndexSet::new());
            }
            result.get_or_insert_with(IndexSet::new);
            continue;
        };
        result = Some(match (name, result) {
            (_, None) => members.into_iter().collect(),
            ("sunion", Some(mut acc)) => {
                acc.extend(members);
                acc
            }
            ("sdiff", Some(mut acc)) => {
                for m in &members {
                    acc.shift_remove(m);
                }
                acc
            }
            (_, Some(acc)) => {
                let these: IndexSet<Vec<u8>> = members.into_iter().collect();
                acc.into_iter().filter(|m| these.contains(m)).collect()
            }
        });
    }
    let mut result = result.unwrap_or_default();
    if let Some(limit) = limit.filter(|&l| l > 0) {
        result.truncate(limit);
    }
    Ok(result)
}

fn sintercard(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    let numkeys = args::int(&argv[1])?;
    let numkeys = usize::try_from(numkeys)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| err("ERR numkeys should be greater than 0"))?;
    if numkeys > argv.len() - 2 {
        return Err(err(
            "ERR Number of keys can't be greater than number of args",
        ));
    }
    let mut limit = 0;
    let rest = &argv[2 + numkeys..];
    match rest {
        [] => {}
        [word, n] if args::is(word, "limit") => {
            limit =
                usize::try_from(args::int(n)?).map_err(|_| err("ERR LIMIT can't be negative"))?;
        }
        _ => return Err(args::syntax()),
    }
    let members = combine(call, "sinter", &argv[2..2 + numkeys], Some(limit))?;
    Ok(int_reply(members.len()))
}

/// SMOVE source destination member: both keys on one shard, moved under one
/// hold of its lock; as in Redis, an absent source answers 0 before the
/// destination's type is looked at.
fn smove(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    let (source, destination, member) = (&argv[1][..], &argv[2][..], &argv[3][..]);
    call.one_shard(source, destination)?;
    let Some(present) = call.read(source, |s: &Set| s.contains(member))? else {
        return Ok(NodeReply::Int(0));
    };
    if source == destination {
        return Ok(NodeReply::Int(present.into()));
    }
    let growth = call.growth_of::<Set>(3);
    let moved = call.write_pair(
        (source, destination),
        growth,
        |from: &mut Set, to: &mut Set| {
            let moved = from.remove(member);
            if moved {
                to.insert(member);
            }
            moved
        },
    )?;
    Ok(NodeReply::Int(moved.into()))
}
