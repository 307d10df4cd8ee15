//! The RESP front door's metrics: connections (current, accepted, rejected),
//! commands by name and protocol errors. The command label takes only the names
//! of the command table plus `unknown`, resolved once at start-up, so a client
//! sending made-up commands cannot grow the label set and counting a command is
//! one atomic add on the calling thread's stripe.

use prometheus::proto::MetricType;
use prometheus::{IntCounter, IntGauge};

use super::metrics::{StripedCounter, StripedFamily};
use super::Metrics;

/// The label value every command outside the table is counted under.
pub const UNKNOWN_COMMAND: &str = "unknown";

#[derive(Debug)]
pub struct RespMetrics {
    /// Indexed like the command table; the last one is [`UNKNOWN_COMMAND`].
    commands: Vec<StripedCounter>,
    pub connections: IntGauge,
    pub connections_total: IntCounter,
    pub connections_rejected: IntCounter,
    pub protocol_errors: IntCounter,
}

impl RespMetrics {
    /// Registers the RESP metrics in `metrics`' registry, one command counter per
    /// name in `commands` (in that order) plus one for unknown commands.
    pub fn register(metrics: &Metrics, commands: &[&str]) -> RespMetrics {
        let by_name = StripedFamily::new(
            "roost_resp_commands_total",
            "RESP commands received, by command name (unknown for names outside the table)",
            MetricType::COUNTER,
            &["command"],
        );
        let commands = commands
            .iter()
            .chain(std::iter::once(&UNKNOWN_COMMAND))
            .map(|name| by_name.counter(&[name]))
            .collect();
        let resp = RespMetrics {
            commands,
            connections: IntGauge::new("roost_resp_connections", "open RESP connections")
                .expect("invariant: valid metric"),
            connections_total: IntCounter::new(
                "roost_resp_connections_total",
                "RESP connections accepted",
            )
            .expect("invariant: valid metric"),
            connections_rejected: IntCounter::new(
                "roost_resp_connections_rejected_total",
                "RESP connections refused because the connection limit was reached",
            )
            .expect("invariant: valid metric"),
            protocol_errors: IntCounter::new(
                "roost_resp_protocol_errors_total",
                "RESP connections closed for malformed or over-limit input",
            )
            .expect("invariant: valid metric"),
        };
        metrics.register(Box::new(by_name));
        metrics.register(Box::new(resp.connections.clone()));
        metrics.register(Box::new(resp.connections_total.clone()));
        metrics.register(Box::new(resp.connections_rejected.clone()));
        metrics.register(Box::new(resp.protocol_errors.clone()));
        resp
    }

    /// The counter of the command at `index` in the table, or of unknown commands.
    pub fn command(&self, index: Option<usize>) -> &StripedCounter {
        let unknown = self.commands.len() - 1;
        &self.commands[index.filter(|&i| i < unknown).unwrap_or(unknown)]
    }

    /// Every command counted so far (Redis's `total_commands_processed`).
    pub fn commands_total(&self) -> u64 {
        self.commands.iter().map(StripedCounter::get).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_commands_share_one_label() {
        let metrics = Metrics::new();
        let resp = RespMetrics::register(&metrics, &["get", "set"]);
        resp.command(Some(0)).inc();
        resp.command(None).inc();
        resp.command(Some(99)).inc();
        let text = metrics.encode();
        assert!(text.contains("roost_resp_commands_total{command=\"get\"} 1"));
        assert!(text.contains("roost_resp_commands_total{command=\"unknown\"} 2"));
        assert_eq!(resp.commands_total(), 3);
    }
}
