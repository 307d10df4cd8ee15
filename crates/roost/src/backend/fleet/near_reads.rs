//! The fleet's side of the near cache (`near.rs`): turning it on, the read
//! path in front of the data path (a hit skips the network; a hot miss is
//! filled through the key's node's tracked connection), and the hooks that
//! keep it coherent with this gateway's own writes, ejections and topology.
//!
//! With the near cache off every hook is one branch on `self.near`.

use std::sync::Arc;

use futures_util::future::join_all;

use super::near::{self, NearCache, TrackerTiming};
use super::topology::Topology;
use super::{Admission, Fleet, FleetNode};
use crate::backend::Stored;
use crate::error::CacheError;
use crate::telemetry::NearMetrics;

impl Fleet {
    /// Turns the near cache on with `ROOST_NEAR_CACHE_BYTES` of budget (a
    /// no-op at 0): a tracked connection per node (per master of a Redis
    /// Cluster, learnt and followed by a task), filled with the keys
    /// `admission` calls hot.
    pub fn enable_near(&mut self, admission: Admission, metrics: NearMetrics) {
        let capacity = self.settings.near_cache_bytes;
        if capacity == 0 {
            return;
        }
        let timing = TrackerTiming {
            timeout: self.settings.timeout,
            ping_every: self.settings.health_interval,
        };
        let near = Arc::new(NearCache::new(
            capacity,
            admission,
            metrics,
            timing,
            self.tasks.clone(),
        ));
        let topology = self.topology();
        if self.cluster {
            let (near, node) = (near.clone(), topology.nodes[0].clone());
            let every = self.settings.health_interval;
            self.tasks.spawn("near-cluster-slots", |stop| async move {
                near::refresh_slots_forever(near, node, every, stop).await;
                Ok(())
            });
        } else {
            near.follow_topology(&topology);
        }
        tracing::info!(bytes = capacity, "near cache on");
        self.near = Some(near);
    }

    /// A near-cache hit for `key`, counted (a miss too); `None` when off.
    /// Synchronous, so a hit costs no future.
    pub fn near_hit(&self, key: &[u8]) -> Option<Stored> {
        let near = self.near.as_ref()?;
        near.lookup(key, self.now_millis())
    }

    /// Whether `key` is in the near cache and would be served from it now.
    pub fn is_near_cached(&self, key: &[u8]) -> bool {
        self.near
            .as_ref()
            .is_some_and(|near| near.holds(key, self.now_millis()))
    }

    /// Bytes the near cache accounts now and its cap; `(0, 0)` when off.
    pub fn near_bytes(&self) -> (u64, u64) {
        self.near.as_ref().map_or((0, 0), |near| near.used_bytes())
    }

    /// Reads `key` after a near-cache miss: a hot key is filled through its
    /// node's tracked connection; anything else (and a fill that cannot be
    /// made) takes the ordinary data path.
    pub(super) async fn read_past_near(
        &self,
        key: &[u8],
        with_ttl: bool,
    ) -> Result<Option<Stored>, CacheError> {
        if let Some(near) = &self.near {
            if near.admits(key) {
                if let Some(found) = Box::pin(self.fill(near, key)).await {
                    return Ok(found);
                }
            }
        }
        self.read(key, with_ttl).await
    }

    /// A fill of `key`: `None` when it cannot be made (tracking down, no
    /// readable replica, keys moving, a failed read) or its miss is not final.
    pub(super) async fn fill(&self, near: &NearCache, key: &[u8]) -> Option<Option<Stored>> {
        let topology = self.topology();
        if topology.previous.is_some() {
            return None;
        }
        let now = self.now_millis();
        let tracker = if self.cluster {
            topology.nodes[0].count_op();
            near.tracker_for_slot(key)?
        } else {
            let node = self.readable_replica(&topology, key)?;
            node.count_op();
            near.tracker_of(&node)?
        };
        match near.fill(&tracker, key, now).await? {
            Ok(Some(stored)) => Some(Some(stored)),
            Ok(None) if self.settings.replicas == 1 => Some(None),
            Ok(None) => None,
            Err(err) => {
                if err.redirect_node().is_some() {
                    near.slots_moved();
                }
                tracing::debug!(node = %tracker.name, error = %err, "near cache: fill failed");
                None
            }
        }
    }

    /// The replica that would answer `key`'s read: the first that is up and
    /// has not missed a write of it.
    fn readable_replica(&self, topology: &Topology, key: &[u8]) -> Option<Arc<FleetNode>> {
        topology
            .placement(key, self.settings.replicas)
            .iter()
            .map(|i| &topology.nodes[i])
            .find(|node| node.health.is_up() && !node.journal.may_be_stale(key))
            .cloned()
    }

    /// [`Fleet::read_many`] with the near cache on: hits answered here, hot
    /// misses filled one by one, the rest read as one batch.
    pub(super) async fn read_many_near(
        &self,
        near: &NearCache,
        keys: &[&[u8]],
        with_ttl: bool,
    ) -> Vec<Result<Option<Stored>, CacheError>> {
        let now = self.now_millis();
        let mut results: Vec<Option<Result<Option<Stored>, CacheError>>> = keys
            .iter()
            .map(|key| near.lookup(key, now).map(|s| Ok(Some(s))))
            .collect();
        let hot: Vec<usize> = (0..keys.len())
            .filter(|&i| results[i].is_none() && near.admits(keys[i]))
            .collect();
        let filled = join_all(hot.iter().map(|&i| self.read_past_near(keys[i], with_ttl))).await;
        for (i, result) in hot.into_iter().zip(filled) {
            results[i] = Some(result);
        }
        let rest: Vec<usize> = (0..keys.len()).filter(|&i| results[i].is_none()).collect();
        if !rest.is_empty() {
            let batch: Vec<&[u8]> = rest.iter().map(|&i| keys[i]).collect();
            let answers = self.read_many_direct(&batch, with_ttl).await;
            for (i, answer) in rest.into_iter().zip(answers) {
                results[i] = Some(answer);
            }
        }
        results
            .into_iter()
            .map(|result| result.expect("invariant: every key was answered"))
            .collect()
    }

    /// A write or delete of `key` through this gateway was acknowledged (or
    /// failed, and may have been applied): its near copy goes at once.
    pub(super) fn near_forget(&self, key: &[u8]) {
        if let Some(near) = &self.near {
            near.forget(key);
        }
    }

    pub(super) fn near_forget_many<K: AsRef<[u8]>>(&self, keys: &[K]) {
        if let Some(near) = &self.near {
            for key in keys {
                near.forget(key.as_ref());
            }
        }
    }

    /// A flush through this gateway.
    pub(super) fn near_forget_all(&self) {
        if let Some(near) = &self.near {
            near.forget_all();
        }
    }

    /// `node` was ejected: nothing it vouched for is served.
    pub(super) fn near_node_down(&self, node: &FleetNode) {
        if let Some(near) = &self.near {
            near.node_down(node);
        }
    }
}
