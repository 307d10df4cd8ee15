//! Real `redis-server` processes for tests: a `RedisServer` guard that runs one server
//! on a free 127.0.0.1 port in its own temp dir and kills it on drop, and a
//! `RedisCluster` of such servers joined by `redis-cli --cluster create` (in
//! redis/cluster.rs).
//!
//! Every wait is a deadline poll and every failure panics with what a reader needs
//! (the command, the reply, the tail of the server's log). Nothing here sleeps for a
//! fixed time to "let things settle".

use std::fs::File;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use roost_resp::{parse_frame, write_command, Frame, Limits};
use tempfile::TempDir;

const REDIS_SERVER: &str = "/usr/bin/redis-server";
const REDIS_CLI: &str = "/usr/bin/redis-cli";
/// How long a server may take to answer (as itself) after it is spawned.
const START_DEADLINE: Duration = Duration::from_secs(10);
/// How long `restart` keeps trying to re-bind the old port (a lingering socket).
const REBIND_DEADLINE: Duration = Duration::from_secs(2);
/// Start-up attempts on fresh ports when another process took the one we picked.
const PORT_ATTEMPTS: usize = 5;
/// How long one request over the harness's own connection may take.
const REPLY_DEADLINE: Duration = Duration::from_secs(5);
/// The pause between two polls of a deadline loop.
const POLL_INTERVAL: Duration = Duration::from_millis(20);
const LOG_FILE: &str = "redis.log";

mod cluster;

// Test binaries that only start single servers never name it.
#[allow(unused_imports)]
pub use cluster::RedisCluster;

/// One `redis-server` on 127.0.0.1. Drop kills it (SIGKILL), waits for it and removes
/// its temp dir.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    /// The cluster bus port when this server is a cluster node.
    bus_port: Option<u16>,
    extra_args: Vec<String>,
    dir: TempDir,
}

/// Why one start-up attempt did not produce a ready server.
enum StartFailure {
    /// The port (or the cluster bus port) was taken: worth another attempt.
    PortTaken(String),
    /// Anything else: the log tail says what.
    Failed(String),
}

impl RedisServer {
    /// A server with no persistence on a free port, ready to answer.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Like `start`, with more `redis-server` arguments (e.g. `["--maxmemory", "1mb"]`).
    pub fn start_with(extra_args: &[&str]) -> RedisServer {
        RedisServer::start_on_free_ports(extra_args, false)
    }

    /// A server with `--cluster-enabled yes` whose bus listens on a port of its own.
    fn start_cluster_node() -> RedisServer {
        let args = [
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            "1000",
            "--cluster-replica-no-failover",
            "no",
            // a replica's first sync would otherwise wait 5 s for more replicas to join
            "--repl-diskless-sync-delay",
            "0",
        ];
        RedisServer::start_on_free_ports(&args, true)
    }

    fn start_on_free_ports(extra_args: &[&str], cluster_bus: bool) -> RedisServer {
        let mut failures = Vec::new();
        for _ in 0..PORT_ATTEMPTS {
            let mut server = RedisServer {
                child: None,
                port: free_port(),
                bus_port: cluster_bus.then(free_port),
                extra_args: extra_args.iter().map(|a| a.to_string()).collect(),
                dir: fresh_dir(),
            };
            match server.launch() {
                Ok(()) => return server,
                Err(StartFailure::PortTaken(log)) => failures.push(log),
                Err(StartFailure::Failed(log)) => {
                    panic!(
                        "redis-server on port {} failed to start:\n{log}",
                        server.port
                    )
                }
            }
        }
        panic!(
            "redis-server found its port taken {PORT_ATTEMPTS} times; last log:\n{}",
            failures.last().map(String::as_str).unwrap_or("")
        )
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Whether the process is running (not killed by the test).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL, then wait until the process is gone so the port refuses connections.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs and starts it again on the same port with the same
    /// arguments and an empty temp dir (so no data, and a cluster node forgets its
    /// cluster), then waits until it answers.
    pub fn restart(&mut self) {
        self.kill();
        self.dir = fresh_dir();
        let until = Instant::now() + REBIND_DEADLINE;
        loop {
            match self.launch() {
                Ok(()) => return,
                Err(StartFailure::PortTaken(_)) if Instant::now() < until => {
                    std::thread::sleep(POLL_INTERVAL);
                }
                Err(StartFailure::PortTaken(log) | StartFailure::Failed(log)) => {
                    panic!("redis-server restart on port {} failed:\n{log}", self.port)
                }
            }
        }
    }

    /// Runs `redis-cli -p <port> <args…>` and returns its raw output without trailing
    /// newlines. An error reply comes back as text (`ERR …`), as redis-cli prints it;
    /// a failed redis-cli (cannot connect) panics with its stderr.
    pub fn cli(&self, args: &[&str]) -> String {
        let port = self.port.to_string();
        let mut full = vec!["-p", port.as_str()];
        full.extend_from_slice(args);
        run_cli(&full)
    }

    /// Number of keys in the current database.
    pub fn dbsize(&self) -> u64 {
        match self.query(&["DBSIZE"]) {
            Frame::Integer(n) => u64::try_from(n).expect("invariant: DBSIZE is never negative"),
            other => panic!("DBSIZE on port {} replied {other:?}", self.port),
        }
    }

    pub fn exists(&self, key: &str) -> bool {
        match self.query(&["EXISTS", key]) {
            Frame::Integer(n) => n == 1,
            other => panic!("EXISTS {key} on port {} replied {other:?}", self.port),
        }
    }

    /// The string value at `key`, `None` when the key is missing.
    pub fn get(&self, key: &str) -> Option<String> {
        match self.query(&["GET", key]) {
            Frame::Bulk(value) => Some(String::from_utf8_lossy(&value).into_owned()),
            Frame::Null => None,
            other => panic!("GET {key} on port {} replied {other:?}", self.port),
        }
    }

    /// One command over a fresh connection, its reply parsed; panics when the server
    /// cannot be reached.
    fn query(&self, args: &[&str]) -> Frame {
        request(self.port, args).unwrap_or_else(|e| {
            panic!(
                "{args:?} to redis-server on port {} failed: {e}\n{}",
                self.port,
                self.log_tail()
            )
        })
    }

    /// The last lines of the server's log, for panic messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join(LOG_FILE)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(20)..].join("\n");
        format!(
            "--- tail of redis-server log (port {}) ---\n{tail}",
            self.port
        )
    }

    /// Spawns the process into `self.dir` and waits until it answers as itself.
    fn launch(&mut self) -> Result<(), StartFailure> {
        let log = File::create(self.dir.path().join(LOG_FILE)).expect("create redis log file");
        let log_err = log.try_clone().expect("clone redis log file handle");
        let child = Command::new(REDIS_SERVER)
            .args(self.arguments())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {REDIS_SERVER}: {e}"));
        self.child = Some(child);
        let outcome = self.wait_ready();
        if outcome.is_err() {
            self.kill();
        }
        outcome
    }

    fn arguments(&self) -> Vec<String> {
        let dir = self.dir.path().to_string_lossy().into_owned();
        let mut args: Vec<String> = [
            "--port",
            &self.port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            &dir,
            "--daemonize",
            "no",
            "--protected-mode",
            "no",
        ]
        .iter()
        .map(|a| a.to_string())
        .collect();
        if let Some(bus) = self.bus_port {
            args.extend(["--cluster-port".to_string(), bus.to_string()]);
        }
        args.extend(self.extra_args.iter().cloned());
        args
    }

    /// Polls until the server on our port reports our child's pid (so a stranger that
    /// took the port is never mistaken for it), or the child exits, or time runs out.
    fn wait_ready(&mut self) -> Result<(), StartFailure> {
        let until = Instant::now() + START_DEADLINE;
        let pid = self
            .child
            .as_ref()
            .map(Child::id)
            .expect("invariant: launch set the child");
        loop {
            if let Ok(Frame::Bulk(info)) = request(self.port, &["INFO", "server"]) {
                if info_field(&String::from_utf8_lossy(&info), "process_id")
                    == Some(pid.to_string())
                {
                    return Ok(());
                }
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                let log = format!("exited with {status}\n{}", self.log_tail());
                return Err(if log.contains("already in use") {
                    StartFailure::PortTaken(log)
                } else {
                    StartFailure::Failed(log)
                });
            }
            if Instant::now() >= until {
                let log = self.log_tail();
                return Err(StartFailure::Failed(format!(
                    "no answer within {START_DEADLINE:?}\n{log}"
                )));
            }
            std::thread::sleep(POLL_INTERVAL);
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A port that was free a moment ago: bind 127.0.0.1:0 and let it go.
fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind 127.0.0.1:0");
    listener
        .local_addr()
        .expect("local address of a bound listener")
        .port()
}

fn fresh_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("roost-redis-")
        .tempdir()
        .expect("create temp dir for redis-server")
}

/// Runs redis-cli with `args`; panics with its stderr when it fails.
fn run_cli(args: &[&str]) -> String {
    let output = Command::new(REDIS_CLI)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("spawn {REDIS_CLI}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "redis-cli {args:?} failed ({}):\nstdout: {stdout}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout.trim_end_matches('\n').to_string()
}

/// One RESP request on a fresh connection to 127.0.0.1:`port`, bounded in time.
fn request(port: u16, args: &[&str]) -> std::io::Result<Frame> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut stream = TcpStream::connect_timeout(&addr, REPLY_DEADLINE)?;
    stream.set_read_timeout(Some(REPLY_DEADLINE))?;
    stream.set_write_timeout(Some(REPLY_DEADLINE))?;
    let mut out = BytesMut::new();
    let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    write_command(&mut out, &args);
    stream.write_all(&out)?;
    let mut buf = BytesMut::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let parsed = parse_frame(&mut buf, &Limits::default())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
        if let Some(frame) = parsed {
            return Ok(frame);
        }
        let n = stream.read(&mut chunk)?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The value of `name:value` in INFO / CLUSTER INFO text.
fn info_field(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|line| line.trim_end().strip_prefix(name)?.strip_prefix(':'))
        .map(str::to_string)
}
