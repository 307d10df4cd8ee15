//! The stats overview: one JSON document that answers "what is the cache doing"
//! for `GET /api/cache/stats/overview`, and the refresh of store-derived metrics
//! before a Prometheus scrape. Both read the same counters, and the per-node
//! rows here are what `/ws/metrics` shows too.
//!
//! Per-node rows come from the backend that owns the nodes
//! ([`Backend::nodes`]): the embedded store's shards with their counters and
//! operation counts, or the fleet's view of each node, keyed by id, with its
//! health and request counters, so rows follow nodes being added, drained
//! and removed.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::backend::{Backend, NodeReport, NodeStatus};
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
    pub memory: MemoryOverview,
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
pub struct MemoryOverview {
    pub used_bytes: u64,
    pub max_bytes: u64,
    pub used_ratio: f64,
}

#[derive(Debug, Serialize)]
pub struct NodeOverview {
    pub id: String,
    /// `up`, `down` (ejected after failures) or `draining` (leaving the
    /// topology). Embedded shards live in the process and are always `up`.
    pub state: &'static str,
    pub keys: u64,
    pub used_bytes: u64,
    pub capacity_bytes: u64,
    pub ring_share: f64,
    /// Requests to the node: for the fleet, each one this gateway sent it
    /// (replica writes included); for shards, key operations routed to it.
    pub ops: u64,
    /// Requests to the node that failed; a shard has no failure mode.
    pub errors: u64,
    pub evictions: u64,
    pub expirations: u64,
}

/// Draining nodes are listed but no longer own keys: totals and spread skip them.
const DRAINING: &str = NodeStatus::Draining.as_str();

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
        memory: MemoryOverview {
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
    let metrics = cache.metrics();
    let _one_at_a_time = metrics.refreshing();
    let nodes = nodes(cache);
    let samples: Vec<NodeSample<'_>> = nodes
        .iter()
        .map(|n| NodeSample {
            id: &n.id,
            keys: n.keys,
            used_bytes: n.used_bytes,
            ring_share: n.ring_share,
            up: n.state == "up",
            draining: n.state == DRAINING,
            errors: n.errors,
        })
        .collect();
    // A fleet counts requests per node itself, by id, through topology changes.
    if matches!(cache.backend(), Backend::Fleet(_)) {
        let ops: Vec<(&str, u64)> = nodes.iter().map(|n| (n.id.as_str(), n.ops)).collect();
        metrics.mirror_node_ops(&ops);
    }
    metrics.refresh_store(&samples, totals(cache, &nodes), cache.uptime());
}

/// Operations so far on each node, by id: what per-node rates are taken from.
pub fn node_ops(cache: &Cache) -> BTreeMap<String, u64> {
    cache
        .backend()
        .nodes()
        .into_iter()
        .map(|n| (n.id, n.ops))
        .collect()
}

fn nodes(cache: &Cache) -> Vec<NodeOverview> {
    cache.backend().nodes().into_iter().map(row).collect()
}

/// A node's row in the overview.
fn row(node: NodeReport) -> NodeOverview {
    NodeOverview {
        id: node.id,
        state: node.status.as_str(),
        keys: node.keys,
        used_bytes: node.used_bytes,
        capacity_bytes: node.capacity_bytes,
        ring_share: node.ring_share,
        ops: node.ops,
        errors: node.errors,
        evictions: node.evictions,
        expirations: node.expirations,
    }
}

/// Store-wide totals over the nodes that own keys (a draining node's keys are
/// on their way to the others).
fn totals(cache: &Cache, nodes: &[NodeOverview]) -> StoreTotals {
    let owners = || nodes.iter().filter(|n| n.state != DRAINING);
    StoreTotals {
        keys: owners().map(|n| n.keys).sum(),
        used_bytes: owners().map(|n| n.used_bytes).sum(),
        max_bytes: cache.backend().max_memory_bytes(),
        evictions: owners().map(|n| n.evictions).sum(),
        expirations: owners().map(|n| n.expirations).sum(),
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
    let keys: Vec<u64> = nodes
        .iter()
        .filter(|n| n.state != DRAINING)
        .map(|n| n.keys)
        .collect();
    let total: u64 = keys.iter().sum();
    let max = keys.iter().copied().max().unwrap_or(0);
    Spread {
        min_keys: keys.iter().copied().min().unwrap_or(0),
        max_keys: max,
        max_over_mean: (total > 0).then(|| max as f64 * keys.len() as f64 / total as f64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str, status: NodeStatus, keys: u64, ops: u64, errors: u64) -> NodeReport {
        NodeReport {
            id: id.to_owned(),
            address: Some(format!("redis://{id}")),
            status,
            weight: 100,
            ring_share: if status == NodeStatus::Draining {
                0.0
            } else {
                0.5
            },
            keys,
            used_bytes: keys * 10,
            capacity_bytes: keys * 100,
            evictions: 3,
            expirations: 4,
            ops,
            errors,
            missed_writes: 0,
            status_since_ms: Some(0),
            last_probe: None,
        }
    }

    #[test]
    fn rows_carry_each_nodes_state_and_counters() {
        let rows: Vec<_> = [
            report("a", NodeStatus::Up, 10, 7, 0),
            report("b", NodeStatus::Down, 20, 9, 4),
            report("c", NodeStatus::Draining, 30, 2, 1),
        ]
        .into_iter()
        .map(row)
        .collect();
        let seen: Vec<_> = rows
            .iter()
            .map(|r| (r.id.as_str(), r.state, r.ops, r.errors, r.capacity_bytes))
            .collect();
        assert_eq!(
            seen,
            [
                ("a", "up", 7, 0, 1000),
                ("b", "down", 9, 4, 2000),
                ("c", DRAINING, 2, 1, 3000),
            ]
        );
        assert_eq!(
            (rows[2].used_bytes, rows[0].evictions, rows[0].expirations),
            (300, 3, 4)
        );
        let spread = spread(&rows);
        assert_eq!(
            (spread.min_keys, spread.max_keys),
            (10, 20),
            "draining c skipped"
        );
    }
}
