//! Test harness: starts a real Roost server on 127.0.0.1:0 with a builder,
//! hands out a client, and polls with deadlines instead of sleeping.

#![allow(dead_code, clippy::unwrap_used)]

pub mod checker;
pub mod faults;
pub mod fleet;
pub mod origin;
pub mod process;
pub mod redis;
pub mod regions;
pub mod resp;
pub mod tls;
pub mod zipf;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use roost::config::{Config, Layers};
use roost::server::{self, Running};
use roost_store::{Clock, ManualClock, SystemClock};
use serde_json::Value;

pub struct TestServerBuilder {
    env: HashMap<String, String>,
    clock: Option<ManualClock>,
    bearer: Option<String>,
}

pub struct TestServer {
    pub base: String,
    /// The RESP front door's bound address.
    pub resp_addr: std::net::SocketAddr,
    /// Sends the builder's bearer token, if it was given one.
    pub client: reqwest::Client,
    /// Sends no credential.
    pub anonymous: reqwest::Client,
    /// The configuration it was started with (to hand `Running::reload`).
    pub config: Config,
    pub running: Option<Running>,
}

impl TestServer {
    pub fn builder() -> TestServerBuilder {
        let env = HashMap::from([
            ("ROOST_HTTP_ADDR".to_string(), "127.0.0.1:0".to_string()),
            ("ROOST_RESP_ADDR".to_string(), "127.0.0.1:0".to_string()),
            (
                "ROOST_DASHBOARD_ADDR".to_string(),
                "127.0.0.1:0".to_string(),
            ),
            ("ROOST_SHARDS".to_string(), "4".to_string()),
            ("ROOST_LOG".to_string(), "warn".to_string()),
            ("ROOST_SHUTDOWN_GRACE".to_string(), "0".to_string()),
        ]);
        TestServerBuilder {
            env,
            clock: None,
            bearer: None,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = self.client.get(self.url(path)).send().await.unwrap();
        split(r).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .unwrap();
        split(r).await
    }

    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
        let r = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        split(r).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let r = self.client.delete(self.url(path)).send().await.unwrap();
        split(r).await
    }

    /// A raw RESP connection to this server.
    pub async fn resp(&self) -> resp::RespClient {
        resp::RespClient::connect(self.resp_addr).await
    }

    /// The Prometheus text exposition from `/metrics`.
    pub async fn metrics_text(&self) -> String {
        let r = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.text().await.unwrap()
    }

    pub async fn stats(&self) -> Value {
        let (status, body) = self.get("/api/cache/stats/overview").await;
        assert_eq!(status, 200);
        body
    }

    pub async fn shutdown(mut self) {
        if let Some(running) = self.running.take() {
            running.shutdown().await;
        }
    }
}

impl TestServerBuilder {
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.insert(key.to_string(), value.to_string());
        self
    }

    pub fn shards(self, n: usize) -> Self {
        self.env("ROOST_SHARDS", &n.to_string())
    }

    pub fn clock(mut self, clock: ManualClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Makes `TestServer::client` (and so `get`, `post`, `delete`) send
    /// `Authorization: Bearer <token>`.
    pub fn bearer(mut self, token: &str) -> Self {
        self.bearer = Some(token.to_owned());
        self
    }

    pub async fn start(self) -> TestServer {
        let layers = Layers::defaults().with_env(&self.env);
        let config = Config::from_layers(&layers).unwrap();
        let clock: Arc<dyn Clock> = match self.clock {
            Some(c) => Arc::new(c),
            None => Arc::new(SystemClock),
        };
        let running = server::start_with_clock(config.clone(), clock)
            .await
            .unwrap();
        let base = format!("http://{}", running.http_addr());
        let mut headers = reqwest::header::HeaderMap::new();
        if let Some(token) = &self.bearer {
            let value = format!("Bearer {token}").parse().unwrap();
            headers.insert(reqwest::header::AUTHORIZATION, value);
        }
        TestServer {
            base,
            resp_addr: running.resp_addr(),
            client: reqwest::Client::builder()
                .default_headers(headers)
                .build()
                .unwrap(),
            anonymous: reqwest::Client::new(),
            config,
            running: Some(running),
        }
    }
}

async fn split(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

/// Polls `check` until it returns true or the deadline passes.
pub async fn eventually<F, Fut>(deadline: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + deadline;
    loop {
        if check().await {
            return;
        }
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The value of one series (`name{labels}`, exactly as exposed) in a Prometheus
/// text exposition; 0 when it is absent.
pub fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// A TCP client whose receive window is as small as the kernel allows, so what
/// it does not read stays on the server's side.
pub async fn non_reader(addr: std::net::SocketAddr) -> tokio::net::TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(addr).await.unwrap()
}

/// Reads until the server closes the connection; what it sent, or `None` when the
/// connection was still open at `deadline`.
pub async fn read_until_closed(
    stream: &mut tokio::net::TcpStream,
    deadline: Duration,
) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    tokio::time::timeout(deadline, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return got,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .ok()
}
