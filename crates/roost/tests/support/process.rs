//! The `roost` binary as a child process: started on port 0 with JSON logs,
//! its bound addresses read from the log, every later log line kept for the
//! test to look at, killed on drop, and its resident memory readable.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

/// `roost` with an empty environment (PATH only) in the temp directory.
pub fn roost() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_roost"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir());
    cmd
}

/// `roost` under `prlimit --nofile=<limit>:<limit>`: a process that can open
/// at most `limit` files, hard limit included.
pub fn roost_with_fd_limit(limit: u64) -> Command {
    let mut cmd = Command::new("prlimit");
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .current_dir(std::env::temp_dir())
        .arg(format!("--nofile={limit}:{limit}"))
        .arg(env!("CARGO_BIN_EXE_roost"));
    cmd
}

/// A started `roost serve`, killed on drop if a failed assertion leaves it running,
/// so it can neither outlive the test nor hold the test's output open.
pub struct Server {
    pub child: Child,
    pub http: SocketAddr,
    pub resp: SocketAddr,
    pub dashboard: SocketAddr,
    /// Every JSON log line so far (start-up included).
    pub log: Arc<Mutex<Vec<serde_json::Value>>>,
}

impl Server {
    /// Log lines whose message contains `text`.
    pub fn log_lines(&self, text: &str) -> Vec<serde_json::Value> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|l| {
                l["fields"]["message"]
                    .as_str()
                    .is_some_and(|m| m.contains(text))
            })
            .cloned()
            .collect()
    }

    /// Resident memory of the process now, from /proc.
    pub fn rss_bytes(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap();
        kib * 1024
    }

    pub fn signal(&self, name: &str) {
        signal(&self.child, name);
    }

    /// Waits for the process to exit (10 s at most); its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        wait_exit(&mut self.child)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `command serve` on port 0 for every listener, with JSON logs and the
/// flags `extra` (which replace those defaults), and waits until all three
/// listen.
pub fn serve(mut command: Command, extra: &[&str]) -> Server {
    command.arg("serve");
    for (flag, value) in [
        ("--http-addr", "127.0.0.1:0"),
        ("--dashboard-addr", "127.0.0.1:0"),
        ("--resp-addr", "127.0.0.1:0"),
        ("--log-format", "json"),
    ] {
        if !extra.contains(&flag) {
            command.args([flag, value]);
        }
    }
    let mut child = command.args(extra).stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = mpsc::channel();
    let kept = log.clone();
    std::thread::spawn(move || {
        let mut addrs: [Option<SocketAddr>; 3] = [None; 3];
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            let message = v["fields"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let addr = v["fields"]["addr"].as_str().and_then(|a| a.parse().ok());
            for (i, what) in ["http listening", "resp listening", "dashboard listening"]
                .iter()
                .enumerate()
            {
                if message == *what {
                    addrs[i] = addr;
                }
            }
            kept.lock().unwrap().push(v);
            if let [Some(http), Some(resp), Some(dashboard)] = addrs {
                let _ = tx.send((http, resp, dashboard));
                addrs = [None; 3];
            }
        }
    });
    let Ok((http, resp, dashboard)) = rx.recv_timeout(Duration::from_secs(20)) else {
        let _ = child.kill();
        let lines = log.lock().unwrap().clone();
        panic!("roost did not start listening; its log: {lines:#?}");
    };
    Server {
        child,
        http,
        resp,
        dashboard,
        log,
    }
}

pub fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

pub fn wait_exit(child: &mut Child) -> i32 {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.kill().unwrap();
    panic!("roost did not exit within 10 s of the signal");
}
