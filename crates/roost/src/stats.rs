//! The stats overview: one JSON document that answers "what is the cache doing"
//! for `GET /api/cache/stats/overview`, and the refresh of store-derived metrics
//! before a Prometheus scrape. Both read the same counters.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::cache::Cache;
use crate::telemetry::{quantile, History, NodeSample, Op, StoreTotals};

#[derive(Debug, Serialize)]
pub struct Overview {
    pub backend: &'static str,
    pub uptime_seconds: f64,
    pub requests_total: u64,
    pub requests: BTreeMap<&'static str, Outcomes>,
    pub ops_per_second: Rates,
    pub hits: u64,
    pub misses: u64,
    /// hits / (hits + misses); `null` before the first lookup.
    pub hit_ratio: Option<f64>,
    pub latency_ms: BTreeMap<&'static str, Percentiles>,
    pub keys: u64,
    pub memory: Memory,
    pub evictions: u64,
    pub expirations: u64,
    pub nodes: Vec<NodeOverview>,
    pub key_spread: Spread,
}

#[derive(Debug, Serialize)]
pub struct Outcomes {
    pub ok: u64,
    pub error: u64,
}

#[derive(Debug, Serialize)]
pub struct Rates {
    pub last_10s: Option<f64>,
    pub last_60s: Option<f64>,
    pub lifetime: f64,
}

#[derive(Debug, Serialize)]
pub struct Percentiles {
    pub count: u64,
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Memory {
    pub used_bytes: u64,
    pub max_bytes: u64,
    pub used_ratio: f64,
}

#[derive(Debug, Serialize)]
pub struct NodeOverview {
    pub id: String,
    pub keys: u64,
    pub used_bytes: u64,
    pub capacity_bytes: u64,
    pub ring_share: f64,
    pub ops: u64,
    pub evictions: u64,
    pub expirations: u64,
}

/// How evenly keys are spread over nodes.
#[derive(Debug, Serialize)]
pub struct Spread {
    pub min_keys: u64,
    pub max_keys: u64,
    /// Largest node's keys over the mean; 1.0 is perfectly even.
    pub max_over_mean: Option<f64>,
}

pub fn overview(cache: &Cache, history: &History) -> Overview {
    let metrics = cache.metrics();
    let requests: BTreeMap<_, _> = Op::ALL
        .iter()
        .map(|&op| {
            let (ok, error) = metrics.requests(op);
            (op.as_str(), Outcomes { ok, error })
        })
        .collect();
    let requests_total = requests.values().map(|o| o.ok + o.error).sum();
    let latency_ms = Op::ALL
        .iter()
        .map(|&op| (op.as_str(), percentiles(&metrics.latency_buckets(op))))
        .collect();
    let (hits, misses) = (metrics.hits(), metrics.misses());
    let nodes = nodes(cache);
    let totals = totals(cache, &nodes);
    let uptime = cache.uptime();
    Overview {
        backend: cache.backend().name(),
        uptime_seconds: uptime.as_secs_f64(),
        requests_total,
        requests,
        ops_per_second: Rates {
            last_10s: history.rate(Duration::from_secs(10)),
            last_60s: history.rate(Duration::from_secs(60)),
            lifetime: requests_total as f64 / uptime.as_secs_f64().max(1e-3),
        },
        hits,
        misses,
        hit_ratio: (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64),
        latency_ms,
        keys: totals.keys,
        memory: Memory {
            used_bytes: totals.used_bytes,
            max_bytes: totals.max_bytes,
            used_ratio: totals.used_bytes as f64 / totals.max_bytes.max(1) as f64,
        },
        evictions: totals.evictions,
        expirations: totals.expirations,
        key_spread: spread(&nodes),
        nodes,
    }
}

/// Brings the store-derived Prometheus metrics up to date.
pub fn refresh_metrics(cache: &Cache) {
    let nodes = nodes(cache);
    let samples: Vec<NodeSample<'_>> = nodes
        .iter()
        .map(|n| NodeSample {
            id: &n.id,
            keys: n.keys,
            used_bytes: n.used_bytes,
            ring_share: n.ring_share,
        })
        .collect();
    cache
        .metrics()
        .refresh_store(&samples, totals(cache, &nodes), cache.uptime());
}

fn nodes(cache: &Cache) -> Vec<NodeOverview> {
    let ring = cache.router().ring();
    let shares = ring.shares();
    let ops = cache.node_ops();
    let stats = cache.backend().node_stats();
    ring.nodes()
        .iter()
        .enumerate()
        .map(|(i, node)| {
            let s = stats.get(i).copied().unwrap_or_default();
            NodeOverview {
                id: node.id.to_string(),
                keys: s.keys,
                used_bytes: s.used_bytes,
                capacity_bytes: s.capacity_bytes,
                ring_share: shares.get(i).copied().unwrap_or(0.0),
                ops: ops.get(i).copied().unwrap_or(0),
                evictions: s.evictions,
                expirations: s.expirations,
            }
        })
        .collect()
}

fn totals(cache: &Cache, nodes: &[NodeOverview]) -> StoreTotals {
    StoreTotals {
        keys: nodes.iter().map(|n| n.keys).sum(),
        used_bytes: nodes.iter().map(|n| n.used_bytes).sum(),
        max_bytes: cache.backend().max_memory_bytes(),
        evictions: nodes.iter().map(|n| n.evictions).sum(),
        expirations: nodes.iter().map(|n| n.expirations).sum(),
    }
}

fn percentiles(buckets: &[(f64, u64)]) -> Percentiles {
    let ms = |q| quantile(buckets, q).map(|s| (s * 1e6).round() / 1e3);
    Percentiles {
        count: buckets.last().map_or(0, |&(_, c)| c),
        p50: ms(0.50),
        p95: ms(0.95),
        p99: ms(0.99),
    }
}

fn spread(nodes: &[NodeOverview]) -> Spread {
    let keys: Vec<u64> = nodes.iter().map(|n| n.keys).collect();
    let total: u64 = keys.iter().sum();
    let max = keys.iter().copied().max().unwrap_or(0);
    Spread {
        min_keys: keys.iter().copied().min().unwrap_or(0),
        max_keys: max,
        max_over_mean: (total > 0).then(|| max as f64 * keys.len() as f64 / total as f64),
    }
}
