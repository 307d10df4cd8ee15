//! The Redis fleet backend: standalone Redis servers sharded by Roost's ring,
//! each key on `replicas` distinct ring successors, with health checking,
//! failover, a gutter, and topology changes without a restart.
//!
//! One file per concern:
//! - `topology.rs`: the nodes, their ring, replica placement (immutable snapshots);
//! - `health.rs`: per-node hysteresis (eject after N failures, readmit after M probes);
//! - `journal.rs`: keys a node missed while out, invalidated before it rejoins;
//! - `replication.rs`: the data path — reads with failover and read-repair,
//!   writes to every replica with a quorum, the gutter, read-through while moving;
//! - `probe.rs`: the background prober that ejects, readmits and gathers INFO;
//! - `changes.rs`: adding, draining and reconciling nodes, and the key mover.
//!
//! The `node` index every [`super::Backend`] method receives is the Router's
//! choice of owner; the fleet re-derives the whole replica set from the same
//! ring snapshot (it is the Router's ring: [`Fleet::new`] installs it there).

mod changes;
mod health;
mod journal;
mod ops;
mod probe;
mod replication;
mod topology;

use std::sync::Arc;

use arc_swap::ArcSwap;
use roost_store::{Clock, UnixMillis};
use tokio::sync::Mutex as AsyncMutex;
use tokio_util::sync::CancellationToken;

pub use changes::{NodeSpec, Preview, TopologyError};
pub use health::{Hysteresis, NodeState, ProbeRecord};
pub use topology::{FleetNode, Topology, MAX_REPLICAS};

use roost_ring::{NodeId, DEFAULT_WEIGHT};

use super::redis_link::{LinkOptions, NodeAddress, RedisLink};
use super::NodeStats;
use crate::config::FleetSettings;
use crate::router::Router;
use crate::telemetry::{EventKind, Events};

#[derive(Debug)]
pub struct Fleet {
    topology: ArcSwap<Topology>,
    router: Arc<Router>,
    settings: FleetSettings,
    options: LinkOptions,
    clock: Arc<dyn Clock>,
    events: Arc<Events>,
    /// Serialises topology changes (API calls, SIGHUP, the mover finishing).
    changing: AsyncMutex<()>,
    /// One logical node that is a whole Redis Cluster (its slots decide).
    cluster: bool,
    /// Cancelled when the prober ends (shutdown): background key moves stop.
    stopping: CancellationToken,
}

/// What both constructors hand to [`Fleet::assemble`].
struct Parts {
    router: Arc<Router>,
    settings: FleetSettings,
    options: LinkOptions,
    clock: Arc<dyn Clock>,
    events: Arc<Events>,
}

/// What the topology API shows for one node.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NodeView {
    pub id: String,
    pub address: String,
    pub state: &'static str,
    pub weight: u32,
    pub ring_share: f64,
    pub keys: u64,
    pub used_memory: u64,
    /// Redis's `maxmemory` (0: none set).
    pub max_memory: u64,
    pub evicted_keys: u64,
    pub expired_keys: u64,
    pub ops: u64,
    pub errors: u64,
    pub missed_writes: usize,
    pub state_since_ms: UnixMillis,
    pub last_probe: ProbeRecord,
}

impl Fleet {
    /// A fleet over `specs` (validated, distinct ids). Installs its ring in
    /// `router`; probing starts with [`Fleet::run_prober`].
    pub fn new(
        specs: Vec<NodeSpec>,
        settings: FleetSettings,
        router: Arc<Router>,
        clock: Arc<dyn Clock>,
        events: Arc<Events>,
    ) -> Result<Fleet, TopologyError> {
        let options = link_options(&settings);
        let nodes = specs
            .into_iter()
            .map(|spec| Arc::new(spec.connect(&options)))
            .collect();
        let topology = Topology::new(nodes).map_err(TopologyError::Ring)?;
        let parts = Parts {
            router,
            settings,
            options,
            clock,
            events,
        };
        Ok(Fleet::assemble(topology, parts, false))
    }

    /// The fleet over `topology`, its ring installed in the router.
    fn assemble(topology: Topology, parts: Parts, cluster: bool) -> Fleet {
        parts.router.replace(topology.ring.clone());
        Fleet {
            topology: ArcSwap::from_pointee(topology),
            router: parts.router,
            settings: parts.settings,
            options: parts.options,
            clock: parts.clock,
            events: parts.events,
            changing: AsyncMutex::new(()),
            cluster,
            stopping: CancellationToken::new(),
        }
    }

    /// A fleet of one logical node: a Redis Cluster reached through `seeds`.
    /// The cluster's slots place keys and its replicas fail over (redis-rs
    /// follows MOVED/ASK and refreshes slots); Roost keeps one copy per key,
    /// probes the cluster and reports it as one node.
    pub async fn over_cluster(
        seeds: Vec<NodeAddress>,
        settings: FleetSettings,
        router: Arc<Router>,
        clock: Arc<dyn Clock>,
        events: Arc<Events>,
    ) -> Result<Fleet, crate::error::CacheError> {
        let settings = FleetSettings {
            replicas: 1,
            write_quorum: 1,
            gutter_ttl: None,
            ..settings
        };
        let options = link_options(&settings);
        let link = RedisLink::cluster(seeds, options.clone()).await?;
        let node = FleetNode::new(NodeId::from("redis-cluster"), DEFAULT_WEIGHT, link);
        let topology =
            Topology::new(vec![Arc::new(node)]).expect("invariant: one node is a valid ring");
        let parts = Parts {
            router,
            settings,
            options,
            clock,
            events,
        };
        Ok(Fleet::assemble(topology, parts, true))
    }

    /// `redis` for standalone nodes, `redis-cluster` for a Redis Cluster.
    pub fn kind_name(&self) -> &'static str {
        if self.cluster {
            "redis-cluster"
        } else {
            "redis"
        }
    }

    /// Makes the node list match `urls` (a SIGHUP reload): nodes not named
    /// are drained, new ones added, in one change. Nodes are matched by id
    /// (`host:port`).
    pub async fn reconcile(self: &Arc<Self>, urls: &[String]) -> Result<Preview, TopologyError> {
        let current = self.topology();
        let unchanged = Preview {
            moved_share: 0.0,
            nodes_before: current.nodes.len(),
            nodes_after: current.nodes.len(),
        };
        if self.cluster {
            tracing::info!("SIGHUP: a Redis Cluster manages its own nodes; nothing to reload");
            return Ok(unchanged);
        }
        let wanted = urls
            .iter()
            .map(|url| NodeSpec::parse(url, None, None))
            .collect::<Result<Vec<_>, _>>()?;
        // Matched by address, so a node added through the API under its own
        // id is the same node when the configuration names its address.
        let same = |spec: &NodeSpec, node: &FleetNode| {
            spec.address.host_port() == node.address().host_port()
        };
        let add = wanted
            .iter()
            .filter(|spec| !current.nodes.iter().any(|node| same(spec, node)))
            .cloned()
            .collect::<Vec<_>>();
        let remove = current
            .nodes
            .iter()
            .filter(|node| !wanted.iter().any(|spec| same(spec, node)))
            .map(|node| node.id.to_string())
            .collect::<Vec<_>>();
        if add.is_empty() && remove.is_empty() {
            return Ok(unchanged);
        }
        self.change(add, &remove).await
    }

    pub fn now_millis(&self) -> UnixMillis {
        self.clock.now_millis()
    }

    pub fn settings(&self) -> &FleetSettings {
        &self.settings
    }

    pub fn topology(&self) -> Arc<Topology> {
        self.topology.load_full()
    }

    fn hysteresis(&self) -> Hysteresis {
        Hysteresis {
            eject_after: self.settings.eject_after,
            readmit_after: self.settings.readmit_after,
            interval: self.settings.health_interval,
        }
    }

    fn install(&self, topology: Topology) {
        let ring = topology.ring.clone();
        self.topology.store(Arc::new(topology));
        self.router.replace(ring);
    }

    fn record(&self, kind: EventKind, message: String) {
        self.events.record(kind, message);
    }

    /// Every node the topology API lists: the current ones, then any still
    /// being drained.
    pub fn node_views(&self) -> Vec<NodeView> {
        let topology = self.topology();
        let shares = topology.ring.shares();
        topology
            .all_nodes()
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let draining = i >= topology.nodes.len();
                let info = node.info();
                NodeView {
                    id: node.id.to_string(),
                    address: node.address().redacted(),
                    state: match (draining, node.health.state()) {
                        (true, _) => "draining",
                        (false, NodeState::Up) => "up",
                        (false, NodeState::Down) => "down",
                    },
                    weight: node.weight,
                    ring_share: shares.get(i).copied().unwrap_or(0.0),
                    keys: info.keys,
                    used_memory: info.used_memory,
                    max_memory: info.maxmemory,
                    evicted_keys: info.evicted_keys,
                    expired_keys: info.expired_keys,
                    ops: node.ops.load(std::sync::atomic::Ordering::Relaxed),
                    errors: node.errors.load(std::sync::atomic::Ordering::Relaxed),
                    missed_writes: node.journal.len(),
                    state_since_ms: node.health.changed_at(),
                    last_probe: node.health.last_probe(),
                }
            })
            .collect()
    }

    /// Per-node counters from the last INFO of each, in ring node order.
    pub fn node_stats(&self) -> Vec<NodeStats> {
        self.topology()
            .nodes
            .iter()
            .map(|node| {
                let info = node.info();
                NodeStats {
                    keys: info.keys,
                    used_bytes: info.used_memory,
                    capacity_bytes: info.maxmemory,
                    evictions: info.evicted_keys,
                    expirations: info.expired_keys,
                }
            })
            .collect()
    }

    /// Keys on the node at `index` from its last INFO (at most a few probe
    /// intervals old), divided by the replica count so that the sum over
    /// nodes counts each key once.
    pub fn node_len(&self, index: usize) -> u64 {
        self.topology()
            .nodes
            .get(index)
            .map_or(0, |node| node.info().keys / self.settings.replicas as u64)
    }

    /// Keys held, summed over nodes from their last INFO, each replicated key
    /// counted once.
    pub fn key_count(&self) -> u64 {
        let total: u64 = self.topology().nodes.iter().map(|n| n.info().keys).sum();
        total / self.settings.replicas as u64
    }

    /// Keys with a deadline, summed over nodes (each replica counts once).
    pub fn deadlines(&self) -> u64 {
        let total: u64 = self.topology().nodes.iter().map(|n| n.info().expires).sum();
        total / self.settings.replicas as u64
    }

    /// Redis's `maxmemory` summed over nodes (0 where a node has none).
    pub fn max_memory_bytes(&self) -> u64 {
        self.topology()
            .nodes
            .iter()
            .map(|n| n.info().maxmemory)
            .sum()
    }
}

fn link_options(settings: &FleetSettings) -> LinkOptions {
    LinkOptions {
        connections: settings.connections,
        timeout: settings.timeout,
        max_in_flight: settings.max_in_flight,
    }
}
