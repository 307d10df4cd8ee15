//! `roost-bench proxy`: a TCP proxy that puts a WAN between two local processes,
//! for the geo demo and bench (`DEMO_REGIONS=3 ./demo.sh`, bench/geo.sh). A region's
//! peer URL points at the proxy, the proxy at the peer.
//!
//! - **One-way delay**: every chunk read from one side is written to the other
//!   `delay` later, in both directions (a round trip costs twice the delay). Each
//!   direction has a bounded queue, so a slow reader slows the writer down through
//!   TCP as a real link would; nothing is buffered without bound.
//! - **Blackhole**: a partition that swallows bytes without closing anything:
//!   reads go on, nothing is forwarded, new connections are accepted and then
//!   swallowed too (as a SYN into a dead route looks to an application with a
//!   connect timeout longer than the partition). On heal, every connection that
//!   lost bytes is closed: its stream has a hole, and forwarding past it would hand
//!   the peer a corrupt stream that no real network produces.
//! - **Reset**: closes every connection now.
//! - **Counters**: bytes forwarded and swallowed per direction, connections.
//!
//! The control is a tiny HTTP port (`proxy/control.rs`). The pipes are in
//! `proxy/pipe.rs`. Client side only: this never links the server crate.

pub mod control;
pub mod pipe;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use self::pipe::{pipe, Direction};

/// How the proxy is set up.
#[derive(Debug, Clone)]
pub struct ProxyOptions {
    pub listen: SocketAddr,
    /// Where connections go: `host:port`.
    pub target: String,
    /// One-way delay added in each direction.
    pub delay: Duration,
    /// The HTTP control port, when wanted.
    pub control: Option<SocketAddr>,
}

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// What the proxy does now and has done so far; shared by every connection and
/// the control port.
#[derive(Debug)]
pub struct ProxyState {
    target: String,
    delay_ms: AtomicU64,
    blackholed: AtomicBool,
    counters: Counters,
    /// Bumped on each heal: connections that lost bytes close.
    heals: watch::Sender<u64>,
    /// Bumped on each reset: every connection closes.
    resets: watch::Sender<u64>,
}

#[derive(Debug, Default)]
struct Counters {
    /// Client to target, written on.
    bytes_up: AtomicU64,
    /// Target to client, written on.
    bytes_down: AtomicU64,
    swallowed_up: AtomicU64,
    swallowed_down: AtomicU64,
    connections_total: AtomicU64,
    connections_open: AtomicU64,
    connect_failures: AtomicU64,
}

/// A snapshot of the proxy's state: `GET /stats` on the control port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyStats {
    pub target: String,
    pub delay_ms: u64,
    pub blackholed: bool,
    pub bytes_up: u64,
    pub bytes_down: u64,
    pub swallowed_up: u64,
    pub swallowed_down: u64,
    pub connections_total: u64,
    pub connections_open: u64,
    pub connect_failures: u64,
}

impl ProxyState {
    pub fn new(target: String, delay: Duration) -> Self {
        Self {
            target,
            delay_ms: AtomicU64::new(u64::try_from(delay.as_millis()).unwrap_or(u64::MAX)),
            blackholed: AtomicBool::new(false),
            counters: Counters::default(),
            heals: watch::Sender::new(0),
            resets: watch::Sender::new(0),
        }
    }

    pub fn delay(&self) -> Duration {
        Duration::from_millis(self.delay_ms.load(Ordering::Relaxed))
    }

    /// Changes the one-way delay of what is read from now on.
    pub fn set_delay(&self, delay: Duration) {
        let ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
        self.delay_ms.store(ms, Ordering::Relaxed);
    }

    pub fn is_blackholed(&self) -> bool {
        self.blackholed.load(Ordering::SeqCst)
    }

    /// Starts swallowing every byte, in both directions, on every connection.
    pub fn blackhole(&self) {
        self.blackholed.store(true, Ordering::SeqCst);
    }

    /// Ends a blackhole; the connections that lost bytes are closed.
    pub fn heal(&self) {
        self.blackholed.store(false, Ordering::SeqCst);
        self.heals.send_modify(|n| *n += 1);
    }

    /// Closes every connection now.
    pub fn reset(&self) {
        self.resets.send_modify(|n| *n += 1);
    }

    pub fn stats(&self) -> ProxyStats {
        let c = &self.counters;
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        ProxyStats {
            target: self.target.clone(),
            delay_ms: get(&self.delay_ms),
            blackholed: self.is_blackholed(),
            bytes_up: get(&c.bytes_up),
            bytes_down: get(&c.bytes_down),
            swallowed_up: get(&c.swallowed_up),
            swallowed_down: get(&c.swallowed_down),
            connections_total: get(&c.connections_total),
            connections_open: get(&c.connections_open),
            connect_failures: get(&c.connect_failures),
        }
    }

    /// Counts `n` bytes forwarded (`forwarded`) or swallowed in `direction`.
    fn count(&self, direction: Direction, n: usize, forwarded: bool) {
        let c = &self.counters;
        let counter = match (direction, forwarded) {
            (Direction::Up, true) => &c.bytes_up,
            (Direction::Down, true) => &c.bytes_down,
            (Direction::Up, false) => &c.swallowed_up,
            (Direction::Down, false) => &c.swallowed_down,
        };
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// A running proxy: its addresses and state. Dropping it does not stop it; the
/// tasks live as long as the runtime.
pub struct RunningProxy {
    pub addr: SocketAddr,
    pub control: Option<SocketAddr>,
    pub state: Arc<ProxyState>,
}

/// Binds the listen (and control) ports and serves in background tasks.
pub async fn start_proxy(options: &ProxyOptions) -> Result<RunningProxy, ProxyError> {
    let listener =
        TcpListener::bind(options.listen)
            .await
            .map_err(|source| ProxyError::Listen {
                addr: options.listen,
                source,
            })?;
    let addr = listener.local_addr().map_err(|source| ProxyError::Listen {
        addr: options.listen,
        source,
    })?;
    let state = Arc::new(ProxyState::new(options.target.clone(), options.delay));
    let control = match options.control {
        Some(at) => Some(control::start_control(at, state.clone()).await?),
        None => None,
    };
    tokio::spawn(accept_loop(listener, state.clone()));
    Ok(RunningProxy {
        addr,
        control,
        state,
    })
}

/// Runs until the process is stopped; prints the bound addresses first.
pub async fn run_proxy(options: ProxyOptions) -> anyhow::Result<()> {
    let running = start_proxy(&options).await?;
    println!(
        "proxy listening on {} -> {}, one-way delay {} ms",
        running.addr,
        options.target,
        options.delay.as_millis()
    );
    if let Some(control) = running.control {
        println!("proxy control on http://{control} (GET /stats; POST /blackhole, /heal, /reset, /delay?ms=N)");
    }
    tokio::signal::ctrl_c().await?;
    Ok(())
}

async fn accept_loop(listener: TcpListener, state: Arc<ProxyState>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of file descriptors and the like: try again shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            state
                .counters
                .connections_total
                .fetch_add(1, Ordering::Relaxed);
            state
                .counters
                .connections_open
                .fetch_add(1, Ordering::Relaxed);
            serve(client, &state).await;
            state
                .counters
                .connections_open
                .fetch_sub(1, Ordering::Relaxed);
        });
    }
}

/// One client connection, until both sides are done, it is cut, or the proxy is
/// reset. Dropping the sockets closes them.
async fn serve(client: TcpStream, state: &Arc<ProxyState>) {
    let _ = client.set_nodelay(true);
    let mut heals = state.heals.subscribe();
    let mut resets = state.resets.subscribe();
    let lost_bytes = Arc::new(AtomicBool::new(false));
    if state.is_blackholed() {
        // Accepted into a partition: swallowed until the heal, then closed.
        lost_bytes.store(true, Ordering::SeqCst);
        let (read, _write) = client.into_split();
        tokio::select! {
            () = pipe::swallow(read, state, Direction::Up) => {}
            _ = heals.changed() => {}
            _ = resets.changed() => {}
        }
        return;
    }
    let upstream = match TcpStream::connect(&state.target).await {
        Ok(upstream) => upstream,
        Err(_) => {
            state
                .counters
                .connect_failures
                .fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let _ = upstream.set_nodelay(true);
    let (client_read, client_write) = client.into_split();
    let (upstream_read, upstream_write) = upstream.into_split();
    let up = pipe(
        client_read,
        upstream_write,
        state,
        Direction::Up,
        &lost_bytes,
    );
    let down = pipe(
        upstream_read,
        client_write,
        state,
        Direction::Down,
        &lost_bytes,
    );
    let both = async { tokio::try_join!(up, down) };
    tokio::pin!(both);
    loop {
        tokio::select! {
            _ = &mut both => return,
            changed = heals.changed() => {
                if changed.is_err() || lost_bytes.load(Ordering::SeqCst) {
                    return;
                }
            }
            _ = resets.changed() => return,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;

    /// An echo server on a free port.
    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (mut socket, _) = listener.accept().await.unwrap();
                tokio::spawn(async move {
                    let (mut r, mut w) = socket.split();
                    let _ = tokio::io::copy(&mut r, &mut w).await;
                });
            }
        });
        addr
    }

    async fn proxy_to(target: SocketAddr, delay_ms: u64) -> RunningProxy {
        start_proxy(&ProxyOptions {
            listen: "127.0.0.1:0".parse().unwrap(),
            target: target.to_string(),
            delay: Duration::from_millis(delay_ms),
            control: Some("127.0.0.1:0".parse().unwrap()),
        })
        .await
        .unwrap()
    }

    /// Polls `probe` until it holds (the proxy's counters move in its own tasks).
    async fn eventually(what: &str, probe: impl Fn() -> bool) {
        for _ in 0..500 {
            if probe() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("never happened: {what}");
    }

    #[tokio::test]
    async fn forwards_both_ways_and_counts_bytes() {
        let proxy = proxy_to(echo_server().await, 0).await;
        let mut client = TcpStream::connect(proxy.addr).await.unwrap();
        let message = vec![7u8; 100_000];
        let (mut r, mut w) = client.split();
        let send = async {
            w.write_all(&message).await.unwrap();
        };
        let mut back = vec![0u8; message.len()];
        let receive = async {
            r.read_exact(&mut back).await.unwrap();
        };
        tokio::join!(send, receive);
        assert_eq!(back, message);
        // A chunk is counted just after it is written: the echo can come first.
        eventually("every byte to be counted both ways", || {
            let stats = proxy.state.stats();
            (stats.bytes_up, stats.bytes_down) == (100_000, 100_000)
        })
        .await;
        let stats = proxy.state.stats();
        assert_eq!((stats.connections_total, stats.connections_open), (1, 1));
        drop(client);
        eventually("the connection to be counted closed", || {
            proxy.state.stats().connections_open == 0
        })
        .await;
    }

    #[tokio::test]
    async fn a_round_trip_takes_at_least_twice_the_one_way_delay() {
        let proxy = proxy_to(echo_server().await, 60).await;
        let mut client = TcpStream::connect(proxy.addr).await.unwrap();
        let started = Instant::now();
        client.write_all(b"ping").await.unwrap();
        let mut back = [0u8; 4];
        client.read_exact(&mut back).await.unwrap();
        assert_eq!(&back, b"ping");
        assert!(
            started.elapsed() >= Duration::from_millis(120),
            "a 60 ms one-way delay each way, the echo came back in {:?}",
            started.elapsed()
        );
    }

    #[tokio::test]
    async fn a_blackhole_swallows_without_closing_and_a_heal_cuts_the_holed_connection() {
        let proxy = proxy_to(echo_server().await, 0).await;
        let mut before = TcpStream::connect(proxy.addr).await.unwrap();
        before.write_all(b"a").await.unwrap();
        let mut one = [0u8; 1];
        before.read_exact(&mut one).await.unwrap();

        proxy.state.blackhole();
        before.write_all(b"lost").await.unwrap();
        let mut during = TcpStream::connect(proxy.addr).await.unwrap();
        during.write_all(b"also lost").await.unwrap();
        eventually("13 bytes to be swallowed", || {
            proxy.state.stats().swallowed_up == 13
        })
        .await;
        let stats = proxy.state.stats();
        assert_eq!(stats.bytes_up, 1, "nothing forwarded during the blackhole");
        assert_eq!(
            stats.connections_open, 2,
            "nothing closed during the blackhole"
        );

        proxy.state.heal();
        // Both connections lost bytes: each now reads end of stream.
        assert_eq!(before.read(&mut one).await.unwrap_or(0), 0);
        assert_eq!(during.read(&mut one).await.unwrap_or(0), 0);
        let mut after = TcpStream::connect(proxy.addr).await.unwrap();
        after.write_all(b"b").await.unwrap();
        after.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"b");
    }

    #[tokio::test]
    async fn a_heal_keeps_connections_that_lost_nothing_and_a_reset_closes_all() {
        let proxy = proxy_to(echo_server().await, 0).await;
        let mut client = TcpStream::connect(proxy.addr).await.unwrap();
        proxy.state.blackhole();
        proxy.state.heal();
        client.write_all(b"x").await.unwrap();
        let mut one = [0u8; 1];
        client.read_exact(&mut one).await.unwrap();
        assert_eq!(&one, b"x");
        proxy.state.reset();
        assert_eq!(client.read(&mut one).await.unwrap_or(0), 0);
    }

    #[tokio::test]
    async fn an_unreachable_target_is_counted_and_the_client_closed() {
        let gone = {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            listener.local_addr().unwrap()
        };
        let proxy = proxy_to(gone, 0).await;
        let mut client = TcpStream::connect(proxy.addr).await.unwrap();
        let mut one = [0u8; 1];
        assert_eq!(client.read(&mut one).await.unwrap_or(0), 0);
        assert_eq!(proxy.state.stats().connect_failures, 1);
    }
}
