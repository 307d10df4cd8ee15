//! What one `/ws/metrics` frame says, and how it is computed: the stats overview
//! for the current state (keys, memory, nodes) plus counter deltas since the
//! previous tick for the rates, so ops/s, hit ratio and latency percentiles are
//! those of the last interval, not averages since start.
//!
//! Pure apart from reading the cache's counters; never touches the store's data.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::cache::Cache;
use crate::stats::{self, Overview};
use crate::telemetry::{quantile, Event, Op};

/// One point of the time series the dashboard charts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Milliseconds since the Unix epoch.
    pub at_ms: u64,
    /// All operations per second over the last interval.
    pub ops_per_second: f64,
    /// Operations per second by operation, only those with traffic.
    pub ops_by_op: BTreeMap<&'static str, f64>,
    /// hits / (hits + misses) over the last interval; `null` without lookups.
    pub hit_ratio: Option<f64>,
    /// Percentiles of every request served in the last interval.
    pub latency_ms: Latency,
    pub keys: u64,
    pub memory_used_bytes: u64,
    pub evictions: u64,
    pub expirations: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p95: Option<f64>,
    pub p99: Option<f64>,
}

/// A live frame: the newest point plus the current state of every node.
#[derive(Debug, Serialize)]
pub struct Snapshot {
    #[serde(rename = "type")]
    pub frame: &'static str,
    pub seq: u64,
    pub interval_ms: u64,
    pub backend: &'static str,
    pub uptime_seconds: f64,
    pub point: Point,
    /// Since start, for context beside the windowed ratio in `point`.
    pub hit_ratio_lifetime: Option<f64>,
    pub memory: Memory,
    pub nodes: Vec<NodeState>,
    /// The newest events, oldest first.
    pub events: Vec<Event>,
}

#[derive(Debug, Serialize)]
pub struct Memory {
    pub used_bytes: u64,
    pub max_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct NodeState {
    pub id: String,
    /// `up`, `down` or `draining`; embedded shards live in the process and are
    /// always `up`.
    pub state: &'static str,
    pub ring_share: f64,
    pub keys: u64,
    pub used_bytes: u64,
    pub capacity_bytes: u64,
    pub ops: u64,
    pub ops_per_second: f64,
    /// Failed requests to the node; an embedded shard has no failure mode.
    pub errors: u64,
}

/// Counter totals at one tick.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    pub requests: [u64; Op::ALL.len()],
    pub hits: u64,
    pub misses: u64,
    /// Every operation's latency histogram merged: (upper bound s, cumulative count).
    pub latency: Vec<(f64, u64)>,
    /// Operations per node by id, so rates follow nodes joining and leaving.
    pub node_ops: BTreeMap<String, u64>,
}

impl Counters {
    pub fn read(cache: &Cache) -> Counters {
        let metrics = cache.metrics();
        let mut requests = [0; Op::ALL.len()];
        let mut latency: Vec<(f64, u64)> = Vec::new();
        for (i, &op) in Op::ALL.iter().enumerate() {
            let (ok, error) = metrics.requests(op);
            requests[i] = ok + error;
            let buckets = metrics.latency_buckets(op);
            if latency.is_empty() {
                latency = buckets;
            } else {
                for (merged, (_, count)) in latency.iter_mut().zip(buckets) {
                    merged.1 += count;
                }
            }
        }
        Counters {
            requests,
            hits: metrics.hits(),
            misses: metrics.misses(),
            latency,
            node_ops: stats::node_ops(cache),
        }
    }

    /// Flush requests counted so far.
    pub fn flushes(&self) -> u64 {
        self.requests[Op::Flush as usize]
    }
}

/// Rates between two ticks `elapsed` apart.
#[derive(Debug, Clone, PartialEq)]
pub struct Rates {
    pub ops_per_second: f64,
    pub ops_by_op: BTreeMap<&'static str, f64>,
    pub hit_ratio: Option<f64>,
    pub latency_ms: Latency,
    /// By node id; a node new since the previous tick counts from 0.
    pub node_ops_per_second: BTreeMap<String, f64>,
}

pub fn rates(previous: &Counters, current: &Counters, elapsed: Duration) -> Rates {
    let seconds = elapsed.as_secs_f64().max(1e-3);
    let per_second = |now: u64, before: u64| now.saturating_sub(before) as f64 / seconds;
    let ops_by_op: BTreeMap<_, _> = Op::ALL
        .iter()
        .enumerate()
        .map(|(i, op)| {
            (
                op.as_str(),
                per_second(current.requests[i], previous.requests[i]),
            )
        })
        .filter(|&(_, rate)| rate > 0.0)
        .collect();
    let hits = current.hits.saturating_sub(previous.hits);
    let misses = current.misses.saturating_sub(previous.misses);
    let window: Vec<(f64, u64)> = current
        .latency
        .iter()
        .enumerate()
        .map(|(i, &(bound, count))| {
            let before = previous.latency.get(i).map_or(0, |&(_, c)| c);
            (bound, count.saturating_sub(before))
        })
        .collect();
    let ms = |q| quantile(&window, q).map(|s| (s * 1e6).round() / 1e3);
    Rates {
        ops_per_second: ops_by_op.values().sum(),
        ops_by_op,
        hit_ratio: (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64),
        latency_ms: Latency {
            p50: ms(0.50),
            p95: ms(0.95),
            p99: ms(0.99),
        },
        node_ops_per_second: current
            .node_ops
            .iter()
            .map(|(id, &now)| {
                let before = previous.node_ops.get(id).copied().unwrap_or(0);
                (id.clone(), per_second(now, before))
            })
            .collect(),
    }
}

/// Assembles a live frame from the overview and this interval's rates.
pub fn snapshot(
    seq: u64,
    interval: Duration,
    at_ms: u64,
    overview: Overview,
    rates: Rates,
    events: Vec<Event>,
) -> Snapshot {
    let nodes = overview
        .nodes
        .into_iter()
        .map(|n| NodeState {
            ops_per_second: rates.node_ops_per_second.get(&n.id).copied().unwrap_or(0.0),
            id: n.id,
            state: n.state,
            ring_share: n.ring_share,
            keys: n.keys,
            used_bytes: n.used_bytes,
            capacity_bytes: n.capacity_bytes,
            ops: n.ops,
            errors: n.errors,
        })
        .collect();
    Snapshot {
        frame: "snapshot",
        seq,
        interval_ms: interval.as_millis() as u64,
        backend: overview.backend,
        uptime_seconds: overview.uptime_seconds,
        point: Point {
            at_ms,
            ops_per_second: rates.ops_per_second,
            ops_by_op: rates.ops_by_op,
            hit_ratio: rates.hit_ratio,
            latency_ms: rates.latency_ms,
            keys: overview.keys,
            memory_used_bytes: overview.memory.used_bytes,
            evictions: overview.evictions,
            expirations: overview.expirations,
        },
        hit_ratio_lifetime: overview.hit_ratio,
        memory: Memory {
            used_bytes: overview.memory.used_bytes,
            max_bytes: overview.memory.max_bytes,
        },
        nodes,
        events,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn counters(gets: u64, sets: u64, hits: u64, misses: u64, latency: &[u64]) -> Counters {
        let mut requests = [0; Op::ALL.len()];
        requests[Op::Get as usize] = gets;
        requests[Op::Set as usize] = sets;
        let bounds = [0.001, 0.002, 0.004];
        Counters {
            requests,
            hits,
            misses,
            latency: bounds
                .iter()
                .copied()
                .zip(latency.iter().copied())
                .collect(),
            node_ops: BTreeMap::from([("a".to_owned(), gets), ("b".to_owned(), sets)]),
        }
    }

    #[test]
    fn rates_are_deltas_over_the_interval_not_lifetime_averages() {
        // Before: a slow history (every request in the 4 ms bucket).
        let before = counters(1000, 0, 900, 100, &[0, 0, 1000]);
        // Then 500 fast GETs (1 ms bucket) and 100 SETs in two seconds, all hits.
        let after = counters(1500, 100, 1400, 100, &[600, 600, 1600]);
        let r = rates(&before, &after, Duration::from_secs(2));
        assert_eq!(r.ops_per_second, 300.0);
        assert_eq!(r.ops_by_op.get("get"), Some(&250.0));
        assert_eq!(r.ops_by_op.get("set"), Some(&50.0));
        assert!(!r.ops_by_op.contains_key("delete"));
        assert_eq!(r.hit_ratio, Some(1.0));
        let p50 = r.latency_ms.p50.unwrap();
        assert!(p50 <= 1.0, "windowed p50 must ignore the slow past: {p50}");
        let per_node = |id: &str| r.node_ops_per_second.get(id).copied();
        assert_eq!((per_node("a"), per_node("b")), (Some(250.0), Some(50.0)));
    }

    #[test]
    fn node_rates_follow_ids_when_the_node_list_changes() {
        let mut before = counters(0, 0, 0, 0, &[0, 0, 0]);
        before.node_ops = BTreeMap::from([("a".to_owned(), 100), ("b".to_owned(), 500)]);
        let mut after = before.clone();
        // b left; c joined in front of where b was and served 30.
        after.node_ops = BTreeMap::from([("a".to_owned(), 110), ("c".to_owned(), 30)]);
        let r = rates(&before, &after, Duration::from_secs(1));
        assert_eq!(r.node_ops_per_second.get("a"), Some(&10.0));
        assert_eq!(r.node_ops_per_second.get("c"), Some(&30.0));
        assert_eq!(r.node_ops_per_second.get("b"), None);
    }

    #[test]
    fn an_idle_interval_has_no_ratio_and_no_percentiles() {
        let c = counters(10, 10, 5, 5, &[20, 20, 20]);
        let r = rates(&c, &c, Duration::from_secs(1));
        assert_eq!(r.ops_per_second, 0.0);
        assert!(r.ops_by_op.is_empty());
        assert_eq!(r.hit_ratio, None);
        assert_eq!(r.latency_ms.p99, None);
    }
}
