//! Start-up and shutdown: builds the backend, router and cache service from a
//! validated [`Config`], binds the listeners (HTTP, RESP and the dashboard's),
//! and owns every background task so that shutdown cancels all of them and
//! drains in-flight requests.

mod build;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use roost_store::{Clock, SystemClock};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::resp::{self, RespState};
use crate::api::rest::{self, AppState, SharedState};
use crate::api::{dashboard, ws};
use crate::backend::Backend;
use crate::cache::Cache;
use crate::config::{BackendConfig, Config};
use crate::telemetry::{EventKind, Events, History, Metrics};

/// A running server: its bound addresses and the handle to stop it.
#[derive(Debug)]
pub struct Running {
    http_addr: SocketAddr,
    resp_addr: SocketAddr,
    dashboard_addr: SocketAddr,
    state: SharedState,
    cancel: CancellationToken,
    tasks: JoinSet<()>,
    shutdown_timeout: Duration,
}

/// Starts Roost with the system clock.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    start_with_clock(config, Arc::new(SystemClock)).await
}

/// Starts Roost with an injected clock (tests drive TTLs with a manual one).
pub async fn start_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    let events = Arc::new(Events::default());
    let (router, backend) = build::build_backend(&config, clock, events.clone()).await?;
    let metrics = Arc::new(Metrics::new());
    let cache = Cache::new(router, backend, config.limits, config.default_ttl, metrics);
    let state = Arc::new(AppState {
        cache,
        history: Arc::new(History::default()),
        events,
        admin_token: config.admin_token.clone(),
        ready: AtomicBool::new(true),
    });

    let (listener, http_addr) = bind("HTTP", config.http_addr).await?;
    tracing::info!(addr = %http_addr, backend = state.cache.backend().name(), "http listening");

    let cancel = CancellationToken::new();
    let mut tasks = JoinSet::new();
    let app = rest::router(state.clone()).merge(live_routes(&mut tasks, &state, &config, &cancel));
    let (dashboard_listener, dashboard_addr) = bind("dashboard", config.dashboard_addr).await?;
    tracing::info!(addr = %dashboard_addr, built = dashboard::is_built(), "dashboard listening");
    // The dashboard's listener serves the same app, so the page reaches `/api`,
    // `/ws` and `/metrics` on its own origin.
    tasks.spawn(serve_http(
        dashboard_listener,
        app.clone(),
        cancel.clone(),
        "dashboard",
    ));
    tasks.spawn(serve_http(listener, app, cancel.clone(), "http"));
    let resp_addr = start_resp(&mut tasks, &state, &config, &cancel).await?;
    spawn_background(&mut tasks, &state, &config, &cancel);
    record_start(&state, &config, [http_addr, resp_addr, dashboard_addr]);
    Ok(Running {
        http_addr,
        resp_addr,
        dashboard_addr,
        state,
        cancel,
        tasks,
        shutdown_timeout: config.shutdown_timeout,
    })
}

/// Binds the RESP address and serves it beside HTTP, on the same Cache.
async fn start_resp(
    tasks: &mut JoinSet<()>,
    state: &SharedState,
    config: &Config,
    cancel: &CancellationToken,
) -> anyhow::Result<SocketAddr> {
    let (listener, resp_addr) = bind("RESP", config.resp_addr).await?;
    tracing::info!(addr = %resp_addr, "resp listening");
    let resp_state = Arc::new(RespState::new(
        state.clone(),
        config.resp.clone(),
        resp_addr,
    ));
    tasks.spawn(resp::serve(listener, resp_state, cancel.clone()));
    Ok(resp_addr)
}

/// The `/ws/metrics` stream and the dashboard's files, merged into the HTTP
/// app; spawns the one snapshot producer all dashboards share.
fn live_routes(
    tasks: &mut JoinSet<()>,
    state: &SharedState,
    config: &Config,
    cancel: &CancellationToken,
) -> axum::Router {
    let feed = Arc::new(ws::MetricsFeed::new(
        config.metrics_interval,
        state.cache.metrics(),
        cancel.clone(),
    ));
    tasks.spawn(feed.clone().run(state.clone()));
    ws::router(feed).merge(dashboard::router())
}

/// Binds `addr`, naming `what` in the error, and returns the bound address
/// (which differs from `addr` when it asked for port 0).
async fn bind(what: &str, addr: SocketAddr) -> anyhow::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding the {what} address {addr}"))?;
    let bound = listener
        .local_addr()
        .with_context(|| format!("reading the bound {what} address"))?;
    Ok((listener, bound))
}

/// Serves `app` on `listener` until `stop` fires, then drains in-flight requests.
async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    stop: CancellationToken,
    what: &'static str,
) {
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(async move { stop.cancelled().await })
        .await;
    if let Err(e) = served {
        tracing::error!(error = %e, server = what, "http server failed");
    }
}

/// The first events the dashboard shows: what started and where it listens.
fn record_start(state: &SharedState, config: &Config, [http, resp, dashboard]: [SocketAddr; 3]) {
    let cache = &state.cache;
    state.events.record(
        EventKind::Startup,
        format!(
            "roost started: {} backend, {} nodes, {} bytes memory cap",
            cache.backend().name(),
            cache.router().ring().nodes().len(),
            cache.backend().max_memory_bytes()
        ),
    );
    state.events.record(
        EventKind::Config,
        format!(
            "listening: http {http}, resp {resp}, dashboard {dashboard}; metrics every {} ms",
            config.metrics_interval.as_millis()
        ),
    );
}

fn spawn_background(
    tasks: &mut JoinSet<()>,
    state: &SharedState,
    config: &Config,
    cancel: &CancellationToken,
) {
    let (s, stop, interval) = (state.clone(), cancel.clone(), config.expiry_sweep_interval);
    tasks.spawn(async move {
        match s.cache.backend() {
            Backend::Embedded(embedded) => embedded.sweep_expired(interval, stop).await,
            Backend::Fleet(fleet) => fleet.clone().run_prober(stop).await,
        }
    });
    let (s, stop) = (state.clone(), cancel.clone());
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => s.history.push(s.cache.sample()),
            }
        }
    });
}

impl Running {
    pub fn http_addr(&self) -> SocketAddr {
        self.http_addr
    }

    /// Where the RESP front door listens (the real port when configured with 0).
    pub fn resp_addr(&self) -> SocketAddr {
        self.resp_addr
    }

    /// Where the dashboard listener is bound (the same app as [`Running::http_addr`]).
    pub fn dashboard_addr(&self) -> SocketAddr {
        self.dashboard_addr
    }

    pub fn state(&self) -> &SharedState {
        &self.state
    }

    /// Applies a reloaded configuration's node list (SIGHUP): nodes it no
    /// longer names are drained, new ones added. Everything else in `config`
    /// needs a restart and is left as it was; that is logged.
    pub async fn reload(&self, config: &Config) -> anyhow::Result<()> {
        let (Backend::Fleet(fleet), BackendConfig::Redis { nodes, .. }) =
            (self.state.cache.backend(), &config.backend)
        else {
            tracing::warn!(
                "SIGHUP: only the Redis node list can be reloaded, and this server runs {} \
                 while the configuration says {}; restart to change backends",
                self.state.cache.backend().name(),
                match config.backend {
                    BackendConfig::Embedded { .. } => "embedded",
                    BackendConfig::Redis { .. } => "redis",
                }
            );
            return Ok(());
        };
        let preview = fleet.reconcile(nodes).await?;
        tracing::info!(
            nodes_before = preview.nodes_before,
            nodes_after = preview.nodes_after,
            moved_share = preview.moved_share,
            "SIGHUP: node list reloaded; other settings are read only at start-up and need a restart"
        );
        Ok(())
    }

    /// Stops accepting, drains in-flight requests (up to the shutdown timeout),
    /// and ends every background task.
    pub async fn shutdown(mut self) {
        tracing::info!("shutting down: draining in-flight requests");
        self.state.ready.store(false, Ordering::Release);
        self.cancel.cancel();
        let drained = tokio::time::timeout(self.shutdown_timeout, async {
            while self.tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(timeout = ?self.shutdown_timeout, "drain timed out; aborting remaining work");
            self.tasks.abort_all();
        }
        tracing::info!("stopped");
    }
}
