//! Clients that ask for a lot and never read it, against the real binary so
//! its resident memory can be watched: RESP MGETs of a hundred 1 MB values,
//! pipelines of the same large GET, REST mgets of everything. Each used to
//! make Roost buffer the whole answer per connection (3 GiB from one client);
//! now answers are written as they are read and values are sent from where
//! they are stored, so memory stays put while other clients are served.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use roost_resp::write_command;
use support::non_reader;
use support::process::{roost, roost_with_fd_limit, serve};
use support::resp::RespClient;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const VALUES: usize = 100;
const VALUE: usize = 1_000_000;

async fn resp_non_reader(addr: SocketAddr, commands: &[Vec<String>]) -> TcpStream {
    let mut stream = non_reader(addr).await;
    let mut wire = BytesMut::new();
    for command in commands {
        let args: Vec<&[u8]> = command.iter().map(|a| a.as_bytes()).collect();
        write_command(&mut wire, &args);
    }
    stream.write_all(&wire).await.unwrap();
    stream
}

async fn rest_non_reader(addr: SocketAddr, keys: &[String]) -> TcpStream {
    let mut stream = non_reader(addr).await;
    let body = serde_json::json!({ "keys": keys }).to_string();
    let request = format!(
        "POST /api/cache/mget HTTP/1.1\r\nhost: roost\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_large_answers_do_not_grow_memory() {
    let server = serve(roost(), &["--shutdown-grace", "0"]);
    let mut good = RespClient::connect(server.resp).await;
    let keys: Vec<String> = (0..VALUES).map(|i| format!("big:{i}")).collect();
    let value = "x".repeat(VALUE);
    for key in &keys {
        assert_eq!(good.cmd(&["SET", key, &value]).await, "+OK\r\n");
    }
    assert_eq!(good.cmd(&["SET", "small", "1"]).await, "+OK\r\n");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = server.rss_bytes();

    let mut mget = vec!["MGET".to_owned()];
    mget.extend(keys.iter().cloned());
    let same_get: Vec<Vec<String>> = (0..50)
        .map(|_| vec!["GET".into(), "big:0".into()])
        .collect();
    let mut hostile = Vec::new();
    for _ in 0..5 {
        hostile.push(resp_non_reader(server.resp, std::slice::from_ref(&mget)).await);
        hostile.push(rest_non_reader(server.http, &keys).await);
    }
    for _ in 0..20 {
        hostile.push(resp_non_reader(server.resp, &same_get).await);
    }
    // Without streaming each of these held its whole answer: 100 MB per MGET,
    // 50 MB per pipeline, over 100 MB per REST mget — 2 GB in all.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Everyone else is served meanwhile, large values too.
    for _ in 0..20 {
        assert_eq!(good.cmd(&["GET", "small"]).await, "$1\r\n1\r\n");
    }
    let r = reqwest::get(format!("http://{}/api/cache/big:7", server.http))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert!(r.bytes().await.unwrap().len() > VALUE);

    let after = server.rss_bytes();
    let grown = after.saturating_sub(before);
    assert!(
        grown < 64 << 20,
        "30 non-reading clients grew memory by {} MiB ({} -> {} MiB)",
        grown >> 20,
        before >> 20,
        after >> 20
    );
    drop(hostile);
}

/// Opens `count` HTTP connections that send half a request and stop.
async fn half_sent(addr: SocketAddr, count: usize) -> Vec<TcpStream> {
    let mut open = Vec::with_capacity(count);
    for _ in 0..count {
        let Ok(mut stream) = TcpStream::connect(addr).await else {
            continue;
        };
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n")
            .await;
        open.push(stream);
    }
    open
}

async fn resp_ping(addr: SocketAddr) -> bool {
    let attempt = async {
        let mut c = RespClient::connect(addr).await;
        c.cmd(&["PING"]).await == "+PONG\r\n"
    };
    tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_half_sent_http_requests_neither_takes_the_resp_port_down_nor_floods_the_log() {
    // Caps that fit the descriptors: HTTP refuses past its cap, RESP serves.
    let server = serve(
        roost_with_fd_limit(1024),
        &[
            "--http-max-connections",
            "200",
            "--resp-max-connections",
            "200",
            "--shutdown-grace",
            "0",
        ],
    );
    assert_eq!(server.log_lines("open-file limit checked").len(), 1);
    let flood = half_sent(server.http, 300).await;
    assert!(
        resp_ping(server.resp).await,
        "the RESP port answers during the flood"
    );
    let r = reqwest::get(format!("http://{}/healthz", server.dashboard))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "so does the dashboard listener");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = server.log_lines("http connection refused");
    assert!(
        (1..=2).contains(&refused.len()),
        "100 refusals, {} log lines",
        refused.len()
    );
    drop(flood);

    // Caps past the descriptors: Roost says so at start; when a flood takes
    // every descriptor, accepting pauses instead of spinning, and both ports
    // recover once the half-sent requests reach the header deadline.
    // The header deadline outlasts opening the flood (connects past the
    // accept backlog wait for SYN retries): with 2 s, the first half-sent
    // requests were cut before the last arrived on a loaded machine, and the
    // descriptors never ran out.
    let server = serve(
        roost_with_fd_limit(512),
        &["--http-header-timeout", "6", "--shutdown-grace", "0"],
    );
    assert_eq!(server.log_lines("exceed the open-file limit").len(), 1);
    let flood = half_sent(server.http, 700).await;
    let recovering = std::time::Instant::now();
    while !resp_ping(server.resp).await {
        assert!(
            recovering.elapsed() < Duration::from_secs(30),
            "RESP never answered after the flood timed out"
        );
    }
    let r = reqwest::get(format!("http://{}/healthz", server.http))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let paused = server.log_lines("accept failed").len();
    assert!(
        (1..=2).contains(&paused),
        "the pause is logged, not each failure: {paused}"
    );
    drop(flood);
}
