//! Replays a decoded trace through the real embedded store (`roost-store`), the same
//! code the server runs: `get`, and on a miss `set` with an empty value.
//!
//! Keys are the trace keys as 8-byte big-endian strings; capacity is
//! `size × entry_weight(8, 0)` bytes, so a store of `size` entries' worth of memory is
//! compared with an LRU/OPT cache of `size` entries. With more than one shard, keys are
//! routed by `roost-ring` as the server's router would, and each shard gets an equal
//! slice of the memory — so sharded figures differ slightly from the unsharded ones.

use std::num::NonZeroUsize;
use std::sync::Arc;

use bytes::Bytes;
use roost_ring::{Node, NodeId, Ring, RingError, DEFAULT_WEIGHT};
use roost_store::{entry_weight, PolicyKind, Store, StoreConfig, StoreError, SystemClock};

/// Bytes of every replayed key.
const KEY_LEN: usize = 8;

/// Why a replay could not run.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("cannot build the shard ring: {0}")]
    Ring(#[from] RingError),
    #[error("the ring placed a key on no shard")]
    Unrouted,
    #[error("the store refused a trace key: {0}")]
    Store(#[from] StoreError),
}

/// Hits the store scores on `keys` with room for `size` entries under `policy`.
pub fn store_hits(
    keys: &[u64],
    size: usize,
    policy: PolicyKind,
    shards: NonZeroUsize,
) -> Result<u64, ReplayError> {
    let config = StoreConfig {
        shards,
        max_memory_bytes: size as u64 * entry_weight(KEY_LEN, 0),
        policy,
    };
    // Trace entries never expire, so the clock is never consulted for a deadline.
    let store = Store::new(config, Arc::new(SystemClock));
    let ring = shard_ring(shards)?;
    let mut hits = 0;
    for key in keys {
        let key = key.to_be_bytes();
        let shard = match &ring {
            Some(ring) => &store.shards()[ring.locate(&key).ok_or(ReplayError::Unrouted)?],
            None => &store.shards()[0],
        };
        if shard.get(&key).is_some() {
            hits += 1;
        } else {
            shard.set(Bytes::copy_from_slice(&key), Bytes::new(), None)?;
        }
    }
    Ok(hits)
}

/// The server's ring over `shard-0 .. shard-(n-1)`; `None` for a single shard.
fn shard_ring(shards: NonZeroUsize) -> Result<Option<Ring>, RingError> {
    if shards.get() == 1 {
        return Ok(None);
    }
    let nodes = (0..shards.get())
        .map(|i| Node::new(NodeId::from(format!("shard-{i}")), DEFAULT_WEIGHT))
        .collect();
    Ring::new(nodes).map(Some)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::trace::formats::dense_ids;
    use crate::trace::lru::lru_hits;

    fn one() -> NonZeroUsize {
        NonZeroUsize::MIN
    }

    #[test]
    fn store_lru_matches_the_exact_lru_simulator() {
        // A skewed synthetic trace: the store's strict-LRU policy must score exactly
        // like the reference simulator when capacity is in whole entries.
        let keys: Vec<u64> = (0..20_000u64)
            .map(|i| (i * i + 7 * i) % 997 % (1 + i % 300))
            .collect();
        let (ids, unique) = dense_ids(&keys);
        let expected = lru_hits(&ids, unique, 100);
        assert_eq!(
            store_hits(&keys, 100, PolicyKind::Lru, one()).unwrap(),
            expected
        );
    }

    #[test]
    fn every_policy_hits_when_everything_fits() {
        let keys: Vec<u64> = (0..50).cycle().take(500).collect();
        for policy in PolicyKind::ALL {
            let hits = store_hits(&keys, 100, policy, one()).unwrap();
            assert!(hits >= 400, "{policy}: {hits} hits");
        }
    }

    #[test]
    fn sharded_replay_spreads_keys_and_still_hits() {
        let keys: Vec<u64> = (0..200).cycle().take(2_000).collect();
        let shards = NonZeroUsize::new(4).unwrap();
        let hits = store_hits(&keys, 400, PolicyKind::Lru, shards).unwrap();
        // Room for twice the keys overall; only an uneven split could lose any after warm-up.
        assert!(hits >= 1_600, "{hits} hits");
    }
}
