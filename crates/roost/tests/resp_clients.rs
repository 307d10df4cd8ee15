//! Real Redis clients against the RESP port: redis-cli (commands and `--pipe`
//! mass insertion), redis-py (a script in tests/python, RESP2 and RESP3; its
//! data types, transactions and WATCH in front of a Redis node) and
//! redis-benchmark (plain and pipelined), each with no errors. `./test.sh`
//! installs the tools; a missing tool fails the test rather than skipping it.

#![allow(clippy::unwrap_used)]

mod support;

use std::process::Stdio;

use support::TestServer;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

async fn run(program: &str, args: &[&str]) -> String {
    let output = Command::new(program)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("running {program} (installed by ./test.sh): {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {stdout}\n{stderr}"
    );
    stdout
}

#[tokio::test]
async fn redis_cli_runs_commands_and_mass_inserts_with_pipe() {
    let s = TestServer::builder().start().await;
    let port = s.resp_addr.port().to_string();
    let cli = |args: &[&str]| {
        let mut all = vec!["-p", port.as_str()];
        all.extend_from_slice(args);
        all.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let set = cli(&["SET", "greeting", "hello world"]);
    assert_eq!(
        run(
            "redis-cli",
            &set.iter().map(String::as_str).collect::<Vec<_>>()
        )
        .await,
        "OK\n"
    );
    let get = cli(&["GET", "greeting"]);
    let got = run(
        "redis-cli",
        &get.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(got, "hello world\n");

    let mut pipe = Command::new("redis-cli")
        .args(["-p", &port, "--pipe"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-cli (installed by ./test.sh)");
    let mut input = Vec::new();
    for i in 0..10_000 {
        let (k, v) = (format!("mass:{i}"), format!("value-{i}"));
        input.extend_from_slice(
            format!(
                "*3\r\n$3\r\nSET\r\n${}\r\n{k}\r\n${}\r\n{v}\r\n",
                k.len(),
                v.len()
            )
            .as_bytes(),
        );
    }
    let mut stdin = pipe.stdin.take().unwrap();
    stdin.write_all(&input).await.unwrap();
    drop(stdin);
    let output = pipe.wait_with_output().await.unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("errors: 0, replies: 10000"), "{report}");
    let dbsize = cli(&["DBSIZE"]);
    let size = run(
        "redis-cli",
        &dbsize.iter().map(String::as_str).collect::<Vec<_>>(),
    )
    .await;
    assert_eq!(size, "10001\n");
    s.shutdown().await;
}

#[tokio::test]
async fn redis_py_works_in_resp2_and_resp3() {
    let s = TestServer::builder().start().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/redis_py_check.py"
    );
    let out = run("python3", &[script, &s.resp_addr.port().to_string()]).await;
    assert!(out.contains("redis-py ok"), "{out}");
    s.shutdown().await;
}

#[tokio::test]
async fn redis_py_reads_data_types_through_a_fleet() {
    let node = support::redis::RedisServer::start();
    let s = support::fleet::start_fleet(&[&node], &[]).await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/redis_py_check.py"
    );
    let port = s.resp_addr.port().to_string();
    let out = run("python3", &[script, &port, "data-types"]).await;
    assert!(out.contains("redis-py data types ok"), "{out}");
    s.shutdown().await;
}

#[tokio::test]
async fn redis_benchmark_runs_without_errors() {
    let s = TestServer::builder().start().await;
    let port = s.resp_addr.port().to_string();
    for pipeline in ["1", "16"] {
        let out = run(
            "redis-benchmark",
            &[
                "-p",
                &port,
                "-t",
                "set,get,incr,mset",
                "-n",
                "20000",
                "-c",
                "20",
                "-P",
                pipeline,
                "-q",
            ],
        )
        .await;
        // Progress lines end in \r; the final result of each test is its last one.
        assert!(
            !out.contains("ERR"),
            "redis-benchmark saw errors at -P {pipeline}:\n{out}"
        );
        for test in ["SET", "GET", "INCR", "MSET (10 keys)"] {
            assert!(
                out.split(['\r', '\n'])
                    .any(|l| l.trim_start().starts_with(&format!("{test}: "))
                        && l.contains("requests per second")),
                "no {test} result at -P {pipeline}:\n{out}"
            );
        }
    }
    s.shutdown().await;
}
