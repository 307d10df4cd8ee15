//! Commands Roost does not interpret (hashes, lists, sets, sorted sets,
//! streams, the rest of the string family…), run on the node that holds
//! their keys, with Redis Cluster's rule for several keys: they run where all
//! of them live (keys sharing a hash tag `{…}` always do), and keys on
//! different nodes get `CROSSSLOT`, except for TOUCH, which runs once per
//! node and adds up the counts.
//!
//! The promise with `ROOST_REPLICAS` > 1: a key written by a forwarded
//! command has one copy, on its *acting primary* — the first up replica
//! whose copy is not journaled as stale, the same node a plain GET asks
//! first. After each forwarded write its other replicas have the key
//! deleted (journaled when down or failing, so it is deleted before they
//! serve again), so no replica can answer with an older collection: when
//! the primary fails, the next replica answers as for a missing key — the
//! collection is lost, as a cache may lose an entry, never served stale.
//! No read-repair and no move: a topology change drops such keys from nodes
//! that no longer hold them (`changes.rs`). With every replica down a write
//! goes to the gutter node, capped at the gutter TTL like any other.

use bytes::Bytes;
use futures_util::future::join_all;
use redis::Value;

use super::scripts::{is_function_not_found, is_noscript};
use super::topology::{FleetNode, Topology};
use super::Fleet;
use crate::backend::redis_link::{key_slot, RedisLink};
use crate::backend::{Block, Forwarded, Spread};
use crate::error::CacheError;

impl Fleet {
    /// Runs `command` where its keys live (see the module docs).
    pub async fn forward(&self, command: Forwarded<'_>) -> Result<Value, CacheError> {
        if command.spread == Spread::Everywhere {
            return self.forward_everywhere(command.argv).await;
        }
        self.refuse_unversioned(command.name)?;
        if let (Some(versions), true) = (&self.versions, command.write) {
            if !command.keys.is_empty() {
                return self.forward_versioned(versions, command).await;
            }
        }
        let topology = self.topology();
        if self.cluster {
            return self.forward_to_cluster(&topology, command).await;
        }
        let Some(first) = command.keys.first() else {
            let node = topology
                .nodes
                .iter()
                .find(|n| n.health.is_up())
                .ok_or(CacheError::NoNode)?;
            return self.send(node, &command, None).await;
        };
        let replicas = self.settings.replicas;
        let placement = topology.placement(first, replicas);
        let together = command.keys[1..].iter().all(|key| {
            topology
                .placement(key, replicas)
                .iter()
                .eq(placement.iter())
        });
        if !together {
            return match command.spread {
                Spread::Sum => self.forward_summed(command).await,
                _ => Err(CacheError::cross_slot()),
            };
        }
        if command.write {
            for key in command.keys {
                self.invalidate_former(&topology, key).await;
            }
        }
        let primary = placement.iter().map(|i| &topology.nodes[i]).find(|node| {
            node.health.is_up() && command.keys.iter().all(|k| !node.journal.may_be_stale(k))
        });
        let Some(primary) = primary else {
            return self.forward_to_gutter(&topology, command).await;
        };
        let reply = self.send(primary, &command, None).await;
        if command.write {
            self.near_forget_many(command.keys);
            if replicas > 1 {
                self.drop_other_copies(&topology, &primary.link, command.keys)
                    .await;
            }
        }
        reply
    }

    /// A Redis Cluster: its keys must share a slot, and the command goes to
    /// that slot's master.
    async fn forward_to_cluster(
        &self,
        topology: &Topology,
        command: Forwarded<'_>,
    ) -> Result<Value, CacheError> {
        let node = topology.nodes.first().ok_or(CacheError::NoNode)?;
        let first = command.keys.first().copied();
        if let Some(first) = first {
            let slot = key_slot(first);
            let apart = command.keys[1..].iter().any(|key| key_slot(key) != slot);
            if apart {
                return match command.spread {
                    Spread::Sum => self.forward_summed(command).await,
                    _ => Err(CacheError::cross_slot()),
                };
            }
        }
        let reply = self.send(node, &command, first).await;
        if command.write {
            self.near_forget_many(command.keys);
        }
        reply
    }

    /// No replica of the keys is up: the next up node serves them, as for a
    /// plain write, with the gutter's deadline cap; every replica has the
    /// keys journaled so their older copies go before they serve again.
    async fn forward_to_gutter(
        &self,
        topology: &Topology,
        command: Forwarded<'_>,
    ) -> Result<Value, CacheError> {
        let replicas = self.settings.replicas;
        let first = command.keys[0];
        let node = topology
            .fallback(first, replicas)
            .cloned()
            .ok_or(CacheError::NoNode)?;
        let reply = self.send(&node, &command, None).await;
        if command.write {
            let now = self.now_millis();
            for key in command.keys {
                for index in topology.placement(key, replicas).iter() {
                    topology.nodes[index].journal.record(key);
                }
                if let Err(err) = self
                    .cap_deadline(&node, key, self.gutter_cap(now), now)
                    .await
                {
                    tracing::debug!(node = %node.id, error = %err, "capping a gutter key's deadline failed");
                }
            }
            self.near_forget_many(command.keys);
        }
        reply
    }

    /// Sends `command` to `node` (on a cluster, to the master of `key`'s
    /// slot): on the shared connections, or on one of its own if it blocks.
    async fn send(
        &self,
        node: &FleetNode,
        command: &Forwarded<'_>,
        key: Option<&[u8]>,
    ) -> Result<Value, CacheError> {
        let (argv, resp3) = (command.argv, command.resp3);
        let run = || {
            self.on_node(node, |link| async move {
                match command.block {
                    Block::No => link.forward(argv, key, resp3).await,
                    Block::For(wait) => link.forward_blocking(argv, key, Some(wait), resp3).await,
                    Block::Forever => link.forward_blocking(argv, key, None, resp3).await,
                }
            })
        };
        let reply = run().await;
        // Remembered only once it ran: a body that does not compile must
        // not take room from those that do.
        if matches!(command.name, "eval" | "eval_ro") && reply.is_ok() {
            self.scripts.remember_script(&argv[1]);
        }
        // A script or library this node lacks and the gateway knows: loaded
        // there, then run once more (`scripts.rs`).
        let loads: Vec<Vec<Bytes>> = match command.name {
            "evalsha" | "evalsha_ro" if is_noscript(&reply) => self
                .scripts
                .script(&argv[1])
                .map(|body| {
                    vec![
                        Bytes::from_static(b"SCRIPT"),
                        Bytes::from_static(b"LOAD"),
                        body,
                    ]
                })
                .into_iter()
                .collect(),
            // Only the libraries that name the function, and without
            // REPLACE: a node that has a library keeps its own version.
            "fcall" | "fcall_ro" if is_function_not_found(&reply) => self
                .scripts
                .libraries_naming(&argv[1])
                .into_iter()
                .map(|code| {
                    let load: [&'static [u8]; 2] = [b"FUNCTION", b"LOAD"];
                    load.map(Bytes::from_static)
                        .into_iter()
                        .chain([code])
                        .collect()
                })
                .collect(),
            _ => Vec::new(),
        };
        if loads.is_empty() {
            return reply;
        }
        for load in &loads {
            let loaded = self
                .on_node(node, |link| link.forward(load, key, false))
                .await;
            if let Err(err) = loaded {
                tracing::debug!(node = %node.id, error = %err, "loading a script on demand failed");
            }
        }
        run().await
    }

    /// After a forwarded write on `primary`: every other replica of `keys`
    /// has them deleted; a replica that is down, or whose delete fails, has
    /// them journaled instead.
    pub(super) async fn drop_other_copies(
        &self,
        topology: &Topology,
        primary: &RedisLink,
        keys: &[&[u8]],
    ) {
        for key in keys {
            let others: Vec<_> = self
                .write_targets(topology, key)
                .into_iter()
                .filter(|node| !std::ptr::eq(&node.link, primary))
                .collect();
            let deletes = others
                .iter()
                .map(|node| self.on_node(node, |l| l.delete(key)));
            for (node, result) in others.iter().zip(join_all(deletes).await) {
                if result.is_err() {
                    node.journal.record(key);
                }
            }
        }
    }

    /// A command that sums (TOUCH) over keys on several nodes: it runs once
    /// per group of keys that live together (one placement on a fleet, one
    /// slot on a cluster), concurrently, and the integer replies are added up.
    async fn forward_summed(&self, command: Forwarded<'_>) -> Result<Value, CacheError> {
        let topology = self.topology();
        let together = |key: &[u8]| -> Vec<usize> {
            match self.cluster {
                true => vec![usize::from(key_slot(key))],
                false => topology
                    .placement(key, self.settings.replicas)
                    .iter()
                    .collect(),
            }
        };
        let mut groups: Vec<(Vec<usize>, Vec<&[u8]>)> = Vec::new();
        for key in command.keys {
            let place = together(key);
            match groups.iter_mut().find(|(p, _)| *p == place) {
                Some((_, keys)) => keys.push(key),
                None => groups.push((place, vec![key])),
            }
        }
        let argvs: Vec<Vec<Bytes>> = groups
            .iter()
            .map(|(_, keys)| {
                std::iter::once(command.argv[0].clone())
                    .chain(keys.iter().map(|k| Bytes::copy_from_slice(k)))
                    .collect()
            })
            .collect();
        let runs = groups.iter().zip(&argvs).map(|((_, keys), argv)| {
            Box::pin(self.forward(Forwarded {
                argv,
                keys,
                spread: Spread::One,
                ..command
            }))
        });
        let mut total = 0;
        for reply in join_all(runs).await {
            match reply? {
                Value::Int(n) => total += n,
                other => {
                    return Err(CacheError::Rejected {
                        reply: format!("ERR unexpected reply to {}: {other:?}", command.name),
                    })
                }
            }
        }
        Ok(Value::Int(total))
    }
}
