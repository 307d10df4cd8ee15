//! `TestOrigin`: a real HTTP origin on 127.0.0.1:0 for read-through tests,
//! with per-key behaviour (status, latency, `Cache-Control`, body or body
//! size) and request counters (total and per key). Keys it was not told
//! about answer 200 with `{"key":<key>,"n":<request number>}`, a JSON body,
//! and no `Cache-Control`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use parking_lot::Mutex;

/// How the origin answers one key.
#[derive(Debug, Clone)]
pub struct Behaviour {
    pub status: u16,
    pub latency: Duration,
    pub cache_control: Option<String>,
    /// The body; `None` answers the default JSON body.
    pub body: Option<Vec<u8>>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            status: 200,
            latency: Duration::ZERO,
            cache_control: None,
            body: None,
        }
    }
}

impl Behaviour {
    pub fn status(status: u16) -> Behaviour {
        Behaviour {
            status,
            ..Behaviour::default()
        }
    }

    pub fn slow(latency: Duration) -> Behaviour {
        Behaviour {
            latency,
            ..Behaviour::default()
        }
    }

    pub fn body(body: impl Into<Vec<u8>>) -> Behaviour {
        Behaviour {
            body: Some(body.into()),
            ..Behaviour::default()
        }
    }

    pub fn cache_control(mut self, value: &str) -> Behaviour {
        self.cache_control = Some(value.to_owned());
        self
    }

    pub fn with_latency(mut self, latency: Duration) -> Behaviour {
        self.latency = latency;
        self
    }
}

#[derive(Default)]
struct OriginState {
    behaviour: Mutex<HashMap<String, Behaviour>>,
    per_key: Mutex<HashMap<String, u64>>,
    requests: AtomicU64,
}

pub struct TestOrigin {
    pub addr: SocketAddr,
    state: Arc<OriginState>,
    server: tokio::task::JoinHandle<()>,
}

impl TestOrigin {
    pub async fn start() -> TestOrigin {
        let state = Arc::new(OriginState::default());
        let app = Router::new()
            .route("/items/{key}", get(item))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TestOrigin {
            addr,
            state,
            server,
        }
    }

    /// The `ROOST_ORIGIN_URL` template that reaches this origin.
    pub fn url(&self) -> String {
        format!("http://{}/items/{{key}}", self.addr)
    }

    pub fn set(&self, key: &str, behaviour: Behaviour) {
        self.state
            .behaviour
            .lock()
            .insert(key.to_owned(), behaviour);
    }

    /// Requests received so far, all keys.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Requests received so far for `key`.
    pub fn requests_for(&self, key: &str) -> u64 {
        self.state.per_key.lock().get(key).copied().unwrap_or(0)
    }
}

impl Drop for TestOrigin {
    fn drop(&mut self) {
        self.server.abort();
    }
}

/// A template on a port nothing listens on: every fetch is refused.
pub async fn refusing_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}/items/{{key}}")
}

async fn item(State(state): State<Arc<OriginState>>, Path(key): Path<String>) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    let n = {
        let mut per_key = state.per_key.lock();
        let n = per_key.entry(key.clone()).or_default();
        *n += 1;
        *n
    };
    let behaviour = state
        .behaviour
        .lock()
        .get(&key)
        .cloned()
        .unwrap_or_default();
    if !behaviour.latency.is_zero() {
        tokio::time::sleep(behaviour.latency).await;
    }
    let status = StatusCode::from_u16(behaviour.status).unwrap();
    let body = behaviour.body.unwrap_or_else(|| {
        serde_json::json!({"key": key, "n": n})
            .to_string()
            .into_bytes()
    });
    let mut response = (status, body).into_response();
    if let Some(value) = behaviour.cache_control {
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, value.parse().unwrap());
    }
    response
}
