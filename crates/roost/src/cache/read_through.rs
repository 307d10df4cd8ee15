//! Origin read-through on the Cache's read paths: a client's GET or MGET miss
//! (REST or RESP, any backend) is loaded from the origin, stored, and answered.
//!
//! - One fetch per key per gateway (single-flight, `origin/flight.rs`): the
//!   first miss starts a fetch task in the registry; later misses on the key
//!   wait for its outcome. A client that goes away cancels nothing.
//! - One fetch per key across gateways sharing Redis: the task first takes the
//!   key's lease (`SET <lease> <token> NX PX`, `backend/lease.rs`); a gateway
//!   that finds it held polls the key with backoff, up to
//!   `ROOST_ORIGIN_TIMEOUT`, and answers the filled value; when the lease
//!   goes without a value it asks for the lease again (one waiter fetches
//!   next), and fetches without one only when the wait ran out.
//! - The fill is a [`Change::Fill`] through [`Cache::apply`] with
//!   [`Origin::ReadThrough`]: stored only while the key is absent (and the
//!   lease, when there is one, still holds our token).
//! - Writes win: before a client write or delete of a key is applied, the
//!   key's flight in this gateway is superseded (its fill will not be stored)
//!   and the key's lease is deleted (no other gateway's fill is stored either);
//!   a fill that was stored before that is overwritten or deleted by the write.
//!   docs/warming.md has the full argument.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::future::join_all;
use futures_util::{stream, StreamExt};

use super::{Applied, Cache, CacheHit, Change, Expiry, Origin, Write};
use crate::backend::{LeaseGrant, LeaseHeld};
use crate::error::{CacheError, OriginFault};
use crate::origin::{
    failed, Answer, Flight, Freshness, Joined, Loaded, Purpose, ReadThrough, Start,
};
use crate::telemetry::FetchOutcome;

/// The first and longest pause between looks while another gateway fetches.
const FIRST_PAUSE: Duration = Duration::from_millis(5);
const LONGEST_PAUSE: Duration = Duration::from_millis(100);
/// Misses of one batch (an MGET slice, a pipeline's GETs) loaded at once.
const BATCH_LOADS: usize = 32;

/// What waiting for a key's lease came to.
enum Leased {
    /// Fetch, with the lease or (none for the key, or none to be had) without.
    Fetch(Option<LeaseHeld>),
    /// Another gateway's fetch filled the key.
    Filled(Loaded),
}

/// Removes a flight from the map when its task ends, answered or not (also
/// when the registry refused to start it at shutdown).
pub(super) struct FlightDone {
    pub(super) origin: Arc<ReadThrough>,
    pub(super) key: Bytes,
    pub(super) flight: Arc<Flight>,
}

impl Drop for FlightDone {
    fn drop(&mut self) {
        self.origin.flights().finish(&self.key, &self.flight);
    }
}

impl Cache {
    /// This cache loading client misses from `origin`.
    pub fn with_origin(mut self, origin: ReadThrough) -> Cache {
        self.origin = Some(Arc::new(origin));
        self
    }

    /// Whether misses are loaded from an origin.
    pub fn reads_through(&self) -> bool {
        self.origin.is_some()
    }

    /// A client's miss on `key`, loaded from the origin (or from a fetch
    /// already in flight, or answered by a remembered 404).
    pub(super) async fn load(
        &self,
        origin: &Arc<ReadThrough>,
        key: &[u8],
    ) -> Result<Loaded, CacheError> {
        let metrics = self.metrics.origin();
        if origin.negative().contains(key, self.backend.now_millis()) {
            metrics.negative_hits.inc();
            return Ok(Loaded::Missing);
        }
        let flight = match origin.flights().join(key, Purpose::Miss) {
            Joined::Waiting(flight) => {
                metrics.joins.inc();
                flight.mark_joined();
                flight
            }
            Joined::Started(start) => {
                let flight = start.flight.clone();
                self.start_fetch(origin, Bytes::copy_from_slice(key), start);
                flight
            }
        };
        flight.wait(origin.wait_bound()).await
    }

    /// [`Cache::load`] as the hit a GET answers.
    pub(super) async fn load_hit(
        &self,
        origin: &Arc<ReadThrough>,
        key: &[u8],
    ) -> Result<Option<CacheHit>, CacheError> {
        Ok(match self.load(origin, key).await? {
            Loaded::Value { value, ttl } => Some(CacheHit {
                value,
                ttl,
                node: self.owner(key),
                version: None,
            }),
            Loaded::Missing => None,
        })
    }

    /// Loads every `Ok(None)` answer of a batch (the keys in the same order),
    /// each key's own flight, [`BATCH_LOADS`] at a time: a batch with more
    /// misses than `ROOST_ORIGIN_MAX_CONCURRENCY` would otherwise take every
    /// origin slot at once and fail its own later keys as overloaded.
    pub(super) async fn load_misses<T>(
        &self,
        origin: &Arc<ReadThrough>,
        keys: &[&[u8]],
        answers: &mut [Result<Option<T>, CacheError>],
        answer: impl Fn(&[u8], Loaded) -> Option<T>,
    ) {
        let misses: Vec<usize> = (0..answers.len())
            .filter(|&i| matches!(answers[i], Ok(None)))
            .collect();
        if misses.is_empty() {
            return;
        }
        let loads = misses
            .into_iter()
            .map(|i| async move { (i, self.load(origin, keys[i]).await) });
        let mut loaded = stream::iter(loads).buffer_unordered(BATCH_LOADS);
        while let Some((i, outcome)) = loaded.next().await {
            answers[i] = outcome.map(|l| answer(keys[i], l));
        }
    }

    /// Runs the fetch of `key` as a task: it ends within the origin's
    /// deadlines whatever happens to the requests waiting for it.
    fn start_fetch(&self, origin: &Arc<ReadThrough>, key: Bytes, start: Start) {
        let Start { flight, answer } = start;
        let done = FlightDone {
            origin: origin.clone(),
            key,
            flight,
        };
        let cache = self.clone();
        origin.tasks().spawn("origin-fetch", move |stop| async move {
            let outcome = tokio::select! {
                outcome = cache.fetch_and_fill(&done.origin, &done.key, &done.flight) => outcome,
                () = stop.cancelled() => Err(failed(OriginFault::Aborted, None)),
            };
            // Answered before the flight is forgotten: a miss that comes in
            // between joins it and gets this outcome at once.
            let _ = answer.send(outcome);
            drop(done);
            Ok(())
        });
    }

    /// The fetch task: the lease (where the backend has leases), a look at
    /// the backend (a fill may have landed since the miss), the fetch, the fill.
    pub(super) async fn fetch_and_fill(
        &self,
        origin: &ReadThrough,
        key: &Bytes,
        flight: &Flight,
    ) -> Result<Loaded, CacheError> {
        let held = match self.take_lease(origin, key).await {
            Leased::Fetch(held) => held,
            Leased::Filled(loaded) => return Ok(loaded),
        };
        // Not a client lookup (the miss was counted, in the near cache too):
        // no read hook, no near lookup. A refresh knows the key is present.
        let refresh = matches!(flight.purpose(), Purpose::Refresh { .. });
        if !refresh {
            if let Ok(Some(stored)) = self.backend.get_past_near(key).await {
                self.release(key, held.as_ref()).await;
                let ttl = self.ttl_of(stored.expires_at);
                return Ok(Loaded::Value {
                    value: stored.value,
                    ttl,
                });
            }
        }
        self.fetch(origin, key, flight, held).await
    }

    /// `key`'s lease, or the value another gateway filled while it held the
    /// lease. A lease that disappears without a value (its holder
    /// got a 404, `no-store` or a failure, or a client write removed it) is
    /// asked for again, so one gateway fetches next, not all the waiters;
    /// `Fetch(None)`, to fetch without a lease, only when there is no lease for
    /// the key, asking failed, or `ROOST_ORIGIN_TIMEOUT` passed waiting.
    async fn take_lease(&self, origin: &ReadThrough, key: &[u8]) -> Leased {
        let timeout = origin.settings().timeout;
        let lease_ms = (timeout * 2).as_millis() as u64;
        let deadline = Instant::now() + timeout;
        let mut waited = false;
        loop {
            let token = origin.lease_token();
            match self.backend.lease_acquire(key, token, lease_ms).await {
                Ok(LeaseGrant::Held(held)) => return Leased::Fetch(Some(held)),
                Ok(LeaseGrant::None) => return Leased::Fetch(None),
                Err(err) => {
                    tracing::debug!(error = %err.chain(), "taking an origin lease failed; fetching without");
                    return Leased::Fetch(None);
                }
                Ok(LeaseGrant::Busy(lease)) => {
                    if !waited {
                        waited = true;
                        self.metrics.origin().lease_waits.inc();
                    }
                    if let Some(loaded) = self.wait_for_lease(key, &lease, deadline).await {
                        return Leased::Filled(loaded);
                    }
                    if Instant::now() + FIRST_PAUSE >= deadline {
                        return Leased::Fetch(None);
                    }
                }
            }
        }
    }

    /// While another gateway holds `key`'s lease: its filled value, or `None`
    /// when the lease went without a value or `deadline` passed.
    async fn wait_for_lease(&self, key: &[u8], lease: &[u8], deadline: Instant) -> Option<Loaded> {
        let mut pause = FIRST_PAUSE;
        while Instant::now() + pause < deadline {
            tokio::time::sleep(pause).await;
            match self.backend.lease_wait_step(key, lease).await {
                Ok((Some(stored), _)) => {
                    let ttl = self.ttl_of(stored.expires_at);
                    return Some(Loaded::Value {
                        value: stored.value,
                        ttl,
                    });
                }
                Ok((None, true)) => pause = (pause * 2).min(LONGEST_PAUSE),
                Ok((None, false)) | Err(_) => return None,
            }
        }
        None
    }

    /// One origin fetch and what follows from its answer.
    async fn fetch(
        &self,
        origin: &ReadThrough,
        key: &Bytes,
        flight: &Flight,
        held: Option<LeaseHeld>,
    ) -> Result<Loaded, CacheError> {
        let metrics = self.metrics.origin();
        let slot = match origin.flights().slot() {
            Ok(slot) => slot,
            Err(err) => {
                metrics.fetched(FetchOutcome::Overloaded);
                self.release(key, held.as_ref()).await;
                return Err(err);
            }
        };
        metrics.in_flight.inc();
        flight.mark_asked();
        // In a region: the fill is stored at this version, so a change
        // applied after it (another region's write or delete) wins over what
        // the origin answers from here on.
        let since = self.backend.stamp();
        let asked = Instant::now();
        let answer = origin.client().fetch(key).await;
        metrics.requested(flight.purpose().reason(), asked.elapsed());
        metrics.in_flight.dec();
        drop(slot);
        let now = self.backend.now_millis();
        match answer {
            Ok(Answer::Value { body, freshness }) => {
                metrics.fetched(FetchOutcome::Value);
                let fetched = Fetched {
                    body: &body,
                    freshness,
                    since,
                };
                let ttl = self.fill(origin, key, fetched, flight, held).await;
                Ok(Loaded::Value { value: body, ttl })
            }
            Ok(Answer::NotFound) => {
                metrics.fetched(FetchOutcome::NotFound);
                self.release(key, held.as_ref()).await;
                // Under the fill lock, like a fill: a write that superseded
                // this flight has forgotten the key's 404 already, and a 404
                // fetched before the write must not come back after it.
                flight
                    .fill_unless_superseded(async { origin.negative().remember(key, now) })
                    .await;
                Ok(Loaded::Missing)
            }
            Err(err) => {
                flight.mark_failed();
                self.release(key, held.as_ref()).await;
                match origin.stale().recall(key, now) {
                    Some(value) => {
                        metrics.fetched(FetchOutcome::Stale);
                        tracing::warn!(error = %err.chain(), "origin failed; answered a stale copy");
                        Ok(Loaded::Value {
                            value,
                            ttl: Some(Duration::ZERO),
                        })
                    }
                    None => {
                        metrics.fetched(FetchOutcome::Failed);
                        Err(err)
                    }
                }
            }
        }
    }

    /// Stores what the origin answered, unless it says `no-store` or a client
    /// write of the key came first; returns the TTL it was stored with
    /// (`Some(0)`: not stored — see [`Loaded::Value`]).
    async fn fill(
        &self,
        origin: &ReadThrough,
        key: &Bytes,
        fetched: Fetched<'_>,
        flight: &Flight,
        held: Option<LeaseHeld>,
    ) -> Option<Duration> {
        let Fetched {
            body,
            freshness,
            since,
        } = fetched;
        let (expiry, ttl) = match freshness {
            Freshness::NoStore => {
                self.release(key, held.as_ref()).await;
                return Some(Duration::ZERO);
            }
            Freshness::For(ttl) => (Expiry::After(ttl), Some(ttl)),
            Freshness::Default => (Expiry::Default, self.default_ttl),
        };
        let purpose = flight.purpose();
        // A refresh replaces the present value only where nothing but this
        // gateway can write between its deadline check and its store: the
        // embedded store (client writes take the fill lock), or a Redis key
        // whose lease we hold (any gateway's client write deletes it first).
        // Without the lease on Redis (a cluster key without a hash tag, a
        // lease error or timeout) it stores only into an absent key, like a
        // miss's fill: another gateway's write is never overwritten.
        let replace = matches!(purpose, Purpose::Refresh { .. })
            && (held.is_some() || !self.backend.is_remote());
        let write = Write {
            change: Change::Fill {
                key: key.clone(),
                value: body.clone(),
                expiry,
                lease: held.clone(),
                replace,
                since,
            },
            origin: match purpose {
                Purpose::Miss => Origin::ReadThrough,
                _ => Origin::Warming,
            },
        };
        let now = self.backend.now_millis();
        let store = async {
            if let Purpose::Refresh { seen } = purpose {
                // Under the fill lock: a client write since the refresh was
                // planned moved the deadline; the refresh must not undo it.
                if self.deadline_moved(key, seen).await {
                    // The fill script would have removed our lease; a lease
                    // left behind would make the key's next miss wait on it.
                    self.release(key, held.as_ref()).await;
                    return Ok(Applied::Done(false));
                }
            }
            self.apply(write).await
        };
        match flight.fill_unless_superseded(store).await {
            // A stale copy only of a value the backend holds: one the fill
            // did not store (the key was present, or the lease was lost to a
            // write) was never this key's value here.
            Some(Ok(Applied::Done(true))) => {
                let expires_at = ttl.map(|ttl| now + ttl.as_millis() as u64);
                origin.stale().remember(key, body, expires_at, now);
                ttl
            }
            Some(Ok(_)) => Some(Duration::ZERO),
            Some(Err(err)) => {
                tracing::warn!(error = %err.chain(), "storing a value loaded from the origin failed");
                self.release(key, held.as_ref()).await;
                Some(Duration::ZERO)
            }
            None => {
                self.release(key, held.as_ref()).await;
                Some(Duration::ZERO)
            }
        }
    }

    /// Gives up a lease that will store nothing, so waiting gateways stop waiting.
    async fn release(&self, key: &[u8], held: Option<&LeaseHeld>) {
        if let Some(held) = held {
            if let Err(err) = self.backend.lease_release(key, held).await {
                tracing::debug!(error = %err.chain(), "releasing an origin lease failed; it expires");
            }
        }
    }

    /// Before a client write is applied (origin on): supersede the flights of
    /// the keys it replaces, forget their 404s and stale copies, delete their
    /// leases — so no fill that started before the write lands after it.
    pub(super) async fn before_client_write(&self, change: &Change) {
        let Some(origin) = &self.origin else {
            return;
        };
        let Some(keys) = change.replaced_keys() else {
            origin.flights().supersede_all().await;
            origin.negative().clear();
            origin.stale().clear();
            return;
        };
        for key in &keys {
            origin.flights().supersede(key).await;
            origin.negative().forget(key);
            origin.stale().forget(key);
        }
        let drops = keys.iter().map(|key| self.backend.lease_drop(key));
        for dropped in join_all(drops).await {
            if let Err(err) = dropped {
                tracing::debug!(error = %err.chain(), "deleting an origin lease before a write failed");
            }
        }
    }
}

/// What the origin answered for a fill, and the version the miss took
/// before asking (`None` outside a region).
struct Fetched<'a> {
    body: &'a Bytes,
    freshness: Freshness,
    since: Option<roost_store::Version>,
}
