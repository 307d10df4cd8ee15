//! The Redis fleet backend: standalone Redis servers sharded by Roost's ring,
//! each key on `replicas` distinct ring successors, with health checking,
//! failover, a gutter, and topology changes without a restart.
//!
//! One file per concern:
//! - `topology.rs`: the nodes, their ring, replica placement (immutable snapshots);
//! - `health.rs`: per-node hysteresis (eject after N failures, readmit after M probes);
//! - `journal.rs`: keys a node missed while out, invalidated before it rejoins;
//! - `data_path.rs`: the intra-region data path (how one gateway keeps its
//!   replicas; "replication" is kept for cross-region) — reads with failover and read-repair,
//!   writes to every replica with a quorum, the gutter, read-through while moving;
//! - `probe.rs`: the background prober that ejects, readmits and gathers INFO;
//! - `changes.rs`: adding, draining and reconciling nodes, and the key mover;
//! - `warmup.rs`: copying the hottest keys to a node added or re-admitted
//!   first, and preloading keys whose rate rises (warming on).
//!
//! The fleet owns its placement: every operation takes a key and finds its
//! replicas in the current [`Topology`] snapshot; nothing above it routes.

mod changes;
mod data_path;
mod forward;
mod health;
mod journal;
mod lease;
mod near;
mod near_reads;
mod ops;
mod probe;
mod scripts;
mod topology;
mod transaction;
mod versions;
mod warmup;

use std::sync::Arc;

use arc_swap::ArcSwap;
use roost_store::{Clock, UnixMillis};
use tokio::sync::Mutex as AsyncMutex;

pub use changes::{NodeSpec, Preview, TopologyError};
pub use health::{HealthState, Hysteresis, ProbeRecord};
pub use lease::{lease_key, LEASE_PREFIX};
pub use near::{weight as near_entry_weight, Admission, ENTRY_OVERHEAD as NEAR_ENTRY_OVERHEAD};
pub use scripts::MAX_BYTES as MAX_SCRIPT_BYTES;
pub use topology::{FleetNode, Topology, MAX_REPLICAS};
pub use versions::{is_version_key, Receipts, Versions};
pub use warmup::{WarmupReason, WarmupState, WarmupStatus, TREND_EVERY, WARMUP_KEYS_PER_SEC};

use roost_ring::{NodeId, DEFAULT_WEIGHT};

use super::redis_link::{LinkOptions, NodeAddress, RedisLink};
use super::{NodeReport, NodeStatus};
use crate::config::FleetSettings;
use crate::tasks::Tasks;
use crate::telemetry::{EventKind, Events};

#[derive(Debug)]
pub struct Fleet {
    topology: ArcSwap<Topology>,
    settings: FleetSettings,
    options: LinkOptions,
    clock: Arc<dyn Clock>,
    events: Arc<Events>,
    /// Serialises topology changes (API calls, SIGHUP, the mover finishing).
    changing: AsyncMutex<()>,
    /// One logical node that is a whole Redis Cluster (its slots decide).
    cluster: bool,
    /// Where the key mover and refills run; they end at shutdown.
    tasks: Tasks,
    /// Hot keys kept in this gateway (`ROOST_NEAR_CACHE_BYTES`); `None`: off.
    near: Option<Arc<near::NearCache>>,
    /// Node warm-up and trend preload (`ROOST_WARMING`); `None`: off.
    warmer: Option<Arc<warmup::Warmer>>,
    /// Scripts and function libraries, to load on a node that lacks one.
    scripts: scripts::Scripts,
    /// A region's versions and tombstones (`versions.rs`); `None`: a single region.
    versions: Option<Arc<versions::Versions>>,
}

/// What both constructors hand to [`Fleet::assemble`].
struct Parts {
    settings: FleetSettings,
    options: LinkOptions,
    clock: Arc<dyn Clock>,
    events: Arc<Events>,
    tasks: Tasks,
}

impl Fleet {
    /// A fleet over `specs` (validated, distinct ids); probing starts with
    /// [`Fleet::run_prober`].
    pub fn new(
        specs: Vec<NodeSpec>,
        settings: FleetSettings,
        clock: Arc<dyn Clock>,
        events: Arc<Events>,
        tasks: Tasks,
    ) -> Result<Fleet, TopologyError> {
        let options = link_options(&settings);
        let nodes = specs
            .into_iter()
            .map(|spec| Arc::new(spec.connect(&options)))
            .collect();
        let topology = Topology::new(nodes).map_err(TopologyError::Ring)?;
        let parts = Parts {
            settings,
            options,
            clock,
            events,
            tasks,
        };
        Ok(Fleet::assemble(topology, parts, false))
    }

    /// The fleet over `topology`.
    fn assemble(topology: Topology, parts: Parts, cluster: bool) -> Fleet {
        Fleet {
            topology: ArcSwap::from_pointee(topology),
            settings: parts.settings,
            options: parts.options,
            clock: parts.clock,
            events: parts.events,
            changing: AsyncMutex::new(()),
            cluster,
            tasks: parts.tasks,
            near: None,
            warmer: None,
            scripts: scripts::Scripts::default(),
            versions: None,
        }
    }

    /// A fleet of one logical node: a Redis Cluster reached through `seeds`.
    /// The cluster's slots place keys and its replicas fail over (redis-rs
    /// follows MOVED/ASK and refreshes slots); Roost keeps one copy per key,
    /// probes the cluster and reports it as one node.
    pub async fn over_cluster(
        seeds: Vec<NodeAddress>,
        settings: FleetSettings,
        clock: Arc<dyn Clock>,
        events: Arc<Events>,
        tasks: Tasks,
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
            settings,
            options,
            clock,
            events,
            tasks,
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

    /// Makes the node list match `nodes` (a SIGHUP reload): nodes not named
    /// are drained, new ones added, in one change. Nodes are matched by id
    /// (`host:port`).
    pub async fn reconcile(
        self: &Arc<Self>,
        nodes: &[NodeAddress],
    ) -> Result<Preview, TopologyError> {
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
        let wanted: Vec<NodeSpec> = nodes.iter().cloned().map(NodeSpec::at).collect();
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
        let topology = Arc::new(topology);
        self.topology.store(topology.clone());
        if let (Some(near), false) = (&self.near, self.cluster) {
            near.follow_topology(&topology);
        }
    }

    /// The id of the node that owns `key` now: its first replica on the ring.
    pub fn owner(&self, key: &[u8]) -> Option<NodeId> {
        let topology = self.topology.load();
        let index = topology.ring.locate(key)?;
        topology.nodes.get(index).map(|node| node.id.clone())
    }

    fn record(&self, kind: EventKind, message: String) {
        self.events.record(kind, message);
    }

    /// Every node: the current ones, then any still being drained.
    pub fn nodes(&self) -> Vec<NodeReport> {
        let topology = self.topology();
        let shares = topology.ring.shares();
        topology
            .all_nodes()
            .iter()
            .enumerate()
            .map(|(i, node)| {
                let draining = i >= topology.nodes.len();
                let info = node.info();
                NodeReport {
                    id: node.id.to_string(),
                    address: Some(node.address().redacted()),
                    status: match (draining, node.health.state()) {
                        (true, _) => NodeStatus::Draining,
                        (false, HealthState::Up) => NodeStatus::Up,
                        (false, HealthState::Down) => NodeStatus::Down,
                    },
                    weight: node.weight,
                    ring_share: shares.get(i).copied().unwrap_or(0.0),
                    keys: info.keys,
                    used_bytes: info.used_memory,
                    capacity_bytes: info.maxmemory,
                    evictions: info.evicted_keys,
                    expirations: info.expired_keys,
                    ops: node.ops.load(std::sync::atomic::Ordering::Relaxed),
                    errors: node.errors.load(std::sync::atomic::Ordering::Relaxed),
                    missed_writes: node.journal.len(),
                    status_since_ms: Some(node.health.changed_at()),
                    last_probe: Some(node.health.last_probe()),
                }
            })
            .collect()
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
