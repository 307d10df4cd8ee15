//! The command line: clap definitions for `trace`, `load`, `fill`, `durability`, `proxy`
//! and the rest, and their translation into the typed options each subcommand runs
//! with; `warming`'s scenarios are in `cli/warming.rs`.
//!
//! Parsing and validation only; no I/O beyond what `main` asks of it.

use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub mod warming;

use clap::{Args, Parser, Subcommand};
use roost_store::PolicyKind;

use crate::endpoint::Endpoint;
use crate::fill::FillOptions;
use crate::hostile::HostileOptions;
use crate::load::http::HttpFlavor;
use crate::load::workload::{KeyDistribution, OperationMix, WorkloadError, WorkloadSpec};
use crate::load::{LoadOptions, StopCondition};
use crate::resp::durability::DurabilityOptions;
use crate::trace::live::LiveOptions;
use crate::trace::{catalog, default_traces_dir, TraceOptions};

/// Roost's load generator and trace replayer.
#[derive(Debug, Parser)]
#[command(name = "roost-bench", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replay shared/traces through the store's policy beside exact LRU, ARC, LIRS and OPT.
    Trace(TraceArgs),
    /// Mixed traffic against a RESP server or an HTTP API, closed or open loop.
    Load(LoadArgs),
    /// Bulk-load keys: mset batches over REST, pipelined SETs over RESP.
    Fill(FillArgs),
    /// Write unique keys and read them back under load (RESP), then check that every
    /// acknowledged write is still there: for fault runs.
    Durability(DurabilityArgs),
    /// Clients that misbehave on purpose (non-readers, slowloris, garbage, idle
    /// sockets), for soaks and for measuring what they cost.
    Hostile(HostileArgs),
    /// A stand-in origin for Roost's read-through (ROOST_ORIGIN_URL): fixed latency,
    /// status, max-age and value size; GET /__stats counts the requests served.
    Origin(OriginArgs),
    /// N clients GET one missing key at the same instant over one or more gateways'
    /// RESP ports, for fresh keys each round; prints the origin requests each round cost.
    Stampede(StampedeArgs),
    /// Workloads that show what cache warming buys (refresh, sessions, uniform) and
    /// the hit ratio per second across a server restart (curve); run each against
    /// ROOST_WARMING=off and =on.
    Warming(warming::WarmingArgs),
    /// A TCP proxy with a one-way delay each way, and a control port to blackhole,
    /// heal and reset it and read its byte counters: a WAN between local regions.
    Proxy(ProxyArgs),
}

/// Why the command line was rejected after clap accepted its syntax.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("unknown trace {0:?} (known: glimpse, multi2, sprite, loop, oltp, web07, web12, orm-busy, scarab)")]
    UnknownTrace(String),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error(transparent)]
    Load(#[from] crate::load::LoadError),
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    /// Directory holding the trace files [default: $ROOST_TRACES_DIR, else ../shared/traces].
    #[arg(long)]
    pub traces_dir: Option<PathBuf>,
    /// Trace to replay (repeatable); all when omitted.
    #[arg(long = "trace", value_name = "NAME")]
    pub traces: Vec<String>,
    /// Store eviction policy to replay (repeatable); the store's default when omitted.
    #[arg(long = "policy", value_name = "P")]
    pub policies: Vec<PolicyKind>,
    /// Store shards; keys are routed by the consistent-hash ring when above 1.
    #[arg(long, default_value = "1")]
    pub shards: NonZeroUsize,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Replay against a live server instead (resp://host:port or http://…): GET each
    /// key, SET it on a miss; its hit ratio is printed beside LRU and OPT.
    #[arg(long)]
    pub target: Option<Endpoint>,
    /// Which HTTP API an http:// --target speaks.
    #[arg(long, default_value = "roost")]
    pub http_flavor: HttpFlavor,
    /// With --target: cache sizes (entries) to score LRU and OPT at — the size the live
    /// server was started with (repeatable); each trace's own sizes when omitted.
    #[arg(long = "size", value_name = "ENTRIES", requires = "target")]
    pub sizes: Vec<usize>,
    /// With a resp:// --target: GETs of distinct keys pipelined per write (1 = strict
    /// one-at-a-time replay).
    #[arg(long, default_value = "1", requires = "target")]
    pub window: usize,
    /// With --target: prefix of the replayed keys.
    #[arg(long, default_value = "trace:", requires = "target")]
    pub key_prefix: String,
    /// With a resp:// --target: FLUSHALL before each trace.
    #[arg(long, requires = "target")]
    pub flush: bool,
    /// Hide the live replay's progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

impl TraceArgs {
    /// The live replay settings, when --target was given.
    pub fn live_options(&self) -> Option<LiveOptions> {
        self.target.clone().map(|endpoint| LiveOptions {
            endpoint,
            flavor: self.http_flavor,
            window: self.window,
            prefix: self.key_prefix.clone(),
            flush: self.flush,
        })
    }

    pub fn options(&self) -> Result<TraceOptions, CliError> {
        let traces = if self.traces.is_empty() {
            catalog::TRACES.iter().collect()
        } else {
            self.traces
                .iter()
                .map(|name| {
                    catalog::find_trace(name).ok_or_else(|| CliError::UnknownTrace(name.clone()))
                })
                .collect::<Result<_, _>>()?
        };
        let policies = if self.policies.is_empty() {
            vec![PolicyKind::default()]
        } else {
            self.policies.clone()
        };
        let env_dir = std::env::var("ROOST_TRACES_DIR").ok();
        Ok(TraceOptions {
            traces_dir: self
                .traces_dir
                .clone()
                .unwrap_or_else(|| default_traces_dir(env_dir.as_deref())),
            traces,
            policies,
            shards: self.shards,
        })
    }
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// resp://host:port (redis-server, Roost's RESP port, nutcracker) or http://host:port
    /// (Roost's REST API, or webdis with --http-flavor webdis).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub target: Endpoint,
    /// Which HTTP API an http:// target speaks.
    #[arg(long, default_value = "roost")]
    pub http_flavor: HttpFlavor,
    /// Run for this long (e.g. 30s, 2m).
    #[arg(long, value_parser = humantime::parse_duration, conflicts_with = "requests")]
    pub duration: Option<Duration>,
    /// Stop after this many requests instead of after a duration.
    #[arg(long)]
    pub requests: Option<u64>,
    /// Concurrent connections.
    #[arg(long, default_value = "16")]
    pub connections: usize,
    /// RESP: commands written per batch before reading their replies. HTTP/1.1 has one
    /// request in flight per connection, so HTTP always runs at 1.
    #[arg(long, default_value = "1")]
    pub pipeline: usize,
    /// RESP: client threads, each a current-thread runtime driving its share of the
    /// connections. HTTP uses the default multi-thread runtime.
    #[arg(long, default_value = "1")]
    pub threads: usize,
    /// Open loop at this many requests/s overall, on a fixed schedule; latency is
    /// measured from each request's intended send time. Closed loop when omitted.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Number of distinct keys.
    #[arg(long, default_value = "10000")]
    pub keyspace: u64,
    /// Zipf exponent of key popularity.
    #[arg(long, default_value = "0.99", conflicts_with = "uniform")]
    pub zipf: f64,
    /// Draw keys uniformly instead of by Zipf.
    #[arg(long)]
    pub uniform: bool,
    /// Bytes of each value set.
    #[arg(long, default_value = "100")]
    pub value_size: usize,
    /// Relative operation weights.
    #[arg(long, default_value = "get=70,set=20,mget=5,delete=5")]
    pub mix: OperationMix,
    /// Keys per mget.
    #[arg(long, default_value = "10")]
    pub mget_keys: usize,
    /// TTL in seconds given to a share of sets (see --ttl-ratio); 0 disables TTLs.
    #[arg(long, default_value = "300")]
    pub ttl: u64,
    /// Share of sets that carry --ttl.
    #[arg(long, default_value = "0.5")]
    pub ttl_ratio: f64,
    /// Key prefix; keys are <prefix><index>, as `fill` writes them.
    #[arg(long, default_value = "key:")]
    pub prefix: String,
    /// Zero-pad key indexes to this many digits (12 matches redis-benchmark's -r keys).
    #[arg(long, default_value = "0")]
    pub key_digits: usize,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

/// Default run length when neither --duration nor --requests is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(30);

impl LoadArgs {
    pub fn options(&self) -> Result<LoadOptions, CliError> {
        let stop = match (self.requests, self.duration) {
            (Some(requests), _) => StopCondition::Requests(requests),
            (None, duration) => StopCondition::After(duration.unwrap_or(DEFAULT_DURATION)),
        };
        let workload = WorkloadSpec {
            keyspace: self.keyspace,
            distribution: if self.uniform {
                KeyDistribution::Uniform
            } else {
                KeyDistribution::Zipf {
                    exponent: self.zipf,
                }
            },
            key_prefix: self.prefix.clone(),
            key_digits: self.key_digits,
            value_size: self.value_size,
            mix: self.mix.clone(),
            mget_keys: self.mget_keys,
            ttl_seconds: (self.ttl > 0).then_some(self.ttl),
            ttl_ratio: self.ttl_ratio,
        };
        workload.validate()?;
        let options = LoadOptions {
            connections: self.connections,
            pipeline: self.pipeline,
            threads: self.threads,
            rate: self.rate,
            stop,
            workload: Arc::new(workload),
            show_progress: !self.no_progress,
            seed: 0x5eed,
        };
        options.validate()?;
        Ok(options)
    }
}

#[derive(Debug, Args)]
pub struct FillArgs {
    /// http://host:port (Roost's REST API, mset) or resp://host:port (pipelined SETs).
    #[arg(long, default_value = "http://127.0.0.1:8000")]
    pub target: Endpoint,
    /// Number of keys to write.
    #[arg(long, default_value = "1000000")]
    pub keys: u64,
    /// Bytes of each value.
    #[arg(long, default_value = "100")]
    pub value_size: usize,
    /// Entries per mset request (the API takes at most 1000), or SETs per pipelined
    /// write over RESP.
    #[arg(long, default_value = "1000", value_parser = clap::value_parser!(u16).range(1..=1000))]
    pub batch: u16,
    /// Key prefix; keys are <prefix>0 .. <prefix>(keys-1).
    #[arg(long, default_value = "key:")]
    pub prefix: String,
    /// Zero-pad key indexes to this many digits (12 matches redis-benchmark's -r keys).
    #[arg(long, default_value = "0")]
    pub key_digits: usize,
    /// Batches in flight at once.
    #[arg(long, default_value = "8")]
    pub connections: usize,
    /// Hide the progress bar.
    #[arg(long)]
    pub no_progress: bool,
}

impl FillArgs {
    pub fn options(&self) -> FillOptions {
        FillOptions {
            keys: self.keys,
            value_size: self.value_size,
            batch: usize::from(self.batch),
            prefix: self.prefix.clone(),
            key_digits: self.key_digits,
            connections: self.connections,
            show_progress: !self.no_progress,
        }
    }
}

#[derive(Debug, Args)]
pub struct HostileArgs {
    /// host:port of the RESP port.
    #[arg(long, default_value = "127.0.0.1:6380")]
    pub resp: String,
    /// host:port of the HTTP port.
    #[arg(long, default_value = "127.0.0.1:8000")]
    pub http: String,
    /// Run for this long (e.g. 60s, 30m).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    pub duration: Duration,
    /// RESP clients sending an MGET of every big key and never reading.
    #[arg(long, default_value = "0")]
    pub non_readers: usize,
    /// RESP clients pipelining 50 GETs of the first big key and never reading.
    #[arg(long, default_value = "0")]
    pub pipeliners: usize,
    /// HTTP clients posting an mget of every big key and never reading.
    #[arg(long, default_value = "0")]
    pub rest_non_readers: usize,
    /// HTTP clients sending headers one line every 2 s, never ending them.
    #[arg(long, default_value = "0")]
    pub slowloris: usize,
    /// RESP clients sending malformed bytes.
    #[arg(long, default_value = "0")]
    pub garbage: usize,
    /// RESP clients that connect and send nothing.
    #[arg(long, default_value = "0")]
    pub idle: usize,
    /// The big keys are <prefix>0 .. <prefix>(big-keys - 1), written beforehand.
    #[arg(long, default_value = "big:")]
    pub big_prefix: String,
    #[arg(long, default_value = "100")]
    pub big_keys: usize,
    /// How long a non-reader keeps a connection before making a new one.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "45s")]
    pub hold: Duration,
    /// AUTH and bearer token, when the server needs one.
    #[arg(long, env = "ROOST_BENCH_TOKEN")]
    pub token: Option<String>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl HostileArgs {
    pub fn options(&self) -> HostileOptions {
        HostileOptions {
            resp: self.resp.clone(),
            http: self.http.clone(),
            duration: self.duration,
            non_readers: self.non_readers,
            pipeliners: self.pipeliners,
            rest_non_readers: self.rest_non_readers,
            slowloris: self.slowloris,
            garbage: self.garbage,
            idle: self.idle,
            big_prefix: self.big_prefix.clone(),
            big_keys: self.big_keys,
            hold: self.hold,
            token: self.token.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct DurabilityArgs {
    /// resp://host:port of the server under test.
    #[arg(long)]
    pub target: Endpoint,
    /// Load for this long (e.g. 60s); the read-back follows.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "60s")]
    pub duration: Duration,
    /// Concurrent connections, one request in flight on each.
    #[arg(long, default_value = "8")]
    pub connections: usize,
    /// Share of requests that read an acknowledged key back; the rest write new keys.
    #[arg(long, default_value = "0.5")]
    pub read_share: f64,
    /// Requests per second over all connections; as fast as answered when omitted.
    #[arg(long)]
    pub rate: Option<f64>,
    /// Bytes of each value (at least the key's length plus one).
    #[arg(long, default_value = "32")]
    pub value_size: usize,
    /// Key prefix; give each run its own [default: durable:<unix seconds>:].
    #[arg(long)]
    pub prefix: Option<String>,
    /// Longest wait for one reply before the request counts as failed (e.g. 2s).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "2s")]
    pub timeout: Duration,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl DurabilityArgs {
    pub fn options(&self) -> DurabilityOptions {
        let prefix = self.prefix.clone().unwrap_or_else(|| {
            let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
            format!("durable:{}:", now.map_or(0, |since| since.as_secs()))
        });
        DurabilityOptions {
            connections: self.connections,
            duration: self.duration,
            read_share: self.read_share,
            rate: self.rate,
            value_size: self.value_size,
            prefix,
            timeout: self.timeout,
            seed: 0x5eed,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("roost-bench").chain(args.iter().copied()))
    }

    /// The options `roost-bench <args>` (a load command) runs with.
    pub(crate) fn load_options(args: &[&str]) -> LoadOptions {
        let Command::Load(args) = parse(args).unwrap().command else {
            panic!("not a load command");
        };
        args.options().unwrap()
    }

    #[test]
    fn resp_targets_take_pipeline_threads_and_rate() {
        let cli = parse(&[
            "load",
            "--target",
            "resp://127.0.0.1:6380",
            "--pipeline",
            "16",
            "--threads",
            "2",
            "--rate",
            "5000",
            "--key-digits",
            "12",
        ])
        .unwrap();
        let Command::Load(args) = cli.command else {
            panic!("load parsed as another command");
        };
        assert_eq!(args.target, Endpoint::Resp("127.0.0.1:6380".into()));
        let options = args.options().unwrap();
        assert_eq!(
            (options.pipeline, options.threads, options.rate),
            (16, 2, Some(5000.0))
        );
        assert_eq!(options.workload.key(7), "key:000000000007");
        assert!(parse(&["load", "--target", "localhost:6379"]).is_err());
        assert!(parse(&["load", "--http-flavor", "nginx"]).is_err());
        let Command::Load(args) = parse(&["load", "--rate=-3"]).unwrap().command else {
            panic!("load parsed as another command");
        };
        assert!(matches!(args.options(), Err(CliError::Load(_))));
    }

    #[test]
    fn load_defaults_follow_the_documented_command() {
        let Command::Load(args) = parse(&["load"]).unwrap().command else {
            panic!("load parsed as another command");
        };
        let options = args.options().unwrap();
        assert_eq!(options.stop, StopCondition::After(Duration::from_secs(30)));
        assert_eq!(options.connections, 16);
        assert_eq!(
            options.workload.distribution,
            KeyDistribution::Zipf { exponent: 0.99 }
        );
        assert_eq!(
            options.workload.mix.to_string(),
            "get=70,set=20,mget=5,delete=5"
        );
        assert_eq!(options.workload.ttl_seconds, Some(300));
    }

    #[test]
    fn load_flags_override_and_conflict() {
        let cli = parse(&[
            "load",
            "--requests",
            "500",
            "--uniform",
            "--mix",
            "get=1",
            "--ttl",
            "0",
        ])
        .unwrap();
        let Command::Load(args) = cli.command else {
            panic!("load parsed as another command");
        };
        let options = args.options().unwrap();
        assert_eq!(options.stop, StopCondition::Requests(500));
        assert_eq!(options.workload.distribution, KeyDistribution::Uniform);
        assert_eq!(options.workload.ttl_seconds, None);
        assert!(parse(&["load", "--duration", "5s", "--requests", "3"]).is_err());
        assert!(parse(&["load", "--zipf", "1.1", "--uniform"]).is_err());
        assert!(parse(&["load", "--mix", "put=3"]).is_err());
    }

    #[test]
    fn trace_names_and_policies_are_checked() {
        let cli = parse(&[
            "trace", "--trace", "gli", "--policy", "lru", "--policy", "tinylfu", "--shards", "4",
        ]);
        let Command::Trace(args) = cli.unwrap().command else {
            panic!("trace parsed as another command");
        };
        let options = args.options().unwrap();
        assert_eq!(options.traces.len(), 1);
        assert_eq!(options.policies, vec![PolicyKind::Lru, PolicyKind::TinyLfu]);
        assert_eq!(options.shards.get(), 4);
        assert!(parse(&["trace", "--policy", "fifo"]).is_err());
        assert!(parse(&["trace", "--shards", "0"]).is_err());
        let Command::Trace(args) = parse(&["trace", "--trace", "nope"]).unwrap().command else {
            panic!("trace parsed as another command");
        };
        assert!(matches!(args.options(), Err(CliError::UnknownTrace(_))));
    }

    #[test]
    fn fill_batch_is_capped_at_the_api_limit() {
        assert!(parse(&["fill", "--batch", "1001"]).is_err());
        let Command::Fill(args) = parse(&["fill", "--keys", "10", "--prefix", "k:"])
            .unwrap()
            .command
        else {
            panic!("fill parsed as another command");
        };
        let options = args.options();
        assert_eq!(
            (options.keys, options.batch, options.prefix.as_str()),
            (10, 1000, "k:")
        );
    }

    #[test]
    fn durability_gets_a_fresh_prefix_unless_given_one() {
        let Command::Durability(args) = parse(&["durability", "--target", "resp://127.0.0.1:7000"])
            .unwrap()
            .command
        else {
            panic!("durability parsed as another command");
        };
        let options = args.options();
        assert!(options.prefix.starts_with("durable:") && options.prefix.len() > 12);
        assert_eq!(options.duration, Duration::from_secs(60));
        let cli = parse(&[
            "durability",
            "--target",
            "resp://127.0.0.1:7000",
            "--prefix",
            "f1:",
            "--rate",
            "2000",
            "--duration",
            "5s",
        ]);
        let Command::Durability(args) = cli.unwrap().command else {
            panic!("durability parsed as another command");
        };
        let options = args.options();
        assert_eq!(
            (options.prefix.as_str(), options.rate),
            ("f1:", Some(2000.0))
        );
        assert!(parse(&["durability"]).is_err(), "a target is required");
    }

    #[test]
    fn proxy_takes_a_target_delay_and_control_port() {
        let cli = parse(&[
            "proxy",
            "--listen",
            "127.0.0.1:7001",
            "--target",
            "127.0.0.1:8001",
            "--delay-ms",
            "40",
            "--control",
            "127.0.0.1:7002",
        ]);
        let Command::Proxy(args) = cli.unwrap().command else {
            panic!("proxy parsed as another command");
        };
        let options = args.options();
        assert_eq!(options.delay, Duration::from_millis(40));
        assert_eq!(options.target, "127.0.0.1:8001");
        assert_eq!(options.control, Some("127.0.0.1:7002".parse().unwrap()));
        assert!(parse(&["proxy"]).is_err(), "a target is required");
        assert!(parse(&["proxy", "--target", "x:1", "--delay-ms", "-5"]).is_err());
    }
}

#[derive(Debug, Args)]
pub struct OriginArgs {
    /// Address to listen on (port 0 picks one; the first line printed names it).
    #[arg(long, default_value = "127.0.0.1:9000")]
    pub listen: std::net::SocketAddr,
    /// How long each answer takes (e.g. 200ms).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0ms")]
    pub latency: Duration,
    /// Status of every answer.
    #[arg(long, default_value = "200")]
    pub status: u16,
    /// `Cache-Control: max-age` in seconds; none when omitted.
    #[arg(long)]
    pub max_age: Option<u64>,
    /// Bytes in each answer's body.
    #[arg(long, default_value = "100")]
    pub value_size: usize,
}

impl OriginArgs {
    pub fn options(&self) -> crate::origin::OriginOptions {
        crate::origin::OriginOptions {
            listen: self.listen,
            latency: self.latency,
            status: self.status,
            max_age: self.max_age,
            value_size: self.value_size,
        }
    }
}

#[derive(Debug, Args)]
pub struct StampedeArgs {
    /// A gateway's RESP port, host:port (repeatable; clients are spread over them).
    #[arg(long = "gateway", value_name = "HOST:PORT", required = true)]
    pub gateways: Vec<String>,
    /// `roost-bench origin`'s base URL, to read its request count.
    #[arg(long, default_value = "http://127.0.0.1:9000")]
    pub origin: String,
    /// Clients, each on its own connection, all sending their GET at once.
    #[arg(long, default_value = "1000")]
    pub clients: usize,
    /// Rounds, each with a fresh key.
    #[arg(long, default_value = "3")]
    pub rounds: usize,
    /// Keys are PREFIX:ROUND; make it unique per run.
    #[arg(long, default_value = "stampede")]
    pub key_prefix: String,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

impl StampedeArgs {
    pub fn options(&self) -> crate::stampede::StampedeOptions {
        crate::stampede::StampedeOptions {
            gateways: self.gateways.clone(),
            origin: self.origin.trim_end_matches('/').to_owned(),
            clients: self.clients.max(1),
            rounds: self.rounds,
            key_prefix: self.key_prefix.clone(),
        }
    }
}

#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// Address to listen on (port 0 picks one; the first line printed names it).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: std::net::SocketAddr,
    /// Where connections go, host:port.
    #[arg(long)]
    pub target: String,
    /// Milliseconds added to each direction (a round trip costs twice this).
    #[arg(long, default_value = "0")]
    pub delay_ms: u64,
    /// The HTTP control port: GET /stats; POST /blackhole, /heal, /reset, /delay?ms=N.
    #[arg(long)]
    pub control: Option<std::net::SocketAddr>,
}

impl ProxyArgs {
    pub fn options(&self) -> crate::proxy::ProxyOptions {
        crate::proxy::ProxyOptions {
            listen: self.listen,
            target: self.target.clone(),
            delay: Duration::from_millis(self.delay_ms),
            control: self.control,
        }
    }
}
