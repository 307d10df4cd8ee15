//! Topology changes without a restart: add a node, drain and remove one,
//! preview what a change would move, reconcile with a reloaded node list
//! (SIGHUP) — and the mover that copies keys to their new owners afterwards.
//!
//! A change swaps in a new topology whose `previous` is the old one. Until the
//! mover has copied every key that changed owner, misses are read through from
//! the former holder and writes remove the former holder's copy (see
//! `replication.rs`); then the topology settles and drained nodes are dropped.
//! One change at a time: another while keys are still moving is refused.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use roost_ring::{Node, NodeId, RingError, DEFAULT_WEIGHT};

use super::topology::{FleetNode, Topology};
use super::Fleet;
use crate::backend::redis_link::{LinkOptions, NodeAddress, RedisLink};
use crate::backend::{Condition, Deadline};
use crate::error::CacheError;
use crate::telemetry::EventKind;

/// Keys asked for per SCAN step while moving.
const MOVE_SCAN_COUNT: usize = 500;

#[derive(Debug, thiserror::Error)]
pub enum TopologyError {
    #[error("invalid node address: {0}")]
    InvalidAddress(String),
    #[error("node {0} is already in the topology")]
    Duplicate(String),
    #[error("no node {0} in the topology")]
    Unknown(String),
    #[error("{replicas} replicas need at least {replicas} nodes; the change would leave {nodes}")]
    TooFewNodes { replicas: usize, nodes: usize },
    #[error("keys are still moving after the previous change; try again when it finishes")]
    Busy,
    #[error("weight must be between 1 and 100000")]
    InvalidWeight,
    #[error("a Redis Cluster manages its own nodes; change it with redis-cli --cluster (add-node, del-node, reshard) and Roost follows")]
    ClusterManaged,
    #[error("ring: {0}")]
    Ring(RingError),
}

/// A node to add: where it is, its id (default `host:port`) and ring weight.
#[derive(Debug, Clone)]
pub struct NodeSpec {
    pub id: NodeId,
    pub address: NodeAddress,
    pub weight: u32,
}

impl NodeSpec {
    pub fn parse(
        url: &str,
        id: Option<&str>,
        weight: Option<u32>,
    ) -> Result<NodeSpec, TopologyError> {
        let address = NodeAddress::parse(url).map_err(TopologyError::InvalidAddress)?;
        let weight = weight.unwrap_or(DEFAULT_WEIGHT);
        if !(1..=100_000).contains(&weight) {
            return Err(TopologyError::InvalidWeight);
        }
        let id = id.map_or_else(|| address.host_port(), str::to_owned);
        Ok(NodeSpec {
            id: NodeId::from(id),
            address,
            weight,
        })
    }

    pub(super) fn connect(self, options: &LinkOptions) -> FleetNode {
        let link = RedisLink::standalone(self.address, options.clone());
        FleetNode::new(self.id, self.weight, link)
    }
}

/// What a change would do.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Preview {
    /// Share of the keyspace whose owner changes.
    pub moved_share: f64,
    pub nodes_before: usize,
    pub nodes_after: usize,
}

impl Fleet {
    /// What adding `spec` or removing `remove` would move, without doing it.
    pub fn preview(
        &self,
        add: Option<&NodeSpec>,
        remove: Option<&str>,
    ) -> Result<Preview, TopologyError> {
        let topology = self.topology();
        let mut ring = (*topology.ring).clone();
        if let Some(spec) = add {
            ring = ring
                .with_node(Node::new(spec.id.clone(), spec.weight))
                .map_err(TopologyError::Ring)?;
        }
        if let Some(id) = remove {
            ring = ring
                .without_node(&NodeId::from(id))
                .map_err(|_| TopologyError::Unknown(id.to_owned()))?;
        }
        Ok(Preview {
            moved_share: topology.ring.moved_fraction(&ring),
            nodes_before: topology.nodes.len(),
            nodes_after: ring.len(),
        })
    }

    /// Adds nodes and removes others in one change; keys move in the background.
    pub async fn change(
        self: &Arc<Self>,
        add: Vec<NodeSpec>,
        remove: &[String],
    ) -> Result<Preview, TopologyError> {
        if self.cluster {
            return Err(TopologyError::ClusterManaged);
        }
        let _changing = self.changing.lock().await;
        let current = self.topology();
        if current.previous.is_some() {
            return Err(TopologyError::Busy);
        }
        let mut nodes = current.nodes.clone();
        for id in remove {
            let before = nodes.len();
            nodes.retain(|n| n.id.as_str() != id);
            if nodes.len() == before {
                return Err(TopologyError::Unknown(id.clone()));
            }
        }
        for spec in add {
            let address = spec.address.host_port();
            if nodes
                .iter()
                .any(|n| n.id == spec.id || n.address().host_port() == address)
            {
                return Err(TopologyError::Duplicate(format!("{} ({address})", spec.id)));
            }
            nodes.push(Arc::new(spec.connect(&self.options)));
        }
        if nodes.len() < self.settings.replicas {
            let (replicas, nodes) = (self.settings.replicas, nodes.len());
            return Err(TopologyError::TooFewNodes { replicas, nodes });
        }
        let next = Topology::new(nodes)
            .map_err(TopologyError::Ring)?
            .after(&current);
        let preview = Preview {
            moved_share: current.ring.moved_fraction(&next.ring),
            nodes_before: current.nodes.len(),
            nodes_after: next.nodes.len(),
        };
        let ids: Vec<String> = next.nodes.iter().map(|n| n.id.to_string()).collect();
        self.install(next);
        self.record(
            EventKind::TopologyChange,
            format!(
                "topology now {} nodes ({}); {:.1}% of keys change owner and move in the background",
                ids.len(),
                ids.join(", "),
                preview.moved_share * 100.0
            ),
        );
        let fleet = self.clone();
        // Ends with the prober at shutdown: a move cut short leaves the
        // topology unsettled, which costs misses, never stale values.
        tokio::spawn(async move {
            tokio::select! {
                _ = fleet.stopping.cancelled() => {
                    tracing::warn!("shutdown while keys were moving; keys not yet moved will miss");
                }
                _ = fleet.finish_move() => {}
            }
        });
        Ok(preview)
    }

    /// Copies every key that changed owner to its new replicas, then settles
    /// the topology (dropping drained nodes).
    async fn finish_move(&self) {
        let started = Instant::now();
        let topology = self.topology();
        let Some(previous) = topology.previous.clone() else {
            return;
        };
        let mut moved = 0u64;
        for node in previous.nodes.iter().filter(|n| n.health.is_up()) {
            match self.move_off(&topology, node).await {
                Ok(count) => moved += count,
                Err(err) => tracing::warn!(node = %node.id, error = %err,
                    "moving keys off a node failed; its keys that did not move are misses"),
            }
        }
        let _changing = self.changing.lock().await;
        if Arc::ptr_eq(&self.topology(), &topology) {
            self.install(topology.settled());
        }
        let secs = started.elapsed().as_secs_f64();
        self.record(
            EventKind::TopologyChange,
            format!(
                "keys moved to their new owners: {moved} copied in {secs:.1} s; topology settled"
            ),
        );
    }

    /// Moves the keys `node` holds whose replica set changed.
    async fn move_off(
        &self,
        topology: &Topology,
        node: &Arc<FleetNode>,
    ) -> Result<u64, CacheError> {
        let Some(previous) = &topology.previous else {
            return Ok(0);
        };
        let replicas = self.settings.replicas;
        let (mut cursor, mut moved) = (0, 0);
        loop {
            let now = self.now_millis();
            let (next, keys) = node.link.scan(cursor, MOVE_SCAN_COUNT, now).await?;
            for (key, _) in keys {
                let old = previous.placement(&key, replicas);
                let new = topology.placement(&key, replicas);
                let stays = new.iter().any(|i| Arc::ptr_eq(&topology.nodes[i], node));
                let gaining: Vec<&Arc<FleetNode>> = new
                    .iter()
                    .map(|i| &topology.nodes[i])
                    .filter(|n| !old.iter().any(|j| Arc::ptr_eq(&previous.nodes[j], n)))
                    .collect();
                if !gaining.is_empty() && self.copy_key(node, &key, &gaining).await? {
                    moved += 1;
                }
                if !stays {
                    node.link.delete(&key).await?;
                }
            }
            if next == 0 {
                return Ok(moved);
            }
            cursor = next;
        }
    }

    /// Copies `key` from `from` to each of `to` where it is absent. If the
    /// source changed meanwhile (a client wrote or deleted it, which also
    /// removes the old copy), the copies are dropped: a miss, never stale.
    async fn copy_key(
        &self,
        from: &FleetNode,
        key: &Bytes,
        to: &[&Arc<FleetNode>],
    ) -> Result<bool, CacheError> {
        let now = self.now_millis();
        let Some(entry) = from.link.get(key, now).await? else {
            return Ok(false);
        };
        let mut copied = Vec::new();
        for target in to.iter().filter(|t| t.health.is_up()) {
            let outcome = target
                .link
                .set_conditional(
                    key,
                    &entry.value,
                    Condition::IfAbsent,
                    Deadline::Set(entry.expires_at),
                    now,
                )
                .await?;
            if outcome.written {
                copied.push(*target);
            }
        }
        let still = from.link.get(key, now).await?;
        if still.as_ref().map(|s| &s.value) != Some(&entry.value) {
            for target in &copied {
                target.link.delete(key).await?;
            }
            return Ok(false);
        }
        Ok(!copied.is_empty())
    }
}
