//! The per-node gauges and counters read from the backend at scrape time:
//! keys, memory, ring share, health and failed requests, one series per node
//! id. The node list follows the topology: a node that joins gets its series on
//! the next refresh, and the series of a node that left are removed, so a
//! dashboard never shows a node frozen at its last value.
//!
//! Not on the request path: only [`NodeMetrics::refresh`] writes here, just
//! before a scrape.

use std::collections::BTreeSet;

use parking_lot::Mutex;
use prometheus::core::Collector;
use prometheus::{GaugeVec, IntCounterVec, IntGaugeVec, Opts};

/// What the backend says about one node at refresh time.
#[derive(Debug)]
pub struct NodeSample<'a> {
    pub id: &'a str,
    pub keys: u64,
    pub used_bytes: u64,
    pub ring_share: f64,
    /// In rotation: serving its share of keys.
    pub up: bool,
    /// Leaving the topology: its keys are being moved off it.
    pub draining: bool,
    /// Failed requests to the node so far (monotonic while the node stays).
    pub errors: u64,
}

#[derive(Debug)]
pub struct NodeMetrics {
    keys: IntGaugeVec,
    memory: IntGaugeVec,
    share: GaugeVec,
    up: IntGaugeVec,
    draining: IntGaugeVec,
    errors: IntCounterVec,
    /// Node ids that have series now. A blocking `Mutex`: held for one refresh,
    /// which never awaits; it also keeps two concurrent scrapes from
    /// interleaving their counter updates.
    known: Mutex<BTreeSet<String>>,
}

impl NodeMetrics {
    pub fn new() -> NodeMetrics {
        NodeMetrics {
            keys: int_gauges("roost_node_keys", "keys held by each node"),
            memory: int_gauges(
                "roost_node_memory_used_bytes",
                "bytes accounted on each node",
            ),
            share: GaugeVec::new(
                Opts::new(
                    "roost_node_ring_share_ratio",
                    "fraction of the hash ring each node owns",
                ),
                &["node"],
            )
            .expect("invariant: valid metric"),
            up: int_gauges(
                "roost_node_up",
                "1 while the node is in rotation, 0 while it is down (ejected) or draining",
            ),
            draining: int_gauges(
                "roost_node_draining",
                "1 while the node is being drained out of the topology",
            ),
            errors: IntCounterVec::new(
                Opts::new(
                    "roost_node_errors_total",
                    "requests to each node that failed (unreachable, timed out, overloaded)",
                ),
                &["node"],
            )
            .expect("invariant: valid metric"),
            known: Mutex::new(BTreeSet::new()),
        }
    }

    /// Every family, for registration.
    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.keys.clone()),
            Box::new(self.memory.clone()),
            Box::new(self.share.clone()),
            Box::new(self.up.clone()),
            Box::new(self.draining.clone()),
            Box::new(self.errors.clone()),
        ]
    }

    /// Sets every series from `nodes` and removes those of nodes not in it.
    pub fn refresh(&self, nodes: &[NodeSample<'_>]) {
        let mut known = self.known.lock();
        let current: BTreeSet<String> = nodes.iter().map(|n| n.id.to_owned()).collect();
        for gone in known.difference(&current) {
            self.remove(gone);
        }
        for n in nodes {
            let labels = [n.id];
            self.keys
                .with_label_values(&labels)
                .set(gauge_value(n.keys));
            self.memory
                .with_label_values(&labels)
                .set(gauge_value(n.used_bytes));
            self.share.with_label_values(&labels).set(n.ring_share);
            self.up.with_label_values(&labels).set(i64::from(n.up));
            self.draining
                .with_label_values(&labels)
                .set(i64::from(n.draining));
            self.follow_errors(n.id, n.errors);
        }
        *known = current;
    }

    /// Moves the node's error counter to `value`. The node's own count only
    /// drops when it left and came back between two refreshes; the series
    /// then restarts from `value`, which Prometheus reads as a counter reset.
    fn follow_errors(&self, id: &str, value: u64) {
        let counter = self.errors.with_label_values(&[id]);
        let seen = counter.get();
        if value < seen {
            // Ignoring the result: the series exists, we just read it.
            let _ = self.errors.remove_label_values(&[id]);
            self.errors.with_label_values(&[id]).inc_by(value);
        } else if value > seen {
            counter.inc_by(value - seen);
        }
    }

    fn remove(&self, id: &str) {
        let labels = [id];
        // A family may lack the series (never set): nothing to remove then.
        let _ = self.keys.remove_label_values(&labels);
        let _ = self.memory.remove_label_values(&labels);
        let _ = self.share.remove_label_values(&labels);
        let _ = self.up.remove_label_values(&labels);
        let _ = self.draining.remove_label_values(&labels);
        let _ = self.errors.remove_label_values(&labels);
    }
}

impl Default for NodeMetrics {
    fn default() -> Self {
        NodeMetrics::new()
    }
}

pub(super) fn gauge_value(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn int_gauges(name: &str, help: &str) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), &["node"]).expect("invariant: valid metric")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use prometheus::{Encoder, Registry, TextEncoder};

    fn sample(id: &str, up: bool, draining: bool, errors: u64) -> NodeSample<'_> {
        NodeSample {
            id,
            keys: 10,
            used_bytes: 100,
            ring_share: 0.5,
            up,
            draining,
            errors,
        }
    }

    fn exposition(nodes: &NodeMetrics) -> String {
        let registry = Registry::new();
        for c in nodes.collectors() {
            registry.register(c).unwrap();
        }
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&registry.gather(), &mut buf)
            .unwrap();
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn health_and_errors_follow_each_node() {
        let m = NodeMetrics::new();
        m.refresh(&[sample("a", true, false, 0), sample("b", false, false, 4)]);
        m.refresh(&[sample("a", true, false, 0), sample("b", false, false, 9)]);
        m.refresh(&[sample("a", false, true, 1), sample("b", false, false, 9)]);
        let text = exposition(&m);
        for line in [
            "roost_node_up{node=\"a\"} 0",
            "roost_node_draining{node=\"a\"} 1",
            "roost_node_errors_total{node=\"a\"} 1",
            "roost_node_up{node=\"b\"} 0",
            "roost_node_draining{node=\"b\"} 0",
            "roost_node_errors_total{node=\"b\"} 9",
        ] {
            assert!(text.contains(line), "{line} in\n{text}");
        }
    }

    #[test]
    fn a_node_that_left_loses_its_series_and_restarts_from_zero_if_it_returns() {
        let m = NodeMetrics::new();
        m.refresh(&[sample("a", true, false, 0), sample("b", true, false, 7)]);
        m.refresh(&[sample("a", true, false, 0)]);
        let text = exposition(&m);
        assert!(!text.contains("node=\"b\""), "{text}");
        assert!(text.contains("roost_node_up{node=\"a\"} 1"), "{text}");
        // Back under the same id with fresh counters, noticed only now.
        m.refresh(&[sample("a", true, false, 0), sample("b", true, false, 7)]);
        m.refresh(&[sample("a", true, false, 0), sample("b", true, false, 2)]);
        let text = exposition(&m);
        assert!(
            text.contains("roost_node_errors_total{node=\"b\"} 2"),
            "{text}"
        );
    }
}
