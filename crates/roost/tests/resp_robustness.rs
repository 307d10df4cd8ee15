//! The RESP front door under hostile or heavy input: pipelining, malformed and
//! over-limit input (a Protocol error, then the connection closes, and the server
//! keeps serving others), the connection limit, the idle timeout, and a client
//! that pipelines without reading.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use support::{eventually, TestServer};
use tokio::io::AsyncWriteExt;

#[tokio::test]
async fn a_pipeline_is_answered_in_order() {
    let s = TestServer::builder().start().await;
    let mut c = s.resp().await;
    let mut batch = Vec::new();
    for i in 0..1000 {
        batch.extend_from_slice(
            format!("*3\r\n$3\r\nSET\r\n$4\r\nk{i:03}\r\n$1\r\nv\r\n").as_bytes(),
        );
        batch.extend_from_slice(b"*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n");
    }
    batch.extend_from_slice(b"PING\r\n");
    c.send_raw(&batch).await;
    for i in 0..1000 {
        assert_eq!(c.reply().await, b"+OK\r\n");
        assert_eq!(c.reply().await, format!(":{}\r\n", i + 1).into_bytes());
    }
    assert_eq!(
        c.reply().await,
        b"+PONG\r\n",
        "inline commands mix with multibulk"
    );
    s.shutdown().await;
}

/// With the embedded store, runs of plain GETs and of plain SETs in a pipeline
/// go to the store as batches (one lock hold per shard): the replies must be
/// exactly those of the same commands one by one, a repeated key must end with
/// its last value, and a bad command must fail alone, in its place.
#[tokio::test]
async fn batched_runs_answer_as_commands_one_by_one() {
    let s = TestServer::builder()
        .shards(4)
        .env("ROOST_MAX_KEY_BYTES", "16")
        .start()
        .await;
    let mut c = s.resp().await;
    let long_key = "k".repeat(20);
    let mut script: Vec<Vec<String>> = Vec::new();
    for i in 0..40 {
        script.push(vec!["SET".into(), format!("run:{i}"), format!("a{i}")]);
        if i % 10 == 3 {
            script.push(vec![
                "SET".into(),
                format!("run:{}", i - 1),
                format!("b{i}"),
            ]);
        }
    }
    script.push(vec!["SET".into(), long_key.clone(), "x".into()]);
    script.push(vec!["SET".into(), "run:after".into(), "ok".into()]);
    for i in (0..44).rev() {
        script.push(vec!["GET".into(), format!("run:{i}")]);
    }
    script.push(vec!["GET".into(), long_key]);
    script.push(vec!["GET".into(), "run:1".into(), "extra".into()]);
    script.push(vec!["GET".into(), "run:after".into()]);
    let batched = c.pipeline(&script).await;
    assert_eq!(c.cmd(&["FLUSHALL"]).await, "+OK\r\n");
    let mut one_by_one = Vec::new();
    for command in &script {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        one_by_one.push(c.cmd(&args).await);
    }
    assert_eq!(batched, one_by_one);
    let get_of = |key: &str| {
        let at = script
            .iter()
            .rposition(|cmd| cmd.len() == 2 && cmd[0] == "GET" && cmd[1] == key)
            .unwrap();
        batched[at].clone()
    };
    assert_eq!(
        get_of("run:2"),
        "$2\r\nb3\r\n",
        "the later SET of a repeated key wins"
    );
    assert_eq!(get_of("run:4"), "$2\r\na4\r\n");
    assert_eq!(get_of("run:43"), "$-1\r\n", "a miss");
    assert_eq!(
        get_of("run:after"),
        "$2\r\nok\r\n",
        "a failed SET does not stop its run"
    );
    let errors: Vec<&String> = batched.iter().filter(|r| r.starts_with('-')).collect();
    assert_eq!(errors.len(), 3, "{errors:?}");
    assert!(
        errors[0].starts_with("-ERR key is 20 bytes"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].starts_with("-ERR key is 20 bytes"),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].contains("wrong number of arguments for 'get'"),
        "{}",
        errors[2]
    );

    // Replies larger than the flush threshold: the server writes them out between
    // batches and carries on where it stopped, in order.
    let value = "v".repeat(100 * 1024);
    assert_eq!(c.cmd(&["SET", "big", &value]).await, "+OK\r\n");
    let mut script: Vec<Vec<String>> = Vec::new();
    for i in 0..100 {
        script.push(vec!["GET".into(), "big".into()]);
        if i % 7 == 0 {
            script.push(vec!["SET".into(), "n".into(), i.to_string()]);
            script.push(vec!["GET".into(), "n".into()]);
        }
    }
    let replies = c.pipeline(&script).await;
    let big_reply = format!("${}\r\n{value}\r\n", value.len());
    for (command, reply) in script.iter().zip(&replies) {
        match (command[0].as_str(), command[1].as_str()) {
            ("GET", "big") => assert!(*reply == big_reply, "a big GET's reply"),
            ("SET", _) => assert_eq!(reply, "+OK\r\n"),
            _ => assert!(reply.starts_with('$'), "{reply}"),
        }
    }
    let last_n = replies.iter().rev().find(|r| r.len() < 10).unwrap();
    assert_eq!(last_n, "$2\r\n98\r\n");
    s.shutdown().await;
}

#[tokio::test]
async fn malformed_input_gets_a_protocol_error_and_a_closed_connection() {
    let s = TestServer::builder().start().await;
    let cases: &[(&[u8], &str)] = &[
        (
            b"*1\r\n$999999999\r\n",
            "-ERR Protocol error: invalid bulk length\r\n",
        ),
        (
            b"*abc\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*99999999\r\n",
            "-ERR Protocol error: invalid multibulk length\r\n",
        ),
        (
            b"*1\r\nxyz\r\n",
            "-ERR Protocol error: expected '$', got 'x'\r\n",
        ),
        (
            b"SET \"a b\r\n",
            "-ERR Protocol error: unbalanced quotes in request\r\n",
        ),
    ];
    for (input, expected) in cases {
        let mut c = s.resp().await;
        c.send_raw(b"PING\r\n").await;
        c.send_raw(input).await;
        assert_eq!(
            c.reply().await,
            b"+PONG\r\n",
            "replies before the error still arrive"
        );
        assert_eq!(String::from_utf8(c.reply().await).unwrap(), *expected);
        assert!(c.closed().await, "connection closed after {expected}");
    }
    let mut c = s.resp().await;
    let endless = vec![b'a'; 70 * 1024];
    c.send_raw(&endless).await;
    assert_eq!(
        String::from_utf8(c.reply().await).unwrap(),
        "-ERR Protocol error: too big inline request\r\n"
    );
    assert!(c.closed().await);
    let mut c = s.resp().await;
    let over = format!("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n${}\r\n", (1 << 20) + 1);
    c.send_raw(over.as_bytes()).await;
    assert_eq!(
        c.reply().await,
        b"-ERR Protocol error: invalid bulk length\r\n"
    );
    assert!(
        c.closed().await,
        "a value over the limit is refused when declared"
    );
    let mut healthy = s.resp().await;
    assert_eq!(
        healthy.cmd(&["PING"]).await,
        "+PONG\r\n",
        "the server keeps serving"
    );
    let metrics = s.metrics_text().await;
    assert!(
        metrics.contains("roost_resp_protocol_errors_total 7"),
        "{metrics}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn connections_over_the_limit_are_refused_with_redis_error() {
    let s = TestServer::builder()
        .env("ROOST_RESP_MAX_CONNECTIONS", "2")
        .start()
        .await;
    let mut first = s.resp().await;
    let mut second = s.resp().await;
    assert_eq!(first.cmd(&["PING"]).await, "+PONG\r\n");
    assert_eq!(second.cmd(&["PING"]).await, "+PONG\r\n");
    let mut third = s.resp().await;
    assert_eq!(
        third.reply().await,
        b"-ERR max number of clients reached\r\n"
    );
    assert!(third.closed().await);
    drop(first);
    let addr = s.resp_addr;
    eventually(
        Duration::from_secs(5),
        "a slot frees when a client leaves",
        || async move {
            let mut c = support::resp::RespClient::connect(addr).await;
            c.send(&[b"PING"]).await;
            c.reply().await == b"+PONG\r\n"
        },
    )
    .await;
    assert_eq!(second.cmd(&["PING"]).await, "+PONG\r\n");
    let metrics = s.metrics_text().await;
    assert!(
        metrics.contains("roost_resp_connections_rejected_total"),
        "{metrics}"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_timeout() {
    let s = TestServer::builder()
        .env("ROOST_RESP_IDLE_TIMEOUT", "1")
        .start()
        .await;
    let mut idle = s.resp().await;
    assert_eq!(idle.cmd(&["PING"]).await, "+PONG\r\n");
    let started = std::time::Instant::now();
    assert!(idle.closed().await, "an idle connection is closed");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed too early: {waited:?}"
    );
    let mut fresh = s.resp().await;
    assert_eq!(fresh.cmd(&["PING"]).await, "+PONG\r\n");
    s.shutdown().await;
}

#[tokio::test]
async fn a_client_that_never_reads_is_not_buffered_without_bound() {
    let s = TestServer::builder().start().await;
    let mut setup = s.resp().await;
    let value = "v".repeat(100 * 1024);
    assert_eq!(setup.cmd(&["SET", "big", &value]).await, "+OK\r\n");
    // 1,000,000 GETs of a 100 KiB value would be ~100 GB of replies. The server
    // stops reading while its replies cannot be written, so our writes stall.
    let mut greedy = tokio::net::TcpStream::connect(s.resp_addr).await.unwrap();
    let chunk = b"*2\r\n$3\r\nGET\r\n$3\r\nbig\r\n".repeat(10_000);
    let pushed = tokio::time::timeout(Duration::from_secs(3), async {
        for _ in 0..100 {
            greedy.write_all(&chunk).await.unwrap();
        }
    })
    .await;
    assert!(
        pushed.is_err(),
        "the server kept reading a client that never reads"
    );
    assert_eq!(
        setup.cmd(&["PING"]).await,
        "+PONG\r\n",
        "others are still served"
    );
    drop(greedy);
    s.shutdown().await;
}
