//! The guard in front of every route of the HTTP app: the caller's credential
//! is checked (`access::admit`) and the request gets its deadline
//! (`ROOST_HTTP_REQUEST_TIMEOUT`, answered `408 request_timeout`) before the
//! router sees it.
//!
//! A typed tower layer rather than two `axum::middleware::from_fn`s: those box
//! a future and clone the inner service for every request; side by side with
//! wrk this layer served 1.09x the HTTP GETs of the two middlewares
//! (docs/benchmarks.md). The credential check is synchronous, so nothing here
//! needs to be boxed.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use pin_project_lite::pin_project;
use tower::{Layer, Service};

use super::access;
use super::{ApiError, SharedState};

/// Wraps a service in [`Guarded`].
#[derive(Clone)]
pub struct GuardLayer {
    pub state: SharedState,
    pub timeout: Duration,
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guarded<S>;

    fn layer(&self, inner: S) -> Guarded<S> {
        Guarded {
            inner,
            state: self.state.clone(),
            timeout: self.timeout,
        }
    }
}

#[derive(Clone)]
pub struct Guarded<S> {
    inner: S,
    state: SharedState,
    timeout: Duration,
}

impl<S> Service<Request> for Guarded<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Guarding<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match access::admit(&self.state, &mut request) {
            Err(refusal) => Guarding::Refused {
                refusal: Some(refusal.into_response()),
            },
            Ok(()) => Guarding::Running {
                answer: tokio::time::timeout(self.timeout, self.inner.call(request)),
                timeout: self.timeout,
            },
        }
    }
}

pin_project! {
    /// A guarded request: refused at once, or running under its deadline.
    #[project = GuardingProj]
    pub enum Guarding<F> {
        Refused { refusal: Option<Response> },
        Running {
            #[pin]
            answer: tokio::time::Timeout<F>,
            timeout: Duration,
        },
    }
}

impl<F> Future for Guarding<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            GuardingProj::Refused { refusal } => {
                Poll::Ready(Ok(refusal.take().unwrap_or_else(gone)))
            }
            GuardingProj::Running { answer, timeout } => match answer.poll(cx) {
                Poll::Pending => Poll::Pending,
                Poll::Ready(Ok(answered)) => Poll::Ready(answered),
                Poll::Ready(Err(_)) => Poll::Ready(Ok(too_slow(*timeout))),
            },
        }
    }
}

/// A refusal polled twice: a bug in the caller, answered rather than panicked.
fn gone() -> Response {
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "internal error; the server log has the details",
    )
    .into_response()
}

fn too_slow(timeout: Duration) -> Response {
    ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!(
            "the request took longer than {} s (ROOST_HTTP_REQUEST_TIMEOUT)",
            timeout.as_secs()
        ),
    )
    .into_response()
}
