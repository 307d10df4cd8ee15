//! The running application's shared state: what every front door and task may
//! touch — the Cache, the counters' history, the events, the credentials, the
//! shared output budget, readiness, the snapshots and the region. Built once by `server::start` and
//! handed to the REST, RESP and WebSocket doors alike, so none of them owns it.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::auth::Auth;
use crate::cache::Cache;
use crate::config::OpenEndpoints;
use crate::geo::Geo;
use crate::hot::HotKeys;
use crate::net::OutputBudget;
use crate::snapshot::Snapshots;
use crate::telemetry::{Events, History};
use crate::warming::Warming;

/// Everything a handler may touch.
#[derive(Debug)]
pub struct AppState {
    pub cache: Cache,
    /// The hot-key tracker that watches the Cache's traffic (`/api/cache/hot-keys`).
    pub hot: Arc<HotKeys>,
    /// Refresh-ahead, prefetch and warm-up (`/api/cache/warming`); idle when
    /// `ROOST_WARMING=off`.
    pub warming: Arc<Warming>,
    pub history: Arc<History>,
    /// Recent events for the dashboard; record what an operator should see.
    pub events: Arc<Events>,
    /// The credentials every door checks; swapped whole on SIGHUP.
    pub auth: ArcSwap<Auth>,
    /// HTTP endpoints served without a credential when auth is on.
    pub open: OpenEndpoints,
    /// The listeners speak TLS (the session cookie is then `Secure`).
    pub tls: bool,
    /// What replies waiting on slow clients may hold, all doors together.
    pub output_budget: Arc<OutputBudget>,
    /// Cleared when shutdown begins so load balancers stop sending traffic.
    pub ready: AtomicBool,
    /// The embedded store's snapshots (`ROOST_DATA_DIR`); `None` when off.
    pub snapshots: Option<Arc<Snapshots>>,
    /// This region, its change log and its links (`ROOST_REGION`); `None`
    /// for a single region.
    pub geo: Option<Arc<Geo>>,
}

pub type SharedState = Arc<AppState>;
