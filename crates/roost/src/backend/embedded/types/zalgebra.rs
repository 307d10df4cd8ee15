//! Sorted-set algebra on the embedded store: ZUNION, ZINTER, ZDIFF, their
//! STORE forms, ZINTERCARD and ZRANGESTORE. A source may be a sorted set or a
//! set (each member scored 1, as in Redis); an absent key is empty. The
//! sources are read one after the other (not one snapshot of all of them, as
//! SINTER here), and a destination is replaced, of any type, in one step.

use std::collections::HashMap;

use bytes::Bytes;
use roost_store::collection::{Set, SortedSet};
use roost_store::{Collection, Kind};

use super::args::{self, err, int_reply};
use super::zsets::{members_reply, Range};
use super::Call;
use crate::backend::NodeReply;
use crate::error::CacheError;

/// The commands this file runs.
pub(super) const NAMES: &[&str] = &[
    "zunion",
    "zinter",
    "zdiff",
    "zunionstore",
    "zinterstore",
    "zdiffstore",
    "zintercard",
    "zrangestore",
];

/// Members with their scores, in no particular order.
type Scored = Vec<(Vec<u8>, f64)>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Union,
    Inter,
    Diff,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

pub(super) fn run(call: &Call<'_>, name: &'static str) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    let op = match name.trim_end_matches("store") {
        "zunion" => Op::Union,
        "zinter" | "zintercard" => Op::Inter,
        "zdiff" => Op::Diff,
        "zrange" => return zrangestore(call),
        _ => return Err(CacheError::NeedsRedis { command: name }),
    };
    let store = name.ends_with("store");
    // ZUNIONSTORE dst numkeys …; ZUNION numkeys …
    let numkeys_at = if store { 2 } else { 1 };
    let numkeys = args::int(&argv[numkeys_at])?;
    let numkeys = usize::try_from(numkeys)
        .ok()
        .filter(|&n| n > 0)
        .ok_or_else(|| {
            err(&format!(
                "ERR at least 1 input key is needed for '{name}' command"
            ))
        })?;
    let first_key = numkeys_at + 1;
    let Some(keys) = argv.get(first_key..first_key + numkeys) else {
        return Err(args::syntax());
    };
    let options = &argv[first_key + numkeys..];
    if name == "zintercard" {
        let limit = match options {
            [] => 0,
            [word, n] if args::is(word, "limit") => {
                usize::try_from(args::int(n)?).map_err(|_| err("ERR LIMIT can't be negative"))?
            }
            _ => return Err(args::syntax()),
        };
        let members = combine(
            call,
            Op::Inter,
            keys,
            &vec![1.0; keys.len()],
            Aggregate::Sum,
        )?;
        let card = if limit == 0 {
            members.len()
        } else {
            members.len().min(limit)
        };
        return Ok(int_reply(card));
    }
    let (mut weights, mut aggregate, mut with_scores) = (vec![1.0; numkeys], Aggregate::Sum, false);
    let mut at = 0;
    while let Some(word) = options.get(at) {
        if args::is(word, "weights") && op != Op::Diff {
            let Some(given) = options.get(at + 1..at + 1 + numkeys) else {
                return Err(args::syntax());
            };
            for (weight, arg) in weights.iter_mut().zip(given) {
                *weight =
                    args::parse_float(arg).ok_or_else(|| err("ERR weight value is not a float"))?;
            }
            at += 1 + numkeys;
        } else if args::is(word, "aggregate") && op != Op::Diff {
            aggregate = match options.get(at + 1) {
                Some(a) if args::is(a, "sum") => Aggregate::Sum,
                Some(a) if args::is(a, "min") => Aggregate::Min,
                Some(a) if args::is(a, "max") => Aggregate::Max,
                _ => return Err(args::syntax()),
            };
            at += 2;
        } else if args::is(word, "withscores") && !store {
            with_scores = true;
            at += 1;
        } else {
            return Err(args::syntax());
        }
    }
    let members = combine(call, op, keys, &weights, aggregate)?;
    let mut result = SortedSet::default();
    for (member, score) in &members {
        result.insert(member, *score);
    }
    if store {
        let card = result.len();
        call.put(&argv[1], Collection::SortedSet(result))?;
        return Ok(int_reply(card));
    }
    Ok(members_reply(result.iter(), with_scores, call.resp3))
}

/// A source's members and scores: a sorted set's, or a set's at score 1;
/// `None` for an absent key; WRONGTYPE for another type.
fn scored(call: &Call<'_>, key: &[u8]) -> Result<Option<Scored>, CacheError> {
    let Some(hit) = call.db.get_any(key) else {
        return Ok(None);
    };
    let Some(held) = hit.collection() else {
        return Err(CacheError::wrong_type());
    };
    let collection = held.read();
    match (&*collection, held.kind()) {
        (Collection::SortedSet(z), Kind::SortedSet) => {
            Ok(Some(z.iter().map(|(m, s)| (m.to_vec(), s)).collect()))
        }
        (Collection::Set(s), Kind::Set) => Ok(Some(members_of(s))),
        _ => Err(CacheError::wrong_type()),
    }
}

fn members_of(set: &Set) -> Scored {
    set.iter().map(|m| (m.to_vec(), 1.0)).collect()
}

/// A weighted score, NaN (0 × inf) read as 0, as Redis does.
fn weighted(score: f64, weight: f64) -> f64 {
    let value = score * weight;
    if value.is_nan() {
        0.0
    } else {
        value
    }
}

fn aggregate(into: &mut f64, value: f64, how: Aggregate) {
    *into = match how {
        Aggregate::Sum => {
            let sum = *into + value;
            if sum.is_nan() {
                0.0
            } else {
                sum
            }
        }
        Aggregate::Min => into.min(value),
        Aggregate::Max => into.max(value),
    };
}

/// Each of `sources` as a map from member to score, for lookups by member.
fn by_member(sources: &[Scored]) -> Vec<HashMap<&[u8], f64>> {
    sources
        .iter()
        .map(|source| source.iter().map(|(m, v)| (&m[..], *v)).collect())
        .collect()
}

/// The union, intersection or difference of `keys`' members with their
/// aggregated scores, in no particular order.
fn combine(
    call: &Call<'_>,
    op: Op,
    keys: &[Bytes],
    weights: &[f64],
    how: Aggregate,
) -> Result<Scored, CacheError> {
    let mut sources = Vec::with_capacity(keys.len());
    for key in keys {
        sources.push(scored(call, key)?.unwrap_or_default());
    }
    let mut result: HashMap<Vec<u8>, f64> = HashMap::new();
    match op {
        Op::Union => {
            for (source, &weight) in sources.iter().zip(weights) {
                for (member, score) in source {
                    let value = weighted(*score, weight);
                    match result.get_mut(member) {
                        Some(into) => aggregate(into, value, how),
                        None => {
                            result.insert(member.clone(), value);
                        }
                    }
                }
            }
        }
        Op::Inter => {
            let others = by_member(&sources[1..]);
            'members: for (member, score) in &sources[0] {
                let mut value = weighted(*score, weights[0]);
                for (other, &weight) in others.iter().zip(&weights[1..]) {
                    let Some(&score) = other.get(&member[..]) else {
                        continue 'members;
                    };
                    aggregate(&mut value, weighted(score, weight), how);
                }
                result.insert(member.clone(), value);
            }
        }
        Op::Diff => {
            let others = by_member(&sources[1..]);
            for (member, score) in &sources[0] {
                if !others.iter().any(|other| other.contains_key(&member[..])) {
                    result.insert(member.clone(), *score);
                }
            }
        }
    }
    Ok(result.into_iter().collect())
}

/// ZRANGESTORE dst src min max [BYSCORE | BYLEX] [REV] [LIMIT offset count]:
/// ZRANGE's selection of `src`, stored at `dst` (replaced, of any type).
fn zrangestore(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    // ZRANGE's arguments start at the source.
    let request = Range::parse_zrange(&argv[1..])?;
    if request.with_scores {
        return Err(args::syntax());
    }
    let selected = call
        .read(&argv[2], |z: &SortedSet| {
            request
                .select(z)
                .into_iter()
                .filter_map(|at| z.get_index(at).map(|(m, s)| (m.to_vec(), s)))
                .collect::<Vec<_>>()
        })?
        .unwrap_or_default();
    let mut result = SortedSet::default();
    for (member, score) in &selected {
        result.insert(member, *score);
    }
    let card = result.len();
    call.put(&argv[1], Collection::SortedSet(result))?;
    Ok(int_reply(card))
}
