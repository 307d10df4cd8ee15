//! Several regions of Roost on loopback, each a real `roost` process on the
//! embedded store with its own data directory, linked through one
//! [`FaultProxy`] per direction: region B reaches region A's HTTP port through
//! the proxy of the link "B pulls A", so a test can delay, cut or reset any
//! link, `kill -9` and restart a region (its proxies follow it to its new
//! port), and run a region under `faketime` to skew its clock.
//!
//! Everything goes through the plan's public contract: the `ROOST_REGION*`
//! settings, the REST cache endpoints (reads carry `"version"`), and
//! `GET /api/regions` (link state and lag per peer).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

use super::checker::Held;
use super::faults::FaultProxy;
use super::process::{self, Server};

/// The secret every region shares (at least 16 characters).
pub const SECRET: &str = "geo-tests-shared-secret-0123";
/// How long a region may take to see another's change, a link to come up, or
/// replication to go quiet: generous, so only a broken build waits this long.
pub const DEADLINE: Duration = Duration::from_secs(30);
/// Replication counts as quiet once every link is up with nothing to apply
/// for this long: longer than two heartbeats (one a second), so the lag seen
/// is measured against each peer's latest log position.
const QUIET_FOR: Duration = Duration::from_millis(2_500);

/// Where a running region listens; `incarnation` rises on every restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Addrs {
    pub http: SocketAddr,
    pub resp: SocketAddr,
    pub incarnation: u32,
}

/// A region's current addresses, shared with client tasks: `None` while down.
pub type SharedAddrs = Arc<Mutex<Option<Addrs>>>;

pub struct RegionsBuilder {
    names: Vec<String>,
    mode: String,
    env: Vec<(String, String)>,
    per_region: HashMap<String, Vec<(String, String)>>,
    clocks: HashMap<String, String>,
}

impl RegionsBuilder {
    /// `replicate` or `invalidate` (`ROOST_GEO_MODE`) for every region.
    pub fn mode(mut self, mode: &str) -> Self {
        self.mode = mode.to_string();
        self
    }

    /// A setting for every region.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// A setting for one region.
    pub fn env_for(mut self, region: &str, key: &str, value: &str) -> Self {
        self.per_region
            .entry(region.to_string())
            .or_default()
            .push((key.to_string(), value.to_string()));
        self
    }

    /// Runs `region` under libfaketime with `offset` (`+0.4s`, `-0.4s`, as
    /// `faketime -f` takes it): its wall clock, and so its versions, are that
    /// far off.
    pub fn clock(mut self, region: &str, offset: &str) -> Self {
        self.clocks.insert(region.to_string(), offset.to_string());
        self
    }

    /// Starts a proxy per link, then every region, then points each proxy at
    /// the region it leads to.
    pub async fn start(self) -> Regions {
        let n = self.names.len();
        let mut links = Vec::new();
        for puller in 0..n {
            for source in 0..n {
                if puller != source {
                    links.push(Link {
                        puller,
                        source,
                        proxy: FaultProxy::start(None).await,
                    });
                }
            }
        }
        let mut regions = Vec::new();
        for (i, name) in self.names.iter().enumerate() {
            let peers: Vec<String> = links
                .iter()
                .filter(|l| l.puller == i)
                .map(|l| format!("{}={}", self.names[l.source], l.proxy.url()))
                .collect();
            let mut env = vec![
                ("ROOST_REGION".to_string(), name.clone()),
                ("ROOST_REGION_PEERS".to_string(), peers.join(",")),
                ("ROOST_REGION_SECRET".to_string(), SECRET.to_string()),
                ("ROOST_GEO_MODE".to_string(), self.mode.clone()),
                ("ROOST_SHARDS".to_string(), "2".to_string()),
            ];
            env.extend(self.env.iter().cloned());
            env.extend(self.per_region.get(name).cloned().unwrap_or_default());
            regions.push(Region {
                name: name.clone(),
                dir: tempfile::Builder::new()
                    .prefix(&format!("roost-geo-{name}-"))
                    .tempdir()
                    .unwrap(),
                env,
                clock: self.clocks.get(name).cloned(),
                server: None,
                addrs: Arc::new(Mutex::new(None)),
                incarnation: 0,
            });
        }
        let mut all = Regions {
            names: self.names,
            mode: self.mode,
            regions,
            links,
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        };
        for i in 0..n {
            all.launch(i).await;
        }
        all
    }
}

/// One direction of replication: `puller` reads `source`'s log through `proxy`.
pub struct Link {
    pub puller: usize,
    pub source: usize,
    pub proxy: FaultProxy,
}

struct Region {
    name: String,
    dir: TempDir,
    env: Vec<(String, String)>,
    clock: Option<String>,
    server: Option<Server>,
    addrs: SharedAddrs,
    incarnation: u32,
}

/// The running regions; dropping it kills every process and proxy.
pub struct Regions {
    pub names: Vec<String>,
    pub mode: String,
    regions: Vec<Region>,
    links: Vec<Link>,
    pub http: reqwest::Client,
}

impl Regions {
    /// Regions named `names` (replicate mode unless [`RegionsBuilder::mode`]).
    pub fn builder(names: &[&str]) -> RegionsBuilder {
        RegionsBuilder {
            names: names.iter().map(|n| n.to_string()).collect(),
            mode: "replicate".to_string(),
            env: Vec::new(),
            per_region: HashMap::new(),
            clocks: HashMap::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.regions.len()
    }

    /// The region called `name`.
    pub fn index(&self, name: &str) -> usize {
        self.names
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("no region {name:?}"))
    }

    /// A region's tie-break index in versions: its position among the sorted
    /// names of all regions.
    pub fn version_index(&self, region: usize) -> u8 {
        let mut sorted = self.names.clone();
        sorted.sort();
        let at = sorted
            .iter()
            .position(|n| *n == self.names[region])
            .unwrap();
        u8::try_from(at).unwrap()
    }

    /// The region's addresses now, shared: client tasks follow restarts.
    pub fn shared_addrs(&self, region: usize) -> SharedAddrs {
        self.regions[region].addrs.clone()
    }

    fn addrs(&self, region: usize) -> Addrs {
        self.regions[region]
            .addrs
            .lock()
            .unwrap()
            .unwrap_or_else(|| panic!("region {} is down", self.names[region]))
    }

    /// `http://host:port` of the region's REST door.
    pub fn base(&self, region: usize) -> String {
        format!("http://{}", self.addrs(region).http)
    }

    pub fn resp_addr(&self, region: usize) -> SocketAddr {
        self.addrs(region).resp
    }

    /// The link on which `puller` reads `source`'s log.
    pub fn link(&self, puller: usize, source: usize) -> &FaultProxy {
        &self
            .links
            .iter()
            .find(|l| l.puller == puller && l.source == source)
            .unwrap()
            .proxy
    }

    /// Cuts every link to and from `region` (bytes swallowed, nothing closed).
    pub fn partition(&self, region: usize) {
        for link in &self.links {
            if link.puller == region || link.source == region {
                link.proxy.blackhole();
            }
        }
    }

    /// Heals every link.
    pub fn heal_all(&self) {
        for link in &self.links {
            link.proxy.heal();
        }
    }

    /// `kill -9`: no shutdown, no final flush.
    pub fn kill(&mut self, region: usize) {
        let r = &mut self.regions[region];
        *r.addrs.lock().unwrap() = None;
        if let Some(mut server) = r.server.take() {
            server.child.kill().unwrap();
            server.child.wait().unwrap();
        }
    }

    /// Empties a killed region's data directory: its change log, cursors and
    /// snapshots are gone, as when a machine is replaced.
    pub fn wipe(&mut self, region: usize) {
        let r = &self.regions[region];
        assert!(r.server.is_none(), "kill it first");
        for entry in std::fs::read_dir(r.dir.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                std::fs::remove_dir_all(&path).unwrap();
            } else {
                std::fs::remove_file(&path).unwrap();
            }
        }
    }

    /// Starts the region again on its data directory (new ports; its links'
    /// proxies follow).
    pub async fn restart(&mut self, region: usize) {
        assert!(self.regions[region].server.is_none(), "kill it first");
        self.launch(region).await;
    }

    async fn launch(&mut self, region: usize) {
        let command = self.command(region);
        let server = tokio::task::spawn_blocking(move || {
            process::serve(command, &["--shutdown-grace", "0"])
        })
        .await
        .unwrap();
        for link in self.links.iter().filter(|l| l.source == region) {
            link.proxy.set_target(server.http);
        }
        let r = &mut self.regions[region];
        r.incarnation += 1;
        *r.addrs.lock().unwrap() = Some(Addrs {
            http: server.http,
            resp: server.resp,
            incarnation: r.incarnation,
        });
        r.server = Some(server);
    }

    fn command(&self, region: usize) -> Command {
        let r = &self.regions[region];
        let mut command = match &r.clock {
            None => process::roost(),
            Some(offset) => faketime(offset),
        };
        command.env("ROOST_DATA_DIR", r.dir.path());
        for (key, value) in &r.env {
            command.env(key, value);
        }
        command
    }

    /// The process of a running region (its log, its pid).
    pub fn server(&self, region: usize) -> &Server {
        self.regions[region]
            .server
            .as_ref()
            .unwrap_or_else(|| panic!("region {} is down", self.names[region]))
    }

    /// The messages of the region's `region` events so far, from its log
    /// (every event is also one log line; its JSON repeats the `message`
    /// key, and the event's own text, the last, is what parsing keeps).
    pub fn region_events(&self, region: usize) -> Vec<String> {
        self.server(region)
            .log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| {
                l["target"] == "roost::telemetry::events" && l["fields"]["kind"] == "region"
            })
            .map(|l| {
                l["fields"]["message"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect()
    }

    /// `GET /api/cache/{key}` in `region`: what it holds, with its version.
    pub async fn get(&self, region: usize, key: &str) -> Option<Held> {
        let url = format!("{}/api/cache/{key}", self.base(region));
        let r = self.http.get(url).send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        match status {
            200 => Some(held_of(&body)),
            404 => None,
            _ => panic!("GET {key} in {}: {status} {body}", self.names[region]),
        }
    }

    /// `POST /api/cache` in `region` (a one-hour TTL); the answer.
    pub async fn set(&self, region: usize, key: &str, value: &str) -> Value {
        let url = format!("{}/api/cache", self.base(region));
        let r = self
            .http
            .post(url)
            .json(&json!({"key": key, "value": value, "ttl": 3600}))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(status, 200, "set {key} in {}: {body}", self.names[region]);
        body
    }

    /// `DELETE /api/cache/{key}` in `region`: 200 (it was there) or 404 (it
    /// was not; the delete still counts and is replicated).
    pub async fn del(&self, region: usize, key: &str) -> u16 {
        let url = format!("{}/api/cache/{key}", self.base(region));
        let r = self.http.delete(url).send().await.unwrap();
        let status = r.status().as_u16();
        assert!(
            status == 200 || status == 404,
            "delete {key} in {}: {status} {}",
            self.names[region],
            r.text().await.unwrap_or_default()
        );
        status
    }

    /// `GET /api/regions` in `region`.
    pub async fn status(&self, region: usize) -> Value {
        let url = format!("{}/api/regions", self.base(region));
        let r = self.http.get(url).send().await.unwrap();
        let status = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        assert_eq!(
            status, 200,
            "GET /api/regions in {}: {body}",
            self.names[region]
        );
        body
    }

    /// `region`'s view of its link to `peer` in `GET /api/regions`.
    pub async fn peer_status(&self, region: usize, peer: usize) -> Value {
        let status = self.status(region).await;
        peer_in(&status, &self.names[peer]).unwrap_or_else(|| {
            panic!(
                "{} lists no peer {}: {status}",
                self.names[region], self.names[peer]
            )
        })
    }

    /// The Prometheus text of `region`.
    pub async fn metrics(&self, region: usize) -> String {
        let url = format!("{}/metrics", self.base(region));
        let r = self.http.get(url).send().await.unwrap();
        assert_eq!(r.status().as_u16(), 200);
        r.text().await.unwrap()
    }

    /// Waits until `check` holds for what `region` holds under `key`.
    pub async fn wait_for<F>(&self, region: usize, key: &str, what: &str, check: F) -> Option<Held>
    where
        F: Fn(&Option<Held>) -> bool,
    {
        let until = Instant::now() + DEADLINE;
        loop {
            let held = self.get(region, key).await;
            if check(&held) {
                return held;
            }
            assert!(
                Instant::now() < until,
                "timed out waiting for {} to hold {what} under {key:?}; it holds {held:?}",
                self.names[region]
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every region reports every link up.
    pub async fn wait_links_up(&self) {
        let until = Instant::now() + DEADLINE;
        loop {
            let mut down = Vec::new();
            for r in 0..self.len() {
                let status = self.status(r).await;
                for peer in status["peers"].as_array().cloned().unwrap_or_default() {
                    if peer["state"] != "up" {
                        down.push(format!(
                            "{}->{}: {}",
                            self.names[r], peer["name"], peer["state"]
                        ));
                    }
                }
            }
            if down.is_empty() {
                return;
            }
            assert!(Instant::now() < until, "links not up: {down:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until replication is quiet: every region answers, every link is
    /// up with 0 changes to apply, and that holds for [`QUIET_FOR`]. Returns
    /// how long it took.
    pub async fn quiesce(&self, deadline: Duration) -> Duration {
        let started = Instant::now();
        let mut quiet_since: Option<Instant> = None;
        loop {
            let mut busy = Vec::new();
            for r in 0..self.len() {
                let url = format!("{}/api/regions", self.base(r));
                let Ok(answer) = self.http.get(url).send().await else {
                    busy.push(format!("{} does not answer", self.names[r]));
                    continue;
                };
                let status: Value = answer.json().await.unwrap_or(Value::Null);
                let peers = status["peers"].as_array().cloned().unwrap_or_default();
                if peers.len() + 1 != self.len() {
                    busy.push(format!("{}: peers {status}", self.names[r]));
                }
                for peer in peers {
                    if peer["state"] != "up" || peer["lag_changes"].as_u64() != Some(0) {
                        busy.push(format!(
                            "{}->{}: {} lag {}",
                            self.names[r], peer["name"], peer["state"], peer["lag_changes"]
                        ));
                    }
                }
            }
            if busy.is_empty() {
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= QUIET_FOR {
                    return started.elapsed();
                }
            } else {
                quiet_since = None;
            }
            assert!(
                started.elapsed() < deadline,
                "replication not quiet within {deadline:?}: {busy:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Every region's `GET /api/regions`, for failure reports.
    pub async fn statuses(&self) -> String {
        let mut out = String::new();
        for r in 0..self.len() {
            if self.regions[r].server.is_some() {
                out.push_str(&format!("\n{}: {}", self.names[r], self.status(r).await));
            }
        }
        out
    }
}

/// `roost` with libfaketime preloaded and `FAKETIME=<offset>`, with the
/// environment `process::roost` gives it. Not through the `faketime` wrapper:
/// it forks and waits, so a `kill -9` of the child we hold would leave the
/// real `roost` running.
fn faketime(offset: &str) -> Command {
    let library = libfaketime().unwrap_or_else(|| {
        panic!("libfaketime is missing: install the Debian package faketime (test.sh does)")
    });
    let mut command = process::roost();
    command
        .env("LD_PRELOAD", library)
        .env("FAKETIME", offset)
        // Only the wall clock is skewed, as between two machines; timers
        // keep to the real monotonic clock.
        .env("FAKETIME_DONT_FAKE_MONOTONIC", "1");
    command
}

/// Where Debian's faketime package put the library.
fn libfaketime() -> Option<std::path::PathBuf> {
    let candidates = std::fs::read_dir("/usr/lib")
        .ok()?
        .filter_map(Result::ok)
        .map(|dir| dir.path().join("faketime/libfaketime.so.1"))
        .chain([std::path::PathBuf::from(
            "/usr/lib/faketime/libfaketime.so.1",
        )]);
    candidates.into_iter().find(|p| p.is_file())
}

/// The entry of a `GET /api/cache/{key}` answer: its value (JSON strings as
/// their text) and its `"version"`.
pub fn held_of(body: &Value) -> Held {
    let value = match &body["value"] {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    Held {
        value,
        version: version_in(body).unwrap_or_else(|| {
            panic!("a read with geo on carries \"version\" as a decimal string: {body}")
        }),
    }
}

/// `"version"` of an answer, when it is there: a decimal u64 in a string.
pub fn version_in(body: &Value) -> Option<u64> {
    body["version"].as_str().map(|v| {
        v.parse()
            .unwrap_or_else(|_| panic!("\"version\" is not a decimal u64: {body}"))
    })
}

/// The entry for peer `name` in a `GET /api/regions` answer.
pub fn peer_in(status: &Value, name: &str) -> Option<Value> {
    status["peers"]
        .as_array()?
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
}

/// The sum of every series of `name` whose labels include all of `labels`
/// (any order, other labels allowed), in a Prometheus text exposition.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, rest) = match series.split_once('{') {
                Some((m, rest)) => (m, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| rest.split(',').any(|pair| pair == format!("{k}=\"{v}\"")));
            all.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}
