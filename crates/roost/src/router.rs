//! The router: the only place that decides which node serves a key.
//!
//! It holds the ring as an immutable snapshot behind an `ArcSwap`, so routing a
//! request is a lock-free load and a binary search; topology changes build a new
//! ring and swap it in without stopping traffic.

use std::sync::Arc;

use arc_swap::ArcSwap;
use roost_ring::{Node, NodeId, Ring, DEFAULT_WEIGHT};

use crate::error::CacheError;

#[derive(Debug)]
pub struct Router {
    ring: ArcSwap<Ring>,
}

impl Router {
    pub fn new(ring: Ring) -> Router {
        Router {
            ring: ArcSwap::from_pointee(ring),
        }
    }

    /// A ring of `count` embedded shards named `shard-0` … at default weight.
    pub fn for_shards(count: usize) -> Router {
        let nodes = (0..count)
            .map(|i| Node::new(NodeId::from(format!("shard-{i}")), DEFAULT_WEIGHT))
            .collect();
        Router::new(Ring::new(nodes).expect("invariant: generated shard names are unique"))
    }

    /// The index (into the ring's node list) of the node that owns `key`.
    pub fn locate(&self, key: &[u8]) -> Result<usize, CacheError> {
        self.ring.load().locate(key).ok_or(CacheError::NoNode)
    }

    /// Swaps in a new ring (a topology change); requests already routed keep
    /// the snapshot they loaded.
    pub fn replace(&self, ring: Arc<Ring>) {
        self.ring.store(ring);
    }

    /// The current ring snapshot.
    pub fn ring(&self) -> Arc<Ring> {
        self.ring.load_full()
    }

    /// The id of the node at `index` in the current ring.
    pub fn node_id(&self, index: usize) -> Option<NodeId> {
        self.ring.load().nodes().get(index).map(|n| n.id.clone())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_key_routes_to_a_shard_and_routing_is_stable() {
        let router = Router::for_shards(4);
        let mut seen = [0usize; 4];
        for i in 0..10_000 {
            let key = format!("key:{i}");
            let first = router.locate(key.as_bytes()).unwrap();
            assert_eq!(router.locate(key.as_bytes()).unwrap(), first);
            seen[first] += 1;
        }
        assert!(seen.iter().all(|&n| n > 2_000), "{seen:?}");
        assert_eq!(router.node_id(3).unwrap().as_str(), "shard-3");
    }

    #[test]
    fn an_empty_ring_is_unavailable_not_a_panic() {
        let router = Router::new(Ring::new(Vec::new()).unwrap());
        assert!(matches!(router.locate(b"k"), Err(CacheError::NoNode)));
    }
}
