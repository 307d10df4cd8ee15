//! The connections to one standalone Redis node: a fixed number of multiplexed
//! connections picked round-robin, each made on first use and made again after
//! it failed. Owns connecting and forgetting connections; it sends no commands
//! and never retries on its own (the fleet's health checker decides when a node
//! is worth trying again).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Mutex, MutexGuard};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client};

use super::address::NodeAddress;

/// `connections` lazily made multiplexed connections to one node.
pub(crate) struct NodePool {
    client: Client,
    config: AsyncConnectionConfig,
    timeout: Duration,
    slots: Vec<ConnectionSlot>,
    next: AtomicUsize,
    /// Connections made so far, over all slots: each connection's number.
    made: AtomicU64,
}

/// A connection handed out for one request, and which one it was so a failure
/// can make the pool forget exactly it.
pub(crate) struct Lease {
    pub(crate) connection: MultiplexedConnection,
    slot: usize,
    generation: u64,
    /// The newest connection number when the lease was asked for: connections
    /// up to it existed before the request started.
    newest_at_start: u64,
}

struct ConnectionSlot {
    /// A std mutex: it is never held across an `.await`.
    state: Mutex<SlotState>,
    /// Held for the whole of a connect attempt, so one slot makes one attempt at
    /// a time and the requests that waited on it share its outcome.
    connecting: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct SlotState {
    connection: Option<MultiplexedConnection>,
    /// The pool-wide number of the slot's connection (see `NodePool::made`); a
    /// stale lease cannot drop a newer connection.
    generation: u64,
    /// Bumped when a connect attempt ends, successful or not.
    attempts_ended: u64,
    last_failure: Option<String>,
}

impl NodePool {
    /// Opens nothing: connections are made by the first `lease` of each slot.
    pub(crate) fn new(address: &NodeAddress, connections: usize, timeout: Duration) -> NodePool {
        let client = Client::open(address.connection_info().clone())
            .expect("invariant: a parsed ConnectionInfo converts into itself");
        // No response timeout of redis-rs's own: the link times each request
        // (connecting included) and drops a connection that timed out.
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None);
        let slots = (0..connections.max(1))
            .map(|_| ConnectionSlot {
                state: Mutex::new(SlotState::default()),
                connecting: tokio::sync::Mutex::new(()),
            })
            .collect();
        NodePool {
            client,
            config,
            timeout,
            slots,
            next: AtomicUsize::new(0),
            made: AtomicU64::new(0),
        }
    }

    /// The slot the next request uses (round-robin).
    pub(crate) fn pick(&self) -> usize {
        self.next.fetch_add(1, Ordering::Relaxed) % self.slots.len()
    }

    /// The slot's connection, connecting first when it has none. A connect that
    /// fails is reported to every request that waited for it, without a retry;
    /// the error is a short reason for `CacheError::NodeFailed`.
    pub(crate) async fn lease(&self, slot: usize) -> Result<Lease, String> {
        let cell = &self.slots[slot];
        let newest = self.made.load(Ordering::Relaxed);
        let ended_before_waiting = {
            let state = lock(&cell.state);
            if let Some(lease) = state.lease(slot, newest) {
                return Ok(lease);
            }
            state.attempts_ended
        };
        // Connecting is rare and its future (redis-rs's connect and handshake) is
        // kilobytes: boxed, it stays out of the state of every request's future.
        Box::pin(self.connect_slot(slot, newest, ended_before_waiting)).await
    }

    /// The slow half of [`NodePool::lease`]: one connect at a time per slot.
    async fn connect_slot(
        &self,
        slot: usize,
        newest: u64,
        ended_before_waiting: u64,
    ) -> Result<Lease, String> {
        let cell = &self.slots[slot];
        let _connecting = cell.connecting.lock().await;
        {
            let state = lock(&cell.state);
            if let Some(lease) = state.lease(slot, newest) {
                return Ok(lease);
            }
            // An attempt ended while this request waited: its failure is ours.
            if state.attempts_ended != ended_before_waiting {
                if let Some(reason) = &state.last_failure {
                    return Err(reason.clone());
                }
            }
        }
        let connected = self
            .client
            .get_multiplexed_async_connection_with_config(&self.config)
            .await;
        let mut state = lock(&cell.state);
        state.attempts_ended += 1;
        match connected {
            Ok(connection) => {
                state.generation = self.made.fetch_add(1, Ordering::Relaxed) + 1;
                state.connection = Some(connection);
                state.last_failure = None;
                let lease = state.lease(slot, newest);
                Ok(lease.expect("invariant: a connection was just stored"))
            }
            Err(err) => {
                let reason = connect_failure(&err, self.timeout);
                state.last_failure = Some(reason.clone());
                Err(reason)
            }
        }
    }

    /// Drops the lease's connection from its slot (unless the slot has already
    /// connected again), so the slot's next request connects afresh. For a
    /// request that timed out: the other connections may well be fine.
    pub(crate) fn forget(&self, lease: &Lease) {
        let mut state = lock(&self.slots[lease.slot].state);
        if state.generation == lease.generation {
            state.connection = None;
        }
    }

    /// Drops the lease's connection and every other connection that existed
    /// when its request started. For a connection that broke: the node most
    /// likely restarted or went away, and those connections would each fail one
    /// more request to find out. Connections made since are kept.
    pub(crate) fn forget_with_older(&self, lease: &Lease) {
        for (index, slot) in self.slots.iter().enumerate() {
            let mut state = lock(&slot.state);
            let stale = if index == lease.slot {
                state.generation == lease.generation
            } else {
                state.generation <= lease.newest_at_start
            };
            if stale {
                state.connection = None;
            }
        }
    }

    /// How many slots hold a connection now.
    #[cfg(test)]
    fn connected(&self) -> usize {
        self.slots
            .iter()
            .filter(|slot| lock(&slot.state).connection.is_some())
            .count()
    }
}

impl SlotState {
    fn lease(&self, slot: usize, newest_at_start: u64) -> Option<Lease> {
        self.connection.as_ref().map(|connection| Lease {
            connection: connection.clone(),
            slot,
            generation: self.generation,
            newest_at_start,
        })
    }
}

fn lock(state: &Mutex<SlotState>) -> MutexGuard<'_, SlotState> {
    state.lock()
}

/// A short reason for a failed connect: refused, timed out, or redis-rs's text
/// (which never holds the password).
fn connect_failure(err: &redis::RedisError, timeout: Duration) -> String {
    if err.is_timeout() {
        format!("connect timed out after {}ms", timeout.as_millis())
    } else {
        format!("connect failed: {err}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn pool(connections: usize) -> NodePool {
        // Port 1 on loopback: nothing listens there, so a connect is refused at once.
        let address = NodeAddress::parse("redis://127.0.0.1:1").unwrap();
        NodePool::new(&address, connections, Duration::from_millis(500))
    }

    #[test]
    fn pick_goes_round_robin() {
        let pool = pool(3);
        let picks: Vec<usize> = (0..6).map(|_| pool.pick()).collect();
        assert_eq!(picks, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn zero_connections_still_means_one() {
        let pool = pool(0);
        assert_eq!(pool.pick(), 0);
        assert_eq!(pool.pick(), 0);
    }

    #[tokio::test]
    async fn refused_connect_is_an_error_not_a_retry_loop() {
        let pool = pool(2);
        let started = std::time::Instant::now();
        let reason = pool.lease(0).await.err().unwrap();
        assert!(reason.starts_with("connect failed"), "{reason}");
        assert!(started.elapsed() < Duration::from_millis(500));
        assert_eq!(pool.connected(), 0);
    }

    #[tokio::test]
    async fn requests_waiting_on_one_connect_share_its_failure() {
        // Bound but never accepting: the TCP handshake completes in the backlog and
        // redis-rs's own handshake never gets an answer, so each connect times out.
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("redis://{}", listener.local_addr().unwrap());
        let address = NodeAddress::parse(&url).unwrap();
        let pool = NodePool::new(&address, 1, Duration::from_millis(200));
        let (first, second) = tokio::join!(pool.lease(0), pool.lease(0));
        let first = first.err().unwrap();
        assert_eq!(first, "connect timed out after 200ms");
        assert_eq!(second.err().unwrap(), first);
        let mut attempts = 0;
        while let Ok(Ok(_)) =
            tokio::time::timeout(Duration::from_millis(50), listener.accept()).await
        {
            attempts += 1;
        }
        assert_eq!(attempts, 1, "two waiting requests made {attempts} connects");
    }
}
