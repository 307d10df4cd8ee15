//! Replies waiting for clients that do not read them: the hard and soft output
//! limits, the write timeout and the global budget close such clients, a large
//! MGET is written as it is read (so it never waits whole), and the clients
//! that do read are never cut and keep being served.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use bytes::BytesMut;
use roost_resp::write_command;
use support::fleet::fleet_builder;
use support::redis::RedisServer;
use support::{eventually, metric, non_reader, read_until_closed, TestServer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const VALUE: usize = 512 * 1024;

async fn send(stream: &mut TcpStream, commands: &[Vec<String>]) {
    let mut wire = BytesMut::new();
    for command in commands {
        let args: Vec<&[u8]> = command.iter().map(|a| a.as_bytes()).collect();
        write_command(&mut wire, &args);
    }
    stream.write_all(&wire).await.unwrap();
}

fn disconnects(text: &str, reason: &str) -> f64 {
    let series = format!("roost_client_disconnects_total{{door=\"resp\",reason=\"{reason}\"}}");
    metric(text, &series)
}

async fn store_values(s: &TestServer, count: usize) -> Vec<String> {
    let mut c = s.resp().await;
    let value = "v".repeat(VALUE);
    let keys: Vec<String> = (0..count).map(|i| format!("big:{i}")).collect();
    for key in &keys {
        assert_eq!(c.cmd(&["SET", key, &value]).await, "+OK\r\n");
    }
    keys
}

/// One value of `HUGE` bytes under key `huge`: far more than the kernel's
/// socket buffers take, so most of a GET of it waits on the server.
const HUGE: usize = 12 << 20;

async fn store_huge(s: &TestServer) {
    let mut c = s.resp().await;
    assert_eq!(c.cmd(&["SET", "huge", &"h".repeat(HUGE)]).await, "+OK\r\n");
}

fn get_huge() -> Vec<String> {
    vec!["GET".into(), "huge".into()]
}

fn gets(keys: &[String]) -> Vec<Vec<String>> {
    keys.iter().map(|k| vec!["GET".into(), k.clone()]).collect()
}

fn server() -> support::TestServerBuilder {
    TestServer::builder().env("ROOST_MAX_VALUE_BYTES", "16MiB")
}

async fn metrics(s: &TestServer) -> String {
    s.metrics_text().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_past_the_hard_limit_for_a_client_that_does_not_read_cut_it() {
    // In front of Redis a pipeline's GETs run as one concurrent group whose
    // replies (here 32 x 512 KiB) are gathered before they are written: that
    // is what the hard limit bounds.
    let node = RedisServer::start();
    let s = fleet_builder(&[&node], &[])
        .env("ROOST_CLIENT_OUTPUT_LIMIT", "4MiB 0 0")
        .env("ROOST_CLIENT_WRITE_TIMEOUT", "0")
        .start()
        .await;
    let keys = store_values(&s, 32).await;
    let mut hostile = non_reader(s.resp_addr).await;
    send(&mut hostile, &gets(&keys)).await;
    eventually(
        Duration::from_secs(10),
        "the hard limit cuts the client",
        || async { disconnects(&metrics(&s).await, "output_hard_limit") == 1.0 },
    )
    .await;
    let read = read_until_closed(&mut hostile, Duration::from_secs(5))
        .await
        .map(|b| b.len());
    assert!(
        read.is_some_and(|n| n < 32 * VALUE),
        "closed before its replies: {read:?}"
    );
    // A client that reads gets the same replies under the same limit.
    let mut good = s.resp().await;
    let replies = good.pipeline(&gets(&keys)).await;
    assert!(replies
        .iter()
        .all(|r| r.len() == VALUE + "$524288\r\n\r\n".len()));
    assert_eq!(
        metric(&metrics(&s).await, "roost_client_output_pending_bytes"),
        0.0
    );
    s.shutdown().await;
}

#[tokio::test]
async fn large_mgets_and_pipelines_are_written_as_they_are_read_so_they_never_wait_whole() {
    // 20 MiB of answer against a 2 MiB hard limit: only one value and the
    // output buffer ever wait, so the hard limit never trips; the write
    // timeout ends each non-reader.
    let s = TestServer::builder()
        .env("ROOST_CLIENT_OUTPUT_LIMIT", "2MiB 0 0")
        .env("ROOST_CLIENT_WRITE_TIMEOUT", "1")
        .start()
        .await;
    let keys = store_values(&s, 40).await;
    let mut mget = vec!["MGET".to_owned()];
    mget.extend(keys.iter().cloned());
    for (round, commands) in [vec![mget.clone()], gets(&keys)].into_iter().enumerate() {
        let mut hostile = non_reader(s.resp_addr).await;
        send(&mut hostile, &commands).await;
        eventually(
            Duration::from_secs(10),
            "the stalled client is found",
            || async { metric(&metrics(&s).await, "roost_client_output_pending_bytes") > 0.0 },
        )
        .await;
        let pending = metric(&metrics(&s).await, "roost_client_output_pending_bytes");
        assert!(
            pending <= (VALUE + 128 * 1024) as f64,
            "one value waits, not the answer: {pending}"
        );
        let cut = (round + 1) as f64;
        eventually(
            Duration::from_secs(10),
            "the write timeout cuts it",
            || async { disconnects(&metrics(&s).await, "write_timeout") == cut },
        )
        .await;
    }
    let text = metrics(&s).await;
    assert_eq!(disconnects(&text, "output_hard_limit"), 0.0);
    assert_eq!(metric(&text, "roost_client_output_pending_bytes"), 0.0);

    // A client that reads gets the whole 20 MiB answer under the same limits.
    let mut reader = non_reader(s.resp_addr).await;
    send(&mut reader, &[mget]).await;
    let mut answer = Vec::new();
    let expected = 40 * (VALUE + "$524288\r\n\r\n".len()) + "*40\r\n".len();
    let mut buf = vec![0u8; 64 * 1024];
    while answer.len() < expected {
        let n = reader.read(&mut buf).await.unwrap();
        assert!(n > 0, "closed after {} of {expected} bytes", answer.len());
        answer.extend_from_slice(&buf[..n]);
    }
    assert!(answer.starts_with(b"*40\r\n$524288\r\nvvv"));
    assert_eq!(answer.len(), expected);
    s.shutdown().await;
}

#[tokio::test]
async fn the_soft_limit_cuts_a_client_that_stays_above_it_for_its_window() {
    let s = server()
        .env("ROOST_CLIENT_OUTPUT_LIMIT", "0 1MiB 2")
        .env("ROOST_CLIENT_WRITE_TIMEOUT", "0")
        .start()
        .await;
    store_huge(&s).await;
    let mut hostile = non_reader(s.resp_addr).await;
    let started = Instant::now();
    send(&mut hostile, &[get_huge()]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        disconnects(&metrics(&s).await, "output_soft_limit"),
        0.0,
        "not before the window"
    );
    eventually(
        Duration::from_secs(10),
        "the soft limit cuts it",
        || async { disconnects(&metrics(&s).await, "output_soft_limit") == 1.0 },
    )
    .await;
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(read_until_closed(&mut hostile, Duration::from_secs(5))
        .await
        .is_some());
    s.shutdown().await;
}

#[tokio::test]
async fn the_budget_for_all_slow_clients_cuts_the_one_that_would_pass_it() {
    let s = server()
        .env("ROOST_CLIENT_OUTPUT_LIMIT", "0 0 0")
        .env("ROOST_CLIENT_OUTPUT_BUDGET", "12MiB")
        .env("ROOST_CLIENT_WRITE_TIMEOUT", "0")
        .start()
        .await;
    store_huge(&s).await;
    let mut first = non_reader(s.resp_addr).await;
    send(&mut first, &[get_huge()]).await;
    eventually(
        Duration::from_secs(10),
        "the first non-reader holds budget",
        || async {
            metric(&metrics(&s).await, "roost_client_output_pending_bytes") > (4 << 20) as f64
        },
    )
    .await;
    let mut second = non_reader(s.resp_addr).await;
    send(&mut second, &[get_huge()]).await;
    eventually(
        Duration::from_secs(10),
        "the second non-reader is cut",
        || async { disconnects(&metrics(&s).await, "output_budget") == 1.0 },
    )
    .await;
    let read = read_until_closed(&mut second, Duration::from_secs(5))
        .await
        .map(|b| b.len());
    assert!(
        read.is_some_and(|n| n < HUGE),
        "closed before its reply: {read:?}"
    );
    let text = metrics(&s).await;
    assert!(metric(&text, "roost_client_output_pending_bytes") <= (12 << 20) as f64);
    // Clients that read are served while the budget is spent, large values too.
    let mut good = s.resp().await;
    assert_eq!(
        good.cmd(&["GET", "huge"]).await.len(),
        HUGE + "$12582912\r\n\r\n".len()
    );
    assert_eq!(good.cmd(&["PING"]).await, "+PONG\r\n");
    assert_eq!(
        disconnects(&metrics(&s).await, "output_budget"),
        1.0,
        "the first is still connected"
    );
    drop(first);
    eventually(
        Duration::from_secs(10),
        "the budget is given back",
        || async { metric(&metrics(&s).await, "roost_client_output_pending_bytes") == 0.0 },
    )
    .await;
    s.shutdown().await;
}
