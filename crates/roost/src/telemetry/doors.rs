//! Metrics of the front doors as listeners, whatever the protocol: HTTP
//! connections, clients closed by a limit, the output budget, failed
//! authentication, caught panics and TLS. Every label value is from a fixed
//! set named here, so no client can grow the label space.

use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

/// Why Roost closed a client connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disconnect {
    /// Replies waiting for the client passed the hard output limit.
    OutputHardLimit,
    /// Replies waiting stayed above the soft output limit for its whole window.
    OutputSoftLimit,
    /// Holding the client's waiting replies would pass the global budget.
    OutputBudget,
    /// A write made no progress for `ROOST_CLIENT_WRITE_TIMEOUT`.
    WriteTimeout,
    /// The client sent nothing for `ROOST_RESP_IDLE_TIMEOUT`.
    IdleTimeout,
    /// An unauthenticated client did not authenticate in time.
    AuthTimeout,
    /// Closed to make room for a new client at the connection limit.
    Evicted,
}

impl Disconnect {
    pub const ALL: [Disconnect; 7] = [
        Disconnect::OutputHardLimit,
        Disconnect::OutputSoftLimit,
        Disconnect::OutputBudget,
        Disconnect::WriteTimeout,
        Disconnect::IdleTimeout,
        Disconnect::AuthTimeout,
        Disconnect::Evicted,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Disconnect::OutputHardLimit => "output_hard_limit",
            Disconnect::OutputSoftLimit => "output_soft_limit",
            Disconnect::OutputBudget => "output_budget",
            Disconnect::WriteTimeout => "write_timeout",
            Disconnect::IdleTimeout => "idle_timeout",
            Disconnect::AuthTimeout => "auth_timeout",
            Disconnect::Evicted => "evicted",
        }
    }
}

/// The front doors a metric can name.
pub const DOORS: [&str; 3] = ["http", "dashboard", "resp"];

#[derive(Debug)]
pub struct DoorMetrics {
    pub http_connections: IntGaugeVec,
    pub http_connections_total: IntCounterVec,
    pub http_connections_rejected: IntCounterVec,
    disconnects: IntCounterVec,
    pub output_pending: IntGauge,
    auth_failures: IntCounterVec,
    panics: IntCounterVec,
    tls_handshake_failures: IntCounterVec,
    tls_reloads: IntCounterVec,
}

impl DoorMetrics {
    pub fn new() -> DoorMetrics {
        let metrics = DoorMetrics {
            http_connections: IntGaugeVec::new(
                Opts::new("roost_http_connections", "open HTTP connections, by listener"),
                &["listener"],
            )
            .expect("invariant: valid metric"),
            http_connections_total: counters(
                "roost_http_connections_total",
                "HTTP connections accepted, by listener",
                &["listener"],
            ),
            http_connections_rejected: counters(
                "roost_http_connections_rejected_total",
                "HTTP connections refused with 503 because ROOST_HTTP_MAX_CONNECTIONS were open, by listener",
                &["listener"],
            ),
            disconnects: counters(
                "roost_client_disconnects_total",
                "client connections Roost closed because of a limit, by door and reason",
                &["door", "reason"],
            ),
            output_pending: IntGauge::new(
                "roost_client_output_pending_bytes",
                "bytes of replies waiting for clients that are not reading, held against ROOST_CLIENT_OUTPUT_BUDGET",
            )
            .expect("invariant: valid metric"),
            auth_failures: counters(
                "roost_auth_failures_total",
                "requests and AUTH commands refused for a missing, wrong or insufficient credential, by door",
                &["door"],
            ),
            panics: counters(
                "roost_panics_total",
                "requests that hit a bug (a panic) and were answered with an internal error, by door",
                &["door"],
            ),
            tls_handshake_failures: counters(
                "roost_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out, by door",
                &["door"],
            ),
            tls_reloads: counters(
                "roost_tls_reloads_total",
                "certificate reloads on SIGHUP, by outcome (ok or error)",
                &["outcome"],
            ),
        };
        for door in DOORS {
            metrics.auth_failures.with_label_values(&[door]);
            metrics.panics.with_label_values(&[door]);
            metrics.tls_handshake_failures.with_label_values(&[door]);
            for reason in Disconnect::ALL {
                metrics
                    .disconnects
                    .with_label_values(&[door, reason.as_str()]);
            }
        }
        metrics
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.http_connections.clone()),
            Box::new(self.http_connections_total.clone()),
            Box::new(self.http_connections_rejected.clone()),
            Box::new(self.disconnects.clone()),
            Box::new(self.output_pending.clone()),
            Box::new(self.auth_failures.clone()),
            Box::new(self.panics.clone()),
            Box::new(self.tls_handshake_failures.clone()),
            Box::new(self.tls_reloads.clone()),
        ]
    }

    pub fn disconnect(&self, door: &'static str, reason: Disconnect) -> IntCounter {
        self.disconnects.with_label_values(&[door, reason.as_str()])
    }

    pub fn auth_failure(&self, door: &'static str) -> IntCounter {
        self.auth_failures.with_label_values(&[door])
    }

    pub fn panic(&self, door: &'static str) -> IntCounter {
        self.panics.with_label_values(&[door])
    }

    pub fn tls_handshake_failure(&self, door: &'static str) -> IntCounter {
        self.tls_handshake_failures.with_label_values(&[door])
    }

    pub fn tls_reload(&self, ok: bool) -> IntCounter {
        self.tls_reloads
            .with_label_values(&[if ok { "ok" } else { "error" }])
    }
}

impl Default for DoorMetrics {
    fn default() -> Self {
        DoorMetrics::new()
    }
}

fn counters(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("invariant: valid metric")
}
