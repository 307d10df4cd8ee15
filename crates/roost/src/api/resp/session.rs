//! Who is connected: the registry of open RESP connections (for CLIENT LIST,
//! INFO's `connected_clients` and the connection limit) and each connection's own
//! session state (protocol, authentication, name).
//!
//! The registry's std `Mutex` is taken on connect, disconnect and CLIENT LIST
//! only, never per command and never across an `.await`. What CLIENT LIST shows of
//! a connection and changes while it runs (name, protocol, last activity) sits in
//! the connection's [`ClientEntry`] behind its own tiny lock or an atomic.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use roost_resp::Protocol;

/// One connection as CLIENT LIST and CLIENT INFO show it.
#[derive(Debug)]
pub struct ClientEntry {
    pub id: u64,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    connected: Instant,
    name: Mutex<String>,
    resp3: AtomicBool,
    admin: AtomicBool,
    /// Milliseconds after `connected` of the last command batch.
    last_active_ms: AtomicU64,
}

impl ClientEntry {
    pub fn name(&self) -> String {
        lock(&self.name).clone()
    }

    pub fn set_name(&self, name: &str) {
        *lock(&self.name) = name.to_owned();
    }

    /// Notes activity now; one relaxed store per batch of commands.
    pub fn touch(&self) {
        let ms = self.connected.elapsed().as_millis() as u64;
        self.last_active_ms.store(ms, Ordering::Relaxed);
    }

    /// The CLIENT LIST line of this connection (without the newline).
    pub fn describe(&self) -> String {
        let age = self.connected.elapsed();
        let active = self.last_active_ms.load(Ordering::Relaxed);
        let idle = (age.as_millis() as u64).saturating_sub(active) / 1000;
        let resp = if self.resp3.load(Ordering::Relaxed) {
            3
        } else {
            2
        };
        let user = if self.admin.load(Ordering::Relaxed) {
            "admin"
        } else {
            "default"
        };
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
    /// Registers a new connection unless `max` are already open.
    pub fn admit(
        self: &Arc<Self>,
        peer: SocketAddr,
        local: SocketAddr,
        max: usize,
    ) -> Option<Registered> {
        let mut clients = lock(&self.clients);
        if clients.len() >= max {
            return None;
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let entry = Arc::new(ClientEntry {
            id,
            peer,
            local,
            connected: Instant::now(),
            name: Mutex::new(String::new()),
            resp3: AtomicBool::new(false),
            admin: AtomicBool::new(false),
            last_active_ms: AtomicU64::new(0),
        });
        clients.insert(id, entry.clone());
        Some(Registered {
            registry: self.clone(),
            entry,
        })
    }

    pub fn len(&self) -> usize {
        lock(&self.clients).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// CLIENT LIST: one line per connection, oldest first.
    pub fn describe_all(&self) -> String {
        let clients: Vec<_> = lock(&self.clients).values().cloned().collect();
        let mut text = String::new();
        for client in clients {
            text.push_str(&client.describe());
            text.push('\n');
        }
        text
    }
}

/// A connection's place in the registry; leaving it (on drop) frees the slot.
#[derive(Debug)]
pub struct Registered {
    registry: Arc<ClientRegistry>,
    pub entry: Arc<ClientEntry>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        lock(&self.registry.clients).remove(&self.entry.id);
    }
}

/// The state of one connection that commands read and change. Cloned for
/// commands of a pipeline that run concurrently (they only read it).
#[derive(Debug, Clone)]
pub struct Session {
    pub client: Arc<ClientEntry>,
    pub protocol: Protocol,
    /// False until AUTH when a password is configured.
    pub authenticated: bool,
    /// May run admin commands (FLUSHALL, FLUSHDB).
    pub admin: bool,
    /// Set by QUIT: close once this batch's replies are written.
    pub closing: bool,
}

impl Session {
    pub fn new(client: Arc<ClientEntry>, password_required: bool, admin_open: bool) -> Session {
        client.admin.store(false, Ordering::Relaxed);
        Session {
            client,
            protocol: Protocol::Resp2,
            authenticated: !password_required,
            admin: admin_open,
            closing: false,
        }
    }

    pub fn set_protocol(&mut self, protocol: Protocol) {
        self.protocol = protocol;
        let resp3 = protocol == Protocol::Resp3;
        self.client.resp3.store(resp3, Ordering::Relaxed);
    }

    /// Authenticated as the admin user (`AUTH admin <token>`).
    pub fn become_admin(&mut self) {
        self.authenticated = true;
        self.admin = true;
        self.client.admin.store(true, Ordering::Relaxed);
    }
}

/// Locks a registry mutex; a panic elsewhere while holding it leaves plain data
/// that is still consistent, so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    #[test]
    fn admission_stops_at_the_limit_and_a_dropped_connection_frees_its_slot() {
        let registry = Arc::new(ClientRegistry::default());
        let first = registry.admit(addr(1), addr(9), 2).unwrap();
        let second = registry.admit(addr(2), addr(9), 2).unwrap();
        assert!(registry.admit(addr(3), addr(9), 2).is_none());
        assert_ne!(first.entry.id, second.entry.id);
        drop(first);
        assert_eq!(registry.len(), 1);
        assert!(registry.admit(addr(3), addr(9), 2).is_some());
    }

    #[test]
    fn client_list_shows_name_protocol_and_user() {
        let registry = Arc::new(ClientRegistry::default());
        let conn = registry.admit(addr(5000), addr(6380), 10).unwrap();
        let mut session = Session::new(conn.entry.clone(), false, false);
        conn.entry.set_name("worker-1");
        session.set_protocol(Protocol::Resp3);
        session.become_admin();
        let list = registry.describe_all();
        assert!(
            list.starts_with("id=1 addr=127.0.0.1:5000 laddr=127.0.0.1:6380 "),
            "{list}"
        );
        assert!(list.contains(" name=worker-1 "), "{list}");
        assert!(list.contains(" user=admin resp=3\n"), "{list}");
    }
}
