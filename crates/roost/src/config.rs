//! Configuration: layered loading (defaults < `roost.toml` < environment < flags)
//! and validation into typed values, once, at start-up.
//!
//! Every layer yields raw strings keyed by the catalogue; [`Config::from_layers`]
//! turns them into typed values and names the exact key, layer and reason when a
//! value is wrong. Nothing reads the environment after start-up.

mod auth;
mod catalogue;
mod geo;
mod hot;
mod layers;
mod listeners;
mod origin;
mod parse;
mod warming;

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::time::Duration;

pub use auth::{AuthSettings, OpenEndpoints};
pub use catalogue::{setting, Setting, SETTINGS};
pub use geo::{GeoMode, GeoSettings, Peer, MAX_REGIONS};
pub use layers::{Layers, Origin};
pub use listeners::{HttpLimits, ListenerSettings, OutputLimits, SoftLimit};
pub use origin::{OriginSettings, OriginUrl, KEY_PLACEHOLDER};
use parse::{addr, bounded_u64, byte_size, redis_urls};
use roost_store::PolicyKind;
pub use warming::WarmingSettings;

use crate::backend::redis_link::NodeAddress;

/// The longest TTL a REST write may ask for by default, 30 days, and the
/// ceiling of `CACHE_TTL` and the origin's lifetimes
/// (`ROOST_REST_MAX_TTL` sets the REST ceiling).
pub const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The highest `ROOST_REST_MAX_TTL`: ten years.
pub const REST_MAX_TTL_CEILING: u64 = 10 * 365 * 24 * 3600;

/// A value that failed validation, with where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {env}={value:?} (from {origin}): {reason}")]
    Invalid {
        env: &'static str,
        value: String,
        origin: Origin,
        reason: String,
    },
    #[error("config file {path}: {reason}")]
    File { path: String, reason: String },
}

/// Validated configuration, passed explicitly to whatever needs it.
#[derive(Debug, Clone)]
pub struct Config {
    pub http_addr: SocketAddr,
    pub resp_addr: SocketAddr,
    pub resp: RespSettings,
    pub dashboard_addr: SocketAddr,
    /// How often `/ws/metrics` pushes a snapshot.
    pub metrics_interval: Duration,
    pub backend: BackendConfig,
    pub default_ttl: Option<Duration>,
    pub warming_interval: Duration,
    /// Warming on or off, its origin budget and snapshots (`ROOST_WARMING`, ...).
    pub warming: WarmingSettings,
    /// This region and its peers (`ROOST_REGION`, ...); `None` for a single region.
    pub geo: Option<GeoSettings>,
    /// Hot-key tracking (`ROOST_HOT_KEYS*`).
    pub hot_keys: crate::hot::HotKeysConfig,
    pub limits: Limits,
    pub auth: AuthSettings,
    pub listeners: ListenerSettings,
    pub expiry_sweep_interval: Duration,
    /// The runtime's worker threads: every connection and background task runs on them.
    pub worker_threads: NonZeroUsize,
    pub shutdown_timeout: Duration,
    pub log_filter: String,
    pub log_format: LogFormat,
    /// Read-through from an origin on a miss; `None` when `ROOST_ORIGIN_URL` is unset.
    pub origin: Option<OriginSettings>,
}

/// Which store sits behind the router.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    Embedded {
        shards: NonZeroUsize,
        max_memory_bytes: u64,
        policy: PolicyKind,
    },
    /// Standalone Redis nodes sharded by Roost's ring, or a Redis Cluster.
    Redis {
        /// Parsed and validated here, once.
        nodes: Vec<NodeAddress>,
        kind: RedisKind,
        fleet: FleetSettings,
    },
}

impl BackendConfig {
    /// One line for `roost config check`, with no node URL (they may carry
    /// passwords; the settings table above shows them redacted).
    pub fn summary(&self) -> String {
        match self {
            BackendConfig::Embedded {
                shards,
                max_memory_bytes,
                policy,
            } => format!(
                "embedded store, {shards} shards, {max_memory_bytes} bytes, {policy} eviction"
            ),
            BackendConfig::Redis { nodes, kind, fleet } => format!(
                "{} over {} node(s), {} replica(s), write quorum {}, gutter {}",
                match kind {
                    RedisKind::Detect => "redis or redis-cluster (asked at start-up)",
                    RedisKind::Standalone => "redis",
                    RedisKind::Cluster => "redis-cluster",
                },
                nodes.len(),
                fleet.replicas,
                fleet.write_quorum,
                fleet
                    .gutter_ttl
                    .map_or_else(|| "off".to_owned(), |t| format!("{} s", t.as_secs())),
            ),
        }
    }
}

/// Which kind of Redis deployment `REDIS_CLUSTER_NODES` names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisKind {
    /// Ask the first reachable node (`CLUSTER INFO`) at start-up.
    Detect,
    /// Standalone servers; Roost's ring shards over them.
    Standalone,
    /// A Redis Cluster; its slots decide.
    Cluster,
}

/// How the gateway treats a fleet of Redis nodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetSettings {
    pub replicas: usize,
    pub write_quorum: usize,
    pub health_interval: Duration,
    pub eject_after: u32,
    pub readmit_after: u32,
    /// With one replica, how long gutter writes live; `None` means eject and rehash.
    pub gutter_ttl: Option<Duration>,
    pub connections: usize,
    pub timeout: Duration,
    pub max_in_flight: usize,
    /// The near cache's byte budget for hot keys (0: off).
    pub near_cache_bytes: u64,
}

/// Request limits, shared by every front door.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_key_bytes: usize,
    pub max_value_bytes: usize,
    pub max_batch_keys: usize,
    pub max_body_bytes: usize,
    /// The longest TTL a REST write may ask for (RESP follows Redis's rule).
    pub rest_max_ttl: Duration,
}

/// The RESP front door's own settings (its address is [`Config::resp_addr`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RespSettings {
    pub max_connections: usize,
    /// How long a connection may send nothing; `None` is forever.
    pub idle_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// Validates the merged layers into a typed configuration.
    pub fn from_layers(layers: &Layers) -> Result<Config, ConfigError> {
        let limits = Limits {
            max_key_bytes: bounded_u64(layers, "max_key_bytes", 1, 65_536)? as usize,
            max_value_bytes: byte_size(layers, "max_value_bytes", 1, 512 << 20)? as usize,
            max_batch_keys: bounded_u64(layers, "max_batch_keys", 1, 100_000)? as usize,
            max_body_bytes: byte_size(layers, "max_body_bytes", 1024, 4 << 30)? as usize,
            rest_max_ttl: Duration::from_secs(bounded_u64(
                layers,
                "rest_max_ttl",
                1,
                REST_MAX_TTL_CEILING,
            )?),
        };
        let ttl = bounded_u64(layers, "cache_ttl", 0, MAX_TTL.as_secs())?;
        let config = Config {
            http_addr: addr(layers, "http_addr")?,
            resp_addr: addr(layers, "resp_addr")?,
            resp: resp_settings(layers)?,
            dashboard_addr: addr(layers, "dashboard_addr")?,
            metrics_interval: Duration::from_millis(bounded_u64(
                layers,
                "metrics_interval",
                100,
                60_000,
            )?),
            backend: backend(layers)?,
            default_ttl: (ttl > 0).then(|| Duration::from_secs(ttl)),
            warming_interval: Duration::from_millis(bounded_u64(
                layers,
                "warming_interval",
                100,
                86_400_000,
            )?),
            warming: warming::warming_settings(layers)?,
            geo: geo::geo_settings(layers)?,
            hot_keys: hot::hot_keys_settings(layers)?,
            limits,
            auth: auth::auth_settings(layers)?,
            listeners: listeners::listener_settings(layers)?,
            expiry_sweep_interval: Duration::from_millis(bounded_u64(
                layers,
                "expiry_sweep_interval",
                10,
                60_000,
            )?),
            worker_threads: per_core_unless_set(layers, "worker_threads")?,
            shutdown_timeout: Duration::from_secs(bounded_u64(
                layers,
                "shutdown_timeout",
                0,
                3600,
            )?),
            log_filter: layers.get("log").unwrap_or("info").to_owned(),
            log_format: log_format(layers)?,
            origin: origin::origin_settings(layers)?,
        };
        config.check_exposure(layers)?;
        config.check_geo(layers)?;
        Ok(config)
    }

    /// A region keeps its change log and cursors in `ROOST_DATA_DIR`; on a
    /// Redis backend it keeps one copy per key and no near cache, since each
    /// key's version lives on the key's one node (docs/regions.md).
    fn check_geo(&self, layers: &Layers) -> Result<(), ConfigError> {
        if self.geo.is_none() {
            return Ok(());
        }
        if self.warming.data_dir.is_none() {
            return Err(layers.invalid(
                "region",
                "a region needs ROOST_DATA_DIR: its change log is written there before each write is acknowledged".into(),
            ));
        }
        if let BackendConfig::Redis { fleet, .. } = &self.backend {
            if fleet.replicas > 1 {
                return Err(layers.invalid(
                    "replicas",
                    "a region on Redis keeps each key's version on its one node: set ROOST_REPLICAS=1 (Redis's own replicas, or a Redis Cluster's, still fail over)".into(),
                ));
            }
            if fleet.near_cache_bytes > 0 {
                return Err(layers.invalid(
                    "near_cache_bytes",
                    "a region on Redis serves every read from Redis, where versions are checked: set ROOST_NEAR_CACHE_BYTES=0".into(),
                ));
            }
        }
        Ok(())
    }

    /// The addresses of every listener, with the key that sets each.
    pub fn listener_addrs(&self) -> [(&'static str, SocketAddr); 3] {
        [
            ("http_addr", self.http_addr),
            ("resp_addr", self.resp_addr),
            ("dashboard_addr", self.dashboard_addr),
        ]
    }

    /// The listeners bound beyond this host (not loopback) while no
    /// credential is configured: anyone who can reach them may read, write and
    /// flush. Refused unless `ROOST_ALLOW_NO_AUTH` says so.
    pub fn exposed_without_auth(&self) -> Vec<SocketAddr> {
        if !self.auth.credentials.is_empty() {
            return Vec::new();
        }
        self.listener_addrs()
            .into_iter()
            .map(|(_, addr)| addr)
            .filter(|addr| !addr.ip().is_loopback())
            .collect()
    }

    fn check_exposure(&self, layers: &Layers) -> Result<(), ConfigError> {
        if self.auth.allow_no_auth {
            return Ok(());
        }
        let exposed = self
            .listener_addrs()
            .into_iter()
            .find(|(_, addr)| self.exposed_without_auth().contains(addr));
        match exposed {
            None => Ok(()),
            Some((key, addr)) => Err(layers.invalid(
                key,
                format!(
                    "{addr} is reachable beyond this host and no credential is configured; set \
                     ROOST_API_TOKENS (or ROOST_RESP_PASSWORD / ROOST_ADMIN_TOKEN), bind to \
                     127.0.0.1, or set ROOST_ALLOW_NO_AUTH=true to serve anyone who can reach it"
                ),
            )),
        }
    }
}

fn backend(layers: &Layers) -> Result<BackendConfig, ConfigError> {
    let has_nodes = layers.get("redis_cluster_nodes").is_some();
    let kind = match (layers.get("backend").unwrap_or("auto"), has_nodes) {
        ("auto", false) | ("embedded", false) => None,
        ("auto", true) => Some(RedisKind::Detect),
        ("redis", true) => Some(RedisKind::Standalone),
        ("redis-cluster", true) => Some(RedisKind::Cluster),
        ("embedded", true) => {
            return Err(layers.invalid(
                "backend",
                "embedded conflicts with REDIS_CLUSTER_NODES being set; unset one".into(),
            ))
        }
        ("redis" | "redis-cluster", false) => {
            return Err(layers.invalid(
                "backend",
                "needs REDIS_CLUSTER_NODES=redis://host:port,... naming the nodes".into(),
            ))
        }
        _ => {
            return Err(layers.invalid(
                "backend",
                "expected auto, embedded, redis or redis-cluster".into(),
            ))
        }
    };
    if let Some(kind) = kind {
        let nodes = redis_urls(layers, "redis_cluster_nodes")?;
        let fleet = fleet_settings(layers, nodes.len(), kind)?;
        return Ok(BackendConfig::Redis { nodes, kind, fleet });
    }
    let shards = per_core_unless_set(layers, "shards")?;
    let max_memory_bytes = byte_size(layers, "max_memory", 1 << 20, u64::MAX)?;
    let policy = match layers.get("eviction_policy") {
        None => PolicyKind::default(),
        Some(name) => name.parse().map_err(|_| {
            let names: Vec<String> = PolicyKind::ALL.iter().map(|p| p.to_string()).collect();
            layers.invalid(
                "eviction_policy",
                format!("expected one of {}", names.join(", ")),
            )
        })?,
    };
    if max_memory_bytes / (shards.get() as u64) < 64 * 1024 {
        return Err(layers.invalid(
            "max_memory",
            format!("too small for {shards} shards: each shard needs at least 64KiB"),
        ));
    }
    Ok(BackendConfig::Embedded {
        shards,
        max_memory_bytes,
        policy,
    })
}

/// A count of 1 to 1024 for `key`; unset means one per CPU core this process may use.
fn per_core_unless_set(layers: &Layers, key: &str) -> Result<NonZeroUsize, ConfigError> {
    let count = match layers.get(key) {
        None => std::thread::available_parallelism().map_or(1, NonZeroUsize::get) as u64,
        Some(_) => bounded_u64(layers, key, 1, 1024)?,
    };
    Ok(NonZeroUsize::new(count as usize).expect("invariant: a count of at least 1 was checked"))
}

fn fleet_settings(
    layers: &Layers,
    node_count: usize,
    kind: RedisKind,
) -> Result<FleetSettings, ConfigError> {
    let replicas = bounded_u64(layers, "replicas", 1, 5)? as usize;
    if kind == RedisKind::Standalone && replicas > node_count {
        return Err(layers.invalid(
            "replicas",
            format!("{replicas} replicas need at least {replicas} nodes; REDIS_CLUSTER_NODES names {node_count}"),
        ));
    }
    let write_quorum = bounded_u64(layers, "write_quorum", 1, 5)? as usize;
    if write_quorum > replicas {
        return Err(layers.invalid(
            "write_quorum",
            format!("cannot exceed ROOST_REPLICAS ({replicas})"),
        ));
    }
    let gutter = bounded_u64(layers, "gutter_ttl", 0, 3600)?;
    Ok(FleetSettings {
        replicas,
        write_quorum,
        health_interval: Duration::from_millis(bounded_u64(layers, "health_interval", 50, 60_000)?),
        eject_after: bounded_u64(layers, "eject_after", 1, 100)? as u32,
        readmit_after: bounded_u64(layers, "readmit_after", 1, 100)? as u32,
        gutter_ttl: (gutter > 0).then(|| Duration::from_secs(gutter)),
        connections: bounded_u64(layers, "redis_connections", 1, 64)? as usize,
        timeout: Duration::from_millis(bounded_u64(layers, "redis_timeout", 10, 60_000)?),
        max_in_flight: bounded_u64(layers, "redis_max_in_flight", 1, 1_000_000)? as usize,
        near_cache_bytes: near_cache_bytes(layers)?,
    })
}

/// The near cache's budget: 0 (off), or at least 64KiB so an entry's share of
/// it (1/64) holds a small value.
fn near_cache_bytes(layers: &Layers) -> Result<u64, ConfigError> {
    let bytes = byte_size(layers, "near_cache_bytes", 0, 1 << 40)?;
    if bytes > 0 && bytes < 64 * 1024 {
        return Err(layers.invalid(
            "near_cache_bytes",
            "must be 0 (off) or at least 64KiB".into(),
        ));
    }
    Ok(bytes)
}

fn resp_settings(layers: &Layers) -> Result<RespSettings, ConfigError> {
    let idle = bounded_u64(layers, "resp_idle_timeout", 0, 86_400)?;
    Ok(RespSettings {
        max_connections: bounded_u64(layers, "resp_max_connections", 1, 1_000_000)? as usize,
        idle_timeout: (idle > 0).then(|| Duration::from_secs(idle)),
    })
}

fn log_format(layers: &Layers) -> Result<LogFormat, ConfigError> {
    match layers.get("log_format").unwrap_or("text") {
        "text" => Ok(LogFormat::Text),
        "json" => Ok(LogFormat::Json),
        _ => Err(layers.invalid("log_format", "expected text or json".into())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with_env(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let layers = Layers::defaults().with_env(&env);
        Config::from_layers(&layers)
    }

    #[test]
    fn a_region_on_redis_needs_one_copy_per_key_and_no_near_cache() {
        let region = [
            ("ROOST_REGION", "us"),
            ("ROOST_REGION_PEERS", "eu=http://127.0.0.1:8001"),
            ("ROOST_REGION_SECRET", "0123456789abcdef"),
            ("ROOST_DATA_DIR", "/tmp/roost-config-test"),
            ("ROOST_BACKEND", "redis"),
            (
                "REDIS_CLUSTER_NODES",
                "redis://127.0.0.1:7000,redis://127.0.0.1:7001",
            ),
        ];
        let config = with_env(&region).unwrap();
        assert!(config.geo.is_some());
        for (key, value, named) in [
            ("ROOST_REPLICAS", "2", "ROOST_REPLICAS=1"),
            (
                "ROOST_NEAR_CACHE_BYTES",
                "64MiB",
                "ROOST_NEAR_CACHE_BYTES=0",
            ),
        ] {
            let mut env = region.to_vec();
            env.push((key, value));
            let err = with_env(&env).unwrap_err().to_string();
            assert!(err.contains(named), "{key}={value}: {err}");
        }
    }

    #[test]
    fn defaults_validate() {
        let config = with_env(&[]).unwrap();
        assert_eq!(config.http_addr.to_string(), "127.0.0.1:8000");
        assert_eq!(config.default_ttl, Some(Duration::from_secs(3600)));
        assert_eq!(config.limits.max_key_bytes, 512);
        assert_eq!(config.limits.max_value_bytes, 1 << 20);
        assert_eq!(config.limits.max_batch_keys, 1000);
        assert_eq!(config.resp_addr.to_string(), "127.0.0.1:6380");
        assert_eq!(config.resp.max_connections, 10_000);
        assert_eq!(config.resp.idle_timeout, Some(Duration::from_secs(300)));
        assert!(config.auth.credentials.is_empty());
        let cores = std::thread::available_parallelism().unwrap();
        assert_eq!(config.worker_threads, cores);
        let config = with_env(&[("ROOST_WORKER_THREADS", "5")]).unwrap();
        assert_eq!(config.worker_threads.get(), 5);
        assert!(with_env(&[("ROOST_WORKER_THREADS", "1025")]).is_err());
        match config.backend {
            BackendConfig::Embedded {
                max_memory_bytes, ..
            } => assert_eq!(max_memory_bytes, 256 << 20),
            other => panic!("expected embedded, got {other:?}"),
        }
    }

    #[test]
    fn brief_variables_keep_their_meaning() {
        let config = with_env(&[("CACHE_TTL", "0"), ("WARMING_INTERVAL", "250")]).unwrap();
        assert_eq!(config.default_ttl, None);
        assert_eq!(config.warming_interval, Duration::from_millis(250));
        let config = with_env(&[(
            "REDIS_CLUSTER_NODES",
            "redis://10.0.0.1:7000, redis://h:7001",
        )])
        .unwrap();
        match config.backend {
            BackendConfig::Redis { nodes, kind, fleet } => {
                let urls: Vec<String> = nodes.iter().map(NodeAddress::redacted).collect();
                assert_eq!(urls, ["redis://10.0.0.1:7000", "redis://h:7001"]);
                assert_eq!(kind, RedisKind::Detect);
                assert_eq!((fleet.replicas, fleet.write_quorum), (1, 1));
                assert_eq!(fleet.gutter_ttl, Some(Duration::from_secs(10)));
            }
            other => panic!("expected redis, got {other:?}"),
        }
    }

    #[test]
    fn fleet_settings_are_checked_against_each_other() {
        let nodes = ("REDIS_CLUSTER_NODES", "redis://a:1,redis://b:2");
        let err = with_env(&[nodes, ("ROOST_BACKEND", "redis"), ("ROOST_REPLICAS", "3")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("need at least 3 nodes"), "{err}");
        let err = with_env(&[nodes, ("ROOST_REPLICAS", "2"), ("ROOST_WRITE_QUORUM", "3")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot exceed ROOST_REPLICAS"), "{err}");
        let err = with_env(&[nodes, ("ROOST_BACKEND", "embedded")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("conflicts"), "{err}");
        let err = with_env(&[("ROOST_BACKEND", "redis-cluster")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("needs REDIS_CLUSTER_NODES"), "{err}");
        let config = with_env(&[nodes, ("ROOST_BACKEND", "redis"), ("ROOST_GUTTER_TTL", "0")]);
        match config.unwrap().backend {
            BackendConfig::Redis { kind, fleet, .. } => {
                assert_eq!(kind, RedisKind::Standalone);
                assert_eq!(fleet.gutter_ttl, None);
            }
            other => panic!("expected redis, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_variable_the_value_and_the_reason() {
        let err = with_env(&[("ROOST_MAX_MEMORY", "12XB")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ROOST_MAX_MEMORY=\"12XB\""), "{err}");
        assert!(err.contains("environment"), "{err}");
        let err = with_env(&[("WARMING_INTERVAL", "5")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 100"), "{err}");
        let err = with_env(&[("ROOST_HTTP_ADDR", "localhost")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("IP:port"), "{err}");
        let err = with_env(&[("REDIS_CLUSTER_NODES", "http://x:1")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("redis://"), "{err}");
        // Parsed once, here: what the backend would refuse is refused at load,
        // and the password is never repeated.
        let err = with_env(&[("REDIS_CLUSTER_NODES", "redis://:hunter2@h:1/-3")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("database number"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = with_env(&[("ROOST_EVICTION_POLICY", "fifo")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected one of"), "{err}");
        let err = with_env(&[("ROOST_LOG_FORMAT", "xml")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("text or json"), "{err}");
    }

    #[test]
    fn memory_cap_must_leave_room_for_every_shard() {
        let err = with_env(&[("ROOST_MAX_MEMORY", "1MiB"), ("ROOST_SHARDS", "64")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("64 shards"), "{err}");
    }

    #[test]
    fn listeners_beyond_loopback_need_a_credential_or_an_explicit_opt_out() {
        let err = with_env(&[("ROOST_RESP_ADDR", "0.0.0.0:6380")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ROOST_RESP_ADDR"), "{err}");
        assert!(err.contains("no credential is configured"), "{err}");
        let config = with_env(&[
            ("ROOST_HTTP_ADDR", "0.0.0.0:8000"),
            ("ROOST_ALLOW_NO_AUTH", "true"),
        ])
        .unwrap();
        assert_eq!(config.exposed_without_auth().len(), 1);
        let config = with_env(&[
            ("ROOST_HTTP_ADDR", "0.0.0.0:8000"),
            ("ROOST_API_TOKENS", "app:write:t0ken"),
        ])
        .unwrap();
        assert!(config.exposed_without_auth().is_empty());
        assert!(with_env(&[("ROOST_HTTP_ADDR", "[::1]:8000")]).is_ok());
    }
}
