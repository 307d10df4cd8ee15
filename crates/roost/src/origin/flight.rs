//! Single-flight: at most one origin fetch per key in this gateway. The first
//! miss on a key starts a flight (and the fetch, as a task in the registry, so
//! a client that goes away cancels nothing); every miss on the same key while
//! it is in flight joins it and waits for its one outcome, value or error,
//! for at most a bound, so no waiter outlives the fetch's own deadlines. The
//! bound on origin requests in flight is a semaphore the fetch takes a slot
//! of just before it asks the origin ([`Flights::slot`]).
//!
//! A flight also orders a fill against client writes of its key: the fill is
//! stored under the flight's fill lock only if no write came first
//! ([`Flights::supersede`]), and a write that comes later wins anyway
//! (it overwrites the fill, or the fill finds the key present).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::{FutureExt, Shared};
use parking_lot::Mutex;
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use roost_store::UnixMillis;

use super::Loaded;
use crate::error::{CacheError, OriginFault};
use crate::telemetry::OriginReason;

/// What every waiter of a flight gets.
pub type Outcome = Result<Loaded, CacheError>;

#[derive(Debug)]
pub struct Flight {
    answer: Shared<oneshot::Receiver<Outcome>>,
    /// `true` once a client write of the key came before the fill.
    superseded: tokio::sync::Mutex<bool>,
    /// Why the fetch was started (a client's miss, or warming's).
    purpose: Purpose,
    /// Whether the fetch sent its request (not: another gateway filled the
    /// key, or it was present, or refused before sending).
    asked: AtomicBool,
    /// Whether a client's miss joined it (a prefetch its follow-up read
    /// caught up with was right, though the read still waited).
    joined: AtomicBool,
    /// Whether the origin failed (the answer may still be a stale copy).
    failed: AtomicBool,
}

/// Why a flight fetches: a client's miss, or warming ahead of demand. A
/// client miss that joins a warming flight waits for it like any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Miss,
    /// Refresh-ahead of a present hot key whose deadline was `seen` (unix
    /// ms): stored over it only if the deadline is still that one (no client
    /// write came since) — see `cache/ahead.rs`.
    Refresh {
        seen: UnixMillis,
    },
    /// A predicted next read, absent from the backend.
    Prefetch,
    /// A hot key absent from the backend (evicted, node restarted).
    Warmup,
}

impl Purpose {
    /// The `reason` label of `roost_origin_requests_total`.
    pub fn reason(self) -> OriginReason {
        match self {
            Purpose::Miss => OriginReason::Miss,
            Purpose::Refresh { .. } => OriginReason::Refresh,
            Purpose::Prefetch => OriginReason::Prefetch,
            Purpose::Warmup => OriginReason::Warmup,
        }
    }
}

/// What the miss that started a flight hands its fetch task.
#[derive(Debug)]
pub struct Start {
    pub flight: Arc<Flight>,
    pub answer: oneshot::Sender<Outcome>,
}

/// A flight to wait on, or the one just started.
#[derive(Debug)]
pub enum Joined {
    Waiting(Arc<Flight>),
    Started(Start),
}

/// The flights in progress, by key.
#[derive(Debug)]
pub struct Flights {
    map: Mutex<HashMap<Bytes, Arc<Flight>>>,
    capacity: Arc<Semaphore>,
    limit: usize,
}

impl Flights {
    pub fn new(limit: usize) -> Flights {
        Flights {
            map: Mutex::new(HashMap::new()),
            capacity: Arc::new(Semaphore::new(limit.clamp(1, Semaphore::MAX_PERMITS))),
            limit,
        }
    }

    /// Joins the flight of `key`, or starts one for `purpose` when there is none.
    pub fn join(&self, key: &[u8], purpose: Purpose) -> Joined {
        let mut map = self.map.lock();
        if let Some(flight) = map.get(key) {
            return Joined::Waiting(flight.clone());
        }
        let (answer, receiver) = oneshot::channel();
        let flight = Arc::new(Flight {
            answer: receiver.shared(),
            superseded: tokio::sync::Mutex::new(false),
            purpose,
            asked: AtomicBool::new(false),
            joined: AtomicBool::new(false),
            failed: AtomicBool::new(false),
        });
        map.insert(Bytes::copy_from_slice(key), flight.clone());
        Joined::Started(Start { flight, answer })
    }

    /// Whether `key` has a flight now (a peek: one may start right after).
    pub fn is_flying(&self, key: &[u8]) -> bool {
        self.map.lock().contains_key(key)
    }

    /// A slot of `ROOST_ORIGIN_MAX_CONCURRENCY`, taken just before a request
    /// to the origin and held until its answer (not while waiting on another
    /// gateway's lease); `OriginOverloaded` when none is free.
    pub fn slot(&self) -> Result<OwnedSemaphorePermit, CacheError> {
        self.capacity
            .clone()
            .try_acquire_owned()
            .map_err(|_| CacheError::OriginOverloaded { limit: self.limit })
    }

    /// Whether a background (warming) fetch may start: it leaves at least
    /// half of `ROOST_ORIGIN_MAX_CONCURRENCY` to client misses, so warming
    /// never makes a client's miss fail as overloaded.
    pub fn has_background_room(&self) -> bool {
        self.capacity.available_permits() > self.limit / 2
    }

    /// Forgets `flight` once its fill is done, so the next miss reads the
    /// backend (or starts a new flight). A newer flight of the key stays.
    pub fn finish(&self, key: &[u8], flight: &Arc<Flight>) {
        let mut map = self.map.lock();
        if map.get(key).is_some_and(|f| Arc::ptr_eq(f, flight)) {
            map.remove(key);
        }
    }

    /// A client write of `key` is about to happen: the flight in progress, if
    /// any, must not store what it fetched, and is forgotten at once — a miss
    /// after the write starts a new fetch instead of joining one that began
    /// before it (and would answer the value the write replaced). Its waiters
    /// still get its outcome. Waits for a fill already storing.
    pub async fn supersede(&self, key: &[u8]) {
        let flight = self.map.lock().remove(key);
        if let Some(flight) = flight {
            *flight.superseded.lock().await = true;
        }
    }

    /// [`Flights::supersede`] for every flight (a flush).
    pub async fn supersede_all(&self) {
        let flights: Vec<Arc<Flight>> = self.map.lock().drain().map(|(_, f)| f).collect();
        for flight in flights {
            *flight.superseded.lock().await = true;
        }
    }

    /// Flights in progress.
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Flight {
    pub fn purpose(&self) -> Purpose {
        self.purpose
    }

    /// The fetch is sending its request to the origin.
    pub fn mark_asked(&self) {
        self.asked.store(true, Ordering::Relaxed);
    }

    pub fn asked(&self) -> bool {
        self.asked.load(Ordering::Relaxed)
    }

    /// A client's miss is waiting for this fetch.
    pub fn mark_joined(&self) {
        self.joined.store(true, Ordering::Relaxed);
    }

    pub fn joined(&self) -> bool {
        self.joined.load(Ordering::Relaxed)
    }

    /// The origin failed this fetch (timeout, 5xx, refused, too large).
    pub fn mark_failed(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }

    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Relaxed)
    }

    /// The flight's outcome, or a timeout error after `bound`.
    pub async fn wait(&self, bound: Duration) -> Outcome {
        match tokio::time::timeout(bound, self.answer.clone()).await {
            Ok(Ok(outcome)) => outcome,
            // The fetch task ended without answering (shut down, or a bug
            // the registry logged).
            Ok(Err(_)) => Err(CacheError::OriginFailed {
                fault: OriginFault::Aborted,
                source: None,
            }),
            Err(_) => Err(CacheError::OriginFailed {
                fault: OriginFault::Timeout(bound),
                source: None,
            }),
        }
    }

    /// Runs `fill` unless a client write of the key came first; `None` when
    /// one did. Holds the fill lock meanwhile, so a write that comes now
    /// waits for the fill and then overwrites it.
    pub async fn fill_unless_superseded<T>(
        &self,
        fill: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let superseded = self.superseded.lock().await;
        if *superseded {
            return None;
        }
        Some(fill.await)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn started(joined: Joined) -> Start {
        match joined {
            Joined::Started(start) => start,
            Joined::Waiting(_) => panic!("joined a flight instead of starting one"),
        }
    }

    #[tokio::test]
    async fn a_miss_after_a_write_starts_a_new_flight() {
        let flights = Flights::new(4);
        let old = started(flights.join(b"k", Purpose::Miss));
        assert!(matches!(
            flights.join(b"k", Purpose::Miss),
            Joined::Waiting(_)
        ));
        flights.supersede(b"k").await;
        let new = started(flights.join(b"k", Purpose::Miss));
        assert_eq!(old.flight.fill_unless_superseded(async {}).await, None);
        assert_eq!(new.flight.fill_unless_superseded(async {}).await, Some(()));
        flights.finish(b"k", &old.flight);
        assert_eq!(flights.len(), 1, "the old flight's end leaves the new one");
        flights.supersede_all().await;
        assert!(flights.is_empty());
        assert_eq!(new.flight.fill_unless_superseded(async {}).await, None);
    }

    #[test]
    fn slots_bound_requests_not_flights() {
        let flights = Flights::new(1);
        let _a = started(flights.join(b"a", Purpose::Miss));
        let _b = started(flights.join(b"b", Purpose::Miss));
        let slot = flights.slot().unwrap();
        assert!(matches!(
            flights.slot(),
            Err(CacheError::OriginOverloaded { limit: 1 })
        ));
        drop(slot);
        assert!(flights.slot().is_ok());
    }
}
