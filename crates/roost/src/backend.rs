//! Backends: where entries actually live. The router has already picked the
//! node (by index into the ring's node list); a backend only stores and fetches.
//!
//! Enum dispatch rather than a trait object: the set of backends is closed and
//! known to this crate, and the embedded hot path stays a direct call.

mod embedded;

pub use embedded::Embedded;

use bytes::Bytes;
use roost_store::UnixMillis;

use crate::error::CacheError;

/// A stored value with its absolute expiry time, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub value: Bytes,
    pub expires_at: Option<UnixMillis>,
}

/// Counters of one node, for stats and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NodeStats {
    pub keys: u64,
    pub used_bytes: u64,
    pub capacity_bytes: u64,
    pub evictions: u64,
    pub expirations: u64,
}

#[derive(Debug)]
pub enum Backend {
    Embedded(Embedded),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Embedded(_) => "embedded",
        }
    }

    pub fn now_millis(&self) -> UnixMillis {
        match self {
            Backend::Embedded(b) => b.now_millis(),
        }
    }

    pub async fn get(&self, node: usize, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        match self {
            Backend::Embedded(b) => b.get(node, key),
        }
    }

    pub async fn set(
        &self,
        node: usize,
        key: Bytes,
        value: Bytes,
        expires_at: Option<UnixMillis>,
    ) -> Result<(), CacheError> {
        match self {
            Backend::Embedded(b) => b.set(node, key, value, expires_at),
        }
    }

    pub async fn delete(&self, node: usize, key: &[u8]) -> Result<bool, CacheError> {
        match self {
            Backend::Embedded(b) => b.delete(node, key),
        }
    }

    /// Removes every entry on every node; returns how many were removed.
    pub async fn flush(&self) -> Result<u64, CacheError> {
        match self {
            Backend::Embedded(b) => Ok(b.flush()),
        }
    }

    /// Per-node counters, in ring node order.
    pub fn node_stats(&self) -> Vec<NodeStats> {
        match self {
            Backend::Embedded(b) => b.node_stats(),
        }
    }

    /// The configured memory cap across all nodes, in bytes.
    pub fn max_memory_bytes(&self) -> u64 {
        match self {
            Backend::Embedded(b) => b.max_memory_bytes(),
        }
    }
}
