//! HSCAN, SSCAN and ZSCAN over the embedded store's collections.
//!
//! A collection of up to [`SMALL_COLLECTION`] elements comes whole in one
//! reply with cursor 0, in its own order, as Redis answers for its small
//! encodings. A larger one is walked by position in its hash table's order
//! from the last position down: the cursor is how many positions remain.
//! That keeps SCAN's promise across writes: a removal moves the last element
//! (or every later one) into lower positions, which were either already
//! visited (the walk goes down) or stay below the cursor, so an element
//! present from the first call to the last is returned at least once;
//! elements added meanwhile may or may not be.

use roost_store::collection::{Hash, Set, SortedSet, SMALL_COLLECTION};

use super::args::{self, bulk, err, score};
use super::Call;
use crate::backend::NodeReply;
use crate::cache::glob_match;
use crate::error::CacheError;

/// The commands this file runs.
pub(super) const NAMES: &[&str] = &["hscan", "sscan", "zscan"];

/// A scan's cursor, MATCH pattern and COUNT (10 by default).
struct Page<'a> {
    cursor: u64,
    pattern: Option<&'a [u8]>,
    count: usize,
}

impl<'a> Page<'a> {
    /// `key cursor [MATCH pattern] [COUNT count]`, read as Redis reads them
    /// (a cursor is an unsigned number; a negative one wraps, as `strtoull`).
    fn parse(argv: &'a [bytes::Bytes]) -> Result<Page<'a>, CacheError> {
        let cursor = std::str::from_utf8(&argv[2])
            .ok()
            .and_then(|text| {
                text.parse::<u64>()
                    .ok()
                    .or_else(|| text.parse::<i64>().ok().map(|n| n as u64))
            })
            .ok_or_else(|| err("ERR invalid cursor"))?;
        let mut page = Page {
            cursor,
            pattern: None,
            count: 10,
        };
        let mut options = argv[3..].chunks(2);
        for option in options.by_ref() {
            match option {
                [word, pattern] if args::is(word, "match") => page.pattern = Some(pattern),
                [word, n] if args::is(word, "count") => {
                    page.count = crate::integer::parse_i64(n)
                        .ok_or_else(args::not_integer)
                        .and_then(|n| {
                            usize::try_from(n)
                                .ok()
                                .filter(|&n| n > 0)
                                .ok_or_else(args::syntax)
                        })?;
                }
                _ => return Err(args::syntax()),
            }
        }
        Ok(page)
    }

    /// Whether `element` passes MATCH.
    fn keeps(&self, element: &[u8]) -> bool {
        self.pattern
            .is_none_or(|pattern| glob_match(pattern, element))
    }

    /// The positions this call visits in a collection of `len`, from the
    /// highest down, and the cursor to continue from (0: done).
    fn positions(&self, len: usize) -> (Vec<usize>, u64) {
        let start = match self.cursor {
            0 => len,
            c => usize::try_from(c).unwrap_or(usize::MAX).min(len),
        };
        let end = start.saturating_sub(self.count);
        ((end..start).rev().collect(), end as u64)
    }
}

pub(super) fn run(call: &Call<'_>, name: &'static str) -> Result<NodeReply, CacheError> {
    let page = Page::parse(call.argv)?;
    let key = call.key();
    let found = match name {
        "hscan" => call.read(key, |h: &Hash| {
            let visit = |(f, v): (&[u8], &[u8])| page.keeps(f).then(|| [bulk(f), bulk(v)]);
            if h.len() <= SMALL_COLLECTION {
                return (h.iter().filter_map(visit).flatten().collect(), 0);
            }
            let (positions, next) = page.positions(h.len());
            let items = positions.into_iter().filter_map(|at| h.get_index(at));
            (items.filter_map(visit).flatten().collect(), next)
        })?,
        "sscan" => call.read(key, |s: &Set| {
            let visit = |m: &[u8]| page.keeps(m).then(|| bulk(m));
            if s.len() <= SMALL_COLLECTION {
                return (s.iter().filter_map(visit).collect(), 0);
            }
            let (positions, next) = page.positions(s.len());
            let items = positions.into_iter().filter_map(|at| s.get_index(at));
            (items.filter_map(visit).collect(), next)
        })?,
        "zscan" => call.read(key, |z: &SortedSet| {
            // Scores come as bulk strings, in RESP3 too.
            let visit = |(m, s): (&[u8], f64)| page.keeps(m).then(|| [bulk(m), score(s, false)]);
            if z.len() <= SMALL_COLLECTION {
                return (z.iter().filter_map(visit).flatten().collect(), 0);
            }
            let (positions, next) = page.positions(z.len());
            let items = positions.into_iter().filter_map(|at| z.get_unordered(at));
            (items.filter_map(visit).flatten().collect(), next)
        })?,
        _ => return Err(CacheError::NeedsRedis { command: name }),
    };
    let (items, next) = found.unwrap_or_default();
    Ok(NodeReply::Array(vec![
        bulk(next.to_string().as_bytes()),
        NodeReply::Array(items),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_walk_covers_every_position_once_from_the_top() {
        let page = |cursor| Page {
            cursor,
            pattern: None,
            count: 4,
        };
        assert_eq!(page(0).positions(10), (vec![9, 8, 7, 6], 6));
        assert_eq!(page(6).positions(10), (vec![5, 4, 3, 2], 2));
        assert_eq!(page(2).positions(10), (vec![1, 0], 0));
        // The collection shrank below the cursor: the walk goes on from its top.
        assert_eq!(page(6).positions(3), (vec![2, 1, 0], 0));
    }
}
