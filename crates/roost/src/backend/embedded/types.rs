//! Redis's hashes, lists, sets and sorted sets on the embedded store (issue
//! 17, item 2): the commands Roost forwards to a node in front of Redis are
//! run here on the store's native collections (`roost_store::collection`),
//! and answer as a redis-server 7.0 does. One file per type; `args.rs` reads
//! arguments and writes numbers as Redis does.
//!
//! Each command reads its key's collection, or changes it in place under the
//! shard's write lock ([`roost_store::Shard::update_collection`]), which
//! refuses a key of another type (`WRONGTYPE`) and a write whose growth would
//! not fit the shard before anything changes. A move (LMOVE, SMOVE) changes
//! its two keys under one shard's lock, and answers CROSSSLOT for keys on
//! different shards. A read of several keys (SINTER, SUNION, SDIFF, ZUNION,
//! ZINTER, ZDIFF, their cardinality and *STORE forms) reads each in turn: it is not one snapshot
//! of all its keys, as in Redis, when another client writes them meanwhile.
//! Blocking pops wait in `blocking.rs`. Not run here (they answer that they
//! need Redis, and why in docs/resp.md): BITPOS, BITFIELD, BITOP, LCS,
//! streams, geo, HyperLogLog, scripts. `strings.rs` runs the rest of the
//! string family, `zalgebra.rs` ZUNION, ZINTER, ZDIFF and their STORE forms.

mod args;
mod blocking;
mod hashes;
mod lists;
mod scan;
mod sets;
mod strings;
mod zalgebra;
mod zsets;

use std::collections::HashMap;
use std::sync::OnceLock;

use bytes::Bytes;
use indexmap::IndexSet;
use roost_store::collection::{Hash, List, Set, SortedSet};
use roost_store::{Collection, Kind};

use super::Embedded;
use crate::backend::{Forwarded, NodeReply};
use crate::error::CacheError;

/// One collection type, as the commands reach it inside a [`Collection`].
trait Typed: Sized {
    const KIND: Kind;
    fn of(collection: &Collection) -> Option<&Self>;
    fn of_mut(collection: &mut Collection) -> Option<&mut Self>;
}

macro_rules! typed {
    ($type:ty, $variant:ident) => {
        impl Typed for $type {
            const KIND: Kind = Kind::$variant;
            fn of(collection: &Collection) -> Option<&Self> {
                match collection {
                    Collection::$variant(inner) => Some(inner),
                    _ => None,
                }
            }
            fn of_mut(collection: &mut Collection) -> Option<&mut Self> {
                match collection {
                    Collection::$variant(inner) => Some(inner),
                    _ => None,
                }
            }
        }
    };
}

typed!(Hash, Hash);
typed!(List, List);
typed!(Set, Set);
typed!(SortedSet, SortedSet);

/// A score as Redis 7.0 writes it in a RESP2 reply (`%.17g`).
pub fn redis_score(value: f64) -> String {
    args::g17(value)
}

/// A collection the shard made of `T`'s kind, as `T`.
fn typed<T: Typed>(collection: &mut Collection) -> &mut T {
    T::of_mut(collection).expect("invariant: the shard made the collection of the kind asked")
}

/// A command being run: its arguments (name first) and the client's protocol.
struct Call<'a> {
    db: &'a Embedded,
    argv: &'a [Bytes],
    resp3: bool,
    /// The longest string value allowed (`ROOST_MAX_VALUE_BYTES`).
    max_value: usize,
}

impl Call<'_> {
    /// The first key (every command here names one at argv[1]).
    fn key(&self) -> &Bytes {
        &self.argv[1]
    }

    /// `f` on `key`'s collection of type `T`; `Ok(None)` when the key is
    /// absent, WRONGTYPE when it holds something else. Counts an access.
    fn read<T: Typed, R>(
        &self,
        key: &[u8],
        f: impl FnOnce(&T) -> R,
    ) -> Result<Option<R>, CacheError> {
        let Some(hit) = self.db.shard(key).get(key) else {
            return Ok(None);
        };
        match hit.collection() {
            Some(held) if held.kind() == T::KIND => {
                let collection = held.read();
                let typed =
                    T::of(&collection).expect("invariant: the held kind is the collection's");
                Ok(Some(f(typed)))
            }
            _ => Err(CacheError::wrong_type()),
        }
    }

    /// `f` on `key`'s collection of type `T`, changed in place (an absent
    /// key is an empty one; left empty, the key is removed). `growth` is the
    /// most `f` adds ([`Collection::growth`]).
    fn write<T: Typed, R>(
        &self,
        key: &[u8],
        growth: u64,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R, CacheError> {
        let shard = self.db.shard(key);
        let owned = Bytes::copy_from_slice(key);
        shard
            .update_collection(owned, T::KIND, growth, |collection| {
                f(typed::<T>(collection))
            })
            .map_err(CacheError::from)
    }

    /// Wakes the clients blocked on `key` after a write added to its list or
    /// sorted set (never after a pop: a waiter's own attempt must not wake it).
    fn added_to(&self, key: &[u8]) {
        self.db.waiters.wake(key);
    }

    /// `f` on the collections of type `T` at two different keys, changed
    /// together under one hold of their shard's lock; keys on different
    /// shards answer CROSSSLOT (hash tags `{…}` put keys on one shard), as
    /// they do in front of a Redis Cluster.
    fn write_pair<T: Typed, R>(
        &self,
        (first, second): (&[u8], &[u8]),
        growth: u64,
        f: impl FnOnce(&mut T, &mut T) -> R,
    ) -> Result<R, CacheError> {
        self.one_shard(first, second)?;
        let keys = (
            Bytes::copy_from_slice(first),
            Bytes::copy_from_slice(second),
        );
        let result = self
            .db
            .shard(first)
            .update_collection_pair(keys, T::KIND, growth, |a, b| {
                f(typed::<T>(a), typed::<T>(b))
            })
            .map_err(CacheError::from);
        if result.is_ok() {
            // The second key is the one a move adds to.
            self.added_to(second);
        }
        result
    }

    /// CROSSSLOT unless both keys live on one shard: checked before anything
    /// is read, as Redis Cluster checks a command's slots.
    fn one_shard(&self, first: &[u8], second: &[u8]) -> Result<(), CacheError> {
        let shard = self.db.placement.shard_of(first);
        if self.db.placement.shard_of(second) != shard {
            return Err(CacheError::cross_slot());
        }
        Ok(())
    }

    /// Replaces whatever `key` holds with `collection` (none: removes it).
    fn put(&self, key: &[u8], collection: Collection) -> Result<(), CacheError> {
        let shard = self.db.shard(key);
        Ok(shard.put_collection(Bytes::copy_from_slice(key), collection)?)
    }

    /// Refuses a string value of `len` bytes longer than the configured
    /// value size, as APPEND does.
    fn fits(&self, len: usize) -> Result<(), CacheError> {
        if len > self.max_value {
            return Err(CacheError::ValueTooLarge {
                len,
                max: self.max_value,
            });
        }
        Ok(())
    }

    /// [`Collection::growth`] of the arguments from `from` on, every one an
    /// element of `T`.
    fn growth_of<T: Typed>(&self, from: usize) -> u64 {
        let args = &self.argv[from.min(self.argv.len())..];
        let bytes = args.iter().map(Bytes::len).sum();
        Collection::growth(T::KIND, args.len(), bytes)
    }
}

/// How one family's file runs its commands.
type Runner = fn(&Call<'_>, &'static str) -> Result<NodeReply, CacheError>;

/// Where a command the embedded store runs goes.
#[derive(Clone, Copy)]
enum Route {
    /// Answers at once.
    Now(Runner),
    /// A blocking pop: may wait (`blocking.rs`).
    Blocking,
}

/// Every command the embedded store runs, by lower-case name, built once
/// from the families' `NAMES`: one lookup per command on the request path.
fn routes() -> &'static HashMap<&'static str, Route> {
    static ROUTES: OnceLock<HashMap<&'static str, Route>> = OnceLock::new();
    ROUTES.get_or_init(|| {
        let families: [(&[&'static str], Route); 9] = [
            (hashes::NAMES, Route::Now(hashes::run)),
            (lists::NAMES, Route::Now(lists::run)),
            (sets::NAMES, Route::Now(sets::run)),
            (zsets::NAMES, Route::Now(zsets::run)),
            (scan::NAMES, Route::Now(scan::run)),
            (strings::NAMES, Route::Now(strings::run)),
            (zalgebra::NAMES, Route::Now(zalgebra::run)),
            (GENERIC, Route::Now(generic)),
            (blocking::NAMES, Route::Blocking),
        ];
        families
            .into_iter()
            .flat_map(|(names, route)| names.iter().map(move |&name| (name, route)))
            .collect()
    })
}

/// The most elements a random pick with repeats (a negative count) may
/// return: unlike every other reply its size is not bounded by the data, so
/// a client could otherwise ask for 2^63 picks.
const MAX_RANDOM_REPEATS: u64 = 1_000_000;

/// HRANDFIELD's, SRANDMEMBER's and ZRANDMEMBER's `[count [<word>]]`: the
/// count and whether `word` (WITHVALUES, WITHSCORES) was given; `None`
/// without a count. A negative count may ask for at most
/// [`MAX_RANDOM_REPEATS`] picks.
fn random_args(argv: &[Bytes], word: Option<&str>) -> Result<Option<(i64, bool)>, CacheError> {
    let Some(count) = argv.get(2) else {
        return Ok(None);
    };
    let count = args::int(count)?;
    if count < 0 && count.unsigned_abs() > MAX_RANDOM_REPEATS {
        return Err(args::err(&format!(
            "ERR value is out of range: a negative count picks at most {MAX_RANDOM_REPEATS} elements"
        )));
    }
    let with = match (argv.get(3), word) {
        (None, _) => false,
        (Some(given), Some(word)) if args::is(given, word) && argv.len() == 4 => true,
        (Some(_), _) => return Err(args::syntax()),
    };
    Ok(Some((count, with)))
}

/// Positions to pick from a collection of `len` elements, as Redis's random
/// picks go: `count` distinct ones (at most `len`) for a positive count,
/// `-count` with repeats for a negative one.
fn pick(len: usize, count: i64) -> Vec<usize> {
    if len == 0 || count == 0 {
        return Vec::new();
    }
    let wanted = usize::try_from(count.unsigned_abs()).unwrap_or(usize::MAX);
    if count < 0 {
        // `random_args` bounded the repeats.
        return (0..wanted).map(|_| fastrand::usize(..len)).collect();
    }
    if wanted >= len {
        return (0..len).collect();
    }
    // Floyd's sample: `wanted` distinct positions in O(wanted).
    let mut chosen = IndexSet::with_capacity(wanted);
    for top in len - wanted..len {
        let candidate = fastrand::usize(..=top);
        if !chosen.insert(candidate) {
            chosen.insert(top);
        }
    }
    chosen.into_iter().collect()
}

/// Pairs (field and value, member and score): flat for RESP2, each pair an
/// array of its own for RESP3; the first of each alone without `second`.
fn pairs_reply(
    items: impl Iterator<Item = (NodeReply, NodeReply)>,
    second: bool,
    resp3: bool,
) -> NodeReply {
    NodeReply::Array(match (second, resp3) {
        (false, _) => items.map(|(first, _)| first).collect(),
        (true, false) => items.flat_map(|(a, b)| [a, b]).collect(),
        (true, true) => items.map(|(a, b)| NodeReply::Array(vec![a, b])).collect(),
    })
}

impl Embedded {
    /// Runs a data-type command on the store and answers as Redis 7.0 does
    /// (a blocking pop may wait first: [`Embedded::run_blocking`]);
    /// [`CacheError::NeedsRedis`] for the commands the embedded store does
    /// not run (see the module docs). `max_value` is the longest string value
    /// a command may leave (`ROOST_MAX_VALUE_BYTES`).
    pub async fn forward(
        &self,
        command: Forwarded<'_>,
        max_value: usize,
    ) -> Result<NodeReply, CacheError> {
        let name = command.name;
        let run = match routes().get(name) {
            None => return Err(CacheError::NeedsRedis { command: name }),
            Some(Route::Blocking) => return self.run_blocking(command).await,
            Some(Route::Now(run)) => run,
        };
        let call = Call {
            db: self,
            argv: command.argv,
            resp3: command.resp3,
            max_value,
        };
        run(&call, name)
    }

    /// Whether [`Embedded::forward`] runs `command` (lower-case) here.
    pub fn runs(command: &str) -> bool {
        routes().contains_key(command)
    }

    /// Redis's name for what `key` holds (`none` when absent), without
    /// counting an access.
    pub fn type_of(&self, key: &[u8]) -> &'static str {
        self.peek_quietly(key).map_or("none", |hit| hit.type_name())
    }

    /// `key`'s collection, without counting an access; `None` for an
    /// absent key or a string.
    pub fn collection_of(&self, key: &[u8]) -> Option<roost_store::Entry> {
        self.peek_quietly(key)
            .filter(|hit| hit.collection().is_some())
    }
}

/// The key-space commands Roost forwards that the embedded store answers for
/// any type: OBJECT ENCODING, EXPIRETIME, PEXPIRETIME, TOUCH.
const GENERIC: &[&str] = &["object", "expiretime", "pexpiretime", "touch"];

fn generic(call: &Call<'_>, name: &'static str) -> Result<NodeReply, CacheError> {
    match name {
        "object" => object(call),
        "expiretime" | "pexpiretime" => {
            let Some(hit) = call.db.peek(call.key()) else {
                return Ok(NodeReply::Int(-2));
            };
            let Some(at) = hit.expires_at else {
                return Ok(NodeReply::Int(-1));
            };
            let at = i64::try_from(at).unwrap_or(i64::MAX);
            Ok(NodeReply::Int(if name == "expiretime" {
                at / 1000
            } else {
                at
            }))
        }
        "touch" => {
            let found = call.argv[1..]
                .iter()
                .filter(|key| call.db.get_any(key).is_some())
                .count();
            Ok(args::int_reply(found))
        }
        _ => Err(CacheError::NeedsRedis { command: name }),
    }
}

/// OBJECT ENCODING of any key; the other subcommands need Redis's own
/// bookkeeping (idle time, frequency, refcount) and say so.
fn object(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let sub = &call.argv[1];
    if !args::is(sub, "encoding") {
        return Err(CacheError::NeedsRedis { command: "object" });
    }
    if call.argv.len() != 3 {
        return Err(args::err(
            "ERR unknown subcommand or wrong number of arguments for 'encoding'. Try OBJECT HELP.",
        ));
    }
    let Some(hit) = call.db.peek(&call.argv[2]) else {
        return Ok(NodeReply::Nil);
    };
    let encoding = match hit.collection() {
        Some(held) => held.read().encoding(),
        None => string_encoding(&hit.value),
    };
    Ok(NodeReply::BulkString(encoding.as_bytes().to_vec()))
}

/// What Redis calls a string's encoding: `int` for an integer it would keep
/// as one, `embstr` up to 44 bytes, `raw` above.
fn string_encoding(value: &[u8]) -> &'static str {
    let integer = value.len() <= 20 && crate::integer::parse_i64(value).is_some();
    if integer {
        "int"
    } else if value.len() <= 44 {
        "embstr"
    } else {
        "raw"
    }
}
