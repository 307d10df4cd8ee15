//! The last line of defence against a bug: a handler that panics answers
//! `500 {"error":{"code":"internal"}}` for that request alone — logged once
//! with its message, counted in `roost_panics_total{door="http"}`, and no
//! internals sent — while the connection and every other request go on.

use std::any::Any;
use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::IntoResponse;

use super::ApiError;
use crate::telemetry::Metrics;

/// Turns a handler's panic into `500 {"error":{"code":"internal"}}` for that
/// request alone: logged with its message, counted, and no internals sent.
pub fn catch_panics(
    metrics: Arc<Metrics>,
) -> tower_http::catch_panic::CatchPanicLayer<
    impl tower_http::catch_panic::ResponseForPanic<ResponseBody = axum::body::Body>,
> {
    let on_panic = move |panic: Box<dyn Any + Send + 'static>| {
        metrics.doors().panic("http").inc();
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".to_owned());
        tracing::error!(
            panic = message,
            "bug: a request handler panicked; answered 500"
        );
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; the server log has the details",
        )
        .into_response()
    };
    tower_http::catch_panic::CatchPanicLayer::custom(on_panic)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use axum::routing::get;
    use axum::Router;

    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_internal_for_that_request_only() {
        let metrics = Arc::new(Metrics::new());
        let app = Router::new()
            .route(
                "/boom",
                get(|| async {
                    if true {
                        panic!("a bug with internals in its message");
                    }
                    "never"
                }),
            )
            .route("/fine", get(|| async { "fine" }))
            .layer(catch_panics(metrics.clone()));
        let request = |path: &str| axum::http::Request::get(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(request("/boom")).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "internal");
        assert!(!body.to_string().contains("internals"), "{body}");
        let response = app.oneshot(request("/fine")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert!(metrics
            .encode()
            .contains("roost_panics_total{door=\"http\"} 1"));
    }
}
