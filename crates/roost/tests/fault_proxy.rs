//! The fault-injecting proxy of the test support (`support/faults.rs`), checked
//! against a trivial echo server before other tests trust it: it forwards both
//! ways, delays each direction by at least what it is told without holding up
//! the other, swallows everything during a blackhole while every connection
//! stays open, resets connections with a RST, and forwards new connections
//! again once healed.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use support::eventually;
use support::faults::{Direction, FaultProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

/// Generous: only a broken proxy (or a stalled machine) takes this long.
const DEADLINE: Duration = Duration::from_secs(10);
/// How long "nothing arrives" is watched for.
const SILENCE: Duration = Duration::from_millis(400);

/// Echoes what it reads; `push` writes to every open connection unasked.
struct EchoServer {
    addr: SocketAddr,
    open: Arc<AtomicUsize>,
    accepted: Arc<AtomicUsize>,
    received: Arc<AtomicUsize>,
    push: broadcast::Sender<Vec<u8>>,
    task: JoinHandle<()>,
}

impl EchoServer {
    async fn start() -> EchoServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (push, _) = broadcast::channel::<Vec<u8>>(16);
        let open = Arc::new(AtomicUsize::new(0));
        let accepted = Arc::new(AtomicUsize::new(0));
        let received = Arc::new(AtomicUsize::new(0));
        let (o, a, r, p) = (
            open.clone(),
            accepted.clone(),
            received.clone(),
            push.clone(),
        );
        let task = tokio::spawn(async move {
            loop {
                let (mut stream, _) = listener.accept().await.unwrap();
                a.fetch_add(1, Ordering::SeqCst);
                o.fetch_add(1, Ordering::SeqCst);
                let (o, r, mut pushes) = (o.clone(), r.clone(), p.subscribe());
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        tokio::select! {
                            read = stream.read(&mut buf) => match read {
                                Ok(0) | Err(_) => break,
                                Ok(n) => {
                                    r.fetch_add(n, Ordering::SeqCst);
                                    if stream.write_all(&buf[..n]).await.is_err() {
                                        break;
                                    }
                                }
                            },
                            Ok(bytes) = pushes.recv() => {
                                if stream.write_all(&bytes).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    o.fetch_sub(1, Ordering::SeqCst);
                });
            }
        });
        EchoServer {
            addr,
            open,
            accepted,
            received,
            push,
            task,
        }
    }

    fn open(&self) -> usize {
        self.open.load(Ordering::SeqCst)
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }

    fn received(&self) -> usize {
        self.received.load(Ordering::SeqCst)
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn proxy_to(server: &EchoServer) -> FaultProxy {
    FaultProxy::start(Some(server.addr)).await
}

/// Reads exactly `n` bytes, failing the test if they do not come.
async fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    tokio::time::timeout(DEADLINE, stream.read_exact(&mut buf))
        .await
        .expect("bytes within the deadline")
        .expect("the connection stays open");
    buf
}

/// Asserts that for `SILENCE` nothing arrives and the connection stays open.
async fn silent_and_open(stream: &mut TcpStream, what: &str) {
    let mut buf = [0u8; 1024];
    match tokio::time::timeout(SILENCE, stream.read(&mut buf)).await {
        Err(_) => {}
        Ok(Ok(0)) => panic!("{what}: the connection was closed"),
        Ok(Ok(n)) => panic!("{what}: {n} bytes were delivered"),
        Ok(Err(e)) => panic!("{what}: the connection failed: {e}"),
    }
}

/// Waits until the server has seen `n` connections.
async fn wait_accepted(server: &EchoServer, n: usize) {
    eventually(DEADLINE, "the echo server to accept", || async {
        server.accepted() >= n
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwards_in_order_and_delays_each_direction_by_at_least_its_delay() {
    let server = EchoServer::start().await;
    let proxy = proxy_to(&server).await;
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    client.write_all(b"hello").await.unwrap();
    assert_eq!(read_n(&mut client, 5).await, b"hello");

    let (there, back) = (Duration::from_millis(150), Duration::from_millis(100));
    proxy.set_delay(Direction::ToTarget, there);
    proxy.set_delay(Direction::ToClient, back);
    let started = Instant::now();
    client.write_all(b"ping").await.unwrap();
    assert_eq!(read_n(&mut client, 4).await, b"ping");
    let round_trip = started.elapsed();
    assert!(
        round_trip >= there + back,
        "round trip {round_trip:?} < {there:?} + {back:?}"
    );

    // Many small writes, each its own chunk: delivered whole and in order.
    let mut sent = Vec::new();
    for i in 0..200u32 {
        let piece = format!("<{i}>");
        client.write_all(piece.as_bytes()).await.unwrap();
        sent.extend_from_slice(piece.as_bytes());
        if i % 20 == 0 {
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
    }
    assert_eq!(read_n(&mut client, sent.len()).await, sent);
    println!("round trip through 150 ms + 100 ms of delay: {round_trip:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delayed_direction_does_not_hold_up_the_other() {
    let server = EchoServer::start().await;
    let proxy = proxy_to(&server).await;
    let mut client = TcpStream::connect(proxy.addr()).await.unwrap();
    wait_accepted(&server, 1).await;
    // Far longer than DEADLINE: a proxy that makes the other direction wait
    // behind this one fails below instead of passing late.
    proxy.set_delay(Direction::ToTarget, Duration::from_secs(600));
    client.write_all(b"stuck").await.unwrap();
    server.push.send(b"tick".to_vec()).unwrap();
    assert_eq!(read_n(&mut client, 4).await, b"tick");
    assert_eq!(server.received(), 0, "the delayed bytes arrived early");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_swallows_both_ways_and_keeps_every_connection_open() {
    let server = EchoServer::start().await;
    let proxy = proxy_to(&server).await;
    let mut before = TcpStream::connect(proxy.addr()).await.unwrap();
    before.write_all(b"up").await.unwrap();
    assert_eq!(read_n(&mut before, 2).await, b"up");
    let received = server.received();

    proxy.blackhole();
    assert!(proxy.is_blackholed());
    before.write_all(b"into the void").await.unwrap();
    server.push.send(b"unheard".to_vec()).unwrap();
    silent_and_open(&mut before, "an open connection in a blackhole").await;
    assert_eq!(server.received(), received, "bytes crossed the blackhole");
    assert_eq!(server.open(), 1, "the server side was closed");
    assert_eq!(proxy.connections(), 1);

    // A connection made during the blackhole is accepted and hears nothing;
    // it never reaches the server.
    let mut during = TcpStream::connect(proxy.addr()).await.unwrap();
    during.write_all(b"anyone?").await.unwrap();
    silent_and_open(&mut during, "a connection made in a blackhole").await;
    assert_eq!(server.accepted(), 1);
    assert_eq!(proxy.connections(), 2);

    proxy.heal();
    assert!(!proxy.is_blackholed());
    let mut after = TcpStream::connect(proxy.addr()).await.unwrap();
    after.write_all(b"back").await.unwrap();
    assert_eq!(read_n(&mut after, 4).await, b"back");
    // What lived through the blackhole stays cut (its bytes are gone)...
    before.write_all(b"still cut").await.unwrap();
    silent_and_open(&mut before, "a connection that lived through the blackhole").await;
    // ...and once its client leaves, the server side is reset, as after a
    // real partition heals.
    drop(before);
    eventually(
        DEADLINE,
        "the server side of the cut connection to close",
        || async { server.open() == 1 },
    )
    .await;
    drop(during);
    eventually(
        DEADLINE,
        "the proxy to forget closed connections",
        || async { proxy.connections() == 1 },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_closes_every_connection_with_a_rst_and_new_ones_work() {
    let server = EchoServer::start().await;
    let proxy = proxy_to(&server).await;
    let mut clients = Vec::new();
    for i in 0..3u8 {
        let mut c = TcpStream::connect(proxy.addr()).await.unwrap();
        c.write_all(&[b'a' + i]).await.unwrap();
        assert_eq!(read_n(&mut c, 1).await, [b'a' + i]);
        clients.push(c);
    }
    assert_eq!(server.open(), 3);

    proxy.reset();
    for c in &mut clients {
        let mut buf = [0u8; 16];
        let read = tokio::time::timeout(DEADLINE, c.read(&mut buf))
            .await
            .expect("the reset within the deadline");
        match read {
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
            Ok(n) => panic!("expected a RST, read {n} bytes (0 is a FIN)"),
        }
    }
    eventually(DEADLINE, "the server side to be reset", || async {
        server.open() == 0
    })
    .await;

    let mut fresh = TcpStream::connect(proxy.addr()).await.unwrap();
    fresh.write_all(b"again").await.unwrap();
    assert_eq!(read_n(&mut fresh, 5).await, b"again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackhole_during_a_reset_and_a_retarget_behave() {
    let first = EchoServer::start().await;
    let second = EchoServer::start().await;
    // No target yet: a connection is refused with a RST.
    let proxy = FaultProxy::start(None).await;
    let mut buf = [0u8; 4];
    // The RST can come before `connect` returns, or after.
    let read = match TcpStream::connect(proxy.addr()).await {
        Ok(mut refused) => tokio::time::timeout(DEADLINE, refused.read(&mut buf))
            .await
            .expect("an answer within the deadline"),
        Err(e) => Err(e),
    };
    assert!(
        matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{read:?}"
    );

    proxy.set_target(first.addr);
    let mut one = TcpStream::connect(proxy.addr()).await.unwrap();
    one.write_all(b"1").await.unwrap();
    assert_eq!(read_n(&mut one, 1).await, b"1");
    // A restarted process comes back elsewhere: new connections follow it,
    // the open one stays where it was.
    proxy.set_target(second.addr);
    let mut two = TcpStream::connect(proxy.addr()).await.unwrap();
    two.write_all(b"2").await.unwrap();
    assert_eq!(read_n(&mut two, 1).await, b"2");
    assert_eq!((first.accepted(), second.accepted()), (1, 1));
    one.write_all(b"3").await.unwrap();
    assert_eq!(read_n(&mut one, 1).await, b"3");
    assert_eq!(first.received(), 2);

    // A reset during a blackhole closes the swallowed connections too.
    proxy.blackhole();
    proxy.reset();
    let read = tokio::time::timeout(DEADLINE, one.read(&mut buf))
        .await
        .expect("the reset within the deadline");
    assert!(
        matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset),
        "{read:?}"
    );
    proxy.heal();
    let mut three = TcpStream::connect(proxy.addr()).await.unwrap();
    three.write_all(b"4").await.unwrap();
    assert_eq!(read_n(&mut three, 1).await, b"4");
    drop(proxy);
    // Dropping the proxy closes what went through it.
    let read = tokio::time::timeout(DEADLINE, three.read(&mut buf))
        .await
        .expect("the close within the deadline");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
}
