//! The cache service: the one place that gives meaning to get / set / delete /
//! mget / mset / flush. Every front door calls it, so REST and (later) RESP can
//! never disagree. It validates limits, applies the default TTL, asks the router
//! for the node, calls the backend and records metrics — it never knows which
//! backend is behind the router.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use prometheus::IntCounter;
use roost_ring::NodeId;

use crate::backend::Backend;
use crate::config::{Limits, MAX_TTL};
use crate::error::CacheError;
use crate::router::Router;
use crate::telemetry::{Metrics, Op, Sample};

/// How long a written entry should live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// The configured default (`CACHE_TTL`), which may be "never".
    Default,
    /// No expiry, whatever the default.
    Never,
    /// This long from now; validated against [`MAX_TTL`].
    After(Duration),
}

/// A value found in the cache.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheHit {
    pub value: Bytes,
    /// Time left before expiry; `None` when the entry never expires.
    pub ttl: Option<Duration>,
    pub node: NodeId,
}

/// One entry of a multi-set.
#[derive(Debug, Clone)]
pub struct Write {
    pub key: Bytes,
    pub value: Bytes,
    pub expiry: Expiry,
}

#[derive(Debug)]
pub struct Cache {
    router: Router,
    backend: Backend,
    limits: Limits,
    default_ttl: Option<Duration>,
    metrics: Arc<Metrics>,
    node_ops: Vec<IntCounter>,
    started: Instant,
}

impl Cache {
    pub fn new(
        router: Router,
        backend: Backend,
        limits: Limits,
        default_ttl: Option<Duration>,
        metrics: Arc<Metrics>,
    ) -> Cache {
        let node_ops = router
            .ring()
            .nodes()
            .iter()
            .map(|n| metrics.node_ops(n.id.as_str()))
            .collect();
        Cache {
            router,
            backend,
            limits,
            default_ttl,
            metrics,
            node_ops,
            started: Instant::now(),
        }
    }

    pub async fn get(&self, key: &[u8]) -> Result<Option<CacheHit>, CacheError> {
        let start = Instant::now();
        let result = self.lookup(key).await;
        if let Ok(found) = &result {
            let hit = u64::from(found.is_some());
            self.metrics.record_lookups(hit, 1 - hit);
        }
        self.metrics
            .record(Op::Get, result.is_ok(), start.elapsed());
        result
    }

    pub async fn set(
        &self,
        key: Bytes,
        value: Bytes,
        expiry: Expiry,
    ) -> Result<NodeId, CacheError> {
        let start = Instant::now();
        let result = self.store(key, value, expiry).await;
        self.metrics
            .record(Op::Set, result.is_ok(), start.elapsed());
        result
    }

    /// Removes `key`; `true` when it was present.
    pub async fn delete(&self, key: &[u8]) -> Result<bool, CacheError> {
        let start = Instant::now();
        let result = self.remove(key).await;
        self.metrics
            .record(Op::Delete, result.is_ok(), start.elapsed());
        result
    }

    /// Looks up several keys; the answer is in request order.
    pub async fn mget(&self, keys: &[Bytes]) -> Result<Vec<Option<CacheHit>>, CacheError> {
        let start = Instant::now();
        let result = self.lookup_all(keys).await;
        if let Ok(found) = &result {
            let hits = found.iter().filter(|f| f.is_some()).count() as u64;
            self.metrics.record_lookups(hits, found.len() as u64 - hits);
        }
        self.metrics
            .record(Op::Mget, result.is_ok(), start.elapsed());
        result
    }

    /// Writes several entries. Every entry is validated before any is written,
    /// so a bad entry leaves the cache untouched.
    pub async fn mset(&self, writes: Vec<Write>) -> Result<usize, CacheError> {
        let start = Instant::now();
        let result = self.store_all(writes).await;
        self.metrics
            .record(Op::Mset, result.is_ok(), start.elapsed());
        result
    }

    /// Removes every entry; returns how many were removed.
    pub async fn flush(&self) -> Result<u64, CacheError> {
        let start = Instant::now();
        let result = self.backend.flush().await;
        self.metrics
            .record(Op::Flush, result.is_ok(), start.elapsed());
        if let Ok(removed) = result {
            tracing::warn!(removed, "cache flushed");
        }
        result
    }

    async fn lookup(&self, key: &[u8]) -> Result<Option<CacheHit>, CacheError> {
        self.check_key(key)?;
        self.lookup_checked(key).await
    }

    async fn lookup_checked(&self, key: &[u8]) -> Result<Option<CacheHit>, CacheError> {
        let node = self.route(key)?;
        let stored = self.backend.get(node, key).await?;
        let now = self.backend.now_millis();
        Ok(stored.map(|s| CacheHit {
            value: s.value,
            ttl: s
                .expires_at
                .map(|at| Duration::from_millis(at.saturating_sub(now))),
            node: self.node_id(node),
        }))
    }

    async fn lookup_all(&self, keys: &[Bytes]) -> Result<Vec<Option<CacheHit>>, CacheError> {
        self.check_batch(keys.len())?;
        for key in keys {
            self.check_key(key)?;
        }
        let mut found = Vec::with_capacity(keys.len());
        for key in keys {
            found.push(self.lookup_checked(key).await?);
        }
        Ok(found)
    }

    async fn store(&self, key: Bytes, value: Bytes, expiry: Expiry) -> Result<NodeId, CacheError> {
        let expires_at = self.check_write(&key, &value, expiry)?;
        self.store_checked(key, value, expires_at).await
    }

    async fn store_checked(
        &self,
        key: Bytes,
        value: Bytes,
        expires_at: Option<u64>,
    ) -> Result<NodeId, CacheError> {
        let node = self.route(&key)?;
        self.backend.set(node, key, value, expires_at).await?;
        Ok(self.node_id(node))
    }

    async fn store_all(&self, writes: Vec<Write>) -> Result<usize, CacheError> {
        self.check_batch(writes.len())?;
        let expiries = writes
            .iter()
            .map(|w| self.check_write(&w.key, &w.value, w.expiry))
            .collect::<Result<Vec<_>, _>>()?;
        let count = writes.len();
        for (w, expires_at) in writes.into_iter().zip(expiries) {
            self.store_checked(w.key, w.value, expires_at).await?;
        }
        Ok(count)
    }

    async fn remove(&self, key: &[u8]) -> Result<bool, CacheError> {
        self.check_key(key)?;
        let node = self.route(key)?;
        self.backend.delete(node, key).await
    }

    fn route(&self, key: &[u8]) -> Result<usize, CacheError> {
        let node = self.router.locate(key)?;
        if let Some(ops) = self.node_ops.get(node) {
            ops.inc();
        }
        Ok(node)
    }

    fn node_id(&self, node: usize) -> NodeId {
        self.router
            .node_id(node)
            .unwrap_or_else(|| NodeId::from("unknown"))
    }

    fn check_key(&self, key: &[u8]) -> Result<(), CacheError> {
        match key.len() {
            0 => Err(CacheError::EmptyKey),
            len if len > self.limits.max_key_bytes => Err(CacheError::KeyTooLong {
                len,
                max: self.limits.max_key_bytes,
            }),
            _ => Ok(()),
        }
    }

    fn check_batch(&self, count: usize) -> Result<(), CacheError> {
        match count {
            0 => Err(CacheError::NoKeys),
            n if n > self.limits.max_batch_keys => Err(CacheError::TooManyKeys {
                count: n,
                max: self.limits.max_batch_keys,
            }),
            _ => Ok(()),
        }
    }

    /// Validates a write and returns its absolute expiry time.
    fn check_write(
        &self,
        key: &[u8],
        value: &[u8],
        expiry: Expiry,
    ) -> Result<Option<u64>, CacheError> {
        self.check_key(key)?;
        if value.len() > self.limits.max_value_bytes {
            return Err(CacheError::ValueTooLarge {
                len: value.len(),
                max: self.limits.max_value_bytes,
            });
        }
        let ttl = match expiry {
            Expiry::Default => self.default_ttl,
            Expiry::Never => None,
            Expiry::After(ttl) if ttl.is_zero() || ttl > MAX_TTL => {
                return Err(CacheError::TtlOutOfRange { max: MAX_TTL })
            }
            Expiry::After(ttl) => Some(ttl),
        };
        Ok(ttl.map(|t| self.backend.now_millis() + t.as_millis() as u64))
    }

    pub fn router(&self) -> &Router {
        &self.router
    }

    pub fn backend(&self) -> &Backend {
        &self.backend
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn default_ttl(&self) -> Option<Duration> {
        self.default_ttl
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Operations routed to each node so far, in ring node order.
    pub fn node_ops(&self) -> Vec<u64> {
        self.node_ops.iter().map(IntCounter::get).collect()
    }

    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// Counter totals now, for the once-a-second history.
    pub fn sample(&self) -> Sample {
        let requests = Op::ALL
            .iter()
            .map(|&op| {
                let (ok, err) = self.metrics.requests(op);
                ok + err
            })
            .sum();
        Sample {
            at_ms: self.backend.now_millis(),
            requests,
            hits: self.metrics.hits(),
            misses: self.metrics.misses(),
        }
    }
}
