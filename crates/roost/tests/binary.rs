//! The `roost` binary as an operator runs it: port 0 with the bound address in
//! the log, clean exit 0 on SIGTERM and SIGINT, and `roost config check`.

#![allow(clippy::unwrap_used)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::redis::RedisServer;

mod support;

fn roost() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roost"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir());
    cmd
}

/// Starts `roost serve` on port 0 and returns the child and its HTTP address,
/// read from the "http listening" log line.
fn serve() -> (Server, String) {
    serve_with(roost())
}

/// [`serve`] with a prepared command (another working directory, more env).
fn serve_with(command: Command) -> (Server, String) {
    let (server, addr, _) = serve_logged(command);
    (server, addr)
}

/// [`serve_with`], also returning every JSON log line up to "http listening".
fn serve_logged(mut command: Command) -> (Server, String, Vec<serde_json::Value>) {
    let mut child = command
        .args([
            "serve",
            "--http-addr",
            "127.0.0.1:0",
            "--dashboard-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut seen = Vec::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let listening = line.contains("http listening");
            seen.push(v);
            if listening {
                let addr = seen[seen.len() - 1]["fields"]["addr"].as_str().unwrap();
                let _ = tx.send((addr.to_string(), std::mem::take(&mut seen)));
            }
        }
    });
    let server = Server(child);
    let (addr, log) = rx
        .recv_timeout(Duration::from_secs(20))
        .expect("no listening log line");
    (server, addr, log)
}

/// A started `roost serve`, killed on drop if a failed assertion leaves it running,
/// so it can neither outlive the test nor hold the test's output open.
struct Server(Child);

impl std::ops::Deref for Server {
    type Target = Child;

    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Server {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

fn wait_exit(child: &mut Child) -> i32 {
    for _ in 0..200 {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("roost did not exit within 10 s of the signal");
}

#[tokio::test]
async fn serves_on_port_zero_and_exits_cleanly_on_sigterm_and_sigint() {
    for sig in ["TERM", "INT"] {
        let (mut child, addr) = serve();
        assert!(!addr.ends_with(":0"), "{addr}");
        let client = reqwest::Client::new();
        let r = client
            .post(format!("http://{addr}/api/cache"))
            .json(&serde_json::json!({"key": "k", "value": 1}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        signal(&child, sig);
        assert_eq!(wait_exit(&mut child), 0, "exit code after SIG{sig}");
    }
}

#[tokio::test]
async fn worker_threads_size_the_runtime_and_zero_is_refused() {
    let mut command = roost();
    command.env("ROOST_WORKER_THREADS", "3");
    let (mut child, addr, log) = serve_logged(command);
    let started = log
        .iter()
        .find(|line| line["fields"]["message"] == "runtime started")
        .expect("a runtime started line before http listening");
    assert_eq!(started["fields"]["worker_threads"], 3, "{started}");
    let r = reqwest::get(format!("http://{addr}/readyz")).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    signal(&child, "TERM");
    assert_eq!(wait_exit(&mut child), 0);

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
    let (mut child, addr) = serve_with(command);
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
    signal(&child, "HUP");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count().await != 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "SIGHUP did not add the node"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    signal(&child, "TERM");
    assert_eq!(wait_exit(&mut child), 0);
}
