//! List commands: LPUSH … LPOS, the moves (LMOVE, RPOPLPUSH) and LMPOP.

use roost_store::collection::List;

use super::args::{self, bulk, bulks, err, int_reply};
use super::Call;
use crate::backend::NodeReply;
use crate::error::CacheError;

/// The commands this file runs.
pub(super) const NAMES: &[&str] = &[
    "lpush",
    "rpush",
    "lpushx",
    "rpushx",
    "lpop",
    "rpop",
    "llen",
    "lindex",
    "lrange",
    "lset",
    "lrem",
    "ltrim",
    "linsert",
    "lpos",
    "lmove",
    "rpoplpush",
    "lmpop",
];

pub(super) fn run(call: &Call<'_>, name: &'static str) -> Result<NodeReply, CacheError> {
    let key = call.key();
    let argv = call.argv;
    match name {
        "lpush" | "rpush" | "lpushx" | "rpushx" => {
            let front = name.starts_with('l');
            let only_existing = name.ends_with('x');
            let len = call.write(key, call.growth_of::<List>(2), |l: &mut List| {
                if only_existing && l.is_empty() {
                    return 0;
                }
                for item in &argv[2..] {
                    if front {
                        l.push_front(item);
                    } else {
                        l.push_back(item);
                    }
                }
                l.len()
            })?;
            if len > 0 {
                call.added_to(key);
            }
            Ok(int_reply(len))
        }
        "lpop" | "rpop" => pop(call, name == "lpop"),
        "llen" => Ok(int_reply(call.read(key, |l: &List| l.len())?.unwrap_or(0))),
        "lindex" => lindex(call),
        "lrange" => lrange(call),
        "lset" => lset(call),
        "lrem" => lrem(call),
        "ltrim" => ltrim(call),
        "linsert" => linsert(call),
        "lpos" => lpos(call),
        "lmove" | "rpoplpush" => lmove(call, name),
        "lmpop" => lmpop(call),
        _ => Err(CacheError::NeedsRedis { command: name }),
    }
}

fn pop(call: &Call<'_>, front: bool) -> Result<NodeReply, CacheError> {
    let count = match call.argv.get(2) {
        None => None,
        Some(arg) => Some(args::count(arg)?),
    };
    let take = |l: &mut List| if front { l.pop_front() } else { l.pop_back() };
    // A stored collection is never empty: an empty one here is an absent
    // key, which the write does not create.
    call.write(call.key(), 0, |l: &mut List| match count {
        _ if l.is_empty() => NodeReply::Nil,
        None => take(l).map_or(NodeReply::Nil, |item| bulk(&item)),
        Some(n) => {
            let items: Vec<NodeReply> = std::iter::from_fn(|| take(l))
                .take(n)
                .map(|item| bulk(&item))
                .collect();
            NodeReply::Array(items)
        }
    })
}

fn lindex(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let index = args::int(&call.argv[2])?;
    let found = call.read(call.key(), |l: &List| {
        resolve(index, l.len())
            .and_then(|i| l.get(i))
            .map_or(NodeReply::Nil, bulk)
    })?;
    Ok(found.unwrap_or(NodeReply::Nil))
}

/// A Redis index (negative from the end) as a position within `len`.
fn resolve(index: i64, len: usize) -> Option<usize> {
    let len = i64::try_from(len).ok()?;
    let at = if index < 0 { len + index } else { index };
    (0..len).contains(&at).then(|| usize::try_from(at).ok())?
}

fn lrange(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let (start, stop) = (args::int(&call.argv[2])?, args::int(&call.argv[3])?);
    let items = call.read(call.key(), |l: &List| {
        match args::index_range(start, stop, l.len()) {
            Some((from, to)) => bulks(l.range(from, to)),
            None => NodeReply::Array(Vec::new()),
        }
    })?;
    Ok(items.unwrap_or(NodeReply::Array(Vec::new())))
}

fn lset(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let index = args::int(&call.argv[2])?;
    let growth = call.growth_of::<List>(3);
    call.write(call.key(), growth, |l: &mut List| {
        if l.is_empty() {
            return Err(err("ERR no such key"));
        }
        match resolve(index, l.len()) {
            Some(at) if l.set(at, &call.argv[3]) => Ok(NodeReply::Okay),
            _ => Err(err("ERR index out of range")),
        }
    })?
}

fn lrem(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let count = args::int(&call.argv[2])?;
    let element = &call.argv[3][..];
    let removed = call.write(call.key(), 0, |l: &mut List| {
        let len = l.len();
        let limit = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
        let limit = if count == 0 { usize::MAX } else { limit };
        // Which positions go: the first `limit` matches from the head, or
        // from the tail for a negative count.
        let mut matches: Vec<usize> = Vec::new();
        let positions: Box<dyn Iterator<Item = (usize, &[u8])>> = if count < 0 {
            Box::new(l.iter().enumerate().rev())
        } else {
            Box::new(l.iter().enumerate())
        };
        for (at, item) in positions {
            if matches.len() == limit {
                break;
            }
            if item == element {
                matches.push(at);
            }
        }
        matches.sort_unstable();
        let removed = matches.len();
        if removed > 0 {
            l.retain_indexed(|at, _| matches.binary_search(&at).is_err());
        }
        debug_assert!(l.len() + removed == len);
        removed
    })?;
    Ok(int_reply(removed))
}

fn ltrim(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let (start, stop) = (args::int(&call.argv[2])?, args::int(&call.argv[3])?);
    call.write(call.key(), 0, |l: &mut List| {
        match args::index_range(start, stop, l.len()) {
            Some((from, to)) => l.keep_range(from, to),
            None => l.keep_range(0, 0),
        }
    })?;
    Ok(NodeReply::Okay)
}

fn linsert(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    let after = if args::is(&argv[2], "after") {
        true
    } else if args::is(&argv[2], "before") {
        false
    } else {
        return Err(args::syntax());
    };
    let growth = call.growth_of::<List>(4);
    let len = call.write(call.key(), growth, |l: &mut List| {
        if l.is_empty() {
            return 0;
        }
        let Some(pivot) = l.iter().position(|item| item == &argv[3][..]) else {
            return -1;
        };
        l.insert(pivot + usize::from(after), &argv[4]);
        i64::try_from(l.len()).unwrap_or(i64::MAX)
    })?;
    if len > 0 {
        call.added_to(call.key());
    }
    Ok(NodeReply::Int(len))
}

fn lpos(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    let (mut rank, mut count, mut maxlen) = (1i64, None, 0usize);
    let mut at = 3;
    while at < argv.len() {
        let Some(value) = argv.get(at + 1) else {
            return Err(args::syntax());
        };
        if args::is(&argv[at], "rank") {
            rank = args::int(value)?;
            if rank == 0 {
                return Err(err("ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list"));
            }
            if rank == i64::MIN {
                return Err(err("ERR value is out of range"));
            }
        } else if args::is(&argv[at], "count") {
            let n = args::int(value)?;
            count = Some(usize::try_from(n).map_err(|_| err("ERR COUNT can't be negative"))?);
        } else if args::is(&argv[at], "maxlen") {
            let n = args::int(value)?;
            maxlen = usize::try_from(n).map_err(|_| err("ERR MAXLEN can't be negative"))?;
        } else {
            return Err(args::syntax());
        }
        at += 2;
    }
    let element = &argv[2][..];
    let found = call.read(call.key(), |l: &List| {
        let wanted = match count {
            Some(0) => usize::MAX,
            Some(n) => n,
            None => 1,
        };
        let skip = usize::try_from(rank.unsigned_abs() - 1).unwrap_or(usize::MAX);
        let limit = if maxlen == 0 { usize::MAX } else { maxlen };
        let positions: Box<dyn Iterator<Item = (usize, &[u8])>> = if rank < 0 {
            Box::new(l.iter().enumerate().rev().take(limit))
        } else {
            Box::new(l.iter().enumerate().take(limit))
        };
        let hits: Vec<NodeReply> = positions
            .filter(|(_, item)| *item == element)
            .skip(skip)
            .take(wanted)
            .map(|(at, _)| int_reply(at))
            .collect();
        match count {
            Some(_) => NodeReply::Array(hits),
            None => hits.into_iter().next().unwrap_or(NodeReply::Nil),
        }
    })?;
    Ok(found.unwrap_or(match count {
        Some(_) => NodeReply::Array(Vec::new()),
        None => NodeReply::Nil,
    }))
}

/// LEFT or RIGHT: true for LEFT.
fn side(arg: &[u8]) -> Result<bool, CacheError> {
    if args::is(arg, "left") {
        Ok(true)
    } else if args::is(arg, "right") {
        Ok(false)
    } else {
        Err(args::syntax())
    }
}

/// LMOVE source destination LEFT|RIGHT LEFT|RIGHT, and RPOPLPUSH (RIGHT LEFT).
/// Both keys on one shard, moved under one hold of its lock.
fn lmove(call: &Call<'_>, name: &str) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    let (source, destination) = (&argv[1][..], &argv[2][..]);
    let (from_left, to_left) = if name == "rpoplpush" {
        (false, true)
    } else {
        (side(&argv[3])?, side(&argv[4])?)
    };
    let pop = move |l: &mut List| {
        if from_left {
            l.pop_front()
        } else {
            l.pop_back()
        }
    };
    let push = move |l: &mut List, item: &[u8]| {
        if to_left {
            l.push_front(item);
        } else {
            l.push_back(item);
        }
    };
    call.one_shard(source, destination)?;
    // As in Redis, an absent source answers nil before the destination's type
    // is looked at. Its bytes bound what the move can add to the destination.
    let Some(source_bytes) = call.read(source, |l: &List| l.bytes())? else {
        return Ok(NodeReply::Nil);
    };
    if source == destination {
        return call
            .write(source, 0, |l: &mut List| {
                let item = pop(l)?;
                push(l, &item);
                Some(bulk(&item))
            })
            .map(|moved| moved.unwrap_or(NodeReply::Nil));
    }
    let growth = roost_store::Collection::growth(
        roost_store::Kind::List,
        1,
        usize::try_from(source_bytes).unwrap_or(usize::MAX),
    );
    call.write_pair(
        (source, destination),
        growth,
        |from: &mut List, to: &mut List| {
            let item = pop(from)?;
            if item.len() as u64 > source_bytes {
                // The source grew since its size was read: put the element back
                // rather than pass the destination's checked bound.
                if from_left {
                    from.push_front(&item);
                } else {
                    from.push_back(&item);
                }
                return Some(Err(err(
                    "ERR the source list changed during the move; try again",
                )));
            }
            push(to, &item);
            Some(Ok(bulk(&item)))
        },
    )?
    .unwrap_or(Ok(NodeReply::Nil))
}

/// LMPOP numkeys key [key …] LEFT|RIGHT [COUNT count]: pops from the first
/// key that holds a non-empty list; each key's pop is one write.
fn lmpop(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let (keys, direction, count) = mpop_args(call.argv)?;
    let front = side(direction)?;
    for key in keys {
        let popped = call.write(key, 0, |l: &mut List| {
            let items: Vec<NodeReply> =
                std::iter::from_fn(|| if front { l.pop_front() } else { l.pop_back() })
                    .take(count)
                    .map(|item| bulk(&item))
                    .collect();
            (!items.is_empty()).then_some(items)
        })?;
        if let Some(items) = popped {
            return Ok(NodeReply::Array(vec![bulk(key), NodeReply::Array(items)]));
        }
    }
    Ok(NodeReply::Nil)
}

/// LMPOP's and ZMPOP's `numkeys key [key …] <where> [COUNT count]`: the
/// keys, the word after them, and the count (1 by default).
pub(super) fn mpop_args(
    argv: &[bytes::Bytes],
) -> Result<(&[bytes::Bytes], &[u8], usize), CacheError> {
    let numkeys = crate::integer::parse_i64(&argv[1])
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0)
        .ok_or_else(|| err("ERR numkeys should be greater than 0"))?;
    let Some(direction) = argv.get(2 + numkeys) else {
        return Err(args::syntax());
    };
    let count = match &argv[3 + numkeys..] {
        [] => 1,
        [word, n] if args::is(word, "count") => crate::integer::parse_i64(n)
            .and_then(|n| usize::try_from(n).ok())
            .filter(|&n| n > 0)
            .ok_or_else(|| err("ERR count should be greater than 0"))?,
        _ => return Err(args::syntax()),
    };
    Ok((&argv[2..2 + numkeys], direction, count))
}
