//! Who is connected: the registry of open RESP connections (for CLIENT LIST,
//! INFO's `connected_clients` and the connection limit) and each connection's own
//! session state (protocol, identity, name).
//!
//! At the connection limit the registry makes room by closing the connection
//! that has been idle longest, if it has been idle at least [`EVICT_IDLE`]:
//! sockets opened and left silent cannot lock every other client out.
//!
//! The registry's blocking `Mutex` is taken on connect, disconnect and CLIENT LIST
//! only, never per command and never across an `.await`. What CLIENT LIST shows of
//! a connection and changes while it runs (name, protocol, last activity) sits in
//! the connection's [`ClientEntry`] behind its own tiny lock or an atomic.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use roost_resp::Protocol;
use tokio_util::sync::CancellationToken;

use crate::auth::Identity;

/// How long a connection must have been idle before the registry may close it
/// to admit a new one at the connection limit.
pub const EVICT_IDLE: Duration = Duration::from_secs(10);

/// One connection as CLIENT LIST and CLIENT INFO show it.
#[derive(Debug)]
pub struct ClientEntry {
    pub id: u64,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    connected: Instant,
    name: Mutex<String>,
    resp3: AtomicBool,
    user: Mutex<Arc<str>>,
    /// Milliseconds after `connected` of the last command batch.
    last_active_ms: AtomicU64,
    /// Ends this connection: cancelled on shutdown, or to evict it.
    pub closer: CancellationToken,
    /// Set before `closer` is cancelled to make room for another client.
    evicted: AtomicBool,
}

impl ClientEntry {
    /// Whether the registry closed this connection to make room.
    pub fn was_evicted(&self) -> bool {
        self.evicted.load(Ordering::Acquire)
    }

    fn idle_ms(&self) -> u64 {
        let age = self.connected.elapsed().as_millis() as u64;
        age.saturating_sub(self.last_active_ms.load(Ordering::Relaxed))
    }

    pub fn name(&self) -> String {
        self.name.lock().clone()
    }

    pub fn set_name(&self, name: &str) {
        *self.name.lock() = name.to_owned();
    }

    /// Notes activity at `now`; one relaxed store per batch of commands.
    pub fn touch(&self, now: Instant) {
        let ms = now.saturating_duration_since(self.connected).as_millis() as u64;
        self.last_active_ms.store(ms, Ordering::Relaxed);
    }

    /// The CLIENT LIST line of this connection (without the newline).
    pub fn describe(&self) -> String {
        let age = self.connected.elapsed();
        let idle = self.idle_ms() / 1000;
        let resp = if self.resp3.load(Ordering::Relaxed) {
            3
        } else {
            2
        };
        let user = self.user.lock().clone();
        let mut line = String::with_capacity(160);
        let _ = write!(
            line,
            "id={} addr={} laddr={} fd=-1 name={} age={} idle={idle} flags=N db=0 sub=0 psub=0 \
             multi=-1 user={user} resp={resp}",
            self.id,
            self.peer,
            self.local,
            self.name(),
            age.as_secs(),
        );
        line
    }
}

/// Every open connection, by id.
#[derive(Debug, Default)]
pub struct ClientRegistry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientEntry>>>,
}

impl ClientRegistry {
    /// Registers a new connection. At `max` open, the connection idle longest
    /// is closed to make room if it has been idle at least [`EVICT_IDLE`];
    /// otherwise the new one is refused (`None`). A registered connection
    /// ends when `shutdown` is cancelled.
    pub fn admit(
        self: &Arc<Self>,
        peer: SocketAddr,
        local: SocketAddr,
        max: usize,
        shutdown: &CancellationToken,
    ) -> Option<Admitted> {
        self.admit_at(peer, local, max, shutdown, Instant::now())
    }

    /// [`ClientRegistry::admit`] for a connection made at `connected`.
    fn admit_at(
        self: &Arc<Self>,
        peer: SocketAddr,
        local: SocketAddr,
        max: usize,
        shutdown: &CancellationToken,
        connected: Instant,
    ) -> Option<Admitted> {
        let mut clients = self.clients.lock();
        let mut evicted = None;
        if clients.len() >= max {
            let idlest = clients
                .values()
                .filter(|c| !c.was_evicted())
                .max_by_key(|c| c.idle_ms())?;
            if idlest.idle_ms() < EVICT_IDLE.as_millis() as u64 {
                return None;
            }
            idlest.evicted.store(true, Ordering::Release);
            idlest.closer.cancel();
            evicted = Some(idlest.peer);
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Arc::new(ClientEntry {
            id,
            peer,
            local,
            connected,
            name: Mutex::new(String::new()),
            resp3: AtomicBool::new(false),
            user: Mutex::new(Arc::from("default")),
            last_active_ms: AtomicU64::new(0),
            closer: shutdown.child_token(),
            evicted: AtomicBool::new(false),
        });
        clients.insert(id, entry.clone());
        let registered = Registered {
            registry: self.clone(),
            entry,
        };
        Some(Admitted {
            registered,
            evicted,
        })
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// CLIENT LIST: one line per connection, oldest first.
    pub fn describe_all(&self) -> String {
        let clients: Vec<_> = self.clients.lock().values().cloned().collect();
        let mut text = String::new();
        for client in clients {
            text.push_str(&client.describe());
            text.push('\n');
        }
        text
    }
}

/// A new connection's registration, and the peer closed to make room for it.
#[derive(Debug)]
pub struct Admitted {
    pub registered: Registered,
    pub evicted: Option<SocketAddr>,
}

/// A connection's place in the registry; leaving it (on drop) frees the slot.
#[derive(Debug)]
pub struct Registered {
    registry: Arc<ClientRegistry>,
    pub entry: Arc<ClientEntry>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.registry.clients.lock().remove(&self.entry.id);
    }
}

/// The state of one connection that commands read and change. Cloned for
/// commands of a pipeline that run concurrently (they only read it).
#[derive(Debug, Clone)]
pub struct Session {
    pub client: Arc<ClientEntry>,
    pub protocol: Protocol,
    /// Who authenticated; `None` until AUTH when authentication is on.
    pub identity: Option<Identity>,
    /// Set by QUIT: close once this batch's replies are written.
    pub closing: bool,
    /// Between MULTI and EXEC/DISCARD: the commands queued (transaction.rs).
    pub transaction: Option<super::transaction::Transaction>,
    /// Keys WATCHed, on a connection of this client's own to their node.
    pub watching: Option<super::transaction::Watching>,
}

impl Session {
    /// A new connection's session: unauthenticated when `auth_on`, else
    /// everyone may do everything.
    pub fn new(client: Arc<ClientEntry>, auth_on: bool) -> Session {
        let identity = (!auth_on).then(Identity::anonymous);
        Session {
            client,
            protocol: Protocol::Resp2,
            identity,
            closing: false,
            transaction: None,
            watching: None,
        }
    }

    pub fn authenticated(&self) -> bool {
        self.identity.is_some()
    }

    /// Whether `cmd` may run for this session's user (false before
    /// authentication).
    pub fn may_run(&self, spec: &super::command_table::Spec) -> bool {
        self.identity
            .as_ref()
            .is_some_and(|who| who.role.allows(spec.role()))
    }

    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
        let resp3 = protocol == Protocol::Resp3;
        self.client.resp3.store(resp3, Ordering::Relaxed);
    }

    /// Authenticated as `identity` (AUTH or HELLO AUTH).
    pub fn become_user(&mut self, identity: Identity) {
        *self.client.user.lock() = identity.user.clone();
        self.identity = Some(identity);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn admit(registry: &Arc<ClientRegistry>, port: u16, max: usize) -> Option<Registered> {
        let shutdown = CancellationToken::new();
        registry
            .admit(addr(port), addr(9), max, &shutdown)
            .map(|a| a.registered)
    }

    #[test]
    fn admission_stops_at_the_limit_and_a_dropped_connection_frees_its_slot() {
        let registry = Arc::new(ClientRegistry::default());
        let first = admit(&registry, 1, 2).unwrap();
        let second = admit(&registry, 2, 2).unwrap();
        assert!(
            admit(&registry, 3, 2).is_none(),
            "both were active just now"
        );
        assert_ne!(first.entry.id, second.entry.id);
        drop(first);
        assert_eq!(registry.len(), 1);
        assert!(admit(&registry, 3, 2).is_some());
    }

    #[test]
    fn at_the_limit_the_longest_idle_connection_makes_room() {
        let registry = Arc::new(ClientRegistry::default());
        let shutdown = CancellationToken::new();
        let long_ago = Instant::now() - EVICT_IDLE * 3;
        let admit_old = |port| {
            registry
                .admit_at(addr(port), addr(9), 2, &shutdown, long_ago)
                .unwrap()
                .registered
        };
        let (idle, busy) = (admit_old(1), admit_old(2));
        busy.entry.touch(Instant::now());
        let admitted = registry.admit(addr(3), addr(9), 2, &shutdown).unwrap();
        assert_eq!(admitted.evicted, Some(addr(1)), "the idle one made room");
        assert!(idle.entry.was_evicted() && idle.entry.closer.is_cancelled());
        assert!(!busy.entry.closer.is_cancelled());
        drop(idle);
        assert!(
            registry.admit(addr(4), addr(9), 2, &shutdown).is_none(),
            "no one left has been idle 10 s"
        );
        shutdown.cancel();
        assert!(
            admitted.registered.entry.closer.is_cancelled(),
            "shutdown reaches every connection"
        );
    }

    #[test]
    fn client_list_shows_name_protocol_and_user() {
        let registry = Arc::new(ClientRegistry::default());
        let conn = admit(&registry, 5000, 10).unwrap();
        let mut session = Session::new(conn.entry.clone(), true);
        conn.entry.set_name("worker-1");
        session.set_protocol(Protocol::Resp3);
        session.become_user(Identity {
            user: Arc::from("admin"),
            role: crate::auth::Role::Admin,
        });
        let list = registry.describe_all();
        assert!(
            list.starts_with("id=1 addr=127.0.0.1:5000 laddr=127.0.0.1:9 "),
            "{list}"
        );
        assert!(list.contains(" name=worker-1 "), "{list}");
        assert!(list.contains(" user=admin resp=3\n"), "{list}");
    }
}
