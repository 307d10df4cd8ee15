//! Telemetry: structured logging set-up, the metric catalogue (`metrics.rs` for
//! the cache, `resp.rs` for the RESP front door), and the
//! once-a-second history that turns counters into rates, the recent-events
//! buffer (`events.rs`) the dashboard shows, the listeners' own metrics
//! (`doors.rs`), warming's counters (`warming.rs`), geographic coherence's
//! (`geo.rs`) and rate-limited logging for what clients can repeat at will
//! (`throttled.rs`).

mod doors;
mod events;
mod geo;
mod history;
mod metrics;
mod origin;
mod resp;
mod throttled;
mod warming;

pub use doors::{Disconnect, DoorMetrics, DOORS};
pub use events::{Event, EventKind, Events, EVENTS_KEPT};
pub use geo::GeoMetrics;
pub use history::{History, Sample};
pub use metrics::{quantile, Metrics, NearInvalidation, NearMetrics, NodeSample, Op, StoreTotals};
pub use origin::{FetchOutcome, OriginMetrics, OriginReason};
pub use resp::{RespMetrics, UNKNOWN_COMMAND};
pub use throttled::Throttled;
pub use warming::WarmingMetrics;

use crate::config::{Config, LogFormat};

/// Installs the global tracing subscriber. Call once, from `main`.
pub fn init_logging(config: &Config) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_filter)
        .map_err(|e| anyhow::anyhow!("invalid ROOST_LOG {:?}: {e}", config.log_filter))?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal; log files and pipes get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    match config.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    }
    .map_err(|e| anyhow::anyhow!("installing the log subscriber: {e}"))
}
