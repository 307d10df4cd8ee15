//! MULTI … EXEC and WATCH in front of Redis. A transaction's keys must live
//! together (one placement on a fleet, one slot on a cluster: the RESP door
//! checks each queued command against the first key, CROSSSLOT otherwise),
//! and at EXEC it is sent to their node as one pipeline — MULTI, the
//! commands as the client sent them, EXEC — which one request writes in one
//! piece, so no other client's command comes between them on the shared
//! connection. WATCH needs the same connection from WATCH to EXEC, so a
//! watching client gets a connection of its own to the keys' node
//! ([`Pinned`]) until EXEC, DISCARD or UNWATCH; EXEC then runs on it.
//!
//! With replicas, the transaction runs on the keys' acting primary and, if
//! it may write, its keys are deleted on their other replicas afterwards, as
//! for any forwarded write (`forward.rs`).

use bytes::Bytes;
use redis::Value;
use std::sync::Arc;

use super::topology::{FleetNode, Topology};
use super::Fleet;
use crate::backend::redis_link::{key_slot, Pinned};
use crate::error::CacheError;

impl Fleet {
    /// Whether `a` and `b` live on the same node(s): one replica set on a
    /// fleet, one slot on a cluster.
    pub fn colocated(&self, a: &[u8], b: &[u8]) -> bool {
        if self.cluster {
            return key_slot(a) == key_slot(b);
        }
        let topology = self.topology();
        let replicas = self.settings.replicas;
        topology
            .placement(a, replicas)
            .iter()
            .eq(topology.placement(b, replicas).iter())
    }

    /// WATCH `keys` on a connection of the client's own to their node (on
    /// `pinned`, when the client already watches keys there).
    pub async fn watch(
        &self,
        keys: &[&[u8]],
        pinned: Option<Pinned>,
        resp3: bool,
    ) -> Result<Pinned, CacheError> {
        let key = keys.first().copied();
        let mut pinned = match pinned {
            Some(pinned) => pinned,
            None => {
                let (node, _) = self.transaction_node(&self.topology(), keys)?;
                self.on_node(&node, |link| link.pin(key, resp3)).await?
            }
        };
        let watch: Vec<Bytes> = std::iter::once(Bytes::from_static(b"WATCH"))
            .chain(keys.iter().map(|k| Bytes::copy_from_slice(k)))
            .collect();
        match pinned.pipeline(&[watch]).await?.pop() {
            Some(Value::ServerError(err)) => Err(CacheError::Rejected {
                reply: format!("{} {}", err.code(), err.details().unwrap_or_default()),
            }),
            _ => Ok(pinned),
        }
    }

    /// Runs `commands` as one transaction on the node of `keys` (on
    /// `pinned`, the watching client's connection, when there is one) and
    /// answers EXEC's reply: each command's reply, errors in place, or nil
    /// when a watched key changed.
    pub async fn exec(
        &self,
        commands: &[Vec<Bytes>],
        keys: &[Bytes],
        writes: bool,
        pinned: Option<Pinned>,
        resp3: bool,
    ) -> Result<Value, CacheError> {
        if writes {
            self.refuse_unversioned("exec")?;
        }
        let mut all = Vec::with_capacity(commands.len() + 2);
        all.push(vec![Bytes::from_static(b"MULTI")]);
        all.extend(commands.iter().cloned());
        all.push(vec![Bytes::from_static(b"EXEC")]);
        let key = keys.first().map(|k| &k[..]);
        let keys: Vec<&[u8]> = keys.iter().map(|k| &k[..]).collect();
        let topology = self.topology();
        let (node, gutter, replies) = match pinned {
            // The node the keys were watched on runs them, whatever the
            // topology says now; it is the one that holds the fresh copy.
            Some(mut pinned) => {
                let node = topology.find(pinned.node()).cloned();
                (node, false, pinned.pipeline(&all).await?)
            }
            None => {
                let (node, gutter) = self.transaction_node(&topology, &keys)?;
                let replies = self
                    .on_node(&node, |link| link.forward_pipeline(&all, key, resp3))
                    .await?;
                (Some(node), gutter, replies)
            }
        };
        if writes {
            self.near_forget_many(&keys);
            if let (Some(node), false) = (&node, self.cluster) {
                if gutter {
                    let now = self.now_millis();
                    for key in &keys {
                        for index in topology.placement(key, self.settings.replicas).iter() {
                            topology.nodes[index].journal.record(key);
                        }
                        let capped = self
                            .cap_deadline(node, key, self.gutter_cap(now), now)
                            .await;
                        if let Err(err) = capped {
                            tracing::debug!(node = %node.id, error = %err, "capping a gutter key's deadline failed");
                        }
                    }
                } else if self.settings.replicas > 1 {
                    self.drop_other_copies(&topology, &node.link, &keys).await;
                }
            }
        }
        Ok(replies.into_iter().last().unwrap_or(Value::Nil))
    }

    /// The node a transaction on `keys` runs on, and whether it is the
    /// gutter: their acting primary (the first up replica none of whose
    /// copies is journaled stale), as for a forwarded command; with no up
    /// replica, the next up node; without keys, any up node; a cluster's one
    /// link.
    fn transaction_node(
        &self,
        topology: &Topology,
        keys: &[&[u8]],
    ) -> Result<(Arc<FleetNode>, bool), CacheError> {
        let up = |node: &&Arc<FleetNode>| node.health.is_up();
        let replicas = self.settings.replicas;
        let found = match keys.first() {
            Some(first) if !self.cluster => topology
                .placement(first, replicas)
                .iter()
                .map(|i| &topology.nodes[i])
                .find(|node| up(node) && keys.iter().all(|k| !node.journal.may_be_stale(k)))
                .map(|node| (node, false))
                .or_else(|| topology.fallback(first, replicas).map(|node| (node, true))),
            _ => topology.nodes.iter().find(up).map(|node| (node, false)),
        };
        found
            .map(|(node, gutter)| (node.clone(), gutter))
            .ok_or(CacheError::NoNode)
    }
}
