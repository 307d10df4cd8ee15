//! The fleet's topology: which Redis nodes exist, their ring, and where each
//! key's replicas live. A [`Topology`] is immutable; a change builds a new one
//! and swaps it in, keeping the one before as `previous` so keys that changed
//! owner can still be read from where they were until they have moved.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use roost_ring::{Node, NodeId, Ring, RingError};

use super::health::Health;
use super::journal::Journal;
use crate::backend::redis_link::{NodeAddress, NodeInfo, RedisLink};

/// Most replicas a key may have (the configuration allows 1 to 5).
pub const MAX_REPLICAS: usize = 5;

/// One Redis node in the fleet, with everything the gateway knows about it.
#[derive(Debug)]
pub struct FleetNode {
    pub id: NodeId,
    pub weight: u32,
    pub link: RedisLink,
    pub health: Health,
    pub journal: Journal,
    pub ops: AtomicU64,
    pub errors: AtomicU64,
    /// What the last successful INFO said.
    pub info: Mutex<NodeInfo>,
}

impl FleetNode {
    pub fn new(id: NodeId, weight: u32, link: RedisLink) -> FleetNode {
        FleetNode {
            id,
            weight,
            link,
            health: Health::default(),
            journal: Journal::default(),
            ops: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            info: Mutex::new(NodeInfo::default()),
        }
    }

    pub fn address(&self) -> &NodeAddress {
        self.link.address()
    }

    pub fn info(&self) -> NodeInfo {
        self.info.lock().clone()
    }

    pub fn set_info(&self, info: NodeInfo) {
        *self.info.lock() = info;
    }

    pub fn count_op(&self) {
        self.ops.fetch_add(1, Ordering::Relaxed);
    }

    pub fn count_error(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }
}

/// The nodes of one topology and the ring over them, index-aligned.
#[derive(Debug)]
pub struct Topology {
    pub ring: Arc<Ring>,
    pub nodes: Vec<Arc<FleetNode>>,
    /// The topology before the last change, while keys move off it. Never
    /// itself has a `previous`.
    pub previous: Option<Arc<Topology>>,
}

/// The replica set of one key: node indices in ring order, owner first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Placement {
    slots: [usize; MAX_REPLICAS],
    len: usize,
}

impl Placement {
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.slots[..self.len].iter().copied()
    }

    pub fn contains(&self, index: usize) -> bool {
        self.slots[..self.len].contains(&index)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Topology {
    /// A topology over `nodes` in this order.
    pub fn new(nodes: Vec<Arc<FleetNode>>) -> Result<Topology, RingError> {
        let ring = Ring::new(
            nodes
                .iter()
                .map(|n| Node::new(n.id.clone(), n.weight))
                .collect(),
        )?;
        Ok(Topology {
            ring: Arc::new(ring),
            nodes,
            previous: None,
        })
    }

    /// The first `replicas` distinct nodes clockwise from `key`.
    pub fn placement(&self, key: &[u8], replicas: usize) -> Placement {
        let mut placement = Placement {
            slots: [0; MAX_REPLICAS],
            len: 0,
        };
        for index in self.ring.successors(key).take(replicas.min(MAX_REPLICAS)) {
            placement.slots[placement.len] = index;
            placement.len += 1;
        }
        placement
    }

    /// The first up replica of `key`: the node that answers its reads, and
    /// the one that reports it in SCAN.
    pub fn first_up(&self, key: &[u8], replicas: usize) -> Option<usize> {
        let placement = self.placement(key, replicas);
        let first = placement.iter().find(|&i| self.nodes[i].health.is_up());
        first
    }

    /// The first up node after the replica set: where an ejected range goes
    /// (the gutter, or its new home when the gutter is off).
    pub fn fallback(&self, key: &[u8], replicas: usize) -> Option<&Arc<FleetNode>> {
        self.ring
            .successors(key)
            .skip(replicas)
            .map(|index| &self.nodes[index])
            .find(|node| node.health.is_up())
    }

    /// The node with this id.
    pub fn find(&self, id: &str) -> Option<&Arc<FleetNode>> {
        self.nodes.iter().find(|n| n.id.as_str() == id)
    }

    /// Nodes of `previous` that held `key` and no longer hold it here, up ones
    /// only: where a moved key is still read from, and what a write invalidates.
    pub fn former_holders(&self, key: &[u8], replicas: usize) -> Vec<Arc<FleetNode>> {
        let Some(previous) = &self.previous else {
            return Vec::new();
        };
        let now = self.placement(key, replicas);
        previous
            .placement(key, replicas)
            .iter()
            .map(|index| &previous.nodes[index])
            .filter(|node| node.health.is_up())
            .filter(|node| !now.iter().any(|i| Arc::ptr_eq(&self.nodes[i], node)))
            .cloned()
            .collect()
    }

    /// This topology with `previous` set, for a change from `before`.
    pub fn after(mut self, before: &Topology) -> Topology {
        self.previous = Some(Arc::new(Topology {
            ring: before.ring.clone(),
            nodes: before.nodes.clone(),
            previous: None,
        }));
        self
    }

    /// The same nodes with no move in progress.
    pub fn settled(&self) -> Topology {
        Topology {
            ring: self.ring.clone(),
            nodes: self.nodes.clone(),
            previous: None,
        }
    }

    /// Every distinct node of this topology and the previous one.
    pub fn all_nodes(&self) -> Vec<Arc<FleetNode>> {
        let mut all = self.nodes.clone();
        if let Some(previous) = &self.previous {
            for node in &previous.nodes {
                if !all.iter().any(|n| Arc::ptr_eq(n, node)) {
                    all.push(node.clone());
                }
            }
        }
        all
    }
}

/// A node at `127.0.0.1:port` that is never connected to: for tests of
/// placement and bookkeeping that need `FleetNode`s but no Redis.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(super) fn test_node(port: u16) -> Arc<FleetNode> {
    use crate::backend::redis_link::LinkOptions;
    let address = NodeAddress::parse(&format!("redis://127.0.0.1:{port}")).unwrap();
    let options = LinkOptions {
        connections: 1,
        timeout: std::time::Duration::from_millis(100),
        max_in_flight: 10,
    };
    let link = RedisLink::standalone(address.clone(), options);
    Arc::new(FleetNode::new(
        NodeId::from(address.host_port()),
        roost_ring::DEFAULT_WEIGHT,
        link,
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use super::*;

    use test_node as node;

    #[test]
    fn placement_is_distinct_successors_owner_first() {
        let topology = Topology::new((1..=4).map(node).collect()).unwrap();
        for i in 0..1000 {
            let key = format!("k{i}");
            let placement = topology.placement(key.as_bytes(), 3);
            let expected: Vec<usize> = topology.ring.successors(key.as_bytes()).take(3).collect();
            assert_eq!(placement.iter().collect::<Vec<_>>(), expected);
            assert_eq!(Some(expected[0]), topology.ring.locate(key.as_bytes()));
        }
        assert_eq!(
            topology.placement(b"k", 9).len(),
            4,
            "capped by the node count"
        );
    }

    #[test]
    fn fallback_skips_the_replica_set_and_down_nodes() {
        let topology = Topology::new((1..=3).map(node).collect()).unwrap();
        let order: Vec<usize> = topology.ring.successors(b"key").collect();
        let fallback = topology.fallback(b"key", 1).unwrap();
        assert!(Arc::ptr_eq(fallback, &topology.nodes[order[1]]));
        let rules = super::super::health::Hysteresis {
            eject_after: 1,
            readmit_after: 1,
            interval: Duration::from_millis(10),
        };
        topology.nodes[order[1]].health.record_failure(&rules, 1);
        let fallback = topology.fallback(b"key", 1).unwrap();
        assert!(Arc::ptr_eq(fallback, &topology.nodes[order[2]]));
        assert!(topology.fallback(b"key", 3).is_none());
    }

    #[test]
    fn former_holders_are_the_owners_a_key_left() {
        let nodes: Vec<_> = (1..=3).map(node).collect();
        let before = Topology::new(nodes.clone()).unwrap();
        let mut grown = nodes.clone();
        grown.push(node(4));
        let after = Topology::new(grown).unwrap().after(&before);
        let mut moved = 0;
        for i in 0..2000 {
            let key = format!("k{i}");
            let holders = after.former_holders(key.as_bytes(), 1);
            let old_owner = &before.nodes[before.ring.locate(key.as_bytes()).unwrap()];
            let new_owner = &after.nodes[after.ring.locate(key.as_bytes()).unwrap()];
            if Arc::ptr_eq(old_owner, new_owner) {
                assert!(holders.is_empty());
            } else {
                moved += 1;
                assert_eq!(holders.len(), 1);
                assert!(Arc::ptr_eq(&holders[0], old_owner));
                assert_eq!(
                    new_owner.id.as_str(),
                    "127.0.0.1:4",
                    "keys only move to the new node"
                );
            }
        }
        assert!(
            (300..700).contains(&moved),
            "about a quarter moved: {moved}"
        );
        assert_eq!(after.all_nodes().len(), 4);
        assert!(after.settled().previous.is_none());
    }
}
