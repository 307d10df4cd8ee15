//! `roost`: parse the command line, load configuration, initialise telemetry,
//! run until SIGINT/SIGTERM.

use std::collections::HashMap;
use std::process::ExitCode;

use roost::cli::{self, Invocation};
use roost::config::Config;

/// jemalloc, as redis-server uses: a cache allocates and frees a small key and
/// value per write, where glibc's malloc cost ~15 % of the CPU of a pipelined SET
/// load (docs/benchmarks.md has the comparison, memory included).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let (env, dotenv) = environment();
    let invocation = match cli::parse(&env) {
        Ok(i) => i,
        Err(e) => return fail(&e.to_string()),
    };
    match invocation {
        Invocation::ConfigCheck(layers) => match Config::from_layers(&layers) {
            Ok(config) => {
                print!("{}", cli::describe(&layers, &config));
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
        Invocation::Serve(layers) => {
            let config = match Config::from_layers(&layers) {
                Ok(c) => c,
                Err(e) => return fail(&e.to_string()),
            };
            if let Err(e) = roost::telemetry::init_logging(&config) {
                return fail(&e.to_string());
            }
            if let Some(path) = dotenv {
                tracing::info!(path = %path.display(), "read .env");
            }
            match serve(config) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!(error = format!("{e:#}"), "roost stopped with an error");
                    fail(&format!("{e:#}"))
                }
            }
        }
    }
}

/// The real environment, with a `.env` file in the working directory
/// supplying variables it does not set. Read again on SIGHUP, so an edited
/// `.env` takes effect on reload.
fn environment() -> (HashMap<String, String>, Option<std::path::PathBuf>) {
    let mut env: HashMap<String, String> = std::env::vars().collect();
    let mut path = None;
    if let Ok(found) = dotenvy::dotenv_iter() {
        for (key, value) in found.flatten() {
            env.entry(key).or_insert(value);
        }
        path = std::env::current_dir().ok().map(|d| d.join(".env"));
    }
    (env, path)
}

fn fail(message: &str) -> ExitCode {
    eprintln!("roost: error: {message}");
    ExitCode::from(2)
}

fn serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(config.worker_threads.get())
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        tracing::info!(worker_threads = workers, "runtime started");
        // Listen for signals before serving, so a SIGTERM that arrives right
        // after the first request is a clean drain, never a default-action kill.
        let stop = shutdown_signal()?;
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let running = roost::server::start(config).await?;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = hangup.recv() => reload(&running).await,
            }
        }
        running.shutdown().await;
        Ok(())
    })
}

/// SIGHUP: reads the configuration again (roost.toml, environment, `.env`,
/// the same flags) and applies what can change without a restart.
async fn reload(running: &roost::server::Running) {
    tracing::info!("SIGHUP received: reloading the node list");
    let (env, _) = environment();
    let config =
        cli::parse(&env)
            .map_err(|e| e.to_string())
            .and_then(|invocation| match invocation {
                Invocation::Serve(layers) | Invocation::ConfigCheck(layers) => {
                    Config::from_layers(&layers).map_err(|e| e.to_string())
                }
            });
    let applied = match config {
        Ok(config) => running.reload(&config).await.map_err(|e| format!("{e:#}")),
        Err(e) => Err(e),
    };
    if let Err(error) = applied {
        tracing::error!(%error, "SIGHUP: reload refused; the running topology is unchanged");
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is
/// called, not when the future is first polled.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => tracing::info!("SIGINT received"),
            _ = term.recv() => tracing::info!("SIGTERM received"),
        }
    })
}
