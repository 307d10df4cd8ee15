//! Leases on the fleet: where a key's lease lives and the lease operations in
//! fleet terms. The lease of a key is on the node that runs the key's
//! read-modify-writes (its first up replica, or the gutter node), so the
//! check-and-set fill and the key are on one node; on a Redis Cluster the
//! lease key hashes to the key's slot ([`lease_key`]).

use std::sync::Arc;

use bytes::Bytes;
use roost_store::UnixMillis;

use super::topology::FleetNode;
use super::Fleet;
use crate::backend::Stored;
use crate::error::CacheError;

/// Prefix of every lease key.
pub const LEASE_PREFIX: &[u8] = b"roost:lease:";

/// The lease key of `key`: `roost:lease:<key>`, which keeps the key's own
/// Redis Cluster hash tag when it has one, else `roost:lease:{<key>}`, whose
/// tag is the whole key (so the same slot) — possible only when the key has
/// no `}`. A key with a `}` and no hash tag of its own gets no lease.
pub fn lease_key(key: &[u8]) -> Option<Vec<u8>> {
    let mut lease = LEASE_PREFIX.to_vec();
    if has_hash_tag(key) {
        lease.extend_from_slice(key);
    } else if !key.contains(&b'}') {
        lease.push(b'{');
        lease.extend_from_slice(key);
        lease.push(b'}');
    } else {
        return None;
    }
    Some(lease)
}

/// Redis Cluster's rule, as the ring applies it ([`roost_ring::hash_tag`]):
/// a `{` and, after it, a `}` with something between.
fn has_hash_tag(key: &[u8]) -> bool {
    roost_ring::hash_tag(key).len() != key.len()
}

impl Fleet {
    /// The lease key of `key` on this fleet: [`lease_key`] on a Redis
    /// Cluster; on standalone nodes any name works (it is sent to the key's
    /// node), so a key [`lease_key`] refuses gets `roost:lease:<key>`.
    pub fn lease_key_of(&self, key: &[u8]) -> Option<Vec<u8>> {
        lease_key(key).or_else(|| (!self.cluster).then(|| [LEASE_PREFIX, key].concat()))
    }

    /// The node that holds `key`'s lease: its first up replica, or the
    /// gutter node when every replica is down.
    fn lease_node(&self, key: &[u8]) -> Result<Arc<FleetNode>, CacheError> {
        let topology = self.topology();
        let replicas = self.settings().replicas;
        match topology.first_up(key, replicas) {
            Some(index) => Ok(topology.nodes[index].clone()),
            None => topology
                .fallback(key, replicas)
                .cloned()
                .ok_or(CacheError::NoNode),
        }
    }

    /// Takes `key`'s lease for `ms`; `false` when another gateway holds it.
    pub async fn lease_acquire(
        &self,
        key: &[u8],
        lease: &[u8],
        token: &str,
        ms: u64,
    ) -> Result<bool, CacheError> {
        let node = self.lease_node(key)?;
        self.on_node(&node, |link| link.lease_acquire(lease, token, ms))
            .await
    }

    /// `key`'s entry if it was filled, and whether its lease is still held.
    pub async fn lease_wait_step(
        &self,
        key: &[u8],
        lease: &[u8],
    ) -> Result<(Option<Stored>, bool), CacheError> {
        let node = self.lease_node(key)?;
        let now = self.now_millis();
        self.on_node(&node, |link| link.lease_wait_step(key, lease, now))
            .await
    }

    /// The check-and-set fill on the lease node, copied to the other replicas.
    pub async fn lease_fill(
        &self,
        key: Bytes,
        lease: &[u8],
        token: &str,
        value: Bytes,
        expires_at: Option<UnixMillis>,
        replace: bool,
    ) -> Result<bool, CacheError> {
        let (k, v) = (&key[..], &value[..]);
        self.modify(&key, |node, now| async move {
            node.link
                .lease_fill(k, lease, token, v, expires_at, now, replace)
                .await
        })
        .await
    }

    /// Gives up `key`'s lease if it is still `token`'s.
    pub async fn lease_release(
        &self,
        key: &[u8],
        lease: &[u8],
        token: &str,
    ) -> Result<(), CacheError> {
        let node = self.lease_node(key)?;
        self.on_node(&node, |link| link.lease_release(lease, token))
            .await
    }

    /// Removes `key`'s lease whoever holds it (before a client write).
    pub async fn lease_drop(&self, key: &[u8], lease: &[u8]) -> Result<(), CacheError> {
        let node = self.lease_node(key)?;
        self.on_node(&node, |link| link.lease_drop(lease)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_keys_share_the_keys_cluster_slot() {
        let lease =
            |k: &str| lease_key(k.as_bytes()).map(|l| String::from_utf8(l).unwrap_or_default());
        assert_eq!(lease("user:1").as_deref(), Some("roost:lease:{user:1}"));
        assert_eq!(lease("{u1}:name").as_deref(), Some("roost:lease:{u1}:name"));
        assert_eq!(lease("a{b").as_deref(), Some("roost:lease:{a{b}"));
        assert_eq!(
            lease("a{}b"),
            None,
            "empty tag: the slot is the whole key's"
        );
        assert_eq!(lease("a}b"), None);
        assert_eq!(lease("x{t}y}").as_deref(), Some("roost:lease:x{t}y}"));
    }
}
