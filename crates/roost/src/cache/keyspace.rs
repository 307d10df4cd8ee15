//! Questions about keys rather than values: EXISTS, TTL, EXPIRE, PERSIST,
//! multi-key DEL, DBSIZE, and walking the keyspace with SCAN and KEYS.
//!
//! SCAN's cursor spans every node: the top 16 bits are the node index, the low
//! 48 bits a position inside the node (a hash of the key). A page returns the
//! keys of one node in position order from the cursor on, so a key present for
//! the whole iteration is returned at least once however the node's map moves
//! underneath, and keys sharing a position are never split across pages.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::time::Duration;

use bytes::Bytes;
use roost_store::UnixMillis;

use super::{glob_match, Cache};
use crate::backend::RetimeCondition;
use crate::config::MAX_TTL;
use crate::error::CacheError;
use crate::telemetry::Op;

/// Bits of a SCAN cursor that hold the position inside a node.
const POSITION_BITS: u32 = 48;
const POSITION_MASK: u64 = (1 << POSITION_BITS) - 1;
/// A page visits at least this fraction of a node (up to `MAX_BOOSTED_PAGE`), so
/// walking a big node takes a bounded number of passes over it.
const MIN_PAGE_FRACTION: u64 = 16;
const MAX_BOOSTED_PAGE: usize = 10_000;

/// What TTL, TYPE and STRLEN need to know about a live key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyInfo {
    /// Time left; `None` when it never expires.
    pub ttl: Option<Duration>,
    /// Length of the value in bytes.
    pub len: usize,
}

/// One page of a SCAN: the cursor to continue from (0 when done) and the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanPage {
    pub cursor: u64,
    pub keys: Vec<Bytes>,
}

impl Cache {
    /// Removes every key given; returns how many existed (DEL, UNLINK).
    pub async fn delete_many(&self, keys: &[Bytes]) -> Result<u64, CacheError> {
        self.timed(Op::Delete, async {
            self.check_keys(keys)?;
            let mut removed = 0;
            for key in keys {
                let node = self.route(key)?;
                removed += u64::from(self.backend.delete(node, key).await?);
            }
            Ok(removed)
        })
        .await
    }

    /// How many of `keys` exist, counting a key given twice twice (EXISTS).
    pub async fn exists(&self, keys: &[Bytes]) -> Result<u64, CacheError> {
        self.timed(Op::Inspect, async {
            self.check_keys(keys)?;
            let mut found = 0;
            for key in keys {
                let node = self.route(key)?;
                found += u64::from(self.backend.peek(node, key).await?.is_some());
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
            let node = self.route(key)?;
            let found = self.backend.peek(node, key).await?;
            Ok(found.map(|s| KeyInfo {
                ttl: self.ttl_of(s.expires_at),
                len: s.value.len(),
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
        self.timed(Op::Expire, async {
            self.check_key(&key)?;
            let now = self.backend.now_millis();
            let at = UnixMillis::try_from(at).unwrap_or(0);
            if at.saturating_sub(now) > MAX_TTL.as_millis() as u64 {
                return Err(CacheError::TtlOutOfRange { max: MAX_TTL });
            }
            let node = self.route(&key)?;
            let changed = self
                .backend
                .retime(node, key.clone(), Some(at), condition)
                .await?;
            if changed && at <= now {
                self.backend.delete(node, &key).await?;
            }
            Ok(changed)
        })
        .await
    }

    /// Milliseconds from now to `after_ms` from now, as an absolute time for
    /// [`Cache::expire_at`], on the backend's clock.
    pub fn deadline_in(&self, after_ms: i64) -> i64 {
        let now = i64::try_from(self.backend.now_millis()).unwrap_or(i64::MAX);
        now.saturating_add(after_ms)
    }

    /// Removes a live key's deadline; `true` when it had one (PERSIST).
    pub async fn persist(&self, key: Bytes) -> Result<bool, CacheError> {
        self.timed(Op::Expire, async {
            self.check_key(&key)?;
            let node = self.route(&key)?;
            let condition = RetimeCondition::HasDeadline;
            self.backend.retime(node, key, None, condition).await
        })
        .await
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
            if let Some((next, keys)) = self.backend.scan_page(cursor, count.max(1)).await? {
                return Ok(self.filtered(next, keys, pattern));
            }
            let mut node = (cursor >> POSITION_BITS) as usize;
            let mut from = cursor & POSITION_MASK;
            let mut budget = count.max(1);
            let mut keys = Vec::new();
            while node < self.node_count() && budget > 0 {
                let page = self.scan_node(node, from, budget).await?;
                budget = budget.saturating_sub(page.keys.len());
                keys.extend(page.keys);
                match page.next {
                    Some(next) => return Ok(self.page(node, next, keys, pattern)),
                    None => (node, from) = (node + 1, 0),
                }
            }
            let next = if node < self.node_count() { node } else { 0 };
            Ok(self.page(next, 0, keys, pattern))
        })
        .await
    }

    /// Every live key matching `pattern` (KEYS).
    pub async fn keys(&self, pattern: &[u8]) -> Result<Vec<Bytes>, CacheError> {
        self.timed(Op::Scan, async {
            let mut keys = Vec::new();
            for node in 0..self.node_count() {
                self.backend
                    .visit_keys(node, |key, _| {
                        if glob_match(pattern, key) {
                            keys.push(key.clone());
                        }
                    })
                    .await?;
            }
            Ok(keys)
        })
        .await
    }

    fn node_count(&self) -> usize {
        self.router.ring().nodes().len()
    }

    /// Keys of one node from position `from` on, at least `budget` of them (more
    /// on a big node, and never splitting keys that share a position). Linear in
    /// the node's size: one visit and a selection, no full sort.
    async fn scan_node(
        &self,
        node: usize,
        from: u64,
        budget: usize,
    ) -> Result<NodePage, CacheError> {
        let boost = (self.backend.node_len(node) / MIN_PAGE_FRACTION) as usize;
        let take = budget.max(boost.min(MAX_BOOSTED_PAGE));
        let mut ahead = Vec::new();
        self.backend
            .visit_keys(node, |key, _| {
                let position = scan_position(key);
                if position >= from {
                    ahead.push((position, key.clone()));
                }
            })
            .await?;
        let mut next = None;
        if ahead.len() > take {
            ahead.select_nth_unstable_by_key(take - 1, |(position, _)| *position);
            let cut = ahead[take - 1].0;
            next = ahead[take..]
                .iter()
                .map(|(position, _)| *position)
                .filter(|&position| position > cut)
                .min();
            ahead.retain(|(position, _)| *position <= cut);
        }
        ahead.sort_unstable_by_key(|(position, _)| *position);
        let keys = ahead.into_iter().map(|(_, key)| key).collect();
        Ok(NodePage { keys, next })
    }

    fn page(&self, node: usize, from: u64, keys: Vec<Bytes>, pattern: Option<&[u8]>) -> ScanPage {
        self.filtered(((node as u64) << POSITION_BITS) | from, keys, pattern)
    }

    fn filtered(&self, cursor: u64, keys: Vec<Bytes>, pattern: Option<&[u8]>) -> ScanPage {
        let keys = match pattern {
            Some(p) => keys.into_iter().filter(|k| glob_match(p, k)).collect(),
            None => keys,
        };
        ScanPage { cursor, keys }
    }
}

/// The keys of one node from a position on, and where the next page starts
/// (`None` when the node is done).
struct NodePage {
    keys: Vec<Bytes>,
    next: Option<u64>,
}

/// Where a key sits in its node's SCAN order: a 48-bit hash, stable for the
/// life of the process.
fn scan_position(key: &[u8]) -> u64 {
    let mut hasher = DefaultHasher::new();
    key.hash(&mut hasher);
    hasher.finish() & POSITION_MASK
}
