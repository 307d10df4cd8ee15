//! Questions about keys rather than values: EXISTS, TTL, EXPIRE, PERSIST,
//! multi-key DEL, DBSIZE, and walking the keyspace with SCAN and KEYS (the
//! backend walks its own nodes; see `Backend::scan_page`).

use std::time::Duration;

use bytes::Bytes;

use super::{glob_match, Cache, Change, Write};
use crate::backend::RetimeCondition;
use crate::error::CacheError;
use crate::telemetry::Op;

/// What TTL, TYPE and STRLEN need to know about a live key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// Time left; `None` when it never expires.
    pub ttl: Option<Duration>,
    /// Length of the value in bytes (0 for a collection).
    pub len: usize,
    /// The key holds a hash, list, set or sorted set, not a string.
    pub collection: bool,
}

/// One page of a SCAN: the cursor to continue from (0 when done) and the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPage {
    pub cursor: u64,
    pub keys: Vec<Bytes>,
}

impl Cache {
    /// Removes every key given; returns how many existed (DEL, UNLINK). In
    /// front of Redis, each node gets one request for all its keys.
    pub async fn delete_many(&self, keys: &[Bytes]) -> Result<u64, CacheError> {
        let change = Change::DeleteMany(keys.to_vec());
        Ok(self.apply(Write::client(change)).await?.into_count())
    }

    /// How many of `keys` exist, counting a key given twice twice (EXISTS). In
    /// front of Redis, each node gets one request for all its keys.
    pub async fn exists(&self, keys: &[Bytes]) -> Result<u64, CacheError> {
        self.timed(Op::Inspect, async {
            self.check_keys(keys)?;
            let keys: Vec<&[u8]> = keys.iter().map(|key| &key[..]).collect();
            let mut found = 0;
            for exists in self.backend.peek_many(&keys).await {
                found += u64::from(exists?);
            }
            Ok(found)
        })
        .await
    }

    /// The TTL and length of a live key, without counting an access (TTL, PTTL,
    /// TYPE, STRLEN).
    pub async fn inspect(&self, key: &[u8]) -> Result<Option<KeyInfo>, CacheError> {
        self.timed(Op::Inspect, async {
            self.check_key(key)?;
            let found = self.backend.peek(key).await?;
            Ok(found.map(|s| KeyInfo {
                ttl: self.ttl_of(s.expires_at),
                len: s.value.len(),
                collection: s.collection().is_some(),
            }))
        })
        .await
    }

    /// Gives a live key the deadline `at` (unix milliseconds, may be past: the key is
    /// then removed) when `condition` allows; `true` when it did (EXPIRE family).
    pub async fn expire_at(
        &self,
        key: Bytes,
        at: i64,
        condition: RetimeCondition,
    ) -> Result<bool, CacheError> {
        let change = Change::ExpireAt { key, at, condition };
        Ok(self.apply(Write::client(change)).await?.into_done())
    }

    /// Milliseconds from now to `after_ms` from now, as an absolute time for
    /// [`Cache::expire_at`], on the backend's clock.
    pub fn deadline_in(&self, after_ms: i64) -> Option<i64> {
        let now = i64::try_from(self.backend.now_millis()).unwrap_or(i64::MAX);
        now.checked_add(after_ms)
    }

    /// Removes a live key's deadline; `true` when it had one (PERSIST).
    pub async fn persist(&self, key: Bytes) -> Result<bool, CacheError> {
        Ok(self
            .apply(Write::client(Change::Persist(key)))
            .await?
            .into_done())
    }

    /// Entries held, expired ones not yet removed included (DBSIZE).
    pub fn len(&self) -> u64 {
        self.backend.key_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// One page of keys from `cursor` (0 starts), about `count` of them before
    /// `pattern` filters them (Redis's COUNT is a hint, as here).
    pub async fn scan(
        &self,
        cursor: u64,
        pattern: Option<&[u8]>,
        count: usize,
    ) -> Result<ScanPage, CacheError> {
        self.timed(Op::Scan, async {
            let (cursor, keys) = self.backend.scan_page(cursor, count.max(1)).await?;
            let keys = match pattern {
                Some(p) => keys.into_iter().filter(|k| glob_match(p, k)).collect(),
                None => keys,
            };
            Ok(ScanPage { cursor, keys })
        })
        .await
    }

    /// Every live key matching `pattern` (KEYS).
    pub async fn keys(&self, pattern: &[u8]) -> Result<Vec<Bytes>, CacheError> {
        self.timed(Op::Scan, async {
            let mut keys = Vec::new();
            self.backend
                .visit_keys(|key, _| {
                    if glob_match(pattern, key) {
                        keys.push(key.clone());
                    }
                })
                .await?;
            Ok(keys)
        })
        .await
    }
}
