//! The HTTP client that fetches a key from the origin: hyper-util's pooled
//! client (keep-alive, HTTP/1.1) over `connector.rs`, one GET per fetch,
//! bounded by `ROOST_ORIGIN_TIMEOUT` from connecting to the last byte of the
//! body, and by `ROOST_MAX_VALUE_BYTES` on the body (a larger one is refused
//! while it streams, never held whole). A 2xx is a value, 404 and 410 are a
//! miss, anything else (redirects included: none is followed) is the origin's
//! failure.

use std::pin::Pin;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http_body::Body as _;
use hyper::body::Incoming;
use hyper::{header, Request, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use super::connector::Connector;
use super::freshness::Freshness;
use super::url::fetch_url;
use crate::config::OriginSettings;
use crate::error::{CacheError, Cause, OriginFault};

/// What the origin answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The value, and how long it may be kept.
    Value { body: Bytes, freshness: Freshness },
    /// 404 or 410: no such key.
    NotFound,
}

pub struct OriginClient {
    client: Client<Connector, http_body_util_empty::Empty>,
    settings: OriginSettings,
    max_bytes: usize,
}

/// Idle connections kept per origin host.
const IDLE_PER_HOST: usize = 256;

impl std::fmt::Debug for OriginClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OriginClient")
            .field("settings", &self.settings)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl OriginClient {
    pub fn new(settings: OriginSettings, max_bytes: usize) -> anyhow::Result<OriginClient> {
        let https = settings.url.before.starts_with("https://");
        let connector = Connector::new(https, settings.timeout)?;
        let client = Client::builder(TokioExecutor::new())
            .pool_max_idle_per_host(IDLE_PER_HOST)
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Ok(OriginClient {
            client,
            settings,
            max_bytes,
        })
    }

    pub fn settings(&self) -> &OriginSettings {
        &self.settings
    }

    /// Fetches `key` once; every failure is `CacheError::OriginFailed`.
    pub async fn fetch(&self, key: &[u8]) -> Result<Answer, CacheError> {
        let timeout = self.settings.timeout;
        match tokio::time::timeout(timeout, self.request(key)).await {
            Ok(answer) => answer,
            Err(_) => Err(failed(OriginFault::Timeout(timeout), None)),
        }
    }

    async fn request(&self, key: &[u8]) -> Result<Answer, CacheError> {
        let url = fetch_url(&self.settings.url, key);
        let request = Request::get(url)
            .header(header::USER_AGENT, "roost")
            .body(http_body_util_empty::Empty)
            .map_err(|err| failed(OriginFault::Connect, Some(Cause::new(err))))?;
        let response = self.client.request(request).await.map_err(|err| {
            let fault = if err.is_connect() {
                OriginFault::Connect
            } else {
                OriginFault::Io
            };
            failed(fault, Some(Cause::new(err)))
        })?;
        let status = response.status();
        if status == StatusCode::NOT_FOUND || status == StatusCode::GONE {
            return Ok(Answer::NotFound);
        }
        if !status.is_success() {
            return Err(failed(OriginFault::Status(status.as_u16()), None));
        }
        let freshness = Freshness::from_headers(
            response
                .headers()
                .get_all(header::CACHE_CONTROL)
                .iter()
                .filter_map(|v| v.to_str().ok()),
        );
        let body = self.read_body(response.into_body()).await?;
        Ok(Answer::Value { body, freshness })
    }

    /// The whole body, refused as soon as it passes `max_bytes`.
    async fn read_body(&self, mut body: Incoming) -> Result<Bytes, CacheError> {
        let too_large = || {
            failed(
                OriginFault::TooLarge {
                    max: self.max_bytes,
                },
                None,
            )
        };
        if body.size_hint().lower() > self.max_bytes as u64 {
            return Err(too_large());
        }
        let mut bytes = BytesMut::new();
        loop {
            let frame = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
            let Some(frame) = frame else {
                return Ok(bytes.freeze());
            };
            let frame = frame.map_err(|err| failed(OriginFault::Io, Some(Cause::new(err))))?;
            if let Ok(data) = frame.into_data() {
                if bytes.len() + data.len() > self.max_bytes {
                    return Err(too_large());
                }
                bytes.extend_from_slice(&data);
            }
        }
    }
}

pub fn failed(fault: OriginFault, source: Option<Cause>) -> CacheError {
    CacheError::OriginFailed { fault, source }
}

/// An empty request body (a GET sends none), without a dependency for it.
mod http_body_util_empty {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use bytes::Bytes;
    use http_body::{Body, Frame, SizeHint};

    #[derive(Debug, Clone, Copy, Default)]
    pub struct Empty;

    impl Body for Empty {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            Poll::Ready(None)
        }

        fn is_end_stream(&self) -> bool {
            true
        }

        fn size_hint(&self) -> SizeHint {
            SizeHint::with_exact(0)
        }
    }
}
