//! The backend operations on a fleet, in terms of the data path in
//! `data_path.rs`: plain reads and writes fan out over replicas;
//! read-modify-write commands run on the key's first up replica and are
//! copied to the others.

use bytes::Bytes;
use roost_store::UnixMillis;

use std::sync::Arc;

use futures_util::future::join_all;

use super::topology::FleetNode;
use super::versions::is_version_key;
use super::Fleet;
use crate::backend::redis_link::versioned::VersionedOp;
use crate::backend::redis_link::LinkWrite;
use crate::backend::{Condition, Deadline, RetimeCondition, SetEntry, SetOutcome, Stored};
use crate::error::{CacheError, Cause, NodeFault};

/// Where a fleet SCAN cursor keeps the node index.
const NODE_SHIFT: u32 = 48;
const INNER_MASK: u64 = (1 << NODE_SHIFT) - 1;

impl Fleet {
    /// Reads `key` with its deadline: from the near cache when it holds it.
    pub async fn get(&self, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        if let Some(hit) = self.near_hit(key) {
            return Ok(Some(hit));
        }
        self.get_past_near(key).await
    }

    /// [`Fleet::get`] after [`Fleet::near_hit`] missed.
    pub async fn get_past_near(&self, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        if self.versions.is_some() {
            return self.get_versioned(key).await;
        }
        self.read_past_near(key, true).await
    }

    pub async fn get_value(&self, key: &[u8]) -> Result<Option<Bytes>, CacheError> {
        if let Some(hit) = self.near_hit(key) {
            return Ok(Some(hit.value));
        }
        Ok(self.get_value_past_near(key).await?.map(|s| s.value))
    }

    /// [`Fleet::get_value`] after [`Fleet::near_hit`] missed: the entry with
    /// its deadline when a near-cache fill read it, else without (no PTTL).
    pub async fn get_value_past_near(&self, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        self.read_past_near(key, false).await
    }

    /// Reads a batch of keys (values with their deadlines when `with_ttl`),
    /// one pipelined request per node; see [`Fleet::read_many`].
    pub async fn get_many(
        &self,
        keys: &[&[u8]],
        with_ttl: bool,
    ) -> Vec<Result<Option<Stored>, CacheError>> {
        self.read_many(keys, with_ttl).await
    }

    /// Plain sets of a batch, one pipelined request per node; see
    /// [`Fleet::write_many`].
    pub async fn set_many(&self, entries: &[SetEntry]) -> Vec<Result<(), CacheError>> {
        if let Some(versions) = self.versions.clone() {
            let sets = entries.iter().map(|(key, entry)| {
                let op = VersionedOp::Set {
                    value: &entry.value,
                    expires_at: entry.expires_at,
                };
                let versions = &versions;
                async move { self.write_versioned(versions, key, op).await.map(|_| ()) }
            });
            return join_all(sets).await;
        }
        let writes: Vec<(&Bytes, LinkWrite<'_>)> = entries
            .iter()
            .map(|(key, entry)| {
                let write = LinkWrite::Set {
                    value: &entry.value,
                    expires_at: entry.expires_at,
                };
                (key, write)
            })
            .collect();
        let results = self.write_many(&writes).await;
        self.near_forget_many(&entries.iter().map(|(key, _)| key).collect::<Vec<_>>());
        results
            .into_iter()
            .map(|result| result.map(|_| ()))
            .collect()
    }

    pub async fn set(
        &self,
        key: Bytes,
        value: Bytes,
        expires_at: Option<UnixMillis>,
    ) -> Result<(), CacheError> {
        if let Some(versions) = &self.versions {
            let op = VersionedOp::Set {
                value: &value,
                expires_at,
            };
            return self.write_versioned(versions, &key, op).await.map(|_| ());
        }
        let write = LinkWrite::Set {
            value: &value,
            expires_at,
        };
        let result = self.write(&key, write).await.map(|_| ());
        self.near_forget(&key);
        result
    }

    pub async fn delete(&self, key: &[u8]) -> Result<bool, CacheError> {
        if let Some(versions) = &self.versions {
            let key = Bytes::copy_from_slice(key);
            let answer = self
                .write_versioned(versions, &key, VersionedOp::Delete)
                .await?;
            return answer.removed();
        }
        let result = self
            .write(&Bytes::copy_from_slice(key), LinkWrite::Delete)
            .await;
        self.near_forget(key);
        result
    }

    /// Deletes of a batch, one pipelined request per node; see
    /// [`Fleet::write_many`]. `true` for each key that existed.
    pub async fn delete_many(&self, keys: &[Bytes]) -> Vec<Result<bool, CacheError>> {
        if self.versions.is_some() {
            return join_all(keys.iter().map(|key| self.delete(key))).await;
        }
        let writes: Vec<(&Bytes, LinkWrite<'_>)> =
            keys.iter().map(|key| (key, LinkWrite::Delete)).collect();
        let results = self.write_many(&writes).await;
        self.near_forget_many(keys);
        results
    }

    pub async fn set_conditional(
        &self,
        key: Bytes,
        value: Bytes,
        condition: Condition,
        deadline: Deadline,
    ) -> Result<SetOutcome, CacheError> {
        if let Some(versions) = &self.versions {
            let op = VersionedOp::SetIf {
                value: &value,
                condition,
                deadline,
            };
            return self.write_versioned(versions, &key, op).await?.set_if();
        }
        let (k, v) = (&key[..], &value[..]);
        self.modify(&key, |node, now| async move {
            node.link
                .set_conditional(k, v, condition, deadline, now)
                .await
        })
        .await
    }

    pub async fn take(&self, key: Bytes) -> Result<Option<Stored>, CacheError> {
        if let Some(versions) = &self.versions {
            return self
                .write_versioned(versions, &key, VersionedOp::Take)
                .await?
                .entry();
        }
        let k = &key[..];
        self.modify(
            &key,
            |node, now| async move { node.link.take(k, now).await },
        )
        .await
    }

    pub async fn get_and_retime(
        &self,
        key: Bytes,
        deadline: Option<UnixMillis>,
    ) -> Result<Option<Stored>, CacheError> {
        if let Some(versions) = &self.versions {
            let op = VersionedOp::GetAndRetime { deadline };
            return self.write_versioned(versions, &key, op).await?.entry();
        }
        let k = &key[..];
        self.modify(&key, |node, now| async move {
            node.link.get_and_retime(k, deadline, now).await
        })
        .await
    }

    pub async fn retime(
        &self,
        key: Bytes,
        deadline: Option<UnixMillis>,
        condition: RetimeCondition,
    ) -> Result<bool, CacheError> {
        if let Some(versions) = &self.versions {
            let op = VersionedOp::Retime {
                deadline,
                condition,
            };
            return self.write_versioned(versions, &key, op).await?.changed();
        }
        let k = &key[..];
        self.modify(&key, |node, now| async move {
            node.link.retime(k, deadline, condition, now).await
        })
        .await
    }

    pub async fn incr_by(&self, key: Bytes, delta: i64) -> Result<i64, CacheError> {
        if let Some(versions) = &self.versions {
            let op = VersionedOp::IncrBy(delta);
            return self.write_versioned(versions, &key, op).await?.integer();
        }
        let k = &key[..];
        self.modify(
            &key,
            |node, _| async move { node.link.incr_by(k, delta).await },
        )
        .await
    }

    pub async fn append(
        &self,
        key: Bytes,
        suffix: &[u8],
        max_len: usize,
    ) -> Result<usize, CacheError> {
        if let Some(versions) = &self.versions {
            let op = VersionedOp::Append { suffix, max_len };
            let appended = self.write_versioned(versions, &key, op).await?.appended()?;
            return appended.map_err(|len| CacheError::ValueTooLarge { len, max: max_len });
        }
        let k = &key[..];
        self.modify(&key, |node, _| async move {
            node.link.append(k, suffix, max_len).await
        })
        .await
    }

    /// Runs a read-modify-write on the key's first up replica, caps its
    /// deadline when that is the gutter, and copies the result to the other
    /// replicas.
    pub(super) async fn modify<T, F, Fut>(&self, key: &Bytes, op: F) -> Result<T, CacheError>
    where
        F: FnOnce(Arc<FleetNode>, UnixMillis) -> Fut,
        Fut: std::future::Future<Output = Result<T, CacheError>>,
    {
        let result = self.modify_node(key, op).await;
        self.near_forget(key);
        result
    }

    /// [`Fleet::modify`] before the near copy is dropped.
    async fn modify_node<T, F, Fut>(&self, key: &Bytes, op: F) -> Result<T, CacheError>
    where
        F: FnOnce(Arc<FleetNode>, UnixMillis) -> Fut,
        Fut: std::future::Future<Output = Result<T, CacheError>>,
    {
        let (node, cap) = self.primary(key).await?;
        let now = self.now_millis();
        let topology = self.topology();
        if topology.previous.is_some() {
            self.pull_from_former(&topology, &node, key, now).await;
        }
        let result = self.on_node(&node, |_| op(node.clone(), now)).await?;
        if topology.previous.is_some() {
            self.invalidate_former(&topology, key).await;
        }
        // The command ran: a failure to cap or copy its result must not make
        // the client retry it (an INCR would count twice). The copy's replicas
        // are journaled instead, and reads skip them until replayed.
        if let Err(err) = self.cap_deadline(&node, key, cap, now).await {
            tracing::warn!(node = %node.id, error = %err, "capping a gutter entry's TTL failed");
        }
        if cap.is_none() {
            if let Err(err) = self.propagate(key, now).await {
                tracing::warn!(node = %node.id, error = %err, "copying a result to the other replicas failed");
                self.journal_other_replicas(&topology, &node, key);
            }
        }
        Ok(result)
    }

    /// While keys move after a topology change, copies `key` from its former
    /// holder to `node` (where absent) so a read-modify-write acts on the
    /// value the client last saw.
    async fn pull_from_former(
        &self,
        topology: &super::Topology,
        node: &FleetNode,
        key: &[u8],
        now: UnixMillis,
    ) {
        for former in topology.former_holders(key, self.settings().replicas) {
            if let Ok(Some(entry)) = self.on_node(&former, |l| l.get(key, now)).await {
                if let Err(err) = self.copy_if_absent(node, key, &entry, now).await {
                    tracing::debug!(node = %node.id, error = %err, "pulling a moving key failed");
                }
                return;
            }
        }
    }

    /// Journals `key` on every replica but `node`, so reads skip their copies
    /// until the prober's replay deletes them.
    fn journal_other_replicas(
        &self,
        topology: &super::Topology,
        node: &Arc<FleetNode>,
        key: &[u8],
    ) {
        let placement = topology.placement(key, self.settings().replicas);
        for replica in placement.iter().map(|i| &topology.nodes[i]) {
            if !Arc::ptr_eq(replica, node) {
                replica.journal.record(key);
            }
        }
    }

    /// Visits every live key once: each up node's keys whose first up
    /// replica it is, so a key held by several replicas is visited once.
    pub async fn visit_keys(
        &self,
        mut visit: impl FnMut(&Bytes, Option<UnixMillis>),
    ) -> Result<(), CacheError> {
        let topology = self.topology();
        let now = self.now_millis();
        for (index, node) in topology.nodes.iter().enumerate() {
            if !node.health.is_up() {
                continue;
            }
            let mut cursor = 0;
            loop {
                let (next, keys) = self
                    .on_node(node, |link| link.scan(cursor, 1000, now))
                    .await?;
                for (key, expires_at) in &keys {
                    if topology.first_up(key, self.settings().replicas) == Some(index)
                        && !is_version_key(key)
                    {
                        visit(key, *expires_at);
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(())
    }

    /// One page of a SCAN over the whole fleet: keys whose first up replica is
    /// the node being walked, so each key is returned once. The cursor holds
    /// the node's index in its top 16 bits and the node's own SCAN cursor in
    /// the low 48; on a Redis Cluster it is the cluster link's cursor. A SCAN
    /// that spans a topology change may miss or repeat keys that moved.
    pub async fn scan_page(
        &self,
        cursor: u64,
        count: usize,
    ) -> Result<(u64, Vec<Bytes>), CacheError> {
        let topology = self.topology();
        let now = self.now_millis();
        if self.cluster {
            let node = &topology.nodes[0];
            let (next, found) = self.on_node(node, |l| l.scan(cursor, count, now)).await?;
            let keys = found.into_iter().map(|(k, _)| k);
            return Ok((next, keys.filter(|k| !is_version_key(k)).collect()));
        }
        let (mut index, mut inner) = ((cursor >> NODE_SHIFT) as usize, cursor & INNER_MASK);
        let mut keys = Vec::new();
        while index < topology.nodes.len() && keys.len() < count {
            let node = &topology.nodes[index];
            if node.health.is_up() {
                let (next, found) = self.on_node(node, |l| l.scan(inner, count, now)).await?;
                let replicas = self.settings().replicas;
                keys.extend(
                    found
                        .into_iter()
                        .map(|(k, _)| k)
                        .filter(|key| topology.first_up(key, replicas) == Some(index))
                        .filter(|key| !is_version_key(key)),
                );
                if next > INNER_MASK {
                    return Err(CacheError::NodeFailed {
                        node: node.id.to_string(),
                        fault: NodeFault::BadReply,
                        source: Some(Cause::text(format!(
                            "SCAN cursor {next} does not fit in 48 bits"
                        ))),
                    });
                }
                if next != 0 {
                    return Ok((((index as u64) << NODE_SHIFT) | next, keys));
                }
            }
            (index, inner) = (index + 1, 0);
        }
        let next = if index < topology.nodes.len() {
            (index as u64) << NODE_SHIFT
        } else {
            0
        };
        Ok((next, keys))
    }

    /// Removes every entry on every node; a node that is down is flushed
    /// before it rejoins. Returns the keys removed, each replica's copy
    /// counted once.
    pub async fn flush(&self) -> Result<u64, CacheError> {
        let result = self.flush_nodes().await;
        self.forget_all();
        self.near_forget_all();
        result
    }

    /// [`Fleet::flush`] before the near cache is emptied.
    async fn flush_nodes(&self) -> Result<u64, CacheError> {
        let topology = self.topology();
        let mut removed = 0;
        for node in topology.all_nodes() {
            if !node.health.is_up() {
                node.journal.overflow();
                continue;
            }
            removed += self.on_node(&node, |link| link.flush()).await?;
        }
        Ok(removed / self.settings().replicas as u64)
    }
}
