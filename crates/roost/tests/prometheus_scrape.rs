//! deploy/prometheus.yml and deploy/alerts.yml against a real Prometheus (the
//! Debian package; ./test.sh installs it): `promtool` accepts the config and
//! the alert tests pass, and a Prometheus started with the config (its target
//! rewritten to a test server's port) scrapes Roost and reports it up.

#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;
use support::{eventually, TestServer};

fn deploy(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../deploy")
        .join(name)
}

fn tool(name: &str) -> Command {
    let found = Command::new(name).arg("--version").output().is_ok();
    assert!(
        found,
        "{name} is not installed: `apt-get install prometheus` (./test.sh does)"
    );
    Command::new(name)
}

/// The Prometheus process, killed when the test ends however it ends.
struct Prometheus(Child);

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Percent-encodes a PromQL query for a URL.
fn url_encode(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn the_alert_rules_fire_on_their_test_series() {
    let out = tool("promtool")
        .arg("test")
        .arg("rules")
        .arg(deploy("alerts_test.yml"))
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "promtool test rules failed:\n{text}");
}

#[tokio::test]
async fn a_real_prometheus_scrapes_roost_with_the_shipped_config() {
    let s = TestServer::builder().start().await;
    let roost = s.base.trim_start_matches("http://").to_string();
    let dir = tempfile::tempdir().unwrap();
    let shipped = std::fs::read_to_string(deploy("prometheus.yml")).unwrap();
    assert!(shipped.contains("\"127.0.0.1:8000\""), "{shipped}");
    let config = dir.path().join("prometheus.yml");
    std::fs::write(&config, shipped.replace("127.0.0.1:8000", &roost)).unwrap();
    std::fs::copy(deploy("alerts.yml"), dir.path().join("alerts.yml")).unwrap();

    let check = tool("promtool")
        .args(["check", "config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "promtool check config: {}",
        String::from_utf8_lossy(&check.stdout)
    );

    let web = format!("127.0.0.1:{}", free_port());
    let _prometheus = Prometheus(
        tool("prometheus")
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address={web}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let query = |q: &'static str| {
        let url = format!("http://{web}/api/v1/query?query={}", url_encode(q));
        let client = s.client.clone();
        async move {
            let r = client.get(url).send().await.ok()?;
            r.json::<Value>().await.ok()
        }
    };
    eventually(
        Duration::from_secs(40),
        "Prometheus to report up{job=\"roost\"} == 1",
        || async {
            query("up{job=\"roost\"}").await.is_some_and(|v| {
                v["data"]["result"][0]["value"][1] == "1"
                    && v["data"]["result"][0]["metric"]["instance"] == roost.as_str()
            })
        },
    )
    .await;
    let cap = query("roost_store_memory_max_bytes").await.unwrap();
    assert_eq!(
        cap["data"]["result"][0]["value"][1],
        (256u64 << 20).to_string(),
        "{cap}"
    );
    let rules: Value = s
        .client
        .get(format!("http://{web}/api/v1/rules"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = rules["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "RoostDown",
            "RoostHitRatioDrop",
            "RoostP99LatencyHigh",
            "RoostMemoryNearCap",
            "RoostNodeDown"
        ]
    );
    s.shutdown().await;
}
