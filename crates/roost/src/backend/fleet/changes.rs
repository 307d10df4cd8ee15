//! Topology changes without a restart: add a node, drain and remove one,
//! preview what a change would move, reconcile with a reloaded node list
//! (SIGHUP) — and the mover that copies keys to their new owners afterwards.
//!
//! A change swaps in a new topology whose `previous` is the old one. Until the
//! mover has copied every key that changed owner, misses are read through from
//! the former holder and writes remove the former holder's copy (see
//! `data_path.rs`); then the topology settles and drained nodes are dropped.
//! One change at a time: another while keys are still moving is refused.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use roost_ring::{Node, NodeId, RingError, DEFAULT_WEIGHT};

use super::topology::{FleetNode, Topology};
use super::Fleet;
use crate::backend::redis_link::{LinkOptions, NodeAddress, RedisLink};
use crate::backend::{Condition, Deadline};
use crate::error::CacheError;
use crate::telemetry::EventKind;

/// Keys asked for per SCAN step while moving.
const MOVE_SCAN_COUNT: usize = 500;
/// Keys moved at once: each takes four or five round trips to Redis in turn,
/// so one at a time moved about 2,200 keys a second beside a client at 2,000
/// requests/s, 32 at a time about 13,000 (bench/move.sh).
const MOVE_CONCURRENCY: usize = 32;
/// How long the mover keeps trying keys it could not move (a node was down)
/// before it settles the topology anyway; another change waits until then.
const MOVE_PATIENCE: Duration = Duration::from_secs(180);
/// The pause before the second pass; it doubles up to [`MOVE_RETRY_MAX`].
const MOVE_RETRY_FIRST: Duration = Duration::from_secs(1);
const MOVE_RETRY_MAX: Duration = Duration::from_secs(10);

/// What one pass of the mover over a node did.
#[derive(Debug, Default)]
struct Pass {
    /// Keys copied to at least one new owner.
    copied: u64,
    /// Keys to try again: one of their new owners could not take the copy,
    /// or none holds it yet (so it stayed on this node).
    unfinished: u64,
}

/// What the mover did with one key.
#[derive(Debug)]
enum Moved {
    /// Its replica set did not change, or its new owners already held it, or
    /// a client changed it meanwhile (the write path took over).
    Nothing,
    /// Copied to the new owners that lacked it.
    Copied,
    /// A new owner could not take it (down or failing), or none holds it yet
    /// and it stays where it is; the next pass tries again.
    Unfinished { copied: bool },
}

/// One key's copy to its new owners.
#[derive(Debug)]
struct Copied {
    value: Bytes,
    /// New owners the copy was written to (they lacked the key).
    written: usize,
    /// New owners that hold the key now (written, or already there).
    holders: usize,
    /// New owners that were down or failed.
    missed: usize,
}

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
    #[error("in a region each key's version lives on its node, and moving keys would leave their versions behind; change the nodes with the region stopped (or drained of traffic), then restart it")]
    InRegion,
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
        NodeSpec::new(address, id, weight)
    }

    /// The node at a configured `address`, named by its `host:port`, at the
    /// default weight.
    pub fn at(address: NodeAddress) -> NodeSpec {
        NodeSpec {
            id: NodeId::from(address.host_port()),
            address,
            weight: DEFAULT_WEIGHT,
        }
    }

    fn new(
        address: NodeAddress,
        id: Option<&str>,
        weight: Option<u32>,
    ) -> Result<NodeSpec, TopologyError> {
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
#[derive(Debug, Clone)]
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
        if self.versions.is_some() {
            return Err(TopologyError::InRegion);
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
        let mut added = Vec::new();
        for spec in add {
            let address = spec.address.host_port();
            if nodes
                .iter()
                .any(|n| n.id == spec.id || n.address().host_port() == address)
            {
                return Err(TopologyError::Duplicate(format!("{} ({address})", spec.id)));
            }
            let node = Arc::new(spec.connect(&self.options));
            added.push(node.clone());
            nodes.push(node);
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
        // Ends at shutdown: a move cut short leaves the topology unsettled,
        // which costs misses, never stale values. With warming on, the hot
        // keys the added nodes now own are copied first (`warmup.rs`); reads
        // go through to their former holders meanwhile, as during the move.
        self.tasks.spawn("key-mover", |stop| async move {
            let moved = async {
                fleet.warm_up_added(&added).await;
                fleet.finish_move().await;
            };
            tokio::select! {
                _ = stop.cancelled() => {
                    for node in &added {
                        fleet.stop_warm_up(node);
                    }
                    tracing::warn!("shutdown while keys were moving; keys not yet moved will miss");
                }
                _ = moved => {}
            }
            Ok(())
        });
        Ok(preview)
    }

    /// Copies every key that changed owner to its new replicas, then settles
    /// the topology (dropping drained nodes).
    ///
    /// A key leaves its former holder only once one of its new owners holds
    /// it. Keys that cannot move yet — their new owners are down, or the
    /// holder itself is down but stays in the topology (a restart) — are
    /// tried again in later passes, for at most [`MOVE_PATIENCE`]; a drained
    /// node that is down is not waited for (its keys' other replicas serve).
    async fn finish_move(&self) {
        let started = Instant::now();
        let topology = self.topology();
        let Some(previous) = topology.previous.clone() else {
            return;
        };
        let member = |node: &Arc<FleetNode>| topology.nodes.iter().any(|n| Arc::ptr_eq(n, node));
        let mut pending: Vec<Arc<FleetNode>> = previous.nodes.clone();
        let (mut moved, mut pause) = (0u64, MOVE_RETRY_FIRST);
        let mut left;
        loop {
            let mut unfinished = Vec::new();
            left = 0;
            for node in pending {
                if !node.health.is_up() {
                    if member(&node) {
                        unfinished.push(node);
                    }
                    continue;
                }
                match self.move_off(&topology, &node).await {
                    Ok(pass) => {
                        moved += pass.copied;
                        if pass.unfinished > 0 {
                            left += pass.unfinished;
                            unfinished.push(node);
                        }
                    }
                    Err(err) => {
                        tracing::warn!(node = %node.id, error = %err,
                            "moving keys off a node failed; trying again");
                        unfinished.push(node);
                    }
                }
            }
            pending = unfinished;
            if pending.is_empty() || started.elapsed() + pause > MOVE_PATIENCE {
                break;
            }
            let waiting: Vec<&str> = pending.iter().map(|n| n.id.as_str()).collect();
            tracing::info!(nodes = ?waiting, keys_left = left, retry_in_s = pause.as_secs(),
                "some keys cannot reach a new owner yet (a node is down); trying again");
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(MOVE_RETRY_MAX);
        }
        let _changing = self.changing.lock().await;
        if Arc::ptr_eq(&self.topology(), &topology) {
            self.install(topology.settled());
        }
        let secs = started.elapsed().as_secs_f64();
        if pending.is_empty() {
            self.record(
                EventKind::TopologyChange,
                format!(
                    "keys moved to their new owners: {moved} copied in {secs:.1} s; topology settled"
                ),
            );
        } else {
            let ids: Vec<&str> = pending.iter().map(|n| n.id.as_str()).collect();
            tracing::warn!(nodes = ?ids, keys_left = left,
                "settling with keys that could not move; they miss until written again");
            self.record(
                EventKind::TopologyChange,
                format!(
                    "topology settled after {secs:.1} s with keys not moved off {} ({left} counted; \
                     a node was down throughout): {moved} copied; the rest miss",
                    ids.join(", ")
                ),
            );
        }
    }

    /// One pass over the keys `node` holds whose replica set changed, up to
    /// [`MOVE_CONCURRENCY`] keys at a time.
    async fn move_off(
        &self,
        topology: &Topology,
        node: &Arc<FleetNode>,
    ) -> Result<Pass, CacheError> {
        let (mut cursor, mut pass) = (0, Pass::default());
        loop {
            let now = self.now_millis();
            let (next, keys) = node.link.scan(cursor, MOVE_SCAN_COUNT, now).await?;
            let mut steps = stream::iter(keys)
                .map(|(key, _)| self.move_key(topology, node, key))
                .buffer_unordered(MOVE_CONCURRENCY);
            // Every key in flight runs to its end, even after one failed: a
            // copy dropped halfway would skip its undo.
            let mut failure = None;
            while let Some(step) = steps.next().await {
                match step {
                    Ok(Moved::Nothing) => {}
                    Ok(Moved::Copied) => pass.copied += 1,
                    Ok(Moved::Unfinished { copied }) => {
                        pass.copied += u64::from(copied);
                        pass.unfinished += 1;
                    }
                    Err(err) => _ = failure.get_or_insert(err),
                }
            }
            if let Some(err) = failure {
                return Err(err);
            }
            if next == 0 {
                return Ok(pass);
            }
            cursor = next;
        }
    }

    /// Moves one key `node` holds, if its replica set changed: it is copied
    /// to the new owners that gain it and, when it leaves `node`, to the
    /// others too (so one is known to hold it) before `node`'s copy goes.
    async fn move_key(
        &self,
        topology: &Topology,
        node: &Arc<FleetNode>,
        key: Bytes,
    ) -> Result<Moved, CacheError> {
        let Some(previous) = &topology.previous else {
            return Ok(Moved::Nothing);
        };
        let replicas = self.settings.replicas;
        let old = previous.placement(&key, replicas);
        let new = topology.placement(&key, replicas);
        let stays = new.iter().any(|i| Arc::ptr_eq(&topology.nodes[i], node));
        let held_before =
            |n: &Arc<FleetNode>| old.iter().any(|j| Arc::ptr_eq(&previous.nodes[j], n));
        let targets: Vec<&Arc<FleetNode>> = new
            .iter()
            .map(|i| &topology.nodes[i])
            .filter(|n| !Arc::ptr_eq(n, node))
            .filter(|n| !stays || !held_before(n))
            .collect();
        if targets.is_empty() {
            return Ok(Moved::Nothing);
        }
        let copied = match self.copy_key(node, &key, &targets).await {
            // Not a string: a hash, list… a forwarded command made, which has
            // one copy and is not moved (`forward.rs`). It leaves a node that
            // no longer holds it, so no later topology can serve it stale.
            Err(CacheError::Rejected { .. }) => {
                if !stays {
                    node.link.delete(&key).await?;
                }
                return Ok(Moved::Nothing);
            }
            copied => copied?,
        };
        let Some(copy) = copied else {
            return Ok(Moved::Nothing);
        };
        let placed = stays || copy.holders > 0;
        if !stays && placed {
            node.link.delete_if_value(&key, &copy.value).await?;
        }
        Ok(if copy.missed > 0 || !placed {
            Moved::Unfinished {
                copied: copy.written > 0,
            }
        } else if copy.written > 0 {
            Moved::Copied
        } else {
            Moved::Nothing
        })
    }

    /// Copies `key` from `from` to each of `to` where it is absent; `None`
    /// when `from` no longer holds it. If the source changed meanwhile (a
    /// client wrote or deleted it, which also removes the old copy), the
    /// copies still unchanged are dropped: a miss, never stale, and a value a
    /// client wrote since is kept.
    async fn copy_key(
        &self,
        from: &FleetNode,
        key: &Bytes,
        to: &[&Arc<FleetNode>],
    ) -> Result<Option<Copied>, CacheError> {
        let now = self.now_millis();
        let Some(entry) = from.link.get(key, now).await? else {
            return Ok(None);
        };
        let mut written = Vec::new();
        let (mut holders, mut missed) = (0, 0);
        for target in to {
            if !target.health.is_up() {
                missed += 1;
                continue;
            }
            let outcome = target
                .link
                .set_conditional(
                    key,
                    &entry.value,
                    Condition::IfAbsent,
                    Deadline::Set(entry.expires_at),
                    now,
                )
                .await;
            match outcome {
                Ok(outcome) => {
                    holders += 1;
                    if outcome.written {
                        written.push(*target);
                    }
                }
                Err(err) => {
                    tracing::debug!(node = %target.id, error = %err, "copying a moving key failed");
                    missed += 1;
                }
            }
        }
        let still = from.link.get(key, now).await?;
        if still.as_ref().map(|s| &s.value) != Some(&entry.value) {
            for target in &written {
                target.link.delete_if_value(key, &entry.value).await?;
            }
            return Ok(None);
        }
        Ok(Some(Copied {
            value: entry.value,
            written: written.len(),
            holders,
            missed,
        }))
    }
}
