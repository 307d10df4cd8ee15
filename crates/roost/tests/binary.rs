//! The `roost` binary as an operator runs it: port 0 with the bound address in
//! the log, clean exit 0 on SIGTERM and SIGINT, and `roost config check`.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use support::process::{roost, serve, Server};
use support::redis::RedisServer;

mod support;

/// `roost serve` with an empty environment, every listener on port 0.
fn serve_default() -> Server {
    serve(roost(), &["--shutdown-grace", "0"])
}

#[tokio::test]
async fn serves_on_port_zero_and_exits_cleanly_on_sigterm_and_sigint() {
    for sig in ["TERM", "INT"] {
        let mut server = serve_default();
        let addr = server.http;
        assert_ne!(addr.port(), 0, "{addr}");
        let client = reqwest::Client::new();
        let r = client
            .post(format!("http://{addr}/api/cache"))
            .json(&serde_json::json!({"key": "k", "value": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        server.signal(sig);
        assert_eq!(server.wait_exit(), 0, "exit code after SIG{sig}");
    }
}

#[tokio::test]
async fn worker_threads_size_the_runtime_and_zero_is_refused() {
    let mut command = roost();
    command.env("ROOST_WORKER_THREADS", "3");
    let mut server = serve(command, &[]);
    let started = server.log_lines("runtime started");
    assert_eq!(started[0]["fields"]["worker_threads"], 3, "{started:?}");
    let r = reqwest::get(format!("http://{}/readyz", server.http))
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    server.signal("TERM");
    assert_eq!(server.wait_exit(), 0);

    let out = roost()
        .env("ROOST_WORKER_THREADS", "0")
        .args(["serve", "--http-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("invalid ROOST_WORKER_THREADS=\"0\"") && text.contains("at least 1"),
        "{text}"
    );
}

#[test]
fn config_check_prints_the_effective_configuration() {
    let out = roost()
        .args(["config", "check", "--shards", "3"])
        .env("CACHE_TTL", "99")
        .env("ROOST_ADMIN_TOKEN", "hidden-value")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("configuration is valid"));
    assert!(
        text.contains("ROOST_SHARDS") && text.contains("(command line)"),
        "{text}"
    );
    assert!(text
        .lines()
        .any(|l| l.starts_with("CACHE_TTL") && l.contains("99") && l.contains("(environment)")));
    assert!(!text.contains("hidden-value"));
}

#[test]
fn config_check_names_the_wrong_value_and_exits_2() {
    let out = roost()
        .args(["config", "check"])
        .env("ROOST_MAX_MEMORY", "lots")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.contains("ROOST_MAX_MEMORY=\"lots\""), "{text}");
    assert!(text.contains("expected a size"), "{text}");
}

#[test]
fn a_config_file_is_read_and_unknown_keys_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("roost.toml"), "cache_ttl = 42\n").unwrap();
    let out = roost()
        .current_dir(dir.path())
        .args(["config", "check"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("CACHE_TTL") && l.contains("42") && l.contains("file")),
        "{text}"
    );

    std::fs::write(dir.path().join("roost.toml"), "cache_tll = 42\n").unwrap();
    let out = roost()
        .current_dir(dir.path())
        .args(["config", "check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("unknown key \"cache_tll\""));
}

#[test]
fn a_dotenv_file_supplies_unset_variables() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".env"), "CACHE_TTL=77\nROOST_SHARDS=2\n").unwrap();
    let out = roost()
        .current_dir(dir.path())
        .env("ROOST_SHARDS", "5")
        .args(["config", "check"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("CACHE_TTL") && l.contains("77")),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l.starts_with("ROOST_SHARDS") && l.contains(" 5 ")),
        "{text}"
    );
}

#[test]
fn unreachable_redis_nodes_stop_start_up_with_a_clear_message() {
    let out = roost()
        .args(["serve", "--http-addr", "127.0.0.1:0"])
        .env("REDIS_CLUSTER_NODES", "redis://127.0.0.1:1")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8(out.stderr).unwrap();
    assert!(text.contains("ROOST_BACKEND"), "{text}");
    assert!(text.contains("redis://127.0.0.1:1"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_reloads_the_node_list_from_roost_toml() {
    let nodes = [
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    ];
    let dir = tempfile::tempdir().unwrap();
    let write_config = |count: usize| {
        let urls: Vec<String> = nodes[..count].iter().map(RedisServer::url).collect();
        let toml = format!(
            "redis_cluster_nodes = \"{}\"\nbackend = \"redis\"\nresp_addr = \"127.0.0.1:0\"\n",
            urls.join(",")
        );
        std::fs::write(dir.path().join("roost.toml"), toml).unwrap();
    };
    write_config(2);
    let mut command = roost();
    command.current_dir(dir.path());
    let mut server = serve(command, &[]);
    let addr = server.http;
    let client = reqwest::Client::new();
    let count = || async {
        let body: serde_json::Value = client
            .get(format!("http://{addr}/api/cluster/nodes"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        body["nodes"].as_array().unwrap().len()
    };
    assert_eq!(count().await, 2);
    write_config(3);
    server.signal("HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count().await != 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not add the node"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.signal("TERM");
    assert_eq!(server.wait_exit(), 0);
}
