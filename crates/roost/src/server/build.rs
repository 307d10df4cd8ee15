//! Building the backend the configuration names: the embedded store, a fleet
//! of standalone Redis nodes, or a Redis Cluster (asked for, or detected with
//! `CLUSTER INFO` on the first node that answers).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use roost_store::{Clock, StoreConfig, Versioning};

use crate::backend::fleet::{NodeSpec, Versions};
use crate::backend::redis_link::NodeAddress;
use crate::backend::{Backend, Embedded, Fleet};
use crate::config::{BackendConfig, Config, RedisKind};
use crate::tasks::Tasks;
use crate::telemetry::{Events, Metrics};

/// What a backend is built with besides its configuration.
pub(super) struct Parts {
    pub clock: Arc<dyn Clock>,
    pub events: Arc<Events>,
    pub metrics: Arc<Metrics>,
    /// Where a fleet starts its key mover and refills.
    pub tasks: Tasks,
    /// Which keys are hot now (the near cache admits from it).
    pub hot: Arc<dyn crate::hot::HotSet>,
    /// A region's versions and tombstones (`crate::geo`), for the embedded
    /// store; `None` for a single region.
    pub versioning: Option<Versioning>,
    /// The same for a Redis fleet or Redis Cluster.
    pub fleet_versions: Option<Versions>,
}

pub(super) async fn build_backend(config: &Config, parts: Parts) -> anyhow::Result<Backend> {
    let Parts {
        clock,
        events,
        metrics,
        tasks,
        hot,
        versioning,
        fleet_versions,
    } = parts;
    match &config.backend {
        BackendConfig::Embedded {
            shards,
            max_memory_bytes,
            policy,
        } => {
            let store = StoreConfig {
                shards: *shards,
                max_memory_bytes: *max_memory_bytes,
                policy: *policy,
            };
            tracing::info!(shards = shards.get(), max_memory_bytes, %policy, versioned = versioning.is_some(), "embedded store");
            Ok(Backend::Embedded(Embedded::new(
                store, clock, metrics, versioning,
            )))
        }
        BackendConfig::Redis { nodes, kind, fleet } => {
            let addresses = nodes.clone();
            let cluster = match kind {
                RedisKind::Cluster => true,
                RedisKind::Standalone => false,
                RedisKind::Detect => detect_cluster(&addresses, fleet.timeout).await?,
            };
            let backend = if cluster {
                tracing::info!(seeds = nodes.len(), "redis cluster backend");
                Fleet::over_cluster(addresses, *fleet, clock, events, tasks)
                    .await
                    .context("connecting to the Redis Cluster")?
            } else {
                let specs = nodes.iter().cloned().map(NodeSpec::at).collect();
                tracing::info!(
                    nodes = nodes.len(),
                    replicas = fleet.replicas,
                    write_quorum = fleet.write_quorum,
                    "redis fleet backend"
                );
                Fleet::new(specs, *fleet, clock, events, tasks)?
            };
            let mut backend = backend;
            let region = fleet_versions.is_some();
            if let Some(versions) = fleet_versions {
                // A region: versions in Redis, one copy per key, no near
                // cache (the configuration check made sure of both), and
                // no node warm-up, whose copies would carry no version.
                tracing::info!(
                    "versions and tombstones kept in Redis for the region; node warm-up off"
                );
                backend.enable_versions(versions);
            }
            backend.enable_near(hot.clone(), metrics.near().clone());
            if config.warming.enabled && !region {
                backend.enable_warmup(hot, config.hot_keys.capacity, &metrics);
            }
            let fleet = Arc::new(backend);
            fleet.spawn_trend_preload();
            Ok(Backend::Fleet(fleet))
        }
    }
}

/// Asks the nodes in turn whether they are a Redis Cluster; the first answer
/// decides. Fails when none answers: at start-up that is a configuration
/// problem worth stopping for (set ROOST_BACKEND to start without asking).
async fn detect_cluster(addresses: &[NodeAddress], timeout: Duration) -> anyhow::Result<bool> {
    let mut failures = Vec::new();
    for address in addresses {
        match cluster_enabled(address, timeout).await {
            Ok(enabled) => {
                tracing::info!(node = %address.redacted(), cluster = enabled, "backend detected");
                return Ok(enabled);
            }
            Err(err) => failures.push(format!("{}: {err}", address.redacted())),
        }
    }
    anyhow::bail!(
        "ROOST_BACKEND=auto could not ask any node whether it is a Redis Cluster ({}); \
         start the nodes, or set ROOST_BACKEND=redis or redis-cluster",
        failures.join("; ")
    )
}

/// `CLUSTER INFO` on one node: `true` for a cluster node, `false` for a
/// standalone server (which answers "cluster support disabled").
async fn cluster_enabled(address: &NodeAddress, timeout: Duration) -> anyhow::Result<bool> {
    let client = redis::Client::open(address.connection_info().clone())?;
    let ask = async {
        let mut connection = client.get_multiplexed_async_connection().await?;
        let reply: redis::RedisResult<String> = redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut connection)
            .await;
        match reply {
            Ok(info) => Ok(info.contains("cluster_enabled:1") || info.contains("cluster_state:")),
            // A standalone server answers CLUSTER INFO with an error reply
            // ("ERR This instance has cluster support disabled"): it answered,
            // and it is no cluster. Failing to get an answer is an error.
            Err(err) if matches!(err.kind(), redis::ErrorKind::Server(_)) => Ok(false),
            Err(err) => Err(anyhow::Error::from(err)),
        }
    };
    tokio::time::timeout(timeout, ask)
        .await
        .map_err(|_| anyhow::anyhow!("no answer within {} ms", timeout.as_millis()))?
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use bytes::Bytes;
    use roost_store::SystemClock;

    use super::*;
    use crate::config::Layers;

    /// A fleet over a port nothing listens on: nodes connect lazily, so building
    /// it touches no network.
    async fn fleet_backend() -> Backend {
        let env: HashMap<String, String> = [
            ("REDIS_CLUSTER_NODES", "redis://127.0.0.1:1"),
            ("ROOST_BACKEND", "redis"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let config = Config::from_layers(&Layers::defaults().with_env(&env)).unwrap();
        let events = Arc::new(Events::default());
        let metrics = Arc::new(Metrics::new());
        let parts = Parts {
            clock: Arc::new(SystemClock),
            tasks: Tasks::new(events.clone(), metrics.clone()),
            events,
            metrics: metrics.clone(),
            hot: crate::hot::HotKeys::new(crate::hot::HotKeysConfig::default(), &metrics),
            versioning: None,
            fleet_versions: None,
        };
        build_backend(&config, parts).await.unwrap()
    }

    #[tokio::test]
    async fn fleet_futures_stay_small_above_the_backend() {
        // Every future above the backend (Cache call, RESP handler, each of a
        // pipeline's concurrent commands) embeds these; unboxed, a fleet read
        // made a RESP GET's future 6.9 KB and cost P=16 throughput a third.
        let backend = fleet_backend().await;
        let key: &[u8] = b"k";
        let get = backend.get_value(key);
        let set = backend.set(Bytes::new(), Bytes::new(), None);
        let delete = backend.delete(key);
        for (name, size) in [
            ("get_value", std::mem::size_of_val(&get)),
            ("set", std::mem::size_of_val(&set)),
            ("delete", std::mem::size_of_val(&delete)),
        ] {
            assert!(size <= 256, "{name}'s future is {size} bytes");
        }
    }
}
