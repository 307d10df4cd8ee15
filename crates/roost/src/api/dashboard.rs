//! Serves the live dashboard (`dashboard/dist`, built by `npm run build`) at `/`
//! of whichever listener the app is on: the API port and `ROOST_DASHBOARD_ADDR`.
//!
//! The build is embedded at compile time, so a release binary serves it with no
//! source tree beside it. When no build existed at compile time, `/` answers
//! with a page that says how to make one. It only serves files: the dashboard
//! talks to the server through the same app's `/api`, `/ws` and `/metrics`.

use axum::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

#[derive(rust_embed::Embed)]
#[folder = "../../dashboard/dist/"]
#[allow_missing = true]
struct Build;

/// Shown instead of the dashboard when the binary was built without it.
pub const NOT_BUILT_PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Roost dashboard not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}
code,pre{background:#f4f4f4;border-radius:4px;padding:.1rem .3rem}pre{padding:.8rem}</style></head>
<body><h1>The Roost dashboard is not built into this binary</h1>
<p>This roost was compiled when <code>dashboard/dist</code> did not exist. Build the
dashboard, then rebuild roost so it embeds it:</p>
<pre>cd dashboard && npm ci && npm run build
cd .. && cargo build --release -p roost</pre>
<p><code>./start.sh</code> and <code>./build.sh</code> do both when Node.js and npm are installed.</p>
<p>The API works without it: <a href="/api/cache/stats/overview">/api/cache/stats/overview</a>,
<a href="/metrics">/metrics</a>, and the live stream at <code>/ws/metrics</code>.</p>
</body></html>
"#;

/// Whether this binary carries a dashboard build.
pub fn is_built() -> bool {
    Build::get("index.html").is_some()
}

/// The dashboard's routes, to merge into the HTTP application.
pub fn router() -> Router {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/favicon.svg", get(|| file("favicon.svg")))
        .route("/assets/{*path}", get(asset))
}

async fn index() -> Response {
    match Build::get("index.html") {
        Some(page) => (
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                // Asset names carry a content hash; the page must be re-read.
                (header::CACHE_CONTROL, "no-cache"),
            ],
            page.data,
        )
            .into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, Html(NOT_BUILT_PAGE)).into_response(),
    }
}

async fn asset(Path(path): Path<String>) -> Response {
    file(&format!("assets/{path}")).await
}

async fn file(path: &str) -> Response {
    match Build::get(path) {
        Some(found) => (
            [
                (header::CONTENT_TYPE, found.metadata.mimetype().to_owned()),
                (
                    header::CACHE_CONTROL,
                    "public, max-age=31536000, immutable".to_owned(),
                ),
            ],
            found.data,
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("no dashboard file {path}"),
        )
            .into_response(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;

    async fn get(path: &str) -> (StatusCode, String, String) {
        let response = router()
            .oneshot(Request::get(path).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = response.status();
        let content_type = response.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .to_owned();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            content_type,
            String::from_utf8_lossy(&body).into_owned(),
        )
    }

    #[tokio::test]
    async fn the_root_serves_the_build_or_says_how_to_make_one() {
        let (status, content_type, body) = get("/").await;
        assert!(content_type.starts_with("text/html"), "{content_type}");
        if is_built() {
            assert_eq!(status, StatusCode::OK);
            assert!(body.contains("id=\"root\""), "{body}");
        } else {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
            assert!(body.contains("npm ci && npm run build"), "{body}");
        }
    }

    #[tokio::test]
    async fn every_embedded_asset_is_served_with_its_type() {
        for name in Build::iter().filter(|n| n.starts_with("assets/")) {
            let (status, content_type, _) = get(&format!("/{name}")).await;
            assert_eq!(status, StatusCode::OK, "{name}");
            if name.ends_with(".js") {
                assert!(
                    content_type.contains("javascript"),
                    "{name}: {content_type}"
                );
            }
        }
        let (status, _, _) = get("/assets/no-such-file.js").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
}
