//! RESP commands run without a socket, for unit tests: a [`Harness`] holds the
//! shared state over an embedded Cache with a manual clock, and one
//! connection's session. It parses and executes commands as a connection does
//! and hands back the reply bytes; [`Harness::apply`] runs a typed command
//! built by hand. Test code only.

#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use bytes::Bytes;
use roost_store::{ManualClock, StoreConfig};
use tokio_util::sync::CancellationToken;

use super::command::Command;
use super::dispatch::{self, Cx};
use super::output::Output;
use super::session::{Registered, Session};
use super::RespState;
use crate::app::AppState;
use crate::auth::Auth;
use crate::backend::{Backend, Embedded};
use crate::cache::Cache;
use crate::config::{Config, Layers};
use crate::net::OutputBudget;
use crate::telemetry::{Events, History, Metrics};

/// Where the clock starts: some unix time in 2023, in milliseconds.
pub const START_MS: u64 = 1_700_000_000_000;

/// One connection's worth of RESP, over an embedded cache, with no socket.
pub struct Harness {
    pub state: RespState,
    pub session: Session,
    pub clock: Arc<ManualClock>,
    _registered: Registered,
}

impl Harness {
    /// No credentials: every command runs, as with a default configuration.
    pub fn new() -> Harness {
        Harness::with_env(&[])
    }

    /// The configuration that these `ROOST_*` variables give (e.g. a
    /// `ROOST_RESP_PASSWORD`, which turns authentication on).
    pub fn with_env(env: &[(&str, &str)]) -> Harness {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let config = Config::from_layers(&Layers::defaults().with_env(&env)).unwrap();
        let clock = Arc::new(ManualClock::new(START_MS));
        let store = StoreConfig {
            shards: NonZeroUsize::new(2).unwrap(),
            max_memory_bytes: 1 << 24,
            policy: roost_store::PolicyKind::default(),
        };
        let metrics = Arc::new(Metrics::new());
        let backend = Backend::Embedded(Embedded::new(store, clock.clone(), metrics.clone(), None));
        let budget = OutputBudget::new(
            config.listeners.output.budget,
            metrics.doors().output_pending.clone(),
        );
        let hot = crate::hot::HotKeys::new(crate::hot::HotKeysConfig::default(), &metrics);
        let warming = crate::warming::Warming::new(
            config.warming.clone(),
            config.warming_interval,
            false,
            hot.clone(),
            clock.clone(),
            metrics.clone(),
        );
        let cache = Cache::new(backend, config.limits, None, metrics);
        let app = Arc::new(AppState {
            cache,
            hot,
            warming,
            history: Arc::new(History::default()),
            events: Arc::new(Events::default()),
            auth: ArcSwap::from_pointee(Auth::new(&config.auth.credentials)),
            open: config.auth.open,
            tls: false,
            output_budget: budget,
            ready: AtomicBool::new(true),
            snapshots: None,
        });
        let addr = SocketAddr::from(([127, 0, 0, 1], 6380));
        let auth_on = app.auth.load().is_enabled();
        let state = RespState::new(app, config.resp, &config.listeners, None, addr);
        let peer = SocketAddr::from(([127, 0, 0, 1], 50000));
        let admitted = state
            .clients
            .admit(peer, addr, 10, &CancellationToken::new())
            .unwrap();
        let session = Session::new(admitted.registered.entry.clone(), auth_on);
        Harness {
            state,
            session,
            clock,
            _registered: admitted.registered,
        }
    }

    /// Runs `words` as a client would send them (parsed, checked, executed);
    /// the reply as text.
    pub async fn send(&mut self, words: &[&str]) -> String {
        let argv: Vec<Bytes> = words.iter().map(|w| Bytes::from(w.to_string())).collect();
        let request = dispatch::parse(&self.state, &argv);
        let mut out = Output::default();
        dispatch::execute(&self.state, &mut self.session, request, &mut out, None).await;
        text(out)
    }

    /// Runs a typed command as the session's user, past the checks (which
    /// belong to the [`Request`](super::command::Request)); the reply as text.
    pub async fn apply(&mut self, command: Command<'_>) -> String {
        let mut out = Output::default();
        let mut cx = Cx {
            state: &self.state,
            session: &mut self.session,
            out: &mut out,
            wire: None,
        };
        if let Err(error) = dispatch::apply(&mut cx, command).await {
            error.write(&mut out);
        }
        text(out)
    }

    /// Moves the cache's clock on.
    pub fn advance(&self, by: Duration) {
        self.clock.advance(by);
    }
}

/// Everything `out` holds, in order, as text (invalid UTF-8 replaced).
fn text(mut out: Output) -> String {
    let mut bytes = Vec::with_capacity(out.len());
    while !out.is_empty() {
        let written: usize = out
            .slices()
            .iter()
            .map(|slice| {
                bytes.extend_from_slice(slice);
                slice.len()
            })
            .sum();
        out.advance(written);
    }
    String::from_utf8_lossy(&bytes).into_owned()
}
