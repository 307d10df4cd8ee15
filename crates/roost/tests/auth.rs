//! Authentication and roles on every door: REST bearer tokens and the
//! dashboard's session cookie, `/ws/metrics`, the open endpoints, and RESP's
//! AUTH with the same users and roles — and what Roost refuses at start-up.

#![allow(clippy::unwrap_used)]

mod support;

use serde_json::{json, Value};
use support::process::{roost, serve};
use support::{metric, TestServer};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

const TOKENS: &str = "reader:read:r-t0ken,app:write:w-t0ken,ops:admin:a-t0ken";

async fn server() -> TestServer {
    TestServer::builder()
        .env("ROOST_API_TOKENS", TOKENS)
        .start()
        .await
}

/// Status of `method path` with `token` as the bearer (none for `None`).
async fn status(s: &TestServer, method: &str, path: &str, token: Option<&str>) -> u16 {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = s.anonymous.request(method, s.url(path));
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    match path {
        "/api/cache/mget" => request = request.json(&json!({"keys": ["k"]})),
        "/api/cache" => request = request.json(&json!({"key": "k", "value": 1})),
        _ => {}
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn every_rest_route_needs_a_credential_with_a_high_enough_role() {
    let s = server().await;
    let cases: &[(&str, &str, [u16; 5])] = &[
        // method, path, [none, wrong, read, write, admin]
        ("GET", "/api/cache/k", [401, 403, 404, 404, 404]),
        ("POST", "/api/cache/mget", [401, 403, 200, 200, 200]),
        (
            "GET",
            "/api/cache/stats/overview",
            [401, 403, 200, 200, 200],
        ),
        ("POST", "/api/cache", [401, 403, 403, 200, 200]),
        ("DELETE", "/api/cache/k", [401, 403, 403, 200, 404]),
        ("DELETE", "/api/cache/flush/all", [401, 403, 403, 403, 200]),
        ("GET", "/api/auth/whoami", [401, 403, 200, 200, 200]),
        ("GET", "/healthz", [200, 200, 200, 200, 200]),
        ("GET", "/metrics", [200, 200, 200, 200, 200]),
        ("GET", "/api/openapi.json", [200, 200, 200, 200, 200]),
    ];
    for (method, path, expected) in cases {
        let tokens = [
            None,
            Some("nope"),
            Some("r-t0ken"),
            Some("w-t0ken"),
            Some("a-t0ken"),
        ];
        for (token, want) in tokens.iter().zip(expected) {
            let got = status(&s, method, path, *token).await;
            assert_eq!(got, *want, "{method} {path} with {token:?}");
        }
    }
    let r = s.anonymous.get(s.url("/api/cache/k")).send().await.unwrap();
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    let r = s
        .anonymous
        .post(s.url("/api/cache"))
        .header("authorization", "bearer r-t0ken")
        .json(&json!({"key": "k", "value": 1}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "forbidden");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("role read"),
        "{body}"
    );
    let failures = metric(
        &s.metrics_text().await,
        "roost_auth_failures_total{door=\"http\"}",
    );
    assert!(failures >= 20.0, "{failures}");
    s.shutdown().await;
}

#[tokio::test]
async fn open_endpoints_can_be_closed_and_the_dashboard_files_stay_open() {
    let s = TestServer::builder()
        .env("ROOST_API_TOKENS", TOKENS)
        .env("ROOST_OPEN_ENDPOINTS", "probes")
        .start()
        .await;
    assert_eq!(status(&s, "GET", "/readyz", None).await, 200);
    assert_eq!(status(&s, "GET", "/metrics", None).await, 401);
    assert_eq!(status(&s, "GET", "/metrics", Some("r-t0ken")).await, 200);
    assert_eq!(status(&s, "GET", "/api/openapi.json", None).await, 401);
    // 200 with a dashboard build, 503 and how to build one without: never 401.
    let page = status(&s, "GET", "/", None).await;
    assert!(
        page == 200 || page == 503,
        "the dashboard's page holds no data: {page}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn the_dashboard_signs_in_with_a_cookie_that_every_route_and_the_stream_accept() {
    let s = server().await;
    let ws_url = format!("{}/ws/metrics", s.base.replace("http://", "ws://"));
    let refused = tokio_tungstenite::connect_async(ws_url.as_str()).await;
    let error = refused.err().unwrap().to_string();
    assert!(error.contains("401"), "{error}");

    let r = s
        .anonymous
        .post(s.url("/api/auth/session"))
        .json(&json!({"token": "nope"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    let r = s
        .anonymous
        .post(s.url("/api/auth/session"))
        .json(&json!({"token": "r-t0ken"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_owned();
    for part in [
        "roost_token=r-t0ken",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(cookie.contains(part), "{cookie}");
    }
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body,
        json!({"user": "reader", "role": "read", "auth": true})
    );
    let session = cookie.split(';').next().unwrap().to_owned();
    let who: Value = s
        .anonymous
        .get(s.url("/api/auth/whoami"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["user"], "reader");
    let r = s
        .anonymous
        .post(s.url("/api/cache"))
        .header("cookie", &session)
        .json(&json!({"key": "k", "value": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status().as_u16(),
        403,
        "the cookie carries the token's role"
    );

    let mut request = ws_url.as_str().into_client_request().unwrap();
    request
        .headers_mut()
        .insert("cookie", session.parse().unwrap());
    let (mut stream, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    use futures_util::StreamExt;
    let first = stream.next().await.unwrap().unwrap();
    assert!(first.to_text().unwrap().contains("\"history\""));

    let r = s
        .anonymous
        .delete(s.url("/api/auth/session"))
        .send()
        .await
        .unwrap();
    let cleared = r.headers()["set-cookie"].to_str().unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    s.shutdown().await;
}

#[tokio::test]
async fn resp_users_authenticate_with_the_same_tokens_and_roles() {
    let s = server().await;
    let mut c = s.resp().await;
    assert_eq!(
        c.cmd(&["GET", "k"]).await,
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        c.cmd(&["AUTH", "reader", "w-t0ken"]).await,
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n",
        "another user's token"
    );
    assert_eq!(c.cmd(&["AUTH", "reader", "r-t0ken"]).await, "+OK\r\n");
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]).await, "$6\r\nreader\r\n");
    assert_eq!(c.cmd(&["GET", "k"]).await, "$-1\r\n");
    let noperm = "-NOPERM this user has no permissions to run the 'set' command\r\n";
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, noperm);
    // A pipeline of plain SETs (batched against the store) is refused one by one.
    let sets: Vec<Vec<String>> = (0..5)
        .map(|i| vec!["SET".into(), format!("p:{i}"), "v".into()])
        .collect();
    let replies = c.pipeline(&sets).await;
    assert!(
        replies.iter().all(|r| r.starts_with("-NOPERM")),
        "{replies:?}"
    );
    assert_eq!(c.cmd(&["DBSIZE"]).await, ":0\r\n");

    assert_eq!(
        c.cmd(&["AUTH", "w-t0ken"]).await,
        "+OK\r\n",
        "the requirepass form finds the user"
    );
    assert_eq!(c.cmd(&["ACL", "WHOAMI"]).await, "$3\r\napp\r\n");
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, "+OK\r\n");
    assert!(c.cmd(&["FLUSHALL"]).await.starts_with("-NOPERM"));
    assert_eq!(c.cmd(&["AUTH", "ops", "a-t0ken"]).await, "+OK\r\n");
    assert_eq!(c.cmd(&["FLUSHALL"]).await, "+OK\r\n");
    let list = c.cmd(&["CLIENT", "LIST"]).await;
    assert!(list.contains("user=ops"), "{list}");
    let failures = metric(
        &s.metrics_text().await,
        "roost_auth_failures_total{door=\"resp\"}",
    );
    assert!(
        failures >= 8.0,
        "one WRONGPASS, six NOPERM, one FLUSHALL: {failures}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn the_resp_password_alone_is_a_write_token_on_every_door() {
    let s = TestServer::builder()
        .env("ROOST_RESP_PASSWORD", "pw")
        .start()
        .await;
    assert_eq!(status(&s, "GET", "/api/cache/k", None).await, 401);
    assert_eq!(status(&s, "POST", "/api/cache", Some("pw")).await, 200);
    assert_eq!(
        status(&s, "DELETE", "/api/cache/flush/all", Some("pw")).await,
        403
    );
    let mut c = s.resp().await;
    assert_eq!(c.cmd(&["AUTH", "pw"]).await, "+OK\r\n");
    assert_eq!(c.cmd(&["GET", "k"]).await, "$1\r\n1\r\n");
    s.shutdown().await;
}

#[test]
fn listeners_beyond_loopback_without_a_credential_are_refused_or_loudly_allowed() {
    let out = roost()
        .args([
            "serve",
            "--http-addr",
            "0.0.0.0:0",
            "--resp-addr",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("ROOST_HTTP_ADDR") && text.contains("no credential"),
        "{text}"
    );

    let mut command = roost();
    command.env("ROOST_ALLOW_NO_AUTH", "true");
    let server = serve(command, &["--http-addr", "0.0.0.0:0"]);
    let warned = server.log_lines("INSECURE");
    assert_eq!(warned.len(), 1, "one warning per exposed listener");
    assert_eq!(warned[0]["level"], "WARN");
}
