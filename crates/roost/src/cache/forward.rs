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

/// A collection with the time it has left.
#[derive(Debug, Clone, PartialEq)]
pub struct CollectionRead {
    pub collection: Collection,
    pub ttl: Option<Duration>,
}

impl Cache {
    /// Runs `command` on the node that holds its keys; the embedded store
    /// refuses it (`CacheError::NeedsRedis`).
    pub async fn forward(&self, command: Forwarded<'_>) -> Result<NodeReply, CacheError> {
        for key in command.keys {
            self.check_key(key)?;
        }
        self.backend.forward(command).await
    }

    /// `key`'s type as Redis names it (`none` when absent): asked of the
    /// node in front of Redis; the embedded store holds strings only.
    pub async fn key_type(&self, key: &[u8]) -> Result<String, CacheError> {
        if !self.backend.is_remote() {
            let found = self.inspect(key).await?.is_some();
            return Ok(if found { "string" } else { "none" }.to_owned());
        }
        match self.ask(&[b"TYPE", key], key).await? {
            NodeReply::SimpleString(name) => Ok(name),
            other => Err(unexpected("TYPE", &other)),
        }
    }

    /// `key`'s hash, list, set or sorted set read whole, in front of Redis;
    /// `Ok(None)` when the key holds none of those (absent, a string, a
    /// stream…: the type says which). At most [`MAX_COLLECTION_ELEMENTS`];
    /// the size, the elements and the TTL are read one after another, not as
    /// one snapshot.
    pub async fn read_collection(
        &self,
        key: &[u8],
    ) -> Result<(String, Option<CollectionRead>), CacheError> {
        let kind = self.key_type(key).await?;
        let (len, read): (&[u8], &[&[u8]]) = match kind.as_str() {
            "hash" => (b"HLEN", &[b"HGETALL"]),
            "list" => (b"LLEN", &[b"LRANGE", b"0", b"-1"]),
            "set" => (b"SCARD", &[b"SMEMBERS"]),
            "zset" => (b"ZCARD", &[b"ZRANGE", b"0", b"-1", b"WITHSCORES"]),
            _ => return Ok((kind, None)),
        };
        match self.ask(&[len, key], key).await? {
            NodeReply::Int(n) if n as usize > MAX_COLLECTION_ELEMENTS => {
                return Err(CacheError::CollectionTooLarge {
                    kind,
                    len: n as usize,
                    limit: MAX_COLLECTION_ELEMENTS,
                })
            }
            NodeReply::Int(_) => {}
            other => return Err(unexpected("a length", &other)),
        }
        let mut argv: Vec<&[u8]> = vec![read[0], key];
        argv.extend(&read[1..]);
        let items = match self.ask(&argv, key).await? {
            NodeReply::Array(items) => items
                .into_iter()
                .map(|item| match item {
                    NodeReply::BulkString(bytes) => Ok(Bytes::from(bytes)),
                    other => Err(unexpected("an element", &other)),
                })
                .collect::<Result<Vec<Bytes>, CacheError>>()?,
            other => return Err(unexpected("a collection", &other)),
        };
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
        let ttl = match self.ask(&[b"PTTL", key], key).await? {
            NodeReply::Int(ms) if ms >= 0 => Some(Duration::from_millis(ms as u64)),
            _ => None,
        };
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
