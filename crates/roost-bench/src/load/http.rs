//! Roost's REST API as a load `Target`, plus the `mset` and stats calls `fill` and
//! `bench/memory.sh` need; with `HttpFlavor::Webdis`, webdis's command-in-the-path API
//! instead (`webdis` submodule), so the same generator drives both.
//!
//! Speaks the contract in DESIGN.md §3: a 404 on GET/DELETE is a miss, not an error;
//! every other non-2xx status is an error carrying the server's body. Keys always go
//! into the path percent-encoded.

mod webdis;

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;
use serde_json::{json, Value};

use super::target::{Outcome, Target, TargetError};
use super::workload::Operation;

/// How long one request may take before it counts as failed.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Which HTTP API the target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpFlavor {
    /// Roost's REST API (DESIGN.md §3).
    #[default]
    Roost,
    /// webdis: `GET /GET/<key>` → `{"GET":"value"}`, `GET /SET/<key>/<value>`.
    Webdis,
}

/// Why an `--http-flavor` was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown http flavor {0:?} (expected roost or webdis)")]
pub struct UnknownFlavor(String);

impl FromStr for HttpFlavor {
    type Err = UnknownFlavor;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "roost" => Ok(Self::Roost),
            "webdis" => Ok(Self::Webdis),
            _ => Err(UnknownFlavor(text.into())),
        }
    }
}

impl fmt::Display for HttpFlavor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Roost => "roost",
            Self::Webdis => "webdis",
        })
    }
}

/// A pooled HTTP/1.1 client bound to one base URL such as `http://127.0.0.1:8000`.
#[derive(Clone)]
pub struct HttpTarget {
    client: Client<HttpConnector, Full<Bytes>>,
    base_url: String,
    flavor: HttpFlavor,
}

/// One `mset` entry.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MSetEntry<'a> {
    pub key: &'a str,
    pub value: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttl: Option<u64>,
}

#[derive(Deserialize)]
struct MGetReply {
    results: Vec<MGetResult>,
}

#[derive(Deserialize)]
struct MGetResult {
    hit: bool,
}

#[derive(Deserialize)]
struct MSetReply {
    stored: usize,
}

impl HttpTarget {
    /// A Roost REST client that keeps up to `connections` idle connections to `base_url`.
    pub fn new(base_url: &str, connections: usize) -> Self {
        Self::with_flavor(base_url, connections, HttpFlavor::Roost)
    }

    /// A client for `flavor`'s API at `base_url`.
    pub fn with_flavor(base_url: &str, connections: usize, flavor: HttpFlavor) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(connections)
            .build(connector);
        Self {
            client,
            base_url: base_url.trim_end_matches('/').to_owned(),
            flavor,
        }
    }

    /// `GET /api/cache/{key}`: `Some(value)` on a hit, `None` on a 404 miss.
    pub async fn get(&self, key: &str) -> Result<Option<Value>, TargetError> {
        let (status, body) = self.send(Method::GET, &key_path(key), None).await?;
        match status {
            StatusCode::OK => {
                let mut reply: Value = parse(&body)?;
                let value = reply
                    .get_mut("value")
                    .map(Value::take)
                    .ok_or_else(|| TargetError::Protocol("get reply has no value".into()))?;
                Ok(Some(value))
            }
            StatusCode::NOT_FOUND => Ok(None),
            other => Err(status_error(other, &body)),
        }
    }

    /// `POST /api/cache` with a JSON string value.
    pub async fn set(&self, key: &str, value: &str, ttl: Option<u64>) -> Result<(), TargetError> {
        let body = json!(MSetEntry { key, value, ttl });
        let (status, reply) = self.send(Method::POST, "/api/cache", Some(body)).await?;
        expect_ok(status, &reply)
    }

    /// `DELETE /api/cache/{key}`: whether the key existed.
    pub async fn delete(&self, key: &str) -> Result<bool, TargetError> {
        let (status, body) = self.send(Method::DELETE, &key_path(key), None).await?;
        match status {
            StatusCode::OK => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            other => Err(status_error(other, &body)),
        }
    }

    /// `POST /api/cache/mget`: `(hits, misses)`; the reply must cover every key asked.
    pub async fn mget(&self, keys: &[String]) -> Result<(usize, usize), TargetError> {
        let body = json!({ "keys": keys });
        let (status, reply) = self
            .send(Method::POST, "/api/cache/mget", Some(body))
            .await?;
        expect_ok(status, &reply)?;
        let reply: MGetReply = parse(&reply)?;
        if reply.results.len() != keys.len() {
            return Err(TargetError::Protocol(format!(
                "mget asked for {} keys, got {} results",
                keys.len(),
                reply.results.len()
            )));
        }
        let hits = reply.results.iter().filter(|result| result.hit).count();
        Ok((hits, keys.len() - hits))
    }

    /// `POST /api/cache/mset`: checks the server stored every entry.
    pub async fn mset(&self, entries: &[MSetEntry<'_>]) -> Result<(), TargetError> {
        let body = json!({ "entries": entries });
        let (status, reply) = self
            .send(Method::POST, "/api/cache/mset", Some(body))
            .await?;
        expect_ok(status, &reply)?;
        let reply: MSetReply = parse(&reply)?;
        if reply.stored != entries.len() {
            return Err(TargetError::Protocol(format!(
                "mset sent {} entries, server stored {}",
                entries.len(),
                reply.stored
            )));
        }
        Ok(())
    }

    /// `GET /api/cache/stats/overview`, as raw JSON.
    pub async fn stats_overview(&self) -> Result<Value, TargetError> {
        let (status, body) = self
            .send(Method::GET, "/api/cache/stats/overview", None)
            .await?;
        expect_ok(status, &body)?;
        parse(&body)
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        json_body: Option<Value>,
    ) -> Result<(StatusCode, Bytes), TargetError> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base_url));
        let body = match json_body {
            Some(value) => {
                builder = builder.header("content-type", "application/json");
                Bytes::from(value.to_string())
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(body))
            .map_err(|error| TargetError::Transport(format!("bad request: {error}")))?;
        let exchange = async {
            let response = self
                .client
                .request(request)
                .await
                .map_err(transport_error)?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(transport_error)?;
            Ok((status, body.to_bytes()))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .map_err(|_| TargetError::Timeout(REQUEST_TIMEOUT.as_millis() as u64))?
    }
}

impl Target for HttpTarget {
    async fn execute(&self, operation: &Operation) -> Result<Outcome, TargetError> {
        if self.flavor == HttpFlavor::Webdis {
            return self.webdis_execute(operation).await;
        }
        match operation {
            Operation::Get { key } => Ok(Outcome::Get {
                hit: self.get(key).await?.is_some(),
            }),
            Operation::Set {
                key,
                value,
                ttl_seconds,
            } => {
                self.set(key, value, *ttl_seconds).await?;
                Ok(Outcome::Set)
            }
            Operation::MGet { keys } => {
                let (hits, misses) = self.mget(keys).await?;
                Ok(Outcome::MGet { hits, misses })
            }
            Operation::Delete { key } => Ok(Outcome::Delete {
                existed: self.delete(key).await?,
            }),
        }
    }

    fn describe(&self) -> String {
        match self.flavor {
            HttpFlavor::Roost => self.base_url.clone(),
            HttpFlavor::Webdis => format!("{} (webdis)", self.base_url),
        }
    }
}

fn path_segment(text: &str) -> impl fmt::Display + '_ {
    utf8_percent_encode(text, NON_ALPHANUMERIC)
}

fn key_path(key: &str) -> String {
    format!("/api/cache/{}", utf8_percent_encode(key, NON_ALPHANUMERIC))
}

fn transport_error(error: impl std::fmt::Display) -> TargetError {
    TargetError::Transport(error.to_string())
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, TargetError> {
    serde_json::from_slice(body)
        .map_err(|error| TargetError::Protocol(format!("bad json: {error}")))
}

fn expect_ok(status: StatusCode, body: &[u8]) -> Result<(), TargetError> {
    if status.is_success() {
        Ok(())
    } else {
        Err(status_error(status, body))
    }
}

fn status_error(status: StatusCode, body: &[u8]) -> TargetError {
    const SHOWN: usize = 200;
    let text = String::from_utf8_lossy(body);
    TargetError::Status {
        status: status.as_u16(),
        body: text.chars().take(SHOWN).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_encoded_in_the_path() {
        assert_eq!(key_path("key:12"), "/api/cache/key%3A12");
        assert_eq!(key_path("a b/c"), "/api/cache/a%20b%2Fc");
    }

    #[test]
    fn flavors_parse_by_name() {
        assert_eq!("WEBDIS".parse::<HttpFlavor>(), Ok(HttpFlavor::Webdis));
        assert_eq!("roost".parse::<HttpFlavor>(), Ok(HttpFlavor::Roost));
        assert!("nginx".parse::<HttpFlavor>().is_err());
        assert_eq!(HttpFlavor::Webdis.to_string(), "webdis");
    }

    #[test]
    fn long_error_bodies_are_cut() {
        let body = "x".repeat(1000);
        let TargetError::Status { status, body } =
            status_error(StatusCode::BAD_GATEWAY, body.as_bytes())
        else {
            panic!("a status error was built");
        };
        assert_eq!((status, body.len()), (502, 200));
    }
}
