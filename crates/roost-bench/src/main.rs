//! The `roost-bench` binary: parse the command line and run one subcommand.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use roost_bench::cli::warming::WarmingScenario;
use roost_bench::cli::{
    Cli, Command, DurabilityArgs, FillArgs, HostileArgs, LoadArgs, StampedeArgs, TraceArgs,
};
use roost_bench::endpoint::Endpoint;
use roost_bench::load::http::HttpTarget;
use roost_bench::{fill, load, resp, trace, warming};

fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Trace(args) => run_trace(&args),
        Command::Load(args) => runtime()?.block_on(run_load(&args)),
        Command::Fill(args) => runtime()?.block_on(run_fill(&args)),
        Command::Durability(args) => runtime()?.block_on(run_durability(&args)),
        Command::Hostile(args) => runtime()?.block_on(run_hostile(&args)),
        Command::Origin(args) => {
            runtime()?.block_on(roost_bench::origin::run_origin(args.options()))
        }
        Command::Stampede(args) => runtime()?.block_on(run_stampede(&args)),
        Command::Warming(args) => runtime()?.block_on(run_warming(&args.scenario)),
        Command::Proxy(args) => runtime()?.block_on(roost_bench::proxy::run_proxy(args.options())),
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the tokio runtime")
}

fn run_trace(args: &TraceArgs) -> anyhow::Result<()> {
    let options = args.options()?;
    if let Some(live) = args.live_options() {
        return runtime()?.block_on(run_trace_live(args, &options, &live));
    }
    let names: Vec<String> = options.policies.iter().map(ToString::to_string).collect();
    println!("{}", trace::table::render_header(&names));
    let report = trace::run_traces(&options, |row| {
        println!("{}", trace::table::render_row(row));
        let _ = std::io::stdout().flush();
    })?;
    print!("{}", report.render_footer());
    write_json(args.json.as_deref(), &report)
}

async fn run_trace_live(
    args: &TraceArgs,
    options: &trace::TraceOptions,
    live: &trace::live::LiveOptions,
) -> anyhow::Result<()> {
    println!(
        "live replay against {}: GET, SET on miss; the server's capacity is what it was \
         started with. Roost holds N of these entries at ROOST_MAX_MEMORY = N x {} bytes \
         (last column); redis: --maxmemory and --maxmemory-policy allkeys-lru.",
        live.endpoint,
        live.roost_entry_bytes()
    );
    println!("{}", trace::live::render_header());
    let rows = trace::live::run_live(
        &options.traces_dir,
        &options.traces,
        &args.sizes,
        live,
        !args.no_progress,
        |row| println!("{}", trace::live::render_row(row)),
    )
    .await?;
    write_json(args.json.as_deref(), &rows)
}

async fn run_load(args: &LoadArgs) -> anyhow::Result<()> {
    let options = args.options()?;
    let report = match &args.target {
        Endpoint::Resp(address) => resp::engine::run_resp_load(address, &options).await?,
        Endpoint::Http(base) => {
            let target = HttpTarget::with_flavor(base, options.connections, args.http_flavor);
            load::run_load(Arc::new(target), &options).await?
        }
    };
    print!("{}", report.render());
    write_json(args.json.as_deref(), &report)
}

async fn run_fill(args: &FillArgs) -> anyhow::Result<()> {
    let options = args.options();
    let report = match &args.target {
        Endpoint::Resp(address) => resp::fill::run_resp_fill(address, &options).await?,
        Endpoint::Http(base) => {
            let target = HttpTarget::new(base, options.connections);
            fill::run_fill(&target, &options).await?
        }
    };
    println!(
        "filled {} keys in {:.2} s: {:.0} keys/s",
        report.keys,
        report.elapsed.as_secs_f64(),
        report.keys_per_second()
    );
    Ok(())
}

async fn run_durability(args: &DurabilityArgs) -> anyhow::Result<()> {
    let Endpoint::Resp(address) = &args.target else {
        anyhow::bail!("durability speaks RESP only: give --target resp://host:port");
    };
    let report = resp::durability::run_durability(address, &args.options()).await?;
    print!("{}", report.render());
    write_json(args.json.as_deref(), &report)
}

async fn run_hostile(args: &HostileArgs) -> anyhow::Result<()> {
    let report = roost_bench::hostile::run_hostile(args.options()).await;
    print!("{}", report.render());
    write_json(args.json.as_deref(), &report)
}

async fn run_stampede(args: &StampedeArgs) -> anyhow::Result<()> {
    let report = roost_bench::stampede::run_stampede(&args.options()).await?;
    print!("{}", report.render());
    write_json(args.json.as_deref(), &report)
}

async fn run_warming(scenario: &WarmingScenario) -> anyhow::Result<()> {
    if let WarmingScenario::Curve(args) = scenario {
        // The per-second lines and the summary line are the output.
        warming::curve::run_curve(&args.options()).await?;
        return Ok(());
    }
    let Some((scenario, options, json)) = scenario.reads() else {
        anyhow::bail!("not a read-through scenario");
    };
    let report = warming::reads::run_reads(scenario, &options).await?;
    print!("{}", report.render());
    write_json(json.map(|path| path.as_path()), &report)
}

fn write_json(path: Option<&Path>, report: &impl serde::Serialize) -> anyhow::Result<()> {
    let Some(path) = path else {
        return Ok(());
    };
    let json = serde_json::to_string_pretty(report)?;
    std::fs::write(path, json + "\n").with_context(|| format!("cannot write {}", path.display()))
}
