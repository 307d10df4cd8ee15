//! Sorted-set commands: ZADD … ZRANDMEMBER and ZMPOP, ranges by rank, score and lex.

use roost_store::collection::SortedSet;

use super::args::{self, bulk, err, int_reply, score};
use super::{pairs_reply, pick, random_args, Call};
use crate::backend::NodeReply;
use crate::error::CacheError;

/// The commands this file runs.
pub(super) const NAMES: &[&str] = &[
    "zadd",
    "zincrby",
    "zrem",
    "zcard",
    "zscore",
    "zmscore",
    "zrank",
    "zrevrank",
    "zcount",
    "zlexcount",
    "zrange",
    "zrevrange",
    "zrangebyscore",
    "zrevrangebyscore",
    "zrangebylex",
    "zrevrangebylex",
    "zremrangebyrank",
    "zremrangebyscore",
    "zremrangebylex",
    "zpopmin",
    "zpopmax",
    "zrandmember",
    "zmpop",
];

pub(super) fn run(call: &Call<'_>, name: &'static str) -> Result<NodeReply, CacheError> {
    let key = call.key();
    let argv = call.argv;
    match name {
        "zadd" | "zincrby" => {
            let reply = if name == "zadd" {
                zadd(call)
            } else {
                zincrby(call)
            };
            if reply.is_ok() {
                call.added_to(key);
            }
            reply
        }
        "zrem" => call
            .write(key, 0, |z: &mut SortedSet| {
                argv[2..].iter().filter(|m| z.remove(m).is_some()).count()
            })
            .map(int_reply),
        "zcard" => Ok(int_reply(
            call.read(key, |z: &SortedSet| z.len())?.unwrap_or(0),
        )),
        "zscore" => Ok(call
            .read(key, |z: &SortedSet| z.score(&argv[2]))?
            .flatten()
            .map_or(NodeReply::Nil, |s| score(s, call.resp3))),
        "zmscore" => {
            let each = |z: Option<&SortedSet>| {
                let scores = argv[2..].iter().map(|m| {
                    z.and_then(|z| z.score(m))
                        .map_or(NodeReply::Nil, |s| score(s, call.resp3))
                });
                NodeReply::Array(scores.collect())
            };
            Ok(match call.read(key, |z: &SortedSet| each(Some(z)))? {
                Some(reply) => reply,
                None => each(None),
            })
        }
        "zrank" | "zrevrank" => Ok(call
            .read(key, |z: &SortedSet| {
                z.rank(&argv[2])
                    .map(|r| if name == "zrank" { r } else { z.len() - 1 - r })
            })?
            .flatten()
            .map_or(NodeReply::Nil, int_reply)),
        "zcount" | "zlexcount" => {
            let by = if name == "zcount" { By::Score } else { By::Lex };
            match Bounds::parse(by, &argv[2], &argv[3]) {
                Err(e) => Err(e),
                Ok(bounds) => Ok(int_reply(
                    call.read(key, |z: &SortedSet| {
                        let (from, to) = bounds.positions(z);
                        to - from
                    })?
                    .unwrap_or(0),
                )),
            }
        }
        "zrange" => range(call, Range::parse_zrange(argv)),
        "zrevrange" => range(call, Range::parse_legacy(argv, By::Rank, true)),
        "zrangebyscore" => range(call, Range::parse_legacy(argv, By::Score, false)),
        "zrevrangebyscore" => range(call, Range::parse_legacy(argv, By::Score, true)),
        "zrangebylex" => range(call, Range::parse_legacy(argv, By::Lex, false)),
        "zrevrangebylex" => range(call, Range::parse_legacy(argv, By::Lex, true)),
        "zremrangebyrank" | "zremrangebyscore" | "zremrangebylex" => {
            let by = match name {
                "zremrangebyrank" => By::Rank,
                "zremrangebyscore" => By::Score,
                _ => By::Lex,
            };
            remove_range(call, by)
        }
        "zpopmin" | "zpopmax" => zpop(call, name == "zpopmin"),
        "zrandmember" => zrandmember(call),
        "zmpop" => zmpop(call),
        _ => Err(CacheError::NeedsRedis { command: name }),
    }
}

fn zadd(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    let (mut nx, mut xx, mut gt, mut lt, mut ch, mut incr) =
        (false, false, false, false, false, false);
    let mut at = 2;
    while let Some(word) = argv.get(at) {
        let flag = match () {
            () if args::is(word, "nx") => &mut nx,
            () if args::is(word, "xx") => &mut xx,
            () if args::is(word, "gt") => &mut gt,
            () if args::is(word, "lt") => &mut lt,
            () if args::is(word, "ch") => &mut ch,
            () if args::is(word, "incr") => &mut incr,
            () => break,
        };
        *flag = true;
        at += 1;
    }
    let pairs = &argv[at..];
    if pairs.is_empty() || pairs.len() % 2 != 0 {
        return Err(args::syntax());
    }
    if nx && xx {
        return Err(err(
            "ERR XX and NX options at the same time are not compatible",
        ));
    }
    if (nx && (gt || lt)) || (gt && lt) {
        return Err(err(
            "ERR GT, LT, and/or NX options at the same time are not compatible",
        ));
    }
    if incr && pairs.len() > 2 {
        return Err(err(
            "ERR INCR option supports a single increment-element pair",
        ));
    }
    let scores = pairs
        .chunks_exact(2)
        .map(|pair| args::float(&pair[0]))
        .collect::<Result<Vec<f64>, CacheError>>()?;
    // XX on an absent key answers at once; the write would store nothing.
    if xx && call.read(call.key(), |_: &SortedSet| ())?.is_none() {
        return Ok(if incr {
            NodeReply::Nil
        } else {
            NodeReply::Int(0)
        });
    }
    let members: Vec<&[u8]> = pairs.chunks_exact(2).map(|pair| &pair[1][..]).collect();
    let growth = roost_store::Collection::growth(
        roost_store::Kind::SortedSet,
        members.len(),
        members.iter().map(|m| m.len()).sum(),
    );
    call.write(call.key(), growth, |z: &mut SortedSet| {
        let (mut added, mut updated, mut last) = (0, 0, None);
        for (&member, &given) in members.iter().zip(&scores) {
            let Some(current) = z.score(member) else {
                if !xx {
                    z.insert(member, given);
                    added += 1;
                    last = Some(given);
                }
                continue;
            };
            if nx {
                continue;
            }
            let new = if incr { current + given } else { given };
            if new.is_nan() {
                return Err(err("ERR resulting score is not a number (NaN)"));
            }
            if (lt && new >= current) || (gt && new <= current) {
                continue;
            }
            if new != current {
                z.insert(member, new);
                updated += 1;
            }
            last = Some(new);
        }
        Ok(match (incr, last) {
            (true, Some(s)) => score(s, call.resp3),
            (true, None) => NodeReply::Nil,
            (false, _) => int_reply(if ch { added + updated } else { added }),
        })
    })?
}

fn zincrby(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    let delta = args::float(&argv[2])?;
    let growth = call.growth_of::<SortedSet>(3);
    call.write(call.key(), growth, |z: &mut SortedSet| {
        let new = z.score(&argv[3]).unwrap_or(0.0) + delta;
        if new.is_nan() {
            return Err(err("ERR resulting score is not a number (NaN)"));
        }
        z.insert(&argv[3], new);
        Ok(score(new, call.resp3))
    })?
}

/// What a range selects by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// A range's two ends as given, read for its kind.
#[derive(Debug, Clone)]
enum Bounds {
    Rank(i64, i64),
    Score {
        min: f64,
        min_open: bool,
        max: f64,
        max_open: bool,
    },
    Lex {
        min: Lex,
        max: Lex,
    },
}

#[derive(Debug, Clone)]
enum Lex {
    Least,
    Most,
    At(Vec<u8>, bool),
}

impl Lex {
    fn parse(arg: &[u8]) -> Option<Lex> {
        match arg {
            b"-" => Some(Lex::Least),
            b"+" => Some(Lex::Most),
            [b'[', rest @ ..] => Some(Lex::At(rest.to_vec(), false)),
            [b'(', rest @ ..] => Some(Lex::At(rest.to_vec(), true)),
            _ => None,
        }
    }
}

/// A score bound: `(1` is open, `-inf` and `+inf` the ends.
fn score_bound(arg: &[u8]) -> Option<(f64, bool)> {
    match arg {
        [b'(', rest @ ..] => args::parse_float(rest).map(|x| (x, true)),
        _ => args::parse_float(arg).map(|x| (x, false)),
    }
}

impl Bounds {
    fn parse(by: By, min: &[u8], max: &[u8]) -> Result<Bounds, CacheError> {
        match by {
            By::Rank => Ok(Bounds::Rank(args::int(min)?, args::int(max)?)),
            By::Score => match (score_bound(min), score_bound(max)) {
                (Some((min, min_open)), Some((max, max_open))) => Ok(Bounds::Score {
                    min,
                    min_open,
                    max,
                    max_open,
                }),
                _ => Err(err("ERR min or max is not a float")),
            },
            By::Lex => match (Lex::parse(min), Lex::parse(max)) {
                (Some(min), Some(max)) => Ok(Bounds::Lex { min, max }),
                _ => Err(err("ERR min or max not valid string range item")),
            },
        }
    }

    /// The positions `from..to` (lowest score first) the bounds select.
    fn positions(&self, z: &SortedSet) -> (usize, usize) {
        let (from, to) = match self {
            Bounds::Rank(start, stop) => {
                args::index_range(*start, *stop, z.len()).unwrap_or((0, 0))
            }
            Bounds::Score {
                min,
                min_open,
                max,
                max_open,
            } => (
                z.first_at_or_above(*min, *min_open),
                z.first_at_or_above(*max, !*max_open),
            ),
            Bounds::Lex { min, max } => {
                let from = match min {
                    Lex::Least => 0,
                    Lex::Most => z.len(),
                    Lex::At(m, open) => z.first_lex_at_or_after(m, *open),
                };
                let to = match max {
                    Lex::Least => 0,
                    Lex::Most => z.len(),
                    Lex::At(m, open) => z.first_lex_at_or_after(m, !*open),
                };
                (from, to)
            }
        };
        (from, to.max(from))
    }
}

/// A ZRANGE-family request.
#[derive(Debug, Clone)]
pub(super) struct Range {
    bounds: Bounds,
    rev: bool,
    limit: Option<(i64, i64)>,
    pub(super) with_scores: bool,
}

impl Range {
    /// ZRANGE key start stop [BYSCORE | BYLEX] [REV] [LIMIT offset count] [WITHSCORES].
    pub(super) fn parse_zrange(argv: &[bytes::Bytes]) -> Result<Range, CacheError> {
        let (mut by, mut rev, mut limit, mut with_scores) = (By::Rank, false, None, false);
        let mut at = 4;
        while let Some(word) = argv.get(at) {
            if args::is(word, "withscores") {
                with_scores = true;
            } else if args::is(word, "rev") {
                rev = true;
            } else if args::is(word, "byscore") {
                by = By::Score;
            } else if args::is(word, "bylex") {
                by = By::Lex;
            } else if args::is(word, "limit") && at + 2 < argv.len() {
                limit = Some((args::int(&argv[at + 1])?, args::int(&argv[at + 2])?));
                at += 2;
            } else {
                return Err(args::syntax());
            }
            at += 1;
        }
        if limit.is_some() && by == By::Rank {
            return Err(err(
                "ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX",
            ));
        }
        if with_scores && by == By::Lex {
            return Err(err(
                "ERR syntax error, WITHSCORES not supported in combination with BYLEX",
            ));
        }
        Range::new(argv, by, rev, limit, with_scores)
    }

    /// The request with `argv[2..4]`'s bounds; reversed ranges by score and
    /// by lex name their max first.
    fn new(
        argv: &[bytes::Bytes],
        by: By,
        rev: bool,
        limit: Option<(i64, i64)>,
        with_scores: bool,
    ) -> Result<Range, CacheError> {
        let (min, max) = if rev && by != By::Rank {
            (&argv[3], &argv[2])
        } else {
            (&argv[2], &argv[3])
        };
        Ok(Range {
            bounds: Bounds::parse(by, min, max)?,
            rev,
            limit,
            with_scores,
        })
    }

    /// ZREVRANGE, ZRANGEBYSCORE, ZREVRANGEBYSCORE, ZRANGEBYLEX, ZREVRANGEBYLEX:
    /// the reverse ones take max before min.
    fn parse_legacy(argv: &[bytes::Bytes], by: By, rev: bool) -> Result<Range, CacheError> {
        let (mut limit, mut with_scores) = (None, false);
        let mut at = 4;
        while let Some(word) = argv.get(at) {
            if args::is(word, "withscores") && by != By::Lex {
                with_scores = true;
            } else if args::is(word, "limit") && by != By::Rank && at + 2 < argv.len() {
                limit = Some((args::int(&argv[at + 1])?, args::int(&argv[at + 2])?));
                at += 2;
            } else {
                return Err(args::syntax());
            }
            at += 1;
        }
        Range::new(argv, by, rev, limit, with_scores)
    }

    /// The selected positions in reply order (reversed for REV, after LIMIT).
    pub(super) fn select(&self, z: &SortedSet) -> Vec<usize> {
        let (from, to) = match &self.bounds {
            Bounds::Rank(start, stop) if self.rev => {
                // Ranks from the highest score: rank r is position len-1-r.
                match args::index_range(*start, *stop, z.len()) {
                    Some((a, b)) => (z.len() - b, z.len() - a),
                    None => (0, 0),
                }
            }
            bounds => bounds.positions(z),
        };
        let (offset, count) = match self.limit {
            Some((offset, _)) if offset < 0 => return Vec::new(),
            Some((offset, count)) => (
                usize::try_from(offset).unwrap_or(usize::MAX),
                usize::try_from(count).unwrap_or(usize::MAX),
            ),
            None => (0, usize::MAX),
        };
        let positions: Box<dyn Iterator<Item = usize>> = if self.rev {
            Box::new((from..to).rev())
        } else {
            Box::new(from..to)
        };
        positions.skip(offset).take(count).collect()
    }
}

/// Members, with their scores when asked: flat for RESP2, pairs for RESP3.
pub(super) fn members_reply<'a>(
    items: impl Iterator<Item = (&'a [u8], f64)>,
    with_scores: bool,
    resp3: bool,
) -> NodeReply {
    pairs_reply(
        items.map(|(m, s)| (bulk(m), score(s, resp3))),
        with_scores,
        resp3,
    )
}

fn range(call: &Call<'_>, request: Result<Range, CacheError>) -> Result<NodeReply, CacheError> {
    let request = request?;
    let reply = call.read(call.key(), |z: &SortedSet| {
        let items = request
            .select(z)
            .into_iter()
            .filter_map(|at| z.get_index(at));
        members_reply(items, request.with_scores, call.resp3)
    })?;
    Ok(reply.unwrap_or(NodeReply::Array(Vec::new())))
}

fn remove_range(call: &Call<'_>, by: By) -> Result<NodeReply, CacheError> {
    let bounds = Bounds::parse(by, &call.argv[2], &call.argv[3])?;
    let removed = call.write(call.key(), 0, |z: &mut SortedSet| {
        let (from, to) = bounds.positions(z);
        let doomed: Vec<Vec<u8>> = z.range(from, to).map(|(m, _)| m.to_vec()).collect();
        for member in &doomed {
            z.remove(member);
        }
        doomed.len()
    })?;
    Ok(int_reply(removed))
}

fn zpop(call: &Call<'_>, min: bool) -> Result<NodeReply, CacheError> {
    let count = match call.argv.get(2) {
        None => None,
        Some(arg) => Some(args::count(arg)?),
    };
    if call.argv.len() > 3 {
        return Err(args::syntax());
    }
    call.write(call.key(), 0, |z: &mut SortedSet| {
        let popped: Vec<_> = std::iter::from_fn(|| if min { z.pop_first() } else { z.pop_last() })
            .take(count.unwrap_or(1))
            .collect();
        let items = popped.iter().map(|(m, s)| (&m[..], *s));
        if call.resp3 && count.is_none() {
            // Without a count RESP3 gets one flat pair, its score a double.
            return NodeReply::Array(items.flat_map(|(m, s)| [bulk(m), score(s, true)]).collect());
        }
        members_reply(items, true, call.resp3)
    })
}

fn zrandmember(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let Some((count, with_scores)) = random_args(call.argv, Some("withscores"))? else {
        let one = call.read(call.key(), |z: &SortedSet| {
            z.get_index(fastrand::usize(..z.len().max(1)))
                .map_or(NodeReply::Nil, |(m, _)| bulk(m))
        })?;
        return Ok(one.unwrap_or(NodeReply::Nil));
    };
    let picked = call.read(call.key(), |z: &SortedSet| {
        let items = pick(z.len(), count)
            .into_iter()
            .filter_map(|at| z.get_index(at));
        members_reply(items, with_scores, call.resp3)
    })?;
    Ok(picked.unwrap_or(NodeReply::Array(Vec::new())))
}

/// ZMPOP numkeys key [key …] MIN|MAX [COUNT count]: pops from the first key
/// that holds a non-empty sorted set; each key's pop is one write. Members
/// come as [member, score] pairs in RESP2 too.
fn zmpop(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let (keys, direction, count) = super::lists::mpop_args(call.argv)?;
    let min = if args::is(direction, "min") {
        true
    } else if args::is(direction, "max") {
        false
    } else {
        return Err(args::syntax());
    };
    for key in keys {
        let popped = call.write(key, 0, |z: &mut SortedSet| {
            let pairs: Vec<NodeReply> =
                std::iter::from_fn(|| if min { z.pop_first() } else { z.pop_last() })
                    .take(count)
                    .map(|(m, s)| NodeReply::Array(vec![bulk(&m), score(s, call.resp3)]))
                    .collect();
            (!pairs.is_empty()).then_some(pairs)
        })?;
        if let Some(pairs) = popped {
            return Ok(NodeReply::Array(vec![bulk(key), NodeReply::Array(pairs)]));
        }
    }
    Ok(NodeReply::Nil)
}
