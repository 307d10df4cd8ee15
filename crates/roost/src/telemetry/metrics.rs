//! The metric catalogue: every Prometheus metric Roost exports, registered once,
//! with the hot-path handles resolved up front so recording a request is a few
//! atomic adds and never a label lookup or a lock. What every request bumps is
//! striped per thread (`metrics/striped.rs`) so the workers never contend on it.

mod near;
mod nodes;
mod striped;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use prometheus::core::Collector;
use prometheus::proto::MetricType;
use prometheus::{
    Encoder, Gauge, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

pub use near::{NearInvalidation, NearMetrics};
pub use nodes::NodeSample;
use nodes::{gauge_value, NodeMetrics};
use striped::StripedHistogram;
pub(crate) use striped::{StripedCounter, StripedFamily};

/// Cache operations as counted and timed: the Cache service's methods, whichever
/// front door called them (a RESP `SET k v NX` is a `set`, `MSETNX` an `mset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Get,
    Set,
    Delete,
    Mget,
    Mset,
    Flush,
    /// GETDEL.
    Getdel,
    /// GETEX.
    Getex,
    /// INCRBY and friends.
    Incr,
    Append,
    /// EXPIRE family and PERSIST.
    Expire,
    /// EXISTS, TTL, PTTL, TYPE, STRLEN: reads of a key's metadata.
    Inspect,
    /// SCAN and KEYS.
    Scan,
}

impl Op {
    pub const ALL: [Op; 13] = [
        Op::Get,
        Op::Set,
        Op::Delete,
        Op::Mget,
        Op::Mset,
        Op::Flush,
        Op::Getdel,
        Op::Getex,
        Op::Incr,
        Op::Append,
        Op::Expire,
        Op::Inspect,
        Op::Scan,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Op::Get => "get",
            Op::Set => "set",
            Op::Delete => "delete",
            Op::Mget => "mget",
            Op::Mset => "mset",
            Op::Flush => "flush",
            Op::Getdel => "getdel",
            Op::Getex => "getex",
            Op::Incr => "incr",
            Op::Append => "append",
            Op::Expire => "expire",
            Op::Inspect => "inspect",
            Op::Scan => "scan",
        }
    }
}

/// Latency buckets: 5 µs to ~10 s, each √2 wider than the last, so an
/// interpolated percentile is within ~20% of the true value at any scale.
fn latency_buckets() -> Vec<f64> {
    prometheus::exponential_buckets(5e-6, std::f64::consts::SQRT_2, 42)
        .expect("invariant: constant bucket parameters are valid")
}

#[derive(Debug)]
struct OpMetrics {
    ok: StripedCounter,
    error: StripedCounter,
    latency: StripedHistogram,
}

#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    ops: Vec<OpMetrics>,
    hits: StripedCounter,
    misses: StripedCounter,
    node_ops: StripedFamily,
    /// Operations routed to each node, in ring node order; fixed by the first
    /// [`Metrics::track_nodes`] (the server builds one Cache per Metrics).
    node_counters: OnceLock<Vec<StripedCounter>>,
    /// Per-node figures read from the backend at scrape time.
    nodes: NodeMetrics,
    keys: IntGauge,
    memory_used: IntGauge,
    memory_max: IntGauge,
    evictions: IntCounter,
    expirations: IntCounter,
    uptime: Gauge,
    doors: super::DoorMetrics,
    /// The near cache's (a Redis backend's gateway memory for hot keys).
    near: NearMetrics,
    /// Origin read-through (`crate::origin`).
    origin: super::OriginMetrics,
    /// Warming (`crate::warming`).
    warming: super::WarmingMetrics,
    /// Background tasks that ended with an error or a panic, by task name.
    task_failures: IntCounterVec,
    /// See [`Metrics::refreshing`].
    refreshing: Mutex<()>,
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = StripedFamily::new(
            "roost_cache_requests_total",
            "cache requests by operation and outcome",
            MetricType::COUNTER,
            &["op", "outcome"],
        );
        let latency = StripedFamily::new(
            "roost_cache_request_duration_seconds",
            "time to serve a cache request inside Roost, by operation",
            MetricType::HISTOGRAM,
            &["op"],
        );
        let bounds: Arc<[f64]> = latency_buckets().into();
        let ops = Op::ALL
            .iter()
            .map(|op| OpMetrics {
                ok: requests.counter(&[op.as_str(), "ok"]),
                error: requests.counter(&[op.as_str(), "error"]),
                latency: latency.histogram(&[op.as_str()], &bounds),
            })
            .collect();
        let hits = StripedFamily::new(
            "roost_cache_hits_total",
            "keys found (get and each mget key)",
            MetricType::COUNTER,
            &[],
        );
        let misses = StripedFamily::new(
            "roost_cache_misses_total",
            "keys not found or expired",
            MetricType::COUNTER,
            &[],
        );
        let metrics = Metrics {
            ops,
            hits: hits.counter(&[]),
            misses: misses.counter(&[]),
            node_ops: StripedFamily::new(
                "roost_node_operations_total",
                "key operations routed to each node",
                MetricType::COUNTER,
                &["node"],
            ),
            node_counters: OnceLock::new(),
            nodes: NodeMetrics::new(),
            keys: gauge("roost_store_keys", "keys in the store"),
            memory_used: gauge(
                "roost_store_memory_used_bytes",
                "bytes accounted to entries",
            ),
            memory_max: gauge("roost_store_memory_max_bytes", "configured memory cap"),
            evictions: counter(
                "roost_store_evictions_total",
                "entries evicted to stay under the cap",
            ),
            expirations: counter(
                "roost_store_expirations_total",
                "entries removed because their TTL passed",
            ),
            uptime: Gauge::new("roost_process_uptime_seconds", "seconds since start")
                .expect("invariant: valid metric"),
            doors: super::DoorMetrics::new(),
            near: NearMetrics::new(),
            origin: super::OriginMetrics::new(),
            warming: super::WarmingMetrics::new(),
            task_failures: IntCounterVec::new(
                Opts::new(
                    "roost_task_failures_total",
                    "background tasks that ended with an error or a panic, by task",
                ),
                &["task"],
            )
            .expect("invariant: valid metric"),
            refreshing: Mutex::new(()),
            registry,
        };
        let mut collectors: Vec<Box<dyn Collector>> = vec![
            Box::new(requests),
            Box::new(latency),
            Box::new(hits),
            Box::new(misses),
            Box::new(metrics.node_ops.clone()),
            Box::new(metrics.keys.clone()),
            Box::new(metrics.memory_used.clone()),
            Box::new(metrics.memory_max.clone()),
            Box::new(metrics.evictions.clone()),
            Box::new(metrics.expirations.clone()),
            Box::new(metrics.uptime.clone()),
            Box::new(metrics.task_failures.clone()),
        ];
        collectors.extend(metrics.nodes.collectors());
        collectors.extend(metrics.doors.collectors());
        collectors.extend(metrics.near.collectors());
        collectors.extend(metrics.origin.collectors());
        collectors.extend(metrics.warming.collectors());
        for c in collectors {
            metrics
                .registry
                .register(c)
                .expect("invariant: metric names are unique");
        }
        metrics
    }

    /// Counts a background task that failed (see `crate::tasks`).
    pub fn task_failed(&self, task: &str) {
        self.task_failures.with_label_values(&[task]).inc();
    }

    /// How often the background task `task` has failed so far.
    #[cfg(test)]
    pub fn task_failures(&self, task: &str) -> u64 {
        self.task_failures.with_label_values(&[task]).get()
    }

    /// Records one finished request.
    pub fn record(&self, op: Op, ok: bool, elapsed: Duration) {
        let m = &self.ops[op as usize];
        if ok { &m.ok } else { &m.error }.inc();
        m.latency.observe(elapsed);
    }

    pub fn record_lookups(&self, hits: u64, misses: u64) {
        if hits > 0 {
            self.hits.inc_by(hits);
        }
        if misses > 0 {
            self.misses.inc_by(misses);
        }
    }

    /// Starts counting operations per node for these node ids (ring node order).
    /// The first call fixes the list; later calls change nothing.
    pub fn track_nodes(&self, nodes: &[&str]) {
        self.node_counters
            .get_or_init(|| nodes.iter().map(|n| self.node_ops.counter(&[n])).collect());
    }

    /// Counts one operation routed to the node at `index` (ring node order).
    pub fn count_node_op(&self, index: usize) {
        if let Some(counter) = self.node_counters.get().and_then(|c| c.get(index)) {
            counter.inc();
        }
    }

    /// Shows `ops` (node id, requests so far) as `roost_node_operations_total`
    /// instead of the Cache's routing counts: for a backend that counts per
    /// node itself and whose nodes change (a Redis fleet). The routing counts
    /// go on but are no longer exported.
    pub fn mirror_node_ops(&self, ops: &[(&str, u64)]) {
        self.node_ops
            .mirror(ops.iter().map(|&(id, count)| (vec![id.to_owned()], count)));
    }

    /// Operations routed to each tracked node so far, in ring node order.
    pub fn node_op_counts(&self) -> Vec<u64> {
        self.node_counters
            .get()
            .map_or_else(Vec::new, |c| c.iter().map(StripedCounter::get).collect())
    }

    /// The listeners' metrics: connections, limits, auth failures, panics, TLS.
    pub fn doors(&self) -> &super::DoorMetrics {
        &self.doors
    }

    /// The near cache's metrics (handles shared with the fleet that counts them).
    pub fn near(&self) -> &NearMetrics {
        &self.near
    }

    /// Origin read-through's metrics (`crate::origin`).
    pub fn origin(&self) -> &super::OriginMetrics {
        &self.origin
    }

    /// Warming's metrics (`crate::warming`).
    pub fn warming(&self) -> &super::WarmingMetrics {
        &self.warming
    }

    pub fn hits(&self) -> u64 {
        self.hits.get()
    }

    pub fn misses(&self) -> u64 {
        self.misses.get()
    }

    /// (ok, error) request counts of one operation.
    pub fn requests(&self, op: Op) -> (u64, u64) {
        let m = &self.ops[op as usize];
        (m.ok.get(), m.error.get())
    }

    /// Cumulative bucket counts of one operation's latency, with upper bounds in seconds.
    pub fn latency_buckets(&self, op: Op) -> Vec<(f64, u64)> {
        self.ops[op as usize].latency.snapshot().cumulative
    }

    /// Held by one refresh at a time, from reading the backend to the last
    /// write: two scrapes at once (a pair of Prometheus servers) must not
    /// publish an older reading after a newer one, which would show a mirrored
    /// counter going back, read as a reset. A blocking `Mutex`: never held across
    /// an `.await`.
    pub fn refreshing(&self) -> MutexGuard<'_, ()> {
        self.refreshing.lock()
    }

    /// Brings the store-derived metrics up to date; called just before a scrape.
    /// `nodes` is every node the backend has now; series of nodes not in it
    /// are removed.
    pub fn refresh_store(&self, nodes: &[NodeSample<'_>], totals: StoreTotals, uptime: Duration) {
        self.nodes.refresh(nodes);
        self.keys.set(gauge_value(totals.keys));
        self.memory_used.set(gauge_value(totals.used_bytes));
        self.memory_max.set(gauge_value(totals.max_bytes));
        catch_up(&self.evictions, totals.evictions);
        catch_up(&self.expirations, totals.expirations);
        self.uptime.set(uptime.as_secs_f64());
    }

    /// Adds a front door's own metrics to the same exposition.
    pub fn register(&self, collector: Box<dyn Collector>) {
        self.registry
            .register(collector)
            .expect("invariant: metric names are unique");
    }

    /// The Prometheus text exposition of every metric.
    pub fn encode(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("invariant: text encoding into a Vec cannot fail");
        String::from_utf8(buf).expect("invariant: the text encoder writes UTF-8")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Store-wide totals read from the backend.
#[derive(Debug, Clone, Copy, Default)]
pub struct StoreTotals {
    pub keys: u64,
    pub used_bytes: u64,
    pub max_bytes: u64,
    pub evictions: u64,
    pub expirations: u64,
}

/// Moves a counter mirrored from the store up to the store's value (counters
/// only go up; the store's own counters are monotonic too).
fn catch_up(counter: &IntCounter, value: u64) {
    let delta = value.saturating_sub(counter.get());
    if delta > 0 {
        counter.inc_by(delta);
    }
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).expect("invariant: valid metric")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("invariant: valid metric")
}

/// The value below which `q` of the observations fall, interpolated linearly
/// inside the bucket that holds it; `None` without observations.
pub fn quantile(buckets: &[(f64, u64)], q: f64) -> Option<f64> {
    let total = buckets.last().map(|&(_, c)| c)?;
    if total == 0 {
        return None;
    }
    let rank = q * total as f64;
    let mut lower = (0.0, 0u64);
    for &(bound, cumulative) in buckets {
        if cumulative as f64 >= rank {
            let in_bucket = (cumulative - lower.1) as f64;
            let frac = if in_bucket > 0.0 {
                (rank - lower.1 as f64) / in_bucket
            } else {
                1.0
            };
            return Some(lower.0 + (bound - lower.0) * frac.clamp(0.0, 1.0));
        }
        lower = (bound, cumulative);
    }
    Some(lower.0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_fall_in_the_right_bucket() {
        let buckets = [(1.0, 10), (2.0, 90), (4.0, 100)];
        assert_eq!(quantile(&buckets, 0.05).unwrap(), 0.5);
        let p50 = quantile(&buckets, 0.5).unwrap();
        assert!((1.0..=2.0).contains(&p50), "{p50}");
        let p99 = quantile(&buckets, 0.99).unwrap();
        assert!((2.0..=4.0).contains(&p99), "{p99}");
        assert_eq!(quantile(&[(1.0, 0)], 0.5), None);
    }

    #[test]
    fn recorded_latency_shows_up_in_the_percentiles_and_the_exposition() {
        let m = Metrics::new();
        for _ in 0..99 {
            m.record(Op::Get, true, Duration::from_micros(100));
        }
        m.record(Op::Get, false, Duration::from_millis(50));
        let p50 = quantile(&m.latency_buckets(Op::Get), 0.5).unwrap();
        assert!(p50 > 70e-6 && p50 < 150e-6, "{p50}");
        assert_eq!(m.requests(Op::Get), (99, 1));
        let text = m.encode();
        assert!(text.contains("roost_cache_requests_total{op=\"get\",outcome=\"error\"} 1"));
        assert!(text.contains("roost_cache_request_duration_seconds_bucket{op=\"get\""));
    }

    #[test]
    fn mirrored_counters_follow_the_store() {
        let m = Metrics::new();
        let totals = StoreTotals {
            evictions: 7,
            ..StoreTotals::default()
        };
        m.refresh_store(&[], totals, Duration::ZERO);
        m.refresh_store(&[], totals, Duration::ZERO);
        assert!(m.encode().contains("roost_store_evictions_total 7"));
    }
}
