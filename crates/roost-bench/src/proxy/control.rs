//! The proxy's control port, a few HTTP routes a script drives with curl:
//! `GET /stats`; `POST /blackhole`, `/heal`, `/reset` and `/delay?ms=N`. Every
//! answer is the stats after the change, as JSON. HTTP/1.1, hyper directly.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use super::{ProxyError, ProxyState};

/// Binds `at` and serves the control routes in a background task; returns the
/// bound address.
pub async fn start_control(
    at: SocketAddr,
    state: Arc<ProxyState>,
) -> Result<SocketAddr, ProxyError> {
    let listen_error = |source| ProxyError::Listen { addr: at, source };
    let listener = TcpListener::bind(at).await.map_err(listen_error)?;
    let bound = listener.local_addr().map_err(listen_error)?;
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let state = state.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request| answer(state.clone(), request));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(bound)
}

/// What a control request does, before it is done.
#[derive(Debug, PartialEq, Eq)]
enum Action {
    Stats,
    Blackhole,
    Heal,
    Reset,
    Delay(Duration),
}

/// The action a method, path and query ask for; the error is the status and why.
fn action_of(
    method: &Method,
    path: &str,
    query: Option<&str>,
) -> Result<Action, (StatusCode, String)> {
    match (method, path) {
        (&Method::GET, "/stats") => Ok(Action::Stats),
        (&Method::POST, "/blackhole") => Ok(Action::Blackhole),
        (&Method::POST, "/heal") => Ok(Action::Heal),
        (&Method::POST, "/reset") => Ok(Action::Reset),
        (&Method::POST, "/delay") => {
            let ms = query
                .unwrap_or_default()
                .split('&')
                .find_map(|pair| pair.strip_prefix("ms="))
                .and_then(|ms| ms.parse::<u64>().ok())
                .ok_or_else(|| {
                    (
                        StatusCode::BAD_REQUEST,
                        "POST /delay needs ?ms=N, N a whole number of milliseconds".to_owned(),
                    )
                })?;
            Ok(Action::Delay(Duration::from_millis(ms)))
        }
        _ => Err((
            StatusCode::NOT_FOUND,
            format!(
                "no route {method} {path}: GET /stats; POST /blackhole, /heal, /reset, /delay?ms=N"
            ),
        )),
    }
}

async fn answer(
    state: Arc<ProxyState>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let uri = request.uri();
    let (status, body) = match action_of(request.method(), uri.path(), uri.query()) {
        Ok(action) => {
            match action {
                Action::Stats => {}
                Action::Blackhole => state.blackhole(),
                Action::Heal => state.heal(),
                Action::Reset => state.reset(),
                Action::Delay(delay) => state.set_delay(delay),
            }
            let body = serde_json::to_string(&state.stats())
                .unwrap_or_else(|e| format!("{{\"error\":\"cannot encode the stats: {e}\"}}"));
            (StatusCode::OK, body)
        }
        Err((status, message)) => (status, serde_json::json!({ "error": message }).to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(json) = "application/json".parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, json);
    }
    Ok(response)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    use super::*;

    #[test]
    fn routes_map_to_actions() {
        assert_eq!(action_of(&Method::GET, "/stats", None), Ok(Action::Stats));
        assert_eq!(
            action_of(&Method::POST, "/blackhole", None),
            Ok(Action::Blackhole)
        );
        assert_eq!(action_of(&Method::POST, "/heal", None), Ok(Action::Heal));
        assert_eq!(action_of(&Method::POST, "/reset", None), Ok(Action::Reset));
        assert_eq!(
            action_of(&Method::POST, "/delay", Some("x=1&ms=80")),
            Ok(Action::Delay(Duration::from_millis(80)))
        );
        assert_eq!(
            action_of(&Method::POST, "/delay", Some("ms=-1"))
                .unwrap_err()
                .0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            action_of(&Method::POST, "/delay", None).unwrap_err().0,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            action_of(&Method::GET, "/blackhole", None).unwrap_err().0,
            StatusCode::NOT_FOUND
        );
    }

    /// One raw HTTP/1.1 request; the status line and the body.
    async fn http(at: SocketAddr, request: &str) -> (String, serde_json::Value) {
        let mut socket = TcpStream::connect(at).await.unwrap();
        socket
            .write_all(format!("{request} HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-length: 0\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut text = String::new();
        socket.read_to_string(&mut text).await.unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        (
            head.lines().next().unwrap().to_owned(),
            serde_json::from_str(body).unwrap(),
        )
    }

    #[tokio::test]
    async fn the_control_port_changes_the_state_and_reports_it() {
        let state = Arc::new(ProxyState::new("127.0.0.1:1".into(), Duration::ZERO));
        let at = start_control("127.0.0.1:0".parse().unwrap(), state.clone())
            .await
            .unwrap();
        let (status, body) = http(at, "POST /blackhole").await;
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert_eq!(body["blackholed"], true);
        assert!(state.is_blackholed());
        let (_, body) = http(at, "POST /delay?ms=40").await;
        assert_eq!(body["delay_ms"], 40);
        assert_eq!(state.delay(), Duration::from_millis(40));
        let (_, body) = http(at, "POST /heal").await;
        assert_eq!(body["blackholed"], false);
        let (_, body) = http(at, "GET /stats").await;
        assert_eq!(body["target"], "127.0.0.1:1");
        let (status, body) = http(at, "POST /nope").await;
        assert_eq!(status, "HTTP/1.1 404 Not Found");
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("no route POST /nope"));
    }
}
