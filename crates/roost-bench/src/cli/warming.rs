//! The `warming` subcommand's command line: one sub-subcommand per scenario
//! (refresh, sessions, uniform, curve), each with its defaults from issue 15, and
//! their translation into `ReadOptions` / `CurveOptions`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

use crate::warming::curve::CurveOptions;
use crate::warming::reads::ReadOptions;
use crate::warming::scenario::Scenario;

#[derive(Debug, Args)]
pub struct WarmingArgs {
    #[command(subcommand)]
    pub scenario: WarmingScenario,
}

#[derive(Debug, Subcommand)]
pub enum WarmingScenario {
    /// Hot keys that expire (origin max-age): reads that wait on the origin, origin
    /// requests. Refresh-ahead should make almost no read wait.
    Refresh(RefreshArgs),
    /// Visits GET user:<id>, think, GET feed:<id>, ids recurring after both expired:
    /// the share of feed reads that wait. Preloading should make most feed reads hits.
    Sessions(SessionsArgs),
    /// Keys drawn uniformly from a large space: origin requests. A predictor should
    /// stay quiet here.
    Uniform(UniformArgs),
    /// Cache-aside Zipf traffic (GET, SET on miss), the hit ratio every second as a
    /// JSON line; survives a server restart by reconnecting, and ends with a summary
    /// line comparing the hit ratio right after each restart with the one before.
    Curve(CurveArgs),
}

/// What every read-through scenario takes.
#[derive(Debug, Args)]
pub struct ReadArgs {
    /// Roost's RESP port, host:port.
    #[arg(long, default_value = "127.0.0.1:6380")]
    pub resp: String,
    /// Roost's HTTP base URL, for /api/cache/warming and /metrics (skipped when omitted).
    #[arg(long)]
    pub api: Option<String>,
    /// `roost-bench origin`'s base URL, for its request counts (skipped when omitted).
    #[arg(long)]
    pub origin: Option<String>,
    /// Concurrent connections (each has one visit in flight).
    #[arg(long, default_value = "32")]
    pub connections: usize,
    /// Not measured: lets keys get cached and warming learn first.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub warmup: Duration,
    /// The measured window.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20s")]
    pub duration: Duration,
    /// The origin's latency; a read taking half of it or more waited on the origin.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "20ms")]
    pub origin_latency: Duration,
    /// Override the wait threshold (default: half of --origin-latency).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub wait_threshold: Option<Duration>,
    /// Longest wait for one reply before it counts as an error.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub timeout: Duration,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl ReadArgs {
    fn options(&self, rate: f64) -> ReadOptions {
        ReadOptions {
            resp: self.resp.clone(),
            api: self.api.clone(),
            origin: self.origin.clone(),
            connections: self.connections.max(1),
            rate,
            warmup: self.warmup,
            duration: self.duration,
            wait_threshold: self.wait_threshold.unwrap_or(self.origin_latency / 2),
            timeout: self.timeout,
            seed: 0x5eed,
        }
    }
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    /// Hot keys (hot:0 .. hot:N-1), read uniformly.
    #[arg(long, default_value = "50")]
    pub keys: u64,
    /// Reads per second.
    #[arg(long, default_value = "3000")]
    pub rate: f64,
}

#[derive(Debug, Args)]
pub struct SessionsArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    /// Visits per second (each reads user:<id> then feed:<id>).
    #[arg(long, default_value = "200")]
    pub rate: f64,
    /// Between a visit's two reads.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10ms")]
    pub think: Duration,
    /// Seconds until an id is visited again (users = rate x this); longer than the
    /// origin's max-age plus the think time, so both keys have expired by then.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    pub revisit: Duration,
}

#[derive(Debug, Args)]
pub struct UniformArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    /// Distinct keys (random:0 .. random:N-1), drawn uniformly.
    #[arg(long, default_value = "10000000")]
    pub keyspace: u64,
    /// Reads per second.
    #[arg(long, default_value = "1000")]
    pub rate: f64,
}

#[derive(Debug, Args)]
pub struct CurveArgs {
    /// The RESP port, host:port; reconnected to after a restart.
    #[arg(long, default_value = "127.0.0.1:6380")]
    pub resp: String,
    #[arg(long, default_value = "8")]
    pub connections: usize,
    /// GETs per second.
    #[arg(long, default_value = "4000")]
    pub rate: f64,
    /// How long to run (the script restarts the server within it).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "30s")]
    pub duration: Duration,
    /// Distinct keys (curve:0 .. curve:N-1; `roost-bench fill --prefix curve:` writes
    /// the same keys, to start warm).
    #[arg(long, default_value = "200000")]
    pub keyspace: u64,
    /// Zipf exponent of key popularity.
    #[arg(long, default_value = "0.99")]
    pub zipf: f64,
    /// Bytes of each value set on a miss.
    #[arg(long, default_value = "100")]
    pub value_size: usize,
    /// EX of each SET, seconds; 0 for none.
    #[arg(long, default_value = "0")]
    pub ttl: u64,
    /// The steady hit ratio is measured over this long before an outage.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub steady_window: Duration,
    /// ... and compared with the hit ratio over this long after it.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "3s")]
    pub after_window: Duration,
    /// Longest wait for one reply before it counts as failed.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub timeout: Duration,
}

impl WarmingScenario {
    /// The read-through scenario with its options; `None` for `curve`.
    pub fn reads(&self) -> Option<(Scenario, ReadOptions, Option<&PathBuf>)> {
        match self {
            WarmingScenario::Refresh(args) => Some((
                Scenario::Refresh {
                    keys: args.keys.max(1),
                },
                args.read.options(args.rate),
                args.read.json.as_ref(),
            )),
            WarmingScenario::Sessions(args) => Some((
                Scenario::Sessions {
                    users: (args.rate * args.revisit.as_secs_f64()).ceil().max(1.0) as u64,
                    think: args.think,
                },
                args.read.options(args.rate),
                args.read.json.as_ref(),
            )),
            WarmingScenario::Uniform(args) => Some((
                Scenario::Uniform {
                    keyspace: args.keyspace.max(1),
                },
                args.read.options(args.rate),
                args.read.json.as_ref(),
            )),
            WarmingScenario::Curve(_) => None,
        }
    }
}

impl CurveArgs {
    pub fn options(&self) -> CurveOptions {
        CurveOptions {
            resp: self.resp.clone(),
            connections: self.connections.max(1),
            rate: self.rate,
            duration: self.duration,
            keyspace: self.keyspace.max(1),
            zipf: self.zipf,
            value_size: self.value_size,
            ttl: (self.ttl > 0).then_some(self.ttl),
            steady_window: self.steady_window,
            after_window: self.after_window,
            timeout: self.timeout,
            seed: 0x5eed,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn scenario(args: &[&str]) -> WarmingScenario {
        let cli = Cli::try_parse_from(
            ["roost-bench", "warming"]
                .into_iter()
                .chain(args.iter().copied()),
        )
        .unwrap();
        let Command::Warming(warming) = cli.command else {
            panic!("warming parsed as another command");
        };
        warming.scenario
    }

    #[test]
    fn refresh_defaults_follow_the_issue() {
        let parsed = scenario(&["refresh"]);
        let (scenario, options, json) = parsed.reads().unwrap();
        assert_eq!(scenario, Scenario::Refresh { keys: 50 });
        assert_eq!(options.rate, 3000.0);
        assert_eq!(options.wait_threshold, Duration::from_millis(10));
        assert_eq!(options.duration, Duration::from_secs(20));
        assert!(json.is_none());
    }

    #[test]
    fn sessions_size_the_user_count_from_rate_and_revisit() {
        let parsed = scenario(&["sessions", "--rate", "100", "--revisit", "4s"]);
        let (scenario, options, _) = parsed.reads().unwrap();
        assert_eq!(
            scenario,
            Scenario::Sessions {
                users: 400,
                think: Duration::from_millis(10)
            }
        );
        assert_eq!(options.rate, 100.0);
    }

    #[test]
    fn curve_is_not_a_read_through_scenario() {
        let parsed = scenario(&["curve", "--ttl", "0", "--duration", "10s"]);
        assert!(parsed.reads().is_none());
        let WarmingScenario::Curve(args) = parsed else {
            panic!("curve parsed as another scenario");
        };
        let options = args.options();
        assert_eq!(
            (options.ttl, options.duration),
            (None, Duration::from_secs(10))
        );
        let uniform = scenario(&["uniform", "--wait-threshold", "3ms"]);
        let (_, options, _) = uniform.reads().unwrap();
        assert_eq!(options.wait_threshold, Duration::from_millis(3));
    }
}
