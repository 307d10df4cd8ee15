//! `roost`: parse the command line, load configuration, initialise telemetry,
//! run until SIGINT/SIGTERM.

use std::collections::HashMap;
use std::process::ExitCode;

use roost::cli::{self, Invocation};
use roost::config::Config;

fn main() -> ExitCode {
    // A .env file supplies variables that the real environment does not set.
    let dotenv = dotenvy::dotenv();
    let env: HashMap<String, String> = std::env::vars().collect();
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
            if let Ok(path) = dotenv {
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

fn fail(message: &str) -> ExitCode {
    eprintln!("roost: error: {message}");
    ExitCode::from(2)
}

fn serve(config: Config) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        // Listen for signals before serving, so a SIGTERM that arrives right
        // after the first request is a clean drain, never a default-action kill.
        let stop = shutdown_signal()?;
        let running = roost::server::start(config).await?;
        stop.await;
        running.shutdown().await;
        Ok(())
    })
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
