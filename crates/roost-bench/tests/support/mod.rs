//! Test support: real `redis-server` and `webdis` processes on free loopback ports,
//! each in its own temp dir, killed when their guard drops.
#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use roost_resp::{parse_frame, write_command, Frame, Limits};
use tempfile::TempDir;

/// How long a server may take to accept connections.
const READY_DEADLINE: Duration = Duration::from_secs(10);

/// A free TCP port on 127.0.0.1 (bound and released; the race is acceptable in tests).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `program` is on the PATH.
pub fn installed(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// A child process killed and reaped on drop, with its temp dir removed after.
struct Guarded {
    child: Child,
    _dir: TempDir,
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `redis-server` with no persistence on a free port.
pub struct RedisServer {
    pub port: u16,
    _process: Guarded,
}

impl RedisServer {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// Starts with extra config arguments, e.g. `["--maxmemory", "10mb"]`.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_on(free_port(), extra)
    }

    /// Starts on `port`: the same port again restarts a killed server, empty.
    pub fn start_on(port: u16, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let process = Guarded { child, _dir: dir };
        wait_until(|| redis_command(port, &["PING"]).starts_with("+PONG"));
        Self {
            port,
            _process: process,
        }
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL) and waits for it to exit; its port stops answering.
    pub fn kill(&mut self) {
        self._process.child.kill().unwrap();
        self._process.child.wait().unwrap();
    }

    /// Sends one command, returns the raw reply text (one read; small replies only).
    pub fn command(&self, args: &[&str]) -> String {
        redis_command(self.port, args)
    }

    /// An integer reply, e.g. of DBSIZE.
    pub fn integer(&self, args: &[&str]) -> i64 {
        let reply = self.command(args);
        reply
            .trim()
            .strip_prefix(':')
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{args:?} answered {reply:?}"))
    }

    /// `calls=` of one command in INFO commandstats (0 if never called).
    pub fn calls(&self, command: &str) -> u64 {
        let info = self.command(&["INFO", "commandstats"]);
        let marker = format!("cmdstat_{command}:calls=");
        info.lines()
            .find_map(|line| line.strip_prefix(&marker))
            .and_then(|rest| rest.split(',').next())
            .map_or(0, |calls| calls.parse().unwrap())
    }
}

/// A webdis in front of `redis` on a free port, two threads.
pub struct Webdis {
    pub port: u16,
    _process: Guarded,
}

impl Webdis {
    pub fn start(redis: &RedisServer) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("webdis.json");
        write_webdis_config(&config, redis.port, port, &dir.path().join("webdis.log"));
        let child = Command::new("webdis")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("webdis must be installed (apt-get install webdis)");
        let process = Guarded { child, _dir: dir };
        wait_until(|| http_get(port, "/PING").contains("PONG"));
        Self {
            port,
            _process: process,
        }
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn write_webdis_config(path: &Path, redis_port: u16, http_port: u16, log: &Path) {
    let config = serde_json::json!({
        "redis_host": "127.0.0.1",
        "redis_port": redis_port,
        "http_host": "127.0.0.1",
        "http_port": http_port,
        "threads": 2,
        "pool_size": 8,
        "daemonize": false,
        "websockets": false,
        "database": 0,
        "verbosity": 3,
        "logfile": log,
    });
    std::fs::write(path, config.to_string()).unwrap();
}

fn wait_until(mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + READY_DEADLINE;
    while !ready() {
        assert!(
            Instant::now() < deadline,
            "server not ready after {READY_DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn redis_command(port: u16, args: &[&str]) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    stream.set_read_timeout(Some(READY_DEADLINE)).unwrap();
    let mut request = BytesMut::new();
    let args: Vec<&[u8]> = args.iter().map(|arg| arg.as_bytes()).collect();
    write_command(&mut request, &args);
    stream.write_all(&request).unwrap();
    let mut reply = BytesMut::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        if let Some(frame) = parse_frame(&mut reply, &Limits::default()).unwrap() {
            return match frame {
                Frame::Simple(text) => format!("+{}", String::from_utf8_lossy(&text)),
                Frame::Error(text) => format!("-{}", String::from_utf8_lossy(&text)),
                Frame::Integer(n) => format!(":{n}"),
                Frame::Bulk(text) => String::from_utf8_lossy(&text).into_owned(),
                other => format!("{other:?}"),
            };
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return String::new(),
            Ok(read) => reply.extend_from_slice(&chunk[..read]),
        }
    }
}

/// An HTTP/1.0 GET; the server closes the connection after the response.
fn http_get(port: u16, path: &str) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    stream.set_read_timeout(Some(READY_DEADLINE)).unwrap();
    let request = format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response
}
