//! One tracked connection: a dedicated RESP3 connection to one Redis node (a
//! fleet node, or one master of a Redis Cluster) with `CLIENT TRACKING ON` in
//! default mode. The server remembers every key read on it and pushes
//! `invalidate` when any client changes one (a null `invalidate` on a flush).
//! Near-cache fills read through this connection, so Redis tracks exactly the
//! keys this gateway may hold.
//!
//! Owns the connection's life (connect, enable tracking, PING it, notice its
//! loss, reconnect with backoff) and the invalidation record a fill is checked
//! against. The push handler runs synchronously in redis-rs's connection
//! driver, in wire order: an invalidation is applied (under `state`'s lock)
//! before any reply read after it reaches its caller.
//!
//! **Invariant:** `live` is the epoch of a connection whose tracking is on, or
//! 0. An entry is served only while `live` still equals the epoch it was
//! filled under, so the moment tracking is lost nothing of this node is served,
//! before the entries are even dropped.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, ConnectionInfo, PushInfo, PushKind, Value};
use roost_store::UnixMillis;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::NearStore;
use crate::backend::fleet::topology::FleetNode;
use crate::backend::redis_link::NodeAddress;
use crate::backend::Stored;
use crate::telemetry::NearInvalidation;

/// Invalidations remembered by key hash: a fill that started more than this
/// many invalidations ago on the same node is dropped whatever its key.
const RECENT: usize = 64;

/// What a fill captured before its read: the connection's epoch and the
/// node's invalidation count. The fill is stored only if neither moved for its
/// key (see [`Tracker::insert_if_current`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FillToken {
    epoch: u64,
    seq: u64,
}

/// How a tracked connection is kept.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TrackerTiming {
    /// Bound on connecting, enabling tracking, each PING and each fill read.
    pub timeout: Duration,
    /// How often the connection is PINGed (a silent loss shows within it).
    pub ping_every: Duration,
}

pub(crate) struct Tracker {
    /// `host:port`, for logs.
    pub(crate) name: String,
    info: ConnectionInfo,
    /// The fleet node it tracks; its entries are not served while the node
    /// is ejected. `None` for a cluster master.
    pub(crate) node: Option<Arc<FleetNode>>,
    store: Weak<NearStore>,
    live: AtomicU64,
    state: Mutex<TrackState>,
    /// Wakes the keeper when the connection is lost.
    lost: Notify,
    /// Cancelled when the tracker leaves (a topology change).
    retired: CancellationToken,
    timing: TrackerTiming,
}

struct TrackState {
    /// The connection being made or in use; bumped for each attempt.
    epoch: u64,
    /// The connection of `epoch` was lost (possibly before it was live).
    dead: bool,
    connection: Option<MultiplexedConnection>,
    /// Invalidations applied so far.
    seq: u64,
    /// Key hash of invalidation `s` at `recent[s % RECENT]`.
    recent: [u64; RECENT],
    /// The last invalidation of everything (flush, loss) was number `everything_at`.
    everything_at: u64,
}

impl Default for TrackState {
    fn default() -> Self {
        TrackState {
            epoch: 0,
            dead: false,
            connection: None,
            seq: 0,
            recent: [0; RECENT],
            everything_at: 0,
        }
    }
}

impl Tracker {
    pub(crate) fn new(
        address: &NodeAddress,
        node: Option<Arc<FleetNode>>,
        store: Weak<NearStore>,
        timing: TrackerTiming,
    ) -> Tracker {
        Tracker {
            name: address.host_port(),
            info: address.resp3_connection_info(),
            node,
            store,
            live: AtomicU64::new(0),
            state: Mutex::new(TrackState::default()),
            lost: Notify::new(),
            retired: CancellationToken::new(),
            timing,
        }
    }

    /// Whether an entry filled under `epoch` may be served now.
    pub(crate) fn serves(&self, epoch: u64) -> bool {
        epoch != 0
            && self.live.load(Ordering::Acquire) == epoch
            && self.node.as_ref().is_none_or(|n| n.health.is_up())
    }

    /// Ends the keeper and drops what this node's tracking vouched for.
    pub(crate) fn retire(&self) {
        self.retired.cancel();
    }

    /// The tracked connection and the token a fill checks against, while
    /// tracking is on.
    pub(crate) fn begin_fill(&self) -> Option<(MultiplexedConnection, FillToken)> {
        let state = self.state.lock();
        let epoch = self.live.load(Ordering::Acquire);
        if epoch == 0 || state.dead || state.epoch != epoch {
            return None;
        }
        let connection = state.connection.clone()?;
        Some((
            connection,
            FillToken {
                epoch,
                seq: state.seq,
            },
        ))
    }

    /// GET and PTTL of `key` through the tracked connection, so Redis tracks
    /// it. A broken or timed-out connection counts as lost tracking.
    pub(crate) async fn read(
        &self,
        mut connection: MultiplexedConnection,
        token: FillToken,
        key: &[u8],
        now: UnixMillis,
    ) -> Result<Option<Stored>, redis::RedisError> {
        let mut pipeline = redis::pipe();
        pipeline.cmd("GET").arg(key).cmd("PTTL").arg(key);
        let answer = tokio::time::timeout(
            self.timing.timeout,
            pipeline.query_async::<(Option<Vec<u8>>, i64)>(&mut connection),
        )
        .await;
        match answer {
            Ok(Ok((value, pttl))) => Ok(value.filter(|_| pttl != -2).map(|value| {
                let expires_at = (pttl >= 0).then(|| now + pttl as u64);
                Stored::new(Bytes::from(value), expires_at)
            })),
            Ok(Err(err)) => {
                if err.is_io_error() || err.is_connection_dropped() || err.is_unrecoverable_error()
                {
                    self.lose(token.epoch, "a fill read broke the connection");
                }
                Err(err)
            }
            Err(_) => {
                self.lose(token.epoch, "a fill read timed out");
                Err(redis::RedisError::from(std::io::Error::from(
                    std::io::ErrorKind::TimedOut,
                )))
            }
        }
    }

    /// Runs `insert` with the connection's epoch (under the lock every invalidation of this node takes)
    /// only if nothing invalidated `key` — or everything — since `token` was
    /// taken, and the connection it was read on still tracks. `false` when
    /// the fill was dropped.
    pub(crate) fn insert_if_current(
        &self,
        token: FillToken,
        key: &[u8],
        insert: impl FnOnce(u64),
    ) -> bool {
        let state = self.state.lock();
        let hash = key_hash(key);
        let current = state.epoch == token.epoch
            && !state.dead
            && self.live.load(Ordering::Acquire) == token.epoch
            && state.everything_at <= token.seq
            && state.seq - token.seq <= RECENT as u64
            && !(token.seq + 1..=state.seq).any(|s| state.recent[s as usize % RECENT] == hash);
        if current {
            insert(token.epoch);
        }
        current
    }

    /// Records an invalidation of `key` and runs `drop` under the same lock
    /// (removing the entry), so a fill racing it is refused or removed.
    pub(crate) fn invalidate_key<T>(&self, key: &[u8], drop: impl FnOnce() -> T) -> T {
        let mut state = self.state.lock();
        state.seq += 1;
        let slot = state.seq as usize % RECENT;
        state.recent[slot] = key_hash(key);
        drop()
    }

    /// Records an invalidation of everything this node vouched for; the
    /// caller then drops its entries.
    pub(crate) fn invalidate_all(&self) {
        let mut state = self.state.lock();
        state.seq += 1;
        state.everything_at = state.seq;
    }

    /// Tracking on the connection of `epoch` is gone: nothing of this node is
    /// served from now on, its entries are dropped, the keeper reconnects.
    pub(crate) fn lose(&self, epoch: u64, why: &str) {
        let was_live = {
            let mut state = self.state.lock();
            if state.epoch != epoch || state.dead {
                return;
            }
            state.dead = true;
            state.connection = None;
            state.seq += 1;
            state.everything_at = state.seq;
            self.live
                .compare_exchange(epoch, 0, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        };
        if let Some(store) = self.store.upgrade() {
            if was_live {
                store.metrics.tracking_down();
                tracing::warn!(node = %self.name, reason = why,
                    "near cache: tracking lost; this node's keys are not served from the near cache until it is back");
            }
            store.drop_tracked_by(self, NearInvalidation::TrackingLost);
        }
        self.lost.notify_one();
    }

    /// Keeps the tracked connection up until `stop` (shutdown) or retirement:
    /// connect, enable tracking, PING every `ping_every`; after a loss, try
    /// again with backoff (doubling up to 10x `ping_every`).
    pub(crate) async fn keep(self: Arc<Self>, stop: CancellationToken) {
        let base = self.timing.ping_every;
        let mut backoff = base;
        loop {
            if stop.is_cancelled() || self.retired.is_cancelled() {
                break;
            }
            match self.connect().await {
                Ok(epoch) => {
                    backoff = base;
                    self.watch(epoch, &stop).await;
                }
                Err(reason) => {
                    tracing::debug!(node = %self.name, reason, "near cache: tracking connection failed");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = self.retired.cancelled() => break,
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(base * 10);
                }
            }
        }
        let epoch = self.state.lock().epoch;
        self.lose(epoch, "the tracker stopped");
    }

    /// One connection: made, tracking on, then live. Returns its epoch.
    async fn connect(self: &Arc<Self>) -> Result<u64, String> {
        let epoch = {
            let mut state = self.state.lock();
            state.epoch += 1;
            state.dead = false;
            state.connection = None;
            state.epoch
        };
        let weak = Arc::downgrade(self);
        let sender = move |push: PushInfo| -> Result<(), std::convert::Infallible> {
            if let Some(tracker) = weak.upgrade() {
                tracker.on_push(epoch, push);
            }
            Ok(())
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timing.timeout))
            .set_response_timeout(None)
            .set_push_sender(sender);
        let client = Client::open(self.info.clone()).map_err(|e| e.to_string())?;
        let timeout = self.timing.timeout;
        let setup = async {
            let mut connection = client
                .get_multiplexed_async_connection_with_config(&config)
                .await?;
            redis::cmd("CLIENT")
                .arg("TRACKING")
                .arg("ON")
                .query_async::<()>(&mut connection)
                .await?;
            Ok::<_, redis::RedisError>(connection)
        };
        let connection = tokio::time::timeout(timeout, setup)
            .await
            .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
            .map_err(|e| e.to_string())?;
        let mut state = self.state.lock();
        if state.epoch != epoch || state.dead {
            return Err("lost while enabling tracking".into());
        }
        state.connection = Some(connection);
        self.live.store(epoch, Ordering::Release);
        drop(state);
        if let Some(store) = self.store.upgrade() {
            store.metrics.tracking_up();
        }
        tracing::info!(node = %self.name, "near cache: tracking on");
        Ok(epoch)
    }

    /// Waits for the connection of `epoch` to be lost, PINGing it meanwhile.
    async fn watch(&self, epoch: u64, stop: &CancellationToken) {
        let mut tick = tokio::time::interval(self.timing.ping_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = self.retired.cancelled() => return,
                _ = self.lost.notified() => {}
                _ = tick.tick() => {}
            }
            let connection = {
                let state = self.state.lock();
                if state.epoch != epoch || state.dead {
                    return;
                }
                state.connection.clone()
            };
            let Some(mut connection) = connection else {
                return;
            };
            let ping = redis::cmd("PING");
            let pinged = ping.query_async::<()>(&mut connection);
            match tokio::time::timeout(self.timing.timeout, pinged).await {
                Ok(Ok(())) => {}
                Ok(Err(err)) => return self.lose(epoch, &format!("PING failed: {err}")),
                Err(_) => return self.lose(epoch, "PING timed out"),
            }
        }
    }

    /// A push on the connection of `epoch`, in wire order.
    fn on_push(&self, epoch: u64, push: PushInfo) {
        match push.kind {
            PushKind::Invalidate => {
                let Some(store) = self.store.upgrade() else {
                    return;
                };
                match push.data.first() {
                    Some(Value::Array(keys)) => {
                        for key in keys {
                            if let Value::BulkString(key) = key {
                                store.drop_key(self, key, NearInvalidation::RemoteWrite);
                            }
                        }
                    }
                    // A null invalidation: the node was flushed (or its
                    // tracking table reset); everything it vouched for goes.
                    _ => {
                        self.invalidate_all();
                        store.drop_tracked_by(self, NearInvalidation::RemoteWrite);
                    }
                }
            }
            PushKind::Disconnection => self.lose(epoch, "the connection closed"),
            _ => {}
        }
    }
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("node", &self.name)
            .field("live", &self.live.load(Ordering::Relaxed))
            .finish()
    }
}

/// A hash of `key` for the invalidation record (a collision only drops a fill).
fn key_hash(key: &[u8]) -> u64 {
    let mut hasher =
        std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default().build_hasher();
    hasher.write(key);
    hasher.finish()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// A tracker whose connection `epoch` is live, without a connection: the
    /// fill check is all in the lock, so the races are built step by step.
    fn live_tracker() -> (Tracker, FillToken) {
        let address = NodeAddress::parse("redis://127.0.0.1:1").unwrap();
        let timing = TrackerTiming {
            timeout: Duration::from_millis(100),
            ping_every: Duration::from_millis(100),
        };
        let tracker = Tracker::new(&address, None, Weak::new(), timing);
        let token = {
            let mut state = tracker.state.lock();
            state.epoch = 7;
            tracker.live.store(7, Ordering::Release);
            FillToken {
                epoch: 7,
                seq: state.seq,
            }
        };
        (tracker, token)
    }

    fn kept(tracker: &Tracker, token: FillToken, key: &[u8]) -> bool {
        let mut inserted = false;
        let current = tracker.insert_if_current(token, key, |_| inserted = true);
        assert_eq!(current, inserted);
        current
    }

    #[test]
    fn an_invalidation_between_the_read_and_the_insert_wins() {
        let (tracker, token) = live_tracker();
        // The fill's read went out with `token`; a write's push arrives before
        // its answer is inserted.
        tracker.invalidate_key(b"k", || ());
        assert!(!kept(&tracker, token, b"k"), "the stale fill was kept");
        // Another key's invalidation does not drop this fill.
        let (tracker, token) = live_tracker();
        tracker.invalidate_key(b"other", || ());
        assert!(kept(&tracker, token, b"k"));
        assert!(tracker.serves(7));
    }

    #[test]
    fn too_many_invalidations_a_flush_or_a_loss_drop_any_fill() {
        let (tracker, token) = live_tracker();
        for i in 0..=RECENT {
            tracker.invalidate_key(format!("o{i}").as_bytes(), || ());
        }
        assert!(
            !kept(&tracker, token, b"k"),
            "past the record, unknown keys"
        );

        let (tracker, token) = live_tracker();
        tracker.invalidate_all();
        assert!(!kept(&tracker, token, b"k"), "a flush");

        let (tracker, token) = live_tracker();
        tracker.lose(7, "test");
        assert!(!tracker.serves(7), "served after the loss");
        assert!(!kept(&tracker, token, b"k"), "a loss");
        assert!(
            tracker.begin_fill().is_none(),
            "fills while tracking is down"
        );
    }

    #[test]
    fn a_fill_read_on_an_old_connection_is_refused_on_the_new_one() {
        let (tracker, token) = live_tracker();
        tracker.lose(7, "test");
        {
            let mut state = tracker.state.lock();
            state.epoch = 8;
            state.dead = false;
            tracker.live.store(8, Ordering::Release);
        }
        assert!(!kept(&tracker, token, b"k"));
        assert!(!tracker.serves(7) && tracker.serves(8));
    }
}
