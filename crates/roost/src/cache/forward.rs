//! Commands Roost forwards to Redis without interpreting them (data types;
//! see `api/resp/forward.rs`): the cache checks their keys against its
//! limits and hands them to the backend. Also what the REST API needs to
//! show a key of another type: its type (TYPE), and a hash, list, set or
//! sorted set read whole (`?as=json`).

use std::time::Duration;

use bytes::Bytes;

use super::Cache;
use crate::backend::{Block, Forwarded, NodeReply, Spread};
use crate::error::CacheError;

/// Elements a collection read whole through REST may hold.
pub const MAX_COLLECTION_ELEMENTS: usize = 10_000;

/// A hash, list, set or sorted set, read whole.
#[derive(Debug, Clone, PartialEq)]
pub enum Collection {
    Hash(Vec<(Bytes, Bytes)>),
    List(Vec<Bytes>),
    /// Members in byte order (Redis's own order is its hash table's).
    Set(Vec<Bytes>),
    /// Members by score, each with its score as Redis writes it.
    SortedSet(Vec<(Bytes, Bytes)>),
}

impl Collection {
    /// Redis's name for the type.
    pub fn type_name(&self) -> &'static str {
        match self {
            Collection::Hash(_) => "hash",
            Collection::List(_) => "list",
            Collection::Set(_) => "set",
            Collection::SortedSet(_) => "zset",
        }
    }

    /// Every element's bytes (fields and values, members and scores).
    pub fn bytes(&self) -> Vec<&Bytes> {
        match self {
            Collection::Hash(pairs) | Collection::SortedSet(pairs) => {
                pairs.iter().flat_map(|(a, b)| [a, b]).collect()
            }
            Collection::List(items) | Collection::Set(items) => items.iter().collect(),
        }
    }
}

/// An embedded collection read whole for REST; refused above
/// [`MAX_COLLECTION_ELEMENTS`], as in front of Redis. Sorted-set scores are
/// written as Redis 7.0 writes them (`%.17g`).
fn read_whole(held: &roost_store::Collection) -> Result<Collection, CacheError> {
    use roost_store::Collection as Held;
    if held.len() > MAX_COLLECTION_ELEMENTS {
        return Err(CacheError::CollectionTooLarge {
            kind: held.kind().name().to_owned(),
            len: held.len(),
            limit: MAX_COLLECTION_ELEMENTS,
        });
    }
    let copy = |bytes: &[u8]| Bytes::copy_from_slice(bytes);
    Ok(match held {
        Held::Hash(h) => Collection::Hash(h.iter().map(|(f, v)| (copy(f), copy(v))).collect()),
        Held::List(l) => Collection::List(l.iter().map(copy).collect()),
        Held::Set(s) => {
            let mut members: Vec<Bytes> = s.iter().map(copy).collect();
            members.sort();
            Collection::Set(members)
        }
        Held::SortedSet(z) => Collection::SortedSet(
            z.iter()
                .map(|(m, s)| (copy(m), Bytes::from(crate::backend::redis_score(s))))
                .collect(),
        ),
    })
}

/// A collection with the time it has left.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionRead {
    pub collection: Collection,
    pub ttl: Option<Duration>,
}

impl Cache {
    /// Runs `command` on the node that holds its keys, or on the embedded
    /// store's own collections (which refuses what it does not run:
    /// `CacheError::NeedsRedis`). In a region, a write's keys go to the
    /// change log like any write's: a collection is recorded as a
    /// tombstone, so the other regions drop their copy of the key
    /// (collections are invalidated across regions, not replicated).
    pub async fn forward(&self, command: Forwarded<'_>) -> Result<NodeReply, CacheError> {
        for key in command.keys {
            self.check_key(key)?;
        }
        let mut unlogged = match (&self.sink, command.write && !command.keys.is_empty()) {
            (Some(sink), true) => Some(super::write::Unlogged::new(
                self,
                sink,
                command
                    .keys
                    .iter()
                    .map(|k| Bytes::copy_from_slice(k))
                    .collect(),
            )),
            _ => None,
        };
        let reply = self
            .backend
            .forward(command, self.limits.max_value_bytes)
            .await;
        match (reply, unlogged.as_mut()) {
            (Ok(reply), Some(unlogged)) => unlogged.log().await.map(|()| reply),
            (reply, Some(unlogged)) => {
                unlogged.forget();
                reply
            }
            (reply, None) => reply,
        }
    }

    /// `key`'s type as Redis names it (`none` when absent): asked of the
    /// node in front of Redis, read from the entry in the embedded store.
    pub async fn key_type(&self, key: &[u8]) -> Result<String, CacheError> {
        if let Some(embedded) = self.backend.embedded() {
            self.check_key(key)?;
            return Ok(embedded.type_of(key).to_owned());
        }
        match self.ask(&[b"TYPE", key], key).await? {
            NodeReply::SimpleString(name) => Ok(name),
            other => Err(unexpected("TYPE", &other)),
        }
    }

    /// `key`'s hash, list, set or sorted set read whole, in front of Redis;
    /// `Ok(None)` when the key holds none of those (absent, a string, a
    /// stream…: the type says which). One script on the key's node, so the
    /// type, the size check, the elements and the TTL are one snapshot and a
    /// collection over [`MAX_COLLECTION_ELEMENTS`] is never read.
    pub async fn read_collection(
        &self,
        key: &[u8],
    ) -> Result<(String, Option<CollectionRead>), CacheError> {
        if let Some(embedded) = self.backend.embedded() {
            self.check_key(key)?;
            let Some(hit) = embedded.collection_of(key) else {
                return Ok((embedded.type_of(key).to_owned(), None));
            };
            let ttl = self.ttl_of(hit.expires_at);
            let held = hit
                .collection()
                .expect("invariant: collection_of answers collections");
            let read = read_whole(&held.read())?;
            return Ok((
                held.kind().name().to_owned(),
                Some(CollectionRead {
                    collection: read,
                    ttl,
                }),
            ));
        }
        let limit = MAX_COLLECTION_ELEMENTS.to_string();
        let argv: [&[u8]; 5] = [
            b"EVAL",
            READ_COLLECTION.as_bytes(),
            b"1",
            key,
            limit.as_bytes(),
        ];
        let NodeReply::Array(reply) = self.ask(&argv, key).await? else {
            return Err(unexpected_reply("the collection read"));
        };
        let mut reply = reply.into_iter();
        let kind = match reply.next() {
            Some(NodeReply::BulkString(kind)) => String::from_utf8_lossy(&kind).into_owned(),
            _ => return Err(unexpected_reply("the collection's type")),
        };
        let (len, items, pttl) = match (reply.next(), reply.next(), reply.next()) {
            (None, ..) => return Ok((kind, None)),
            (Some(NodeReply::Int(len)), None, _) => {
                return Err(CacheError::CollectionTooLarge {
                    kind,
                    len: usize::try_from(len).unwrap_or(usize::MAX),
                    limit: MAX_COLLECTION_ELEMENTS,
                })
            }
            (
                Some(NodeReply::Int(len)),
                Some(NodeReply::Array(items)),
                Some(NodeReply::Int(pttl)),
            ) => (len, items, pttl),
            _ => return Err(unexpected_reply("the collection")),
        };
        debug_assert!(usize::try_from(len).is_ok_and(|n| n <= MAX_COLLECTION_ELEMENTS));
        let items = items
            .into_iter()
            .map(|item| match item {
                NodeReply::BulkString(bytes) => Ok(Bytes::from(bytes)),
                _ => Err(unexpected_reply("an element")),
            })
            .collect::<Result<Vec<Bytes>, CacheError>>()?;
        let pairs = |items: Vec<Bytes>| {
            let mut items = items.into_iter();
            std::iter::from_fn(move || Some((items.next()?, items.next()?))).collect()
        };
        let collection = match kind.as_str() {
            "hash" => Collection::Hash(pairs(items)),
            "list" => Collection::List(items),
            "set" => {
                let mut members = items;
                members.sort();
                Collection::Set(members)
            }
            _ => Collection::SortedSet(pairs(items)),
        };
        let ttl = u64::try_from(pttl).ok().map(Duration::from_millis);
        Ok((kind, Some(CollectionRead { collection, ttl })))
    }

    /// One read-only command on `key`'s node.
    async fn ask(&self, argv: &[&[u8]], key: &[u8]) -> Result<NodeReply, CacheError> {
        let argv: Vec<Bytes> = argv.iter().map(|a| Bytes::copy_from_slice(a)).collect();
        let name = String::from_utf8_lossy(&argv[0]).to_ascii_lowercase();
        self.forward(Forwarded {
            name: if name == "type" { "type" } else { "read" },
            argv: &argv,
            keys: &[key],
            write: false,
            spread: Spread::One,
            block: Block::No,
            resp3: false,
        })
        .await
    }
}

fn unexpected(what: &str, reply: &NodeReply) -> CacheError {
    CacheError::Rejected {
        reply: format!("ERR unexpected reply for {what}: {reply:?}"),
    }
}

fn unexpected_reply(what: &str) -> CacheError {
    CacheError::Rejected {
        reply: format!("ERR unexpected reply for {what}"),
    }
}

/// The key's type; for a hash, list, set or sorted set also its size and,
/// when the size is within ARGV[1], its elements and PTTL, in one step.
const READ_COLLECTION: &str = r"
local kind = redis.call('TYPE', KEYS[1])['ok']
local sizes = {hash = 'HLEN', list = 'LLEN', set = 'SCARD', zset = 'ZCARD'}
if not sizes[kind] then return {kind} end
local n = redis.call(sizes[kind], KEYS[1])
if n > tonumber(ARGV[1]) then return {kind, n} end
local items
if kind == 'hash' then items = redis.call('HGETALL', KEYS[1])
elseif kind == 'list' then items = redis.call('LRANGE', KEYS[1], 0, -1)
elseif kind == 'set' then items = redis.call('SMEMBERS', KEYS[1])
else items = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES') end
return {kind, n, items, redis.call('PTTL', KEYS[1])}
";
