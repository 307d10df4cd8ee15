//! `roost-bench hostile`: clients that misbehave on purpose, for soaks and for
//! measuring what they cost the server and the clients that behave. Each kind
//! runs its connections in a loop until the deadline, reconnecting whenever the
//! server closes one:
//!
//! - `non-readers`: RESP `MGET` of every big key, never reading the answer;
//! - `pipeliners`: RESP pipelines of 50 `GET <first big key>`, never read;
//! - `rest-non-readers`: REST mget of every big key, the response never read;
//! - `slowloris`: an HTTP request's headers sent one line every 2 s, never ended;
//! - `garbage`: RESP connections that send malformed bytes;
//! - `idle`: RESP connections that send nothing.
//!
//! Non-readers use the smallest receive buffer the kernel allows and hold each
//! connection for `hold` before making a new one, so what they asked for waits
//! on the server's side.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

/// What the hostile clients do, and how many of each.
#[derive(Debug, Clone)]
pub struct HostileOptions {
    /// host:port of the RESP port.
    pub resp: String,
    /// host:port of the HTTP port.
    pub http: String,
    pub duration: Duration,
    pub non_readers: usize,
    pub pipeliners: usize,
    pub rest_non_readers: usize,
    pub slowloris: usize,
    pub garbage: usize,
    pub idle: usize,
    /// The big keys are `<big_prefix>0 .. <big_prefix>(big_keys - 1)`.
    pub big_prefix: String,
    pub big_keys: usize,
    /// How long a non-reader keeps a connection before making a new one.
    pub hold: Duration,
    /// AUTH token (RESP) and bearer token (HTTP) when the server needs one.
    pub token: Option<String>,
}

/// What one kind of client saw.
#[derive(Debug, Default, Serialize)]
pub struct KindReport {
    pub clients: usize,
    /// Connections made (the first and every reconnect).
    pub connections: u64,
    /// Connections the server refused or that failed to open.
    pub connect_failures: u64,
    /// Connections the server closed before the client let go of them.
    pub closed_by_server: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct HostileReport {
    pub duration_s: f64,
    pub non_readers: KindReport,
    pub pipeliners: KindReport,
    pub rest_non_readers: KindReport,
    pub slowloris: KindReport,
    pub garbage: KindReport,
    pub idle: KindReport,
}

#[derive(Debug, Default)]
struct Counters {
    connections: AtomicU64,
    connect_failures: AtomicU64,
    closed_by_server: AtomicU64,
}

impl Counters {
    fn report(&self, clients: usize) -> KindReport {
        KindReport {
            clients,
            connections: self.connections.load(Ordering::Relaxed),
            connect_failures: self.connect_failures.load(Ordering::Relaxed),
            closed_by_server: self.closed_by_server.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Kind {
    NonReader,
    Pipeliner,
    RestNonReader,
    Slowloris,
    Garbage,
    Idle,
}

/// Runs every hostile client until `options.duration` has passed.
pub async fn run_hostile(options: HostileOptions) -> HostileReport {
    let options = Arc::new(options);
    let deadline = Instant::now() + options.duration;
    let started = Instant::now();
    let kinds = [
        (Kind::NonReader, options.non_readers),
        (Kind::Pipeliner, options.pipeliners),
        (Kind::RestNonReader, options.rest_non_readers),
        (Kind::Slowloris, options.slowloris),
        (Kind::Garbage, options.garbage),
        (Kind::Idle, options.idle),
    ];
    let counters: Vec<Arc<Counters>> = kinds.iter().map(|_| Arc::default()).collect();
    let mut tasks = Vec::new();
    for ((kind, clients), counters) in kinds.iter().zip(&counters) {
        for id in 0..*clients {
            let (options, counters, kind) = (options.clone(), counters.clone(), *kind);
            tasks.push(tokio::spawn(async move {
                client(kind, id, &options, &counters, deadline).await;
            }));
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    let report = |i: usize| counters[i].report(kinds[i].1);
    HostileReport {
        duration_s: started.elapsed().as_secs_f64(),
        non_readers: report(0),
        pipeliners: report(1),
        rest_non_readers: report(2),
        slowloris: report(3),
        garbage: report(4),
        idle: report(5),
    }
}

/// One client of `kind`, reconnecting until the deadline.
async fn client(
    kind: Kind,
    id: usize,
    options: &HostileOptions,
    counters: &Counters,
    deadline: Instant,
) {
    let mut rng = SmallRng::seed_from_u64(id as u64);
    while Instant::now() < deadline {
        let address = match kind {
            Kind::RestNonReader | Kind::Slowloris => &options.http,
            _ => &options.resp,
        };
        let small_window = matches!(
            kind,
            Kind::NonReader | Kind::Pipeliner | Kind::RestNonReader
        );
        let Some(mut stream) = connect(address, small_window).await else {
            counters.connect_failures.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        counters.connections.fetch_add(1, Ordering::Relaxed);
        let until = deadline.min(Instant::now() + options.hold);
        let closed = match kind {
            Kind::NonReader => ask_and_wait(&mut stream, &mget(options), until).await,
            Kind::Pipeliner => ask_and_wait(&mut stream, &pipeline(options), until).await,
            Kind::RestNonReader => ask_and_wait(&mut stream, &rest_mget(options), until).await,
            Kind::Slowloris => slowloris(&mut stream, options, deadline).await,
            Kind::Garbage => garbage(&mut stream, &mut rng, deadline).await,
            Kind::Idle => closed_before(&mut stream, deadline).await,
        };
        if closed {
            counters.closed_by_server.fetch_add(1, Ordering::Relaxed);
        }
    }
}

async fn connect(address: &str, small_window: bool) -> Option<TcpStream> {
    let addr = tokio::net::lookup_host(address).await.ok()?.next()?;
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()
    } else {
        TcpSocket::new_v6()
    }
    .ok()?;
    if small_window {
        socket.set_recv_buffer_size(4096).ok()?;
    }
    tokio::time::timeout(Duration::from_secs(5), socket.connect(addr))
        .await
        .ok()?
        .ok()
}

/// RESP command bytes for `args`.
fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

fn auth(out: &mut Vec<u8>, options: &HostileOptions) {
    if let Some(token) = &options.token {
        command(out, &[b"AUTH", token.as_bytes()]);
    }
}

fn big_keys(options: &HostileOptions) -> Vec<String> {
    (0..options.big_keys)
        .map(|i| format!("{}{i}", options.big_prefix))
        .collect()
}

fn mget(options: &HostileOptions) -> Vec<u8> {
    let keys = big_keys(options);
    let mut args: Vec<&[u8]> = vec![b"MGET"];
    args.extend(keys.iter().map(|k| k.as_bytes()));
    let mut out = Vec::new();
    auth(&mut out, options);
    command(&mut out, &args);
    out
}

fn pipeline(options: &HostileOptions) -> Vec<u8> {
    let key = format!("{}0", options.big_prefix);
    let mut out = Vec::new();
    auth(&mut out, options);
    for _ in 0..50 {
        command(&mut out, &[b"GET", key.as_bytes()]);
    }
    out
}

fn rest_mget(options: &HostileOptions) -> Vec<u8> {
    let body = serde_json::json!({ "keys": big_keys(options) }).to_string();
    let bearer = options
        .token
        .as_ref()
        .map(|t| format!("authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    format!(
        "POST /api/cache/mget HTTP/1.1\r\nhost: roost\r\ncontent-type: application/json\r\n\
         {bearer}content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Sends `request`, reads nothing, and waits until `until`; whether the server
/// closed the connection first (seen as a failed write of one more byte).
async fn ask_and_wait(stream: &mut TcpStream, request: &[u8], until: Instant) -> bool {
    if stream.write_all(request).await.is_err() {
        return true;
    }
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(500).min(until - Instant::now())).await;
        // A probe the server reads (and so never answers for long): a failed write
        // means it closed the connection.
        let probe =
            tokio::time::timeout(Duration::from_millis(50), stream.write_all(b"\r\n")).await;
        if let Ok(Err(_)) = probe {
            return true;
        }
    }
    false
}

/// Headers one line at a time, never ended.
async fn slowloris(stream: &mut TcpStream, options: &HostileOptions, deadline: Instant) -> bool {
    let start = format!(
        "GET /api/cache/{}0 HTTP/1.1\r\nhost: roost\r\n",
        options.big_prefix
    );
    if stream.write_all(start.as_bytes()).await.is_err() {
        return true;
    }
    let mut buf = [0u8; 256];
    while Instant::now() < deadline {
        let wait = Duration::from_secs(2).min(deadline - Instant::now());
        match tokio::time::timeout(wait, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => {
                if stream.write_all(b"x-slow: 1\r\n").await.is_err() {
                    return true;
                }
            }
        }
    }
    false
}

/// Malformed RESP; the server should answer with a protocol error and close.
async fn garbage(stream: &mut TcpStream, rng: &mut SmallRng, deadline: Instant) -> bool {
    let mut bytes = vec![b'*', b'9', b'x'];
    bytes.extend((0..rng.random_range(1..512)).map(|_| rng.random::<u8>()));
    if stream.write_all(&bytes).await.is_err() {
        return true;
    }
    let closed = closed_before(
        stream,
        deadline.min(Instant::now() + Duration::from_secs(5)),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    closed
}

/// Reads (and drops) until the server closes or `until`; whether it closed.
async fn closed_before(stream: &mut TcpStream, until: Instant) -> bool {
    let mut buf = [0u8; 4096];
    loop {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
            Err(_) => return false,
        }
    }
}

impl HostileReport {
    pub fn render(&self) -> String {
        let row = |name: &str, k: &KindReport| {
            format!(
                "{name:<17} clients {:>4}  connections {:>6}  closed by server {:>6}  connect failures {:>5}\n",
                k.clients, k.connections, k.closed_by_server, k.connect_failures
            )
        };
        let mut out = format!("hostile clients for {:.1} s\n", self.duration_s);
        out += &row("non-readers", &self.non_readers);
        out += &row("pipeliners", &self.pipeliners);
        out += &row("rest-non-readers", &self.rest_non_readers);
        out += &row("slowloris", &self.slowloris);
        out += &row("garbage", &self.garbage);
        out += &row("idle", &self.idle);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_well_formed() {
        let options = HostileOptions {
            resp: "127.0.0.1:1".into(),
            http: "127.0.0.1:2".into(),
            duration: Duration::from_secs(1),
            non_readers: 1,
            pipeliners: 1,
            rest_non_readers: 1,
            slowloris: 1,
            garbage: 1,
            idle: 1,
            big_prefix: "big:".into(),
            big_keys: 2,
            hold: Duration::from_secs(1),
            token: Some("t0k".into()),
        };
        assert_eq!(
            mget(&options),
            b"*2\r\n$4\r\nAUTH\r\n$3\r\nt0k\r\n*3\r\n$4\r\nMGET\r\n$5\r\nbig:0\r\n$5\r\nbig:1\r\n"
        );
        assert_eq!(
            pipeline(&options)
                .windows(5)
                .filter(|w| w == b"big:0")
                .count(),
            50
        );
        let rest = String::from_utf8(rest_mget(&options)).unwrap_or_default();
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or_default();
        assert!(head.contains("authorization: Bearer t0k"));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert_eq!(body, r#"{"keys":["big:0","big:1"]}"#);
    }
}
