//! A fault-injecting TCP proxy, for tests that need a network that misbehaves
//! between real processes: it listens on 127.0.0.1:0, forwards every
//! connection to a target that can change at run time (a restarted process
//! comes back on a new port), and can, while it runs:
//!
//! - **delay** each direction on its own: every chunk is delivered `delay`
//!   after it was read, in order, without holding up the other direction;
//! - **blackhole**: swallow every byte in both directions without closing
//!   anything, as a partition does: connections stay open and deliver
//!   nothing, a new connection is accepted (the kernel completes the
//!   handshake) and then hears nothing either;
//! - **reset**: close every open connection with a RST on both sides;
//! - **heal**: new connections are forwarded again.
//!
//! A connection that lived through a blackhole stays swallowed after the heal:
//! its bytes are gone, and a stream with a hole cannot honestly resume. Once
//! the network is healed, one whose side has closed meanwhile is reset on the
//! other side, as the closed side's kernel would answer a real peer's next
//! packet with a RST. One whose sides both stay open stays silent: its users
//! must notice (heartbeats, timeouts), as they would have to on a real network.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};
use tokio::task::{AbortHandle, JoinHandle};
use tokio::time::Instant;

/// One way through the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the connecting client to the target.
    ToTarget,
    /// From the target back to the client.
    ToClient,
}

/// Chunks read but not yet delivered, per direction and connection: the
/// reader waits when the writer is this far behind (backpressure instead of
/// an unbounded buffer).
const QUEUE_CHUNKS: usize = 256;
const CHUNK_BYTES: usize = 16 * 1024;
/// How long the proxy waits to connect to its target before it resets the
/// client, as a refused connection would.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The proxy. Dropping it closes the listener and every connection.
pub struct FaultProxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
    accept: JoinHandle<()>,
}

/// What every connection task watches.
#[derive(Debug, Clone, Copy, Default)]
struct Mode {
    blackholed: bool,
    /// Bumped by every `reset()`; a connection resets when it rises past the
    /// value it started with.
    resets: u64,
}

struct Shared {
    target: Mutex<Option<SocketAddr>>,
    delay_to_target_us: AtomicU64,
    delay_to_client_us: AtomicU64,
    mode: watch::Sender<Mode>,
    /// Open connections. The same lock orders a blackhole against a
    /// connection being accepted, so none escapes it.
    conns: Mutex<Registry>,
    accepted: AtomicU64,
}

#[derive(Default)]
struct Registry {
    next_id: u64,
    open: HashMap<u64, (Arc<Conn>, Option<AbortHandle>)>,
}

/// One proxied connection's state.
#[derive(Default)]
struct Conn {
    /// Set by a blackhole and never cleared: every byte is dropped.
    swallowed: AtomicBool,
}

impl Conn {
    fn swallowed(&self) -> bool {
        self.swallowed.load(Ordering::SeqCst)
    }
}

impl FaultProxy {
    /// A proxy on 127.0.0.1:0 forwarding to `target`; with `None`, connections
    /// are reset until [`FaultProxy::set_target`] names one.
    pub async fn start(target: Option<SocketAddr>) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("fault proxy: bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("fault proxy: local address");
        let (mode, _) = watch::channel(Mode::default());
        let shared = Arc::new(Shared {
            target: Mutex::new(target),
            delay_to_target_us: AtomicU64::new(0),
            delay_to_client_us: AtomicU64::new(0),
            mode,
            conns: Mutex::new(Registry::default()),
            accepted: AtomicU64::new(0),
        });
        let accept = tokio::spawn(accept_loop(listener, shared.clone()));
        FaultProxy {
            addr,
            shared,
            accept,
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`: the proxy as an HTTP base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Forwards connections accepted from now on to `target`.
    pub fn set_target(&self, target: SocketAddr) {
        *self.shared.target.lock().unwrap() = Some(target);
    }

    /// Every chunk read in `direction` from now on is delivered `delay` after
    /// it was read (open connections included).
    pub fn set_delay(&self, direction: Direction, delay: Duration) {
        let micros = u64::try_from(delay.as_micros()).unwrap_or(u64::MAX);
        self.shared.delay(direction).store(micros, Ordering::SeqCst);
    }

    /// Swallows every byte in both directions, on open connections and on
    /// those accepted until [`FaultProxy::heal`]; nothing is closed.
    pub fn blackhole(&self) {
        let registry = self.shared.conns.lock().unwrap();
        self.shared.mode.send_modify(|m| m.blackholed = true);
        for (conn, _) in registry.open.values() {
            conn.swallowed.store(true, Ordering::SeqCst);
        }
    }

    /// Ends a blackhole: connections accepted from now on are forwarded.
    pub fn heal(&self) {
        let _registry = self.shared.conns.lock().unwrap();
        self.shared.mode.send_modify(|m| m.blackholed = false);
    }

    /// Closes every open connection with a RST on both sides. New connections
    /// are forwarded as before (unless blackholed).
    pub fn reset(&self) {
        let _registry = self.shared.conns.lock().unwrap();
        self.shared.mode.send_modify(|m| m.resets += 1);
    }

    pub fn is_blackholed(&self) -> bool {
        self.shared.mode.borrow().blackholed
    }

    /// Connections open through the proxy now.
    pub fn connections(&self) -> usize {
        self.shared.conns.lock().unwrap().open.len()
    }

    /// Connections accepted since the start.
    pub fn accepted(&self) -> u64 {
        self.shared.accepted.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
        let registry = self.shared.conns.lock().unwrap();
        for (_, task) in registry.open.values() {
            if let Some(task) = task {
                task.abort();
            }
        }
    }
}

impl Shared {
    fn delay(&self, direction: Direction) -> &AtomicU64 {
        match direction {
            Direction::ToTarget => &self.delay_to_target_us,
            Direction::ToClient => &self.delay_to_client_us,
        }
    }

    fn delay_now(&self, direction: Direction) -> Duration {
        Duration::from_micros(self.delay(direction).load(Ordering::SeqCst))
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            // Out of descriptors or similar: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let _ = client.set_nodelay(true);
        shared.accepted.fetch_add(1, Ordering::SeqCst);
        let conn = Arc::new(Conn::default());
        let mut registry = shared.conns.lock().unwrap();
        let id = registry.next_id;
        registry.next_id += 1;
        // Read under the registry lock, so a blackhole or reset either sees
        // this connection or is seen by it.
        let mode = *shared.mode.borrow();
        if mode.blackholed {
            conn.swallowed.store(true, Ordering::SeqCst);
        }
        registry.open.insert(id, (conn.clone(), None));
        let task = tokio::spawn(run_connection(
            client,
            shared.clone(),
            conn,
            id,
            mode.resets,
        ));
        if let Some(entry) = registry.open.get_mut(&id) {
            entry.1 = Some(task.abort_handle());
        }
    }
}

/// How a connection's pumps ended.
#[derive(Debug, Clone, Copy)]
enum Ending {
    /// Both directions closed cleanly (FIN both ways).
    Closed,
    /// An error, a side closed during a partition, or `reset()`: RST both.
    Reset,
}

async fn run_connection(
    mut client: TcpStream,
    shared: Arc<Shared>,
    conn: Arc<Conn>,
    id: u64,
    started_resets: u64,
) {
    let modes = shared.mode.subscribe();
    let target = *shared.target.lock().unwrap();
    let upstream = match (conn.swallowed(), target) {
        (true, _) | (_, None) => None,
        (false, Some(target)) => {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(target)).await {
                Ok(Ok(stream)) => Some(stream),
                _ => None,
            }
        }
    };
    let ending = match upstream {
        None if conn.swallowed() => {
            tokio::select! {
                () = swallow(&mut client, modes.clone()) => Ending::Reset,
                () = reset_signal(modes.clone(), started_resets) => Ending::Reset,
            }
        }
        None => Ending::Reset,
        Some(mut server) => {
            let _ = server.set_nodelay(true);
            let ending = forward(
                &mut client,
                &mut server,
                &shared,
                &conn,
                &modes,
                started_resets,
            )
            .await;
            abort_if(ending, &server);
            ending
        }
    };
    abort_if(ending, &client);
    shared.conns.lock().unwrap().open.remove(&id);
}

/// Closes `stream` with a RST when the connection is reset; a clean ending
/// lets the drop close it normally.
fn abort_if(ending: Ending, stream: &TcpStream) {
    if matches!(ending, Ending::Reset) {
        let _ = stream.set_zero_linger();
    }
}

/// Pumps both directions until both close, an error, or a reset.
async fn forward(
    client: &mut TcpStream,
    server: &mut TcpStream,
    shared: &Shared,
    conn: &Conn,
    modes: &watch::Receiver<Mode>,
    started_resets: u64,
) -> Ending {
    let (client_read, client_write) = client.split();
    let (server_read, server_write) = server.split();
    let (to_target_tx, to_target_rx) = mpsc::channel(QUEUE_CHUNKS);
    let (to_client_tx, to_client_rx) = mpsc::channel(QUEUE_CHUNKS);
    let pumps = async {
        tokio::try_join!(
            read_side(
                client_read,
                to_target_tx,
                Direction::ToTarget,
                shared,
                conn,
                modes.clone()
            ),
            write_side(server_write, to_target_rx, conn),
            read_side(
                server_read,
                to_client_tx,
                Direction::ToClient,
                shared,
                conn,
                modes.clone()
            ),
            write_side(client_write, to_client_rx, conn),
        )
    };
    let ending = tokio::select! {
        result = pumps => match result {
            Ok(_) => Ending::Closed,
            Err(_) => Ending::Reset,
        },
        () = reset_signal(modes.clone(), started_resets) => Ending::Reset,
    };
    if matches!(ending, Ending::Closed) && conn.swallowed() {
        // Both sides closed while the network was cut: neither heard the
        // other's FIN. Hold on until the heal (or a reset), then RST.
        tokio::select! {
            () = healed(modes.clone()) => {}
            () = reset_signal(modes.clone(), started_resets) => {}
        }
        return Ending::Reset;
    }
    ending
}

/// A chunk and when to deliver it; `None` is the end of the direction.
type Item = (Instant, Option<Vec<u8>>);

/// Reads one direction and queues what it read for delivery after the delay.
async fn read_side(
    mut src: ReadHalf<'_>,
    tx: mpsc::Sender<Item>,
    direction: Direction,
    shared: &Shared,
    conn: &Conn,
    modes: watch::Receiver<Mode>,
) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let read = src.read(&mut buf).await;
        if conn.swallowed() {
            match read {
                Ok(n) if n > 0 => continue,
                // A side closed (or failed) during the partition: nobody
                // hears it until the network heals.
                _ => {
                    healed(modes).await;
                    return Err(io::Error::other("closed during a partition"));
                }
            }
        }
        let n = read?;
        let due = Instant::now() + shared.delay_now(direction);
        let chunk = (n > 0).then(|| buf[..n].to_vec());
        if tx.send((due, chunk)).await.is_err() || n == 0 {
            return Ok(());
        }
    }
}

/// Delivers one direction's chunks in order, each when it is due.
async fn write_side(
    mut dst: WriteHalf<'_>,
    mut rx: mpsc::Receiver<Item>,
    conn: &Conn,
) -> io::Result<()> {
    while let Some((due, chunk)) = rx.recv().await {
        tokio::time::sleep_until(due).await;
        if conn.swallowed() {
            continue;
        }
        match chunk {
            Some(bytes) => dst.write_all(&bytes).await?,
            None => {
                dst.shutdown().await?;
                return Ok(());
            }
        }
    }
    Ok(())
}

/// Reads and drops everything from a connection accepted during a blackhole;
/// returns once its client closed and the network healed.
async fn swallow(client: &mut TcpStream, modes: watch::Receiver<Mode>) {
    let mut buf = vec![0u8; CHUNK_BYTES];
    while let Ok(n) = client.read(&mut buf).await {
        if n == 0 {
            break;
        }
    }
    healed(modes).await;
}

/// Returns once a `reset()` happened after `started`.
async fn reset_signal(mut modes: watch::Receiver<Mode>, started: u64) {
    if modes.wait_for(|m| m.resets > started).await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Returns once the proxy is not blackholed.
async fn healed(mut modes: watch::Receiver<Mode>) {
    if modes.wait_for(|m| !m.blackholed).await.is_err() {
        std::future::pending::<()>().await;
    }
}
