//! The near cache: hot keys of a Redis fleet or Redis Cluster kept in the
//! gateway's memory and served without the round trip, under a hard byte
//! budget, kept coherent by Redis's server-assisted client caching.
//!
//! - Storage: `quick_cache` (S3-FIFO, sharded, a weigher) — the same crate
//!   the embedded store's default policy runs on; it removes by key, retains
//!   by predicate (dropping one node's entries) and never holds more weight
//!   than its capacity. Each entry weighs its key and value as allocated plus
//!   [`ENTRY_OVERHEAD`]; an entry over 1/64 of the budget is not kept.
//! - Admission: only keys the hot-key tracker calls hot are filled.
//! - Coherence: fills read through the key's node's tracked connection
//!   (`near/tracker.rs`), so Redis pushes an invalidation when anyone changes
//!   the key. A fill is stored only if no invalidation of its key (or of
//!   everything) arrived between taking its token and inserting, checked
//!   under the lock the push handler takes; writes through this gateway drop
//!   their keys as soon as the node acknowledged them.
//! - An entry is served only while the tracking connection it was filled
//!   through is still the live one (and, on a fleet, its node is up);
//!   losing tracking drops the node's entries. A topology change (nodes
//!   added, drained or removed; a cluster's slots moving) drops everything.
//!
//! Which tracker answers for a key is `trackers`: the fleet's nodes, or a
//! cluster's masters by slot (`near/slots.rs`, refreshed by a task).

mod slots;
mod tracker;

use std::sync::Arc;

use arc_swap::ArcSwap;
use bytes::Bytes;
use quick_cache::sync::Cache as QuickCache;
use quick_cache::{OptionsBuilder, Weighter};
use roost_store::UnixMillis;

pub(crate) use slots::{refresh_slots_forever, SlotMap};
pub(crate) use tracker::{Tracker, TrackerTiming};

use super::topology::{FleetNode, Topology};
use crate::backend::redis_link::NodeAddress;
use crate::backend::Stored;
use crate::hot::HotSet;
use crate::tasks::Tasks;
use crate::telemetry::{NearInvalidation, NearMetrics};

/// Bytes charged per entry beyond its key and value: quick_cache's slot
/// (key and value handles, links, state; ~110 bytes), its hash-table index,
/// the two `Bytes` handles' shared headers, and the entry's tracker handle.
pub const ENTRY_OVERHEAD: u64 = 192;
/// An entry heavier than budget / this is not admitted.
const MAX_ENTRY_SHARE: u64 = 64;
/// quick_cache shards (each holds budget / SHARDS).
const SHARDS: usize = 8;

/// Which keys may enter: the hot-key tracker's answer.
pub type Admission = Arc<dyn HotSet>;

/// One held key: the value, the deadline it has on its node, and the
/// tracking connection (and its epoch) that vouches for it.
#[derive(Clone)]
pub(crate) struct NearEntry {
    value: Bytes,
    expires_at: Option<UnixMillis>,
    tracker: Arc<Tracker>,
    epoch: u64,
}

/// Weighs an entry as allocated: key, value, overhead.
#[derive(Clone, Copy)]
struct Weigh;

impl Weighter<Bytes, NearEntry> for Weigh {
    fn weight(&self, key: &Bytes, entry: &NearEntry) -> u64 {
        weight(key.len(), entry.value.len())
    }
}

/// The bytes an entry is charged: key and value rounded up to the
/// allocator's size class (jemalloc: four classes per doubling), plus the
/// per-entry overhead.
pub fn weight(key_len: usize, value_len: usize) -> u64 {
    allocated(key_len) + allocated(value_len) + ENTRY_OVERHEAD
}

fn allocated(len: usize) -> u64 {
    let len = len as u64;
    if len <= 16 {
        return 16;
    }
    let step = (1u64 << (63 - (len - 1).leading_zeros()).saturating_sub(2)).max(16);
    len.div_ceil(step) * step
}

/// The entries and the metrics about them; trackers hold it weakly to drop
/// what they vouched for.
pub(crate) struct NearStore {
    map: QuickCache<Bytes, NearEntry, Weigh>,
    capacity: u64,
    pub(crate) metrics: NearMetrics,
}

impl NearStore {
    fn new(capacity: u64, metrics: NearMetrics) -> NearStore {
        let options = OptionsBuilder::new()
            .shards(SHARDS)
            .weight_capacity(capacity)
            .estimated_items_capacity((capacity / 4096).max(64) as usize)
            .build()
            .expect("invariant: a positive capacity and shard count are valid options");
        let map = QuickCache::with_options(options, Weigh, Default::default(), Default::default());
        metrics.set_capacity(capacity);
        NearStore {
            map,
            capacity,
            metrics,
        }
    }

    /// Drops `key` (recording the invalidation on `tracker`) and counts it
    /// under `cause` if it was held.
    pub(crate) fn drop_key(&self, tracker: &Tracker, key: &[u8], cause: NearInvalidation) {
        if tracker.invalidate_key(key, || self.map.remove(key).is_some()) {
            self.metrics.invalidated(cause, 1);
            self.publish();
        }
    }

    /// Drops every entry `tracker` vouched for.
    pub(crate) fn drop_tracked_by(&self, tracker: &Tracker, cause: NearInvalidation) {
        let dropped = std::sync::atomic::AtomicU64::new(0);
        self.map.retain(|_, entry| {
            let keep = !std::ptr::eq(Arc::as_ptr(&entry.tracker), tracker);
            if !keep {
                dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            keep
        });
        self.metrics.invalidated(cause, dropped.into_inner());
        self.publish();
    }

    fn drop_everything(&self, cause: NearInvalidation) {
        let held = self.map.len() as u64;
        self.map.clear();
        self.metrics.invalidated(cause, held);
        self.publish();
    }

    /// Sets the size gauges (after a change, never on a hit).
    fn publish(&self) {
        self.metrics.held(self.map.weight(), self.map.len());
    }
}

/// The near cache of one fleet.
pub(crate) struct NearCache {
    store: Arc<NearStore>,
    trackers: ArcSwap<TrackerMap>,
    admission: Admission,
    timing: TrackerTiming,
    tasks: Tasks,
    /// An entry heavier than this is not admitted.
    max_entry: u64,
    /// Wakes the cluster's slot refresher (a fill met a redirect).
    pub(crate) reslot: tokio::sync::Notify,
}

/// Which tracker answers for a key.
#[derive(Default)]
pub(crate) struct TrackerMap {
    pub(crate) trackers: Vec<Arc<Tracker>>,
    /// A cluster's slots, each naming its master's index in `trackers`.
    pub(crate) slots: Option<SlotMap>,
}

impl NearCache {
    pub(crate) fn new(
        capacity: u64,
        admission: Admission,
        metrics: NearMetrics,
        timing: TrackerTiming,
        tasks: Tasks,
    ) -> NearCache {
        NearCache {
            store: Arc::new(NearStore::new(capacity, metrics)),
            trackers: ArcSwap::from_pointee(TrackerMap::default()),
            admission,
            timing,
            tasks,
            max_entry: capacity / MAX_ENTRY_SHARE,
            reslot: tokio::sync::Notify::new(),
        }
    }

    /// The entry for `key` if it may be served now, counting a hit or a miss.
    pub(crate) fn lookup(&self, key: &[u8], now: UnixMillis) -> Option<Stored> {
        let found = self.map_get(key, now);
        match &found {
            Some(_) => self.store.metrics.hit(),
            None => self.store.metrics.miss(),
        }
        found
    }

    /// Whether `key` is held and would be served now (the hot-keys API).
    pub(crate) fn holds(&self, key: &[u8], now: UnixMillis) -> bool {
        self.map_get(key, now).is_some()
    }

    fn map_get(&self, key: &[u8], now: UnixMillis) -> Option<Stored> {
        let entry = self.store.map.get(key)?;
        let expired = entry.expires_at.is_some_and(|at| at <= now);
        if expired || !entry.tracker.serves(entry.epoch) {
            return None;
        }
        Some(Stored::new(entry.value, entry.expires_at))
    }

    /// Whether a miss on `key` should be filled.
    pub(crate) fn admits(&self, key: &[u8]) -> bool {
        self.admission.is_hot(key)
    }

    /// Reads `key` through `tracker`'s tracked connection and keeps the
    /// answer if it is still current when it arrives. `None` when tracking is
    /// down (the caller reads the ordinary way); the read's own outcome
    /// otherwise.
    pub(crate) async fn fill(
        &self,
        tracker: &Arc<Tracker>,
        key: &[u8],
        now: UnixMillis,
    ) -> Option<Result<Option<Stored>, redis::RedisError>> {
        let (connection, token) = tracker.begin_fill()?;
        let read = tracker.read(connection, token, key, now).await;
        if let Ok(Some(stored)) = &read {
            self.keep(tracker, token, key, stored, now);
        }
        Some(read)
    }

    fn keep(
        &self,
        tracker: &Arc<Tracker>,
        token: tracker::FillToken,
        key: &[u8],
        stored: &Stored,
        now: UnixMillis,
    ) {
        if weight(key.len(), stored.value.len()) > self.max_entry
            || stored.expires_at.is_some_and(|at| at <= now)
        {
            return;
        }
        let entry = NearEntry {
            value: stored.value.clone(),
            expires_at: stored.expires_at,
            tracker: tracker.clone(),
            epoch: 0,
        };
        let kept = tracker.insert_if_current(token, key, |epoch| {
            let entry = NearEntry { epoch, ..entry };
            self.store.map.insert(Bytes::copy_from_slice(key), entry);
        });
        if kept {
            self.store.metrics.filled();
        } else {
            self.store.metrics.fill_dropped();
        }
        self.store.publish();
    }

    /// A fill met a redirect: the cluster's slots moved; ask again now.
    pub(crate) fn slots_moved(&self) {
        self.reslot.notify_one();
    }

    /// A write through this gateway to `key` was acknowledged (or may have
    /// been applied): drop the near copy, and refuse fills that raced it.
    pub(crate) fn forget(&self, key: &[u8]) {
        let map = self.trackers.load();
        let mut held = false;
        for tracker in &map.trackers {
            held |= tracker.invalidate_key(key, || self.store.map.remove(key).is_some());
        }
        if held {
            self.store
                .metrics
                .invalidated(NearInvalidation::OwnWrite, 1);
            self.store.publish();
        }
    }

    /// A flush through this gateway: everything goes.
    pub(crate) fn forget_all(&self) {
        for tracker in &self.trackers.load().trackers {
            tracker.invalidate_all();
        }
        self.store.drop_everything(NearInvalidation::OwnWrite);
    }

    /// A fleet node was ejected: what it vouched for goes (its entries are
    /// not served meanwhile either: `Tracker::serves` reads its health).
    pub(crate) fn node_down(&self, node: &FleetNode) {
        for tracker in &self.trackers.load().trackers {
            if tracker
                .node
                .as_deref()
                .is_some_and(|n| std::ptr::eq(n, node))
            {
                tracker.invalidate_all();
                self.store
                    .drop_tracked_by(tracker, NearInvalidation::TrackingLost);
            }
        }
    }

    /// The tracker of a fleet node, if it has one.
    pub(crate) fn tracker_of(&self, node: &Arc<FleetNode>) -> Option<Arc<Tracker>> {
        let map = self.trackers.load();
        map.trackers
            .iter()
            .find(|t| t.node.as_ref().is_some_and(|n| Arc::ptr_eq(n, node)))
            .cloned()
    }

    /// The tracker of the cluster master serving `key`'s slot.
    pub(crate) fn tracker_for_slot(&self, key: &[u8]) -> Option<Arc<Tracker>> {
        let map = self.trackers.load();
        let index = map.slots.as_ref()?.master_of(key)?;
        map.trackers.get(index).cloned()
    }

    /// A fleet's nodes changed (or were first set): a tracker per node,
    /// kept for nodes that stay, and everything held is dropped.
    pub(crate) fn follow_topology(&self, topology: &Topology) {
        let old = self.trackers.load_full();
        let trackers = topology
            .all_nodes()
            .into_iter()
            .map(|node| {
                match old
                    .trackers
                    .iter()
                    .find(|t| t.node.as_ref().is_some_and(|n| Arc::ptr_eq(n, &node)))
                {
                    Some(kept) => kept.clone(),
                    None => self.start_tracker(node.address(), Some(node.clone())),
                }
            })
            .collect::<Vec<_>>();
        self.replace(TrackerMap {
            trackers,
            slots: None,
        });
    }

    /// A cluster's masters or slots changed (or were first learnt).
    pub(crate) fn follow_slots(&self, masters: &[NodeAddress], slots: SlotMap) {
        let old = self.trackers.load_full();
        let trackers = masters
            .iter()
            .map(
                |address| match old.trackers.iter().find(|t| t.name == address.host_port()) {
                    Some(kept) => kept.clone(),
                    None => self.start_tracker(address, None),
                },
            )
            .collect();
        self.replace(TrackerMap {
            trackers,
            slots: Some(slots),
        });
    }

    /// Installs `next`, retires trackers it no longer has, and drops every
    /// entry (a fill in flight is refused: each tracker records it).
    fn replace(&self, next: TrackerMap) {
        let old = self.trackers.swap(Arc::new(next));
        let current = self.trackers.load();
        for tracker in &current.trackers {
            tracker.invalidate_all();
        }
        for tracker in &old.trackers {
            tracker.invalidate_all();
            if !current.trackers.iter().any(|t| Arc::ptr_eq(t, tracker)) {
                tracker.retire();
            }
        }
        self.store.drop_everything(NearInvalidation::Topology);
    }

    fn start_tracker(&self, address: &NodeAddress, node: Option<Arc<FleetNode>>) -> Arc<Tracker> {
        let tracker = Arc::new(Tracker::new(
            address,
            node,
            Arc::downgrade(&self.store),
            self.timing,
        ));
        let kept = tracker.clone();
        self.tasks.spawn("near-tracking", |stop| async move {
            kept.keep(stop).await;
            Ok(())
        });
        tracker
    }

    /// Bytes accounted now and the cap (tests, stats).
    pub(crate) fn used_bytes(&self) -> (u64, u64) {
        (self.store.map.weight(), self.store.capacity)
    }
}

impl std::fmt::Debug for NearCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCache")
            .field("capacity", &self.store.capacity)
            .field("entries", &self.store.map.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_round_up_to_size_classes_and_charge_the_overhead() {
        assert_eq!(allocated(0), 16);
        assert_eq!(allocated(17), 32);
        assert_eq!(allocated(100), 112);
        assert_eq!(allocated(4096), 4096);
        assert_eq!(allocated(4097), 5120);
        assert_eq!(weight(10, 1000), 16 + 1024 + ENTRY_OVERHEAD);
    }
}
