//! `roost-bench origin`: a stand-in for the application server Roost reads
//! through to (`ROOST_ORIGIN_URL=http://host:port/items/{key}`), for the
//! stampede bench. Every GET waits `latency`, then answers `status` with a
//! body of `value_size` bytes and, when given, `Cache-Control: max-age`;
//! `GET /__stats` answers `{"requests":N}`, the requests served so far
//! (itself not counted). HTTP/1.1 with keep-alive, hyper directly.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
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

struct Served {
    options: OriginOptions,
    body: Bytes,
    requests: AtomicU64,
}

/// Serves until the process is stopped; prints the bound address first.
pub async fn run_origin(options: OriginOptions) -> anyhow::Result<()> {
    let listener = TcpListener::bind(options.listen).await?;
    println!("origin listening on {}", listener.local_addr()?);
    let served = Arc::new(Served {
        body: Bytes::from(vec![b'x'; options.value_size]),
        options,
        requests: AtomicU64::new(0),
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
        let body = format!(
            r#"{{"requests":{}}}"#,
            served.requests.load(Ordering::SeqCst)
        );
        return Ok(Response::new(Full::new(Bytes::from(body))));
    }
    served.requests.fetch_add(1, Ordering::SeqCst);
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
