//! `roost-bench origin`: a stand-in for the application server Roost reads
//! through to (`ROOST_ORIGIN_URL=http://host:port/items/{key}`), for the
//! stampede bench. Every GET waits `latency`, then answers `status` with a
//! body of `value_size` bytes and, when given, `Cache-Control: max-age`;
//! `GET /__stats` answers `{"requests":N,"by_prefix":{"user":n,...}}`, the
//! requests served so far (itself not counted), in total and by the key's
//! prefix (the path's last segment up to its first `:`), so the warming bench
//! can tell a scenario's first reads from its follow-up reads. HTTP/1.1 with
//! keep-alive, hyper directly.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// How the origin answers.
#[derive(Debug, Clone)]
pub struct OriginOptions {
    pub listen: SocketAddr,
    pub latency: Duration,
    pub status: u16,
    pub max_age: Option<u64>,
    pub value_size: usize,
}

/// Distinct prefixes counted by name; requests for any further ones are counted
/// under `OTHER_PREFIXES`, so a key space without structure cannot grow the map.
const MAX_PREFIXES: usize = 64;
const OTHER_PREFIXES: &str = "(other)";

struct Served {
    options: OriginOptions,
    body: Bytes,
    requests: AtomicU64,
    /// A std Mutex: held for one map update, never across an `.await`.
    by_prefix: Mutex<BTreeMap<String, u64>>,
}

impl Served {
    fn count(&self, path: &str) {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let prefix = key_prefix(path);
        let prefix = prefix.as_str();
        let Ok(mut counts) = self.by_prefix.lock() else {
            return;
        };
        if let Some(count) = counts.get_mut(prefix) {
            *count += 1;
        } else if counts.len() < MAX_PREFIXES {
            counts.insert(prefix.to_owned(), 1);
        } else {
            *counts.entry(OTHER_PREFIXES.to_owned()).or_default() += 1;
        }
    }

    fn stats_json(&self) -> String {
        let by_prefix = self
            .by_prefix
            .lock()
            .map(|counts| counts.clone())
            .unwrap_or_default();
        serde_json::json!({
            "requests": self.requests.load(Ordering::SeqCst),
            "by_prefix": by_prefix,
        })
        .to_string()
    }
}

/// The key's prefix in a request path: its last segment, percent-decoded (Roost
/// encodes the key's `:`), up to the first `:` (`/items/user%3A42` → `user`), or
/// the whole segment when it has no `:`.
pub fn key_prefix(path: &str) -> String {
    let segment = path.rsplit('/').next().unwrap_or(path);
    let key = percent_encoding::percent_decode_str(segment).decode_utf8_lossy();
    key.split(':').next().unwrap_or_default().to_owned()
}

/// Serves until the process is stopped; prints the bound address first.
pub async fn run_origin(options: OriginOptions) -> anyhow::Result<()> {
    let listener = TcpListener::bind(options.listen).await?;
    println!("origin listening on {}", listener.local_addr()?);
    let served = Arc::new(Served {
        body: Bytes::from(vec![b'x'; options.value_size]),
        options,
        requests: AtomicU64::new(0),
        by_prefix: Mutex::new(BTreeMap::new()),
    });
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let served = served.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(served.clone(), request));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    served: Arc<Served>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if request.uri().path() == "/__stats" {
        return Ok(Response::new(Full::new(Bytes::from(served.stats_json()))));
    }
    served.count(request.uri().path());
    let options = &served.options;
    if !options.latency.is_zero() {
        tokio::time::sleep(options.latency).await;
    }
    let mut response = Response::new(Full::new(served.body.clone()));
    *response.status_mut() = StatusCode::from_u16(options.status).unwrap_or(StatusCode::OK);
    if let Some(age) = options.max_age {
        if let Ok(value) = format!("max-age={age}").parse() {
            response
                .headers_mut()
                .insert(hyper::header::CACHE_CONTROL, value);
        }
    }
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_come_from_the_last_path_segment() {
        assert_eq!(key_prefix("/items/user:42"), "user");
        assert_eq!(key_prefix("/items/user%3A42"), "user");
        assert_eq!(key_prefix("/items/feed%3a7"), "feed");
        assert_eq!(key_prefix("/items/feed:7:x"), "feed");
        assert_eq!(key_prefix("/items/plain"), "plain");
        assert_eq!(key_prefix("/"), "");
    }

    #[test]
    fn prefixes_past_the_cap_are_counted_together() {
        let served = Served {
            options: OriginOptions {
                listen: "127.0.0.1:0".parse().expect("invariant: a literal address"),
                latency: Duration::ZERO,
                status: 200,
                max_age: None,
                value_size: 1,
            },
            body: Bytes::new(),
            requests: AtomicU64::new(0),
            by_prefix: Mutex::new(BTreeMap::new()),
        };
        for i in 0..MAX_PREFIXES + 10 {
            served.count(&format!("/items/p{i}:1"));
        }
        served.count("/items/p0:2");
        let stats: serde_json::Value =
            serde_json::from_str(&served.stats_json()).expect("stats are JSON");
        assert_eq!(stats["requests"], (MAX_PREFIXES + 11) as u64);
        assert_eq!(stats["by_prefix"]["p0"], 2);
        assert_eq!(stats["by_prefix"][OTHER_PREFIXES], 10);
    }
}
