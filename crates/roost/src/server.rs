//! Start-up and shutdown: builds the backend and cache service from a
//! validated [`Config`], binds the listeners (HTTP, RESP and the dashboard's,
//! with TLS when configured), and starts every background task in the
//! [`Tasks`] registry, so that shutdown cancels all of them, drains in-flight
//! requests and awaits each task, then writes the final snapshot when
//! `ROOST_DATA_DIR` is set (`crate::snapshot`) and persists a region's
//! cursors (`crate::geo`). SIGHUP ([`Running::reload`]) re-reads the
//! credentials, the TLS certificate and the Redis node list.

mod build;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use arc_swap::ArcSwap;
use roost_store::{Clock, SystemClock};
use tokio::net::TcpListener;

use crate::api::http::{self, Door};
use crate::api::resp::{self, RespState};
use crate::api::rest;
use crate::api::{dashboard, ws};
use crate::app::{AppState, SharedState};
use crate::auth::Auth;
use crate::backend::Backend;
use crate::cache::{Cache, Taps};
use crate::config::{BackendConfig, Config};
use crate::geo::Geo;
use crate::hot::HotKeys;
use crate::net::{self, OutputBudget, Tls};
use crate::origin::ReadThrough;
use crate::snapshot::Snapshots;
use crate::tasks::Tasks;
use crate::telemetry::{EventKind, Events, History, Metrics};
use crate::warming::Warming;

/// Descriptors kept back beyond the listeners' connection caps: Redis
/// connections, log files, the accept loops themselves.
const FD_RESERVE: u64 = 256;

/// A running server: its bound addresses and the handle to stop it.
#[derive(Debug)]
pub struct Running {
    http_addr: SocketAddr,
    resp_addr: SocketAddr,
    dashboard_addr: SocketAddr,
    state: SharedState,
    tasks: Tasks,
    tls: Option<Arc<Tls>>,
    shutdown_timeout: Duration,
    shutdown_grace: Duration,
}

/// Starts Roost with the system clock.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    start_with_clock(config, Arc::new(SystemClock)).await
}

/// Starts Roost with an injected clock (tests drive TTLs with a manual one).
pub async fn start_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Running> {
    check_descriptors(&config);
    warn_if_exposed(&config);
    let tls = match &config.listeners.tls {
        Some(files) => Some(Tls::load(files).context("loading the TLS certificate")?),
        None => None,
    };
    let events = Arc::new(Events::default());
    let metrics = Arc::new(Metrics::new());
    let tasks = Tasks::new(events.clone(), metrics.clone());
    let hot = HotKeys::new(config.hot_keys, &metrics);
    let warming = Warming::new(
        config.warming.clone(),
        config.warming_interval,
        config.origin.is_some(),
        hot.clone(),
        clock.clone(),
        metrics.clone(),
    );
    // Before the backend: the store stamps its versions with the region's clock.
    let geo = Geo::open(
        &config,
        clock.clone(),
        &metrics,
        events.clone(),
        tasks.token(),
    )?;
    let parts = build::Parts {
        clock,
        events: events.clone(),
        metrics: metrics.clone(),
        tasks: tasks.clone(),
        hot: hot.clone(),
        versioning: geo.as_ref().map(|geo| geo.versioning()),
        fleet_versions: geo.as_ref().map(|geo| geo.fleet_versions()),
    };
    let backend = build::build_backend(&config, parts).await?;
    let budget = OutputBudget::new(
        config.listeners.output.budget,
        metrics.doors().output_pending.clone(),
    );
    let taps = cache_taps(&hot, &warming);
    let mut cache = Cache::new(backend, config.limits, config.default_ttl, metrics).with_taps(taps);
    // Opened before any task starts, so an unusable ROOST_DATA_DIR stops the
    // start with nothing left running.
    let snapshots = Snapshots::open(&config, cache.backend(), cache.metrics(), events.clone())?;
    if let Some(snapshots) = &snapshots {
        cache = cache.with_load_fence(snapshots.load_fence());
    }
    if let Some(geo) = &geo {
        cache = cache.with_change_sink(geo.sink(&tasks));
        // Before any listener or link starts (see `Geo::replay_own_log`).
        geo.replay_own_log(&cache)
            .await
            .context("replaying this region's change log")?;
    }
    hot.spawn(&tasks);
    if let Some(origin) = &config.origin {
        let read_through =
            ReadThrough::new(origin.clone(), config.limits.max_value_bytes, tasks.clone())
                .context("building the origin client")?;
        tracing::info!(
            url = %format!("{}{{key}}{}", origin.url.before, origin.url.after),
            timeout_ms = origin.timeout.as_millis() as u64,
            max_concurrency = origin.max_concurrency,
            "origin read-through on"
        );
        cache = cache.with_origin(read_through);
    }
    warming.spawn(&tasks, cache.clone(), &events);
    let state = Arc::new(AppState {
        cache,
        hot,
        warming,
        history: Arc::new(History::default()),
        events,
        auth: ArcSwap::from_pointee(Auth::new(&config.auth.credentials)),
        open: config.auth.open,
        tls: tls.is_some(),
        output_budget: budget,
        ready: AtomicBool::new(true),
        snapshots,
        geo,
    });

    let (listener, http_addr) = bind("HTTP", config.http_addr).await?;
    let (dashboard_listener, dashboard_addr) = bind("dashboard", config.dashboard_addr).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!(addr = %http_addr, scheme, backend = state.cache.backend().name(), "http listening");
    tracing::info!(addr = %dashboard_addr, scheme, built = dashboard::is_built(), "dashboard listening");

    let app = rest::router(state.clone()).merge(live_routes(&tasks, &state, &config));
    let app = rest::harden(app, state.clone(), config.listeners.http.request_timeout);
    // The dashboard's listener serves the same app, so the page reaches `/api`,
    // `/ws` and `/metrics` on its own origin.
    for (listener, door, task) in [
        (dashboard_listener, "dashboard", "dashboard-listener"),
        (listener, "http", "http-listener"),
    ] {
        let door = Door {
            door,
            app: app.clone(),
            limits: config.listeners.http,
            output: config.listeners.output,
            tls: tls.clone(),
            metrics: state.cache.shared_metrics(),
        };
        tasks.spawn(task, |stop| async move {
            http::serve(listener, door, stop).await;
            Ok(())
        });
    }
    let resp_addr = start_resp(&tasks, &state, &config, tls.clone()).await?;
    spawn_background(&tasks, &state, &config);
    if let Some(snapshots) = &state.snapshots {
        snapshots.spawn(&tasks, &state);
    }
    if let Some(geo) = &state.geo {
        geo.spawn(&tasks, &state.cache);
    }
    record_start(&state, &config, [http_addr, resp_addr, dashboard_addr]);
    Ok(Running {
        http_addr,
        resp_addr,
        dashboard_addr,
        state,
        tasks,
        tls,
        shutdown_timeout: config.shutdown_timeout,
        shutdown_grace: config.listeners.shutdown_grace,
    })
}

/// Raises the open-file limit and warns when the listeners' connection caps
/// could still exhaust it (then one listener could take every descriptor and
/// the others would stop accepting).
fn check_descriptors(config: &Config) {
    let limit = net::raise_fd_limit();
    let http = config.listeners.http.max_connections as u64 * 2;
    let needed = http + config.resp.max_connections as u64 + FD_RESERVE;
    if needed > limit {
        tracing::warn!(
            open_file_limit = limit,
            needed,
            "the connection caps (2 x ROOST_HTTP_MAX_CONNECTIONS + ROOST_RESP_MAX_CONNECTIONS + {FD_RESERVE}) \
             exceed the open-file limit; lower them or raise the limit (ulimit -n), or a flood on one port \
             can stop the others from accepting"
        );
    } else {
        tracing::info!(open_file_limit = limit, needed, "open-file limit checked");
    }
}

/// Every start with a listener beyond loopback and no credential says so,
/// loudly (it only starts that way with ROOST_ALLOW_NO_AUTH=true).
fn warn_if_exposed(config: &Config) {
    for addr in config.exposed_without_auth() {
        tracing::warn!(
            %addr,
            "INSECURE: this listener is reachable beyond this host and no credential is configured \
             (ROOST_ALLOW_NO_AUTH=true): anyone who can reach it may read, write and flush the cache"
        );
    }
}

/// The Cache's taps: the hot-key tracker sees every read and write, unless
/// it is off; warming sees every read, when it is on and there is an origin.
fn cache_taps(hot: &Arc<HotKeys>, warming: &Arc<Warming>) -> Taps {
    let mut taps = Taps::default();
    if hot.is_enabled() {
        taps.reads.push(hot.clone());
        taps.writes.push(hot.clone());
    }
    if warming.is_active() {
        taps.reads.push(warming.clone());
    }
    taps
}

/// Binds the RESP address and serves it beside HTTP, on the same Cache.
async fn start_resp(
    tasks: &Tasks,
    state: &SharedState,
    config: &Config,
    tls: Option<Arc<Tls>>,
) -> anyhow::Result<SocketAddr> {
    let (listener, resp_addr) = bind("RESP", config.resp_addr).await?;
    tracing::info!(addr = %resp_addr, tls = tls.is_some(), "resp listening");
    let resp_state = Arc::new(RespState::new(
        state.clone(),
        config.resp.clone(),
        &config.listeners,
        tls,
        resp_addr,
    ));
    tasks.spawn("resp-listener", |stop| async move {
        resp::serve(listener, resp_state, stop).await;
        Ok(())
    });
    Ok(resp_addr)
}

/// The `/ws/metrics` stream and the dashboard's files, merged into the HTTP
/// app; spawns the one snapshot producer all dashboards share.
fn live_routes(tasks: &Tasks, state: &SharedState, config: &Config) -> axum::Router {
    let feed = Arc::new(ws::MetricsFeed::new(
        config.metrics_interval,
        state.cache.metrics(),
        tasks.token(),
    ));
    let (producer, state) = (feed.clone(), state.clone());
    tasks.spawn("metrics-feed", |_| async move {
        producer.run(state).await;
        Ok(())
    });
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

/// The first events the dashboard shows: what started and where it listens.
fn record_start(state: &SharedState, config: &Config, [http, resp, dashboard]: [SocketAddr; 3]) {
    let cache = &state.cache;
    state.events.record(
        EventKind::Startup,
        format!(
            "roost started: {} backend, {} nodes, {} bytes memory cap",
            cache.backend().name(),
            cache.backend().nodes().len(),
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

/// The tasks beside the listeners: the embedded store's expiry sweep or the
/// fleet's prober, and the once-a-second history of counters.
fn spawn_background(tasks: &Tasks, state: &SharedState, config: &Config) {
    let (s, interval) = (state.clone(), config.expiry_sweep_interval);
    match state.cache.backend() {
        Backend::Embedded(_) => tasks.spawn("expiry-sweep", |stop| async move {
            if let Backend::Embedded(embedded) = s.cache.backend() {
                embedded.sweep_expired(interval, stop).await;
            }
            Ok(())
        }),
        Backend::Fleet(fleet) => {
            let fleet = fleet.clone();
            tasks.spawn("prober", |stop| async move {
                fleet.run_prober(stop).await;
                Ok(())
            });
        }
    }
    let s = state.clone();
    tasks.spawn("metrics-history", |stop| async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tokio::select! {
                _ = stop.cancelled() => return Ok(()),
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

    /// Applies what a reloaded configuration (SIGHUP) can change without a
    /// restart: the credentials, the TLS certificate (read again from the
    /// configured files) and a Redis fleet's node list (nodes it no longer
    /// names are drained, new ones added). Everything else needs a restart.
    pub async fn reload(&self, config: &Config) -> anyhow::Result<()> {
        let credentials = &config.auth.credentials;
        let was_on = self.state.auth.load().is_enabled();
        let will_be_on = !credentials.is_empty();
        if was_on != will_be_on {
            tracing::warn!(
                "SIGHUP: turning authentication on or off needs a restart (open connections \
                 would keep their state); the credentials are unchanged"
            );
        } else {
            self.state.auth.store(Arc::new(Auth::new(credentials)));
            tracing::info!(
                credentials = credentials.len(),
                "SIGHUP: credentials reloaded"
            );
        }
        if let Some(tls) = &self.tls {
            let reloaded = tls.reload();
            let doors = self.state.cache.metrics().doors();
            doors.tls_reload(reloaded.is_ok()).inc();
            match reloaded {
                Ok(()) => {
                    tracing::info!("SIGHUP: TLS certificate reloaded; new connections use it")
                }
                Err(error) => {
                    tracing::error!(%error, "SIGHUP: TLS reload failed; the old certificate stays")
                }
            }
        }
        let (Backend::Fleet(fleet), BackendConfig::Redis { nodes, .. }) =
            (self.state.cache.backend(), &config.backend)
        else {
            if let BackendConfig::Redis { .. } = config.backend {
                tracing::warn!(
                    "SIGHUP: this server runs the {} backend while the configuration names Redis \
                     nodes; restart to change backends",
                    self.state.cache.backend().name()
                );
            }
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

    /// The registry of this server's background tasks.
    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// Stops answering ready, waits the grace period so load balancers notice,
    /// stops accepting, drains in-flight requests (up to the shutdown timeout),
    /// and ends every background task.
    pub async fn shutdown(self) {
        self.state.ready.store(false, Ordering::Release);
        if !self.shutdown_grace.is_zero() {
            tracing::info!(grace = ?self.shutdown_grace, "shutting down: /readyz answers 503 before the listeners close");
            tokio::time::sleep(self.shutdown_grace).await;
        }
        tracing::info!(
            tasks = self.tasks.len(),
            "shutting down: draining in-flight requests and ending background tasks"
        );
        self.tasks.shutdown(self.shutdown_timeout).await;
        // After the listeners drained, so the snapshot holds every write a
        // client was answered for.
        if let Some(snapshots) = &self.state.snapshots {
            snapshots.write_final(&self.state).await;
        }
        // After the links ended: the cursors hold the last batch applied.
        if let Some(geo) = &self.state.geo {
            geo.persist_cursors().await;
        }
        tracing::info!("stopped");
    }
}
