//! What one client may cost a listener: half-sent and oversized HTTP requests,
//! slow bodies, connection caps on both doors, idle and unauthenticated RESP
//! sockets, long client names — and a shutdown that none of them can hold.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::{eventually, metric, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// [`support::read_until_closed`], as text.
async fn text_until_closed(stream: &mut TcpStream, deadline: Duration) -> Option<String> {
    let got = support::read_until_closed(stream, deadline).await?;
    Some(String::from_utf8_lossy(&got).into_owned())
}

async fn raw(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

fn http_addr(s: &TestServer) -> SocketAddr {
    s.base.trim_start_matches("http://").parse().unwrap()
}

#[tokio::test]
async fn a_half_sent_request_is_closed_at_the_header_deadline() {
    let s = TestServer::builder()
        .env("ROOST_HTTP_HEADER_TIMEOUT", "1")
        .start()
        .await;
    let started = Instant::now();
    let mut half = raw(http_addr(&s), b"GET /api/cache/k HTTP/1.1\r\nhost: x\r\n").await;
    let answer = text_until_closed(&mut half, Duration::from_secs(10)).await;
    assert!(answer.is_some(), "still open after 10 s");
    assert!(started.elapsed() >= Duration::from_millis(900));
    // A kept-alive connection left idle goes the same way.
    let mut idle = raw(http_addr(&s), b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let answer = text_until_closed(&mut idle, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let text = s.metrics_text().await;
    assert!(
        metric(
            &text,
            "roost_client_disconnects_total{door=\"http\",reason=\"idle_timeout\"}"
        ) >= 2.0,
        "{text}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn oversized_headers_and_slow_bodies_get_clear_errors() {
    let s = TestServer::builder()
        .env("ROOST_HTTP_REQUEST_TIMEOUT", "1")
        .start()
        .await;
    let big = format!(
        "GET /healthz HTTP/1.1\r\nhost: x\r\nx-filler: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let mut stream = raw(http_addr(&s), big.as_bytes()).await;
    let answer = text_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");

    let started = Instant::now();
    let mut slow = raw(
        http_addr(&s),
        b"POST /api/cache HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
          content-length: 100\r\n\r\n{\"key\":",
    )
    .await;
    let answer = text_until_closed(&mut slow, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"request_timeout\""), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(4));
    s.shutdown().await;
}

#[tokio::test]
async fn the_http_connection_cap_answers_503_and_the_rest_keep_working() {
    let s = TestServer::builder()
        .env("ROOST_HTTP_MAX_CONNECTIONS", "5")
        .start()
        .await;
    let mut open = Vec::new();
    for _ in 0..5 {
        let mut stream = raw(http_addr(&s), b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await;
        let mut buf = [0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
        open.push(stream);
    }
    let mut sixth = raw(http_addr(&s), b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let answer = text_until_closed(&mut sixth, Duration::from_secs(5))
        .await
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    let body: Value = serde_json::from_str(answer.split("\r\n\r\n").nth(1).unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "too_many_connections");
    // The open ones still answer, and a slot frees when one closes.
    open[0]
        .write_all(b"GET /readyz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 1024];
    let n = open[0].read(&mut buf).await.unwrap();
    assert!(buf[..n].starts_with(b"HTTP/1.1 200"));
    open.pop();
    eventually(Duration::from_secs(5), "a slot frees", || async {
        let mut stream = raw(
            http_addr(&s),
            b"GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
        )
        .await;
        let answer = text_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .unwrap();
        answer.starts_with("HTTP/1.1 200")
            && metric(
                &answer,
                "roost_http_connections_rejected_total{listener=\"http\"}",
            ) >= 1.0
    })
    .await;
    drop(open);
    s.shutdown().await;
}

#[tokio::test]
async fn the_resp_connection_cap_refuses_when_everyone_is_busy() {
    let s = TestServer::builder()
        .env("ROOST_RESP_MAX_CONNECTIONS", "2")
        .start()
        .await;
    let mut a = s.resp().await;
    let mut b = s.resp().await;
    assert_eq!(a.cmd(&["PING"]).await, "+PONG\r\n");
    assert_eq!(b.cmd(&["PING"]).await, "+PONG\r\n");
    let mut third = TcpStream::connect(s.resp_addr).await.unwrap();
    let answer = text_until_closed(&mut third, Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(answer, "-ERR max number of clients reached\r\n");
    assert_eq!(a.cmd(&["PING"]).await, "+PONG\r\n");
    s.shutdown().await;
}

#[tokio::test]
async fn unauthenticated_and_idle_resp_connections_are_closed() {
    let s = TestServer::builder()
        .env("ROOST_RESP_PASSWORD", "pw")
        .env("ROOST_RESP_IDLE_TIMEOUT", "1")
        .bearer("pw")
        .start()
        .await;
    let mut silent = TcpStream::connect(s.resp_addr).await.unwrap();
    assert!(text_until_closed(&mut silent, Duration::from_secs(5))
        .await
        .is_some());
    let mut authed = s.resp().await;
    assert_eq!(authed.cmd(&["AUTH", "pw"]).await, "+OK\r\n");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let text = s.metrics_text().await;
    assert_eq!(
        metric(
            &text,
            "roost_client_disconnects_total{door=\"resp\",reason=\"auth_timeout\"}"
        ),
        1.0
    );
    assert!(
        metric(
            &text,
            "roost_client_disconnects_total{door=\"resp\",reason=\"idle_timeout\"}"
        ) >= 1.0
    );
    s.shutdown().await;
}

#[tokio::test]
async fn client_names_are_bounded() {
    let s = TestServer::builder().start().await;
    let mut c = s.resp().await;
    let long = "n".repeat(257);
    assert_eq!(
        c.cmd(&["CLIENT", "SETNAME", &long]).await,
        "-ERR Client names are limited to 256 bytes\r\n"
    );
    assert_eq!(c.cmd(&["CLIENT", "SETNAME", &long[..256]]).await, "+OK\r\n");
    let mut hello = vec!["HELLO", "2", "SETNAME"];
    hello.push(&long);
    assert!(c
        .cmd(&hello)
        .await
        .starts_with("-ERR Client names are limited"));
    s.shutdown().await;
}

#[tokio::test]
async fn shutdown_is_not_held_by_half_sent_requests_or_clients_that_do_not_read() {
    let s = TestServer::builder()
        .env("ROOST_SHUTDOWN_TIMEOUT", "30")
        .env("ROOST_CLIENT_WRITE_TIMEOUT", "30")
        .start()
        .await;
    let mut c = s.resp().await;
    let value = "v".repeat(1 << 20);
    for i in 0..20 {
        c.cmd(&["SET", &format!("big:{i}"), &value]).await;
    }
    let _half = raw(http_addr(&s), b"POST /api/cache HTTP/1.1\r\nhost: x\r\n").await;
    let keys: Vec<String> = (0..20).map(|i| format!("big:{i}")).collect();
    let body = json!({ "keys": keys }).to_string();
    let request = format!(
        "POST /api/cache/mget HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _rest_non_reader = raw(http_addr(&s), request.as_bytes()).await;
    let mut mget = b"*21\r\n$4\r\nMGET\r\n".to_vec();
    for key in &keys {
        mget.extend_from_slice(format!("${}\r\n{key}\r\n", key.len()).as_bytes());
    }
    let _resp_non_reader = raw(s.resp_addr, &mget).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let started = Instant::now();
    s.shutdown().await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn readyz_fails_during_the_grace_while_requests_are_still_served() {
    let s = TestServer::builder()
        .env("ROOST_SHUTDOWN_GRACE", "2")
        .start()
        .await;
    let (client, base) = (s.client.clone(), s.base.clone());
    assert_eq!(s.get("/readyz").await.0, 200);
    let stopping = tokio::spawn(s.shutdown());
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut saw_not_ready = false;
    while Instant::now() < deadline && !saw_not_ready {
        let r = client.get(format!("{base}/readyz")).send().await.unwrap();
        saw_not_ready = r.status().as_u16() == 503;
    }
    assert!(saw_not_ready, "/readyz kept answering 200");
    let r = client
        .post(format!("{base}/api/cache"))
        .json(&json!({"key": "k", "value": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "still serving during the grace");
    stopping.await.unwrap();
}
