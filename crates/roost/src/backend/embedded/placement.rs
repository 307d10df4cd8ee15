//! Where the embedded store puts a key: a ring of its shards, `shard-0` …
//! at default weight. The embedded backend is the only owner of this
//! placement, as the fleet is of its own; nothing above a backend picks a
//! node for a key.

use roost_ring::{Node, NodeId, Ring, DEFAULT_WEIGHT};

#[derive(Debug)]
pub(super) struct Placement {
    ring: Ring,
}

impl Placement {
    /// A ring of `count` shards named `shard-0` … at default weight.
    pub(super) fn for_shards(count: usize) -> Placement {
        let nodes = (0..count)
            .map(|i| Node::new(NodeId::from(format!("shard-{i}")), DEFAULT_WEIGHT))
            .collect();
        Placement {
            ring: Ring::new(nodes).expect("invariant: generated shard names are unique"),
        }
    }

    /// The shard that owns `key`.
    pub(super) fn shard_of(&self, key: &[u8]) -> usize {
        self.ring
            .locate(key)
            .expect("invariant: the embedded ring has at least one shard")
    }

    pub(super) fn ring(&self) -> &Ring {
        &self.ring
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_routes_to_a_shard_and_routing_is_stable() {
        let placement = Placement::for_shards(4);
        let mut seen = [0usize; 4];
        for i in 0..10_000 {
            let key = format!("key:{i}");
            let first = placement.shard_of(key.as_bytes());
            assert_eq!(placement.shard_of(key.as_bytes()), first);
            seen[first] += 1;
        }
        assert!(seen.iter().all(|&n| n > 2_000), "{seen:?}");
        assert_eq!(placement.ring().nodes()[3].id.as_str(), "shard-3");
    }
}
