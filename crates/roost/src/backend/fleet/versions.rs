//! A region on a Redis fleet or Redis Cluster (issue 16; docs/regions.md,
//! "Redis backends"): every write is stamped with a version from the
//! region's clock and every delete leaves a tombstone, both kept in Redis
//! beside the key in its *version key*, by the scripts of
//! `redis_link/versioned.rs`.
//!
//! A version key shares its key's node and, on a Redis Cluster, its slot:
//!
//! - `roost:ver:<key>` for a key with a hash tag (the prefix has no `{`, so
//!   the key's tag is the version key's);
//! - `roost:vk:{<key>}` for a key without one and without a `}` (its tag is
//!   the whole key, which is what the key hashes by);
//! - `roost:vs:<key>` otherwise, on standalone nodes only, where the script
//!   is sent to the key's node whatever the name hashes to. A Redis Cluster
//!   cannot keep such a key's version in its slot: the write is refused.
//!
//! In a region the fleet keeps one copy per key (`ROOST_REPLICAS=1`), no
//! near cache, and no gutter: a write for a node that is out fails instead
//! of landing on another node whose versions know nothing of the key.
//!
//! Redis evicts keys and version keys on its own. A key present without its
//! version key has no provable version: another region's change drops it.
//! A tombstone evicted could let an older change back in, so each node has
//! a *forgotten floor*: whenever its `evicted_keys` rose since the last look
//! (read before each batch of changes is applied) or it did not answer, its
//! floor rises to the clock's now (a resync or a flush raises every node's),
//! and a change for a key that holds nothing there is stored only above it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use futures_util::future::join_all;
use futures_util::StreamExt;
use indexmap::IndexMap;
use redis::Value;
use roost_store::{ReplicaApply, UnixMillis, Version};

use super::topology::FleetNode;
use super::Fleet;
use crate::backend::redis_link::key_slot;
use crate::backend::redis_link::versioned::parse_version;
use crate::backend::redis_link::versioned::{
    Answer, ApplyOutcome, Incoming, Peeked, Stamp, Versioned, VersionedOp,
};
use crate::backend::{Block, Forwarded, SetEntry, Stored};
use crate::error::CacheError;
use crate::geo::hlc::{region_index, Hlc};

const TAGGED: &[u8] = b"roost:ver:";
const WHOLE: &[u8] = b"roost:vk:";
const STANDALONE: &[u8] = b"roost:vs:";
/// Attempts of a write whose key keeps stamping newer versions under it.
const MAX_ATTEMPTS: usize = 8;
/// Keys a resync drops concurrently.
const DROP_CONCURRENCY: usize = 64;
/// Keys of a batch of changes applied concurrently.
const APPLY_CONCURRENCY: usize = 128;

/// Whether `key` is a version key (hidden from SCAN and KEYS).
pub fn is_version_key(key: &[u8]) -> bool {
    key.starts_with(TAGGED) || key.starts_with(WHOLE) || key.starts_with(STANDALONE)
}

/// The version key of `key` (see the module's comment); `None` for a key
/// a Redis Cluster cannot keep a version for.
pub fn version_key(key: &[u8], cluster: bool) -> Option<Vec<u8>> {
    if roost_ring::hash_tag(key).len() != key.len() {
        Some([TAGGED, key].concat())
    } else if !key.contains(&b'}') {
        Some([WHOLE, b"{", key, b"}"].concat())
    } else if cluster {
        None
    } else {
        Some([STANDALONE, key].concat())
    }
}

/// The key a version key keeps the version of.
pub fn versioned_key(version_key: &[u8]) -> Option<&[u8]> {
    if let Some(key) = version_key.strip_prefix(TAGGED) {
        Some(key)
    } else if let Some(whole) = version_key.strip_prefix(WHOLE) {
        whole.strip_prefix(b"{")?.strip_suffix(b"}")
    } else {
        version_key.strip_prefix(STANDALONE)
    }
}

/// What one request's versioned writes left at their keys, as their scripts
/// answered: `Cache::apply` gathers them around a client write in a region
/// ([`Receipts::gather`]), so reading back what the write left for the
/// change log costs no second round trip. Each is the key's state right
/// after that write, at that write's version.
#[derive(Debug, Default)]
pub struct Receipts(Mutex<Vec<(Bytes, Option<Stored>)>>);

tokio::task_local! {
    static RECEIPTS: Arc<Receipts>;
}

impl Receipts {
    /// Runs `work`, keeping the receipts of the versioned writes it makes.
    pub async fn gather<F: std::future::Future>(self: &Arc<Self>, work: F) -> F::Output {
        RECEIPTS.scope(self.clone(), work).await
    }

    /// Keeps `entry` for `key` when a request gathers receipts.
    fn record(key: &Bytes, entry: Option<Stored>) {
        let _ = RECEIPTS.try_with(|receipts| receipts.lock().push((key.clone(), entry)));
    }

    /// The newest receipt for `key` (by version: a request's writes of one
    /// key may land in another order than they were recorded); `Some(None)`
    /// when the key held nothing provable after the write.
    fn newest(&self, key: &[u8]) -> Option<Option<Stored>> {
        let held = self.lock();
        let mine = held.iter().filter(|(k, _)| k == key).map(|(_, e)| e);
        mine.max_by_key(|e| e.as_ref().map(Stored::version))
            .cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<(Bytes, Option<Stored>)>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The region's clock and tombstone lifetime, and the forgotten floor.
#[derive(Debug)]
pub struct Versions {
    hlc: Arc<Hlc>,
    tombstone_ms: u64,
    /// A change for a key holding nothing is stored only above this (and
    /// above its node's floor): raised by a resync and a flush.
    floor: AtomicU64,
    /// Each node's own floor: raised when it evicted keys, or did not answer.
    node_floors: Mutex<HashMap<String, Version>>,
    /// Each node's `evicted_keys` at the last look.
    evicted: Mutex<HashMap<String, u64>>,
}

impl Versions {
    pub fn new(hlc: Arc<Hlc>, tombstone_ms: u64) -> Versions {
        Versions {
            hlc,
            tombstone_ms,
            floor: AtomicU64::new(0),
            node_floors: Mutex::new(HashMap::new()),
            evicted: Mutex::new(HashMap::new()),
        }
    }

    /// The floor for a key on `node`.
    fn floor_of(&self, node: &str) -> Version {
        let global = Version::new(self.floor.load(Ordering::Acquire)).unwrap_or(Version::MAX);
        let floors = self
            .node_floors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        floors
            .get(node)
            .copied()
            .unwrap_or(Version::NONE)
            .max(global)
    }

    fn raise_node_floor(&self, node: &str, to: Version) {
        let mut floors = self
            .node_floors
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let floor = floors.entry(node.to_owned()).or_insert(Version::NONE);
        *floor = (*floor).max(to);
    }

    fn raise_floor(&self, to: Version) {
        self.floor.fetch_max(to.get(), Ordering::AcqRel);
    }

    /// Records a node's eviction count; `true` when it rose since the last
    /// look (or, at the first look, when the node ever evicted anything).
    fn evicted_more(&self, node: &str, evicted: u64) -> bool {
        let mut seen = self
            .evicted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = seen.insert(node.to_owned(), evicted);
        match before {
            Some(before) => evicted != before,
            None => evicted > 0,
        }
    }
}

impl Fleet {
    /// Turns the region's versions on (before the fleet is shared).
    pub fn enable_versions(&mut self, versions: Versions) {
        self.versions = Some(Arc::new(versions));
    }

    pub fn is_versioned(&self) -> bool {
        self.versions.is_some()
    }

    /// A fresh version from the region's clock; `None` outside a region.
    pub fn stamp(&self) -> Option<Version> {
        self.versions.as_ref().map(|v| v.hlc.now())
    }

    /// A tombstone at a fresh version; `None` outside a region.
    pub fn fresh_tombstone(&self) -> Option<Stored> {
        let versions = self.versions.as_ref()?;
        let until = self.now_millis().saturating_add(versions.tombstone_ms);
        Some(Stored::tombstone(versions.hlc.now(), Some(until)))
    }

    fn version_key_of(&self, key: &[u8]) -> Result<Vec<u8>, CacheError> {
        if is_version_key(key) {
            return Err(CacheError::ReservedKey);
        }
        version_key(key, self.cluster).ok_or(CacheError::Unversionable)
    }

    /// A client's write of `key` in a region: stamped with a version newer
    /// than the key's (a key stamped newer meanwhile, by another region's
    /// change, makes the clock observe it and the write ask again).
    pub(super) async fn write_versioned(
        &self,
        versions: &Versions,
        key: &Bytes,
        op: VersionedOp<'_>,
    ) -> Result<Answer, CacheError> {
        let version_key = self.version_key_of(key)?;
        for _ in 0..MAX_ATTEMPTS {
            let stamp = Stamp {
                version_key: &version_key,
                version: versions.hlc.now(),
                tombstone_ms: versions.tombstone_ms,
            };
            let done = self
                .modify(key, |node, now| async move {
                    node.link.versioned(key, stamp, op, now).await
                })
                .await?;
            match done {
                Versioned::Done(answer, state) => {
                    if let Some(state) = state {
                        let entry = self.entry_of(versions, state);
                        Receipts::record(key, entry);
                    }
                    return Ok(answer);
                }
                // Held by this region before a restart, or by another
                // region's change: either way later stamps must pass it.
                // This attempt's own version: an earlier send of it ran
                // (the client retried after a lost reply). Running it again
                // would apply it twice; its answer is lost.
                Versioned::Newer(held) if held == stamp.version => {
                    return Err(CacheError::Interrupted {
                        what: "a versioned write",
                        reason: "it was applied, but its answer was lost".into(),
                    });
                }
                Versioned::Newer(held) => versions.hlc.resume(held),
            }
        }
        Err(CacheError::Interrupted {
            what: "a versioned write",
            reason: format!(
                "the key kept a newer version through {MAX_ATTEMPTS} attempts; try again"
            ),
        })
    }

    /// A forwarded command that writes, in a region: run on its keys' node
    /// under a version, every key stamped, so the key's version orders it
    /// against other regions' changes as any write. A blocking one is
    /// refused: it could wait holding a version older than what lands
    /// meanwhile.
    pub(super) async fn forward_versioned(
        &self,
        versions: &Versions,
        command: Forwarded<'_>,
    ) -> Result<Value, CacheError> {
        if command.block != Block::No {
            return Err(CacheError::NotInRegion {
                command: command.name.to_owned(),
                reason: "it would wait holding a version older than what lands meanwhile; use its non-blocking form",
            });
        }
        let topology = self.topology();
        let node = if self.cluster {
            let slot = key_slot(command.keys[0]);
            if command.keys.iter().any(|key| key_slot(key) != slot) {
                return Err(CacheError::cross_slot());
            }
            topology.nodes.first().cloned().ok_or(CacheError::NoNode)?
        } else {
            let index = topology.first_up(command.keys[0], 1);
            if command
                .keys
                .iter()
                .any(|key| topology.first_up(key, 1) != index)
            {
                return Err(CacheError::cross_slot());
            }
            topology.nodes[index.ok_or(CacheError::NoNode)?].clone()
        };
        let version_keys = command
            .keys
            .iter()
            .map(|key| self.version_key_of(key))
            .collect::<Result<Vec<_>, _>>()?;
        for _ in 0..MAX_ATTEMPTS {
            let stamp = (versions.hlc.now(), versions.tombstone_ms);
            let ran = self
                .on_node(&node, |link| {
                    link.forward_versioned(
                        command.keys,
                        &version_keys,
                        stamp,
                        command.argv,
                        command.resp3,
                    )
                })
                .await?;
            match ran {
                Ok(reply) => return Ok(reply),
                // An earlier send of this very attempt ran (see
                // `write_versioned`): not again.
                Err(held) if held == stamp.0 => {
                    return Err(CacheError::Interrupted {
                        what: "a versioned write",
                        reason: "it was applied, but its answer was lost".into(),
                    });
                }
                Err(held) => versions.hlc.resume(held),
            }
        }
        Err(CacheError::Interrupted {
            what: "a versioned write",
            reason: format!(
                "a key kept a newer version through {MAX_ATTEMPTS} attempts; try again"
            ),
        })
    }

    /// Refuses what would write in Redis without a version in a region:
    /// scripts and functions (their writes are their own, unseen here) and
    /// transactions that write.
    pub(super) fn refuse_unversioned(&self, command: &str) -> Result<(), CacheError> {
        if self.versions.is_none() {
            return Ok(());
        }
        let reason = match command {
            "eval" | "evalsha" | "fcall" => {
                "a script's writes could not be versioned or logged; the read-only forms (EVAL_RO, FCALL_RO) run"
            }
            "exec" => "a transaction's writes could not be versioned or logged; send its commands on their own",
            _ => return Ok(()),
        };
        Err(CacheError::NotInRegion {
            command: command.to_owned(),
            reason,
        })
    }

    /// Another region's entries (values and tombstones at their versions),
    /// each stored only if newer than what its key holds.
    pub async fn apply_versioned(
        &self,
        entries: Vec<SetEntry>,
    ) -> Result<Vec<ReplicaApply>, CacheError> {
        let versions = self.versions()?;
        self.refresh_floor(versions).await;
        // Keys apart are applied concurrently (one pipelined script each on
        // the node's connections); a key's own changes in order, oldest
        // first (the newer wins either way, but the counts would differ).
        let mut by_key: IndexMap<&Bytes, Vec<usize>> = IndexMap::new();
        for (i, (key, _)) in entries.iter().enumerate() {
            by_key.entry(key).or_default().push(i);
        }
        let mut chains = Vec::with_capacity(by_key.len());
        for (key, positions) in by_key {
            chains.push(self.apply_chain(versions, key, positions, &entries));
        }
        let mut outcomes = vec![ReplicaApply::Older; entries.len()];
        let mut applied = futures_util::stream::iter(chains).buffer_unordered(APPLY_CONCURRENCY);
        while let Some(chain) = applied.next().await {
            for (i, outcome) in chain? {
                outcomes[i] = outcome;
            }
        }
        Ok(outcomes)
    }

    /// One key's changes of a batch, in order (see [`Fleet::apply_versioned`]).
    async fn apply_chain(
        &self,
        versions: &Versions,
        key: &Bytes,
        positions: Vec<usize>,
        entries: &[SetEntry],
    ) -> Result<Vec<(usize, ReplicaApply)>, CacheError> {
        let mut outcomes = Vec::with_capacity(positions.len());
        for i in positions {
            let outcome = match self.apply_one(versions, key, &entries[i].1, false).await? {
                ApplyOutcome::Applied => ReplicaApply::Applied,
                ApplyOutcome::Older => ReplicaApply::Older,
                ApplyOutcome::Forgotten | ApplyOutcome::Unproven => ReplicaApply::Forgotten,
            };
            outcomes.push((i, outcome));
        }
        Ok(outcomes)
    }

    /// A read-through fill in a region: stored at `since` (the version the
    /// miss took) only if that is newer than what the key holds and, unless
    /// `replace` (a refresh-ahead), the key holds no value; `true` when
    /// stored.
    pub async fn fill_versioned(
        &self,
        key: &Bytes,
        value: Bytes,
        expires_at: Option<UnixMillis>,
        since: Version,
        replace: bool,
    ) -> Result<bool, CacheError> {
        let versions = self.versions()?;
        let entry = Stored::versioned(value, expires_at, since);
        let outcome = self.apply_one(versions, key, &entry, !replace).await?;
        Ok(outcome == ApplyOutcome::Applied)
    }

    async fn apply_one(
        &self,
        versions: &Versions,
        key: &Bytes,
        entry: &Stored,
        fill: bool,
    ) -> Result<ApplyOutcome, CacheError> {
        let Some(version_key) = version_key(key, self.cluster) else {
            // Such a key is never written in this region: nothing to update.
            return Ok(ApplyOutcome::Forgotten);
        };
        let node = self.versioned_node(key)?;
        let incoming = Incoming {
            entry,
            fill,
            floor: versions.floor_of(node.id.as_str()),
        };
        let (ttl, now) = (versions.tombstone_ms, self.now_millis());
        self.on_node(&node, |link| {
            link.apply_versioned(key, &version_key, incoming, ttl, now)
        })
        .await
    }

    /// What each key holds, tombstones included, with versions: reading back
    /// what a client write left, for the change log. A hash, list, set or
    /// sorted set reads as a tombstone at a fresh version (collections are
    /// not replicated: the other regions drop the key).
    /// A key with a receipt (`receipts`: what this request's own writes
    /// left, as their scripts answered) is not read again.
    pub async fn peek_entries(
        &self,
        keys: &[Bytes],
        receipts: Option<&Receipts>,
    ) -> Result<Vec<Option<Stored>>, CacheError> {
        let versions = self.versions()?;
        let peeks = keys.iter().map(|key| async move {
            match receipts.map(|r| r.newest(key)) {
                Some(Some(entry)) => Ok(entry),
                // Not written by this request (its write failed): read if
                // possible, and left out rather than failing the others.
                Some(None) => Ok(self.peek_one(versions, key).await.unwrap_or(None)),
                None => self.peek_one(versions, key).await,
            }
        });
        join_all(peeks).await.into_iter().collect()
    }

    async fn peek_one(
        &self,
        versions: &Versions,
        key: &[u8],
    ) -> Result<Option<Stored>, CacheError> {
        let Some(version_key) = version_key(key, self.cluster) else {
            return Ok(None);
        };
        let node = self.versioned_node(key)?;
        let now = self.now_millis();
        let peeked = self
            .on_node(&node, |link| link.peek_versioned(key, &version_key, now))
            .await?;
        Ok(self.entry_of(versions, peeked))
    }

    /// What a key's state is logged as: a value, or a tombstone (a hash,
    /// list, set or sorted set is logged as the key's removal, at its own
    /// version when it has one).
    fn entry_of(&self, versions: &Versions, peeked: Peeked) -> Option<Stored> {
        let until = self.now_millis().saturating_add(versions.tombstone_ms);
        match peeked {
            // No version: nothing this region wrote (a write stamps one).
            Peeked::Value(entry) if entry.version().is_none() => None,
            Peeked::Value(entry) => Some(entry),
            Peeked::Absent(Some(version)) | Peeked::Other(Some(version)) => {
                Some(Stored::tombstone(version, Some(until)))
            }
            Peeked::Absent(None) | Peeked::Other(None) => None,
        }
    }

    /// A read in a region: the string at `key` with its version (what a
    /// REST read shows), `None` for nothing or another type.
    pub(super) async fn get_versioned(&self, key: &[u8]) -> Result<Option<Stored>, CacheError> {
        let Some(version_key) = version_key(key, self.cluster) else {
            return self.read_past_near(key, true).await;
        };
        let node = self.versioned_node(key)?;
        let now = self.now_millis();
        match self
            .on_node(&node, |link| link.peek_versioned(key, &version_key, now))
            .await?
        {
            Peeked::Value(entry) => Ok(Some(entry)),
            Peeked::Absent(_) => Ok(None),
            // A plain GET answers the type error, as without a region.
            Peeked::Other(_) => Err(CacheError::wrong_type()),
        }
    }

    /// The node a key lives on in a region: its one replica, up.
    fn versioned_node(&self, key: &[u8]) -> Result<Arc<FleetNode>, CacheError> {
        let topology = self.topology();
        let index = topology.first_up(key, 1).ok_or(CacheError::NoNode)?;
        Ok(topology.nodes[index].clone())
    }

    /// A resync: removes every key (and tombstone) whose version is older
    /// than `floor`, or unknown, on every node, and raises the forgotten
    /// floor to it. Answers how many keys went.
    pub async fn drop_older_than(&self, floor: Version) -> Result<u64, CacheError> {
        let versions = self.versions()?;
        versions.raise_floor(floor);
        let topology = self.topology();
        let now = self.now_millis();
        let mut dropped = 0;
        for node in topology.nodes.iter() {
            let mut cursor = 0;
            loop {
                let (next, keys) = self
                    .on_node(node, |link| link.scan(cursor, 1000, now))
                    .await?;
                let pairs: Vec<(Vec<u8>, Vec<u8>)> = keys
                    .iter()
                    .filter(|(key, _)| !key.starts_with(super::LEASE_PREFIX))
                    .filter_map(|(key, _)| match versioned_key(key) {
                        Some(data) if is_version_key(key) => Some((data.to_vec(), key.to_vec())),
                        _ => version_key(key, self.cluster).map(|v| (key.to_vec(), v)),
                    })
                    .collect();
                for chunk in pairs.chunks(DROP_CONCURRENCY) {
                    let drops = chunk
                        .iter()
                        .map(|(key, version_key)| node.link.drop_unproven(key, version_key, floor));
                    for outcome in join_all(drops).await {
                        dropped += u64::from(outcome?);
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(dropped)
    }

    /// Every key whose version this region (`region`, its tie-break index)
    /// stamped after `after`, with what it holds: the writes Redis kept but
    /// the change log never got (the gateway was killed between a write's
    /// script and its record). One SCAN of every node, at start-up.
    pub async fn own_unlogged(
        &self,
        region: u8,
        after: Version,
    ) -> Result<Vec<SetEntry>, CacheError> {
        let versions = self.versions()?;
        let topology = self.topology();
        let now = self.now_millis();
        let mut found = Vec::new();
        for node in topology.nodes.iter() {
            let mut cursor = 0;
            loop {
                let (next, keys) = self
                    .on_node(node, |link| link.scan(cursor, 1000, now))
                    .await?;
                let version_keys: Vec<&Bytes> = keys
                    .iter()
                    .map(|(k, _)| k)
                    .filter(|k| is_version_key(k))
                    .collect();
                for chunk in version_keys.chunks(DROP_CONCURRENCY) {
                    let reads = chunk.iter().map(|vkey| node.link.get_value(vkey));
                    for (vkey, held) in chunk.iter().zip(join_all(reads).await) {
                        let mine = held?
                            .as_deref()
                            .and_then(parse_version)
                            .is_some_and(|v| v > after && region_index(v) == region);
                        let Some(key) = versioned_key(vkey).filter(|_| mine) else {
                            continue;
                        };
                        let key = Bytes::copy_from_slice(key);
                        if let Some(entry) = self.peek_one(versions, &key).await? {
                            found.push((key, entry));
                        }
                    }
                }
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(found)
    }

    /// After a flush in a region: nothing older than now can be proven.
    pub(super) fn forget_all(&self) {
        if let Some(versions) = &self.versions {
            versions.raise_floor(versions.hlc.now());
        }
    }

    /// Raises a node's forgotten floor to now when it evicted keys since
    /// the last look (its version keys among them, perhaps). A node that does
    /// not answer raises its own too: it may have lost anything meanwhile.
    async fn refresh_floor(&self, versions: &Versions) {
        let topology = self.topology();
        let looks = topology.nodes.iter().map(|node| async move {
            let evicted = self.on_node(node, |link| link.evicted_keys()).await;
            let raised = match evicted {
                Ok(evicted) => versions.evicted_more(node.id.as_str(), evicted),
                Err(_) => true,
            };
            if raised {
                versions.raise_node_floor(node.id.as_str(), versions.hlc.now());
            }
        });
        join_all(looks).await;
    }

    fn versions(&self) -> Result<&Versions, CacheError> {
        self.versions.as_deref().ok_or(CacheError::Unsupported {
            operation: "versioned replication between regions",
            backend: "redis",
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn version_keys_share_their_keys_slot_and_read_back() {
        use crate::backend::redis_link::key_slot;
        for key in [&b"plain"[..], b"{user1}.name", b"a{b", b"{a}}b"] {
            let version = version_key(key, true).unwrap();
            assert!(is_version_key(&version));
            assert_eq!(key_slot(&version), key_slot(key), "{:?}", key);
            assert_eq!(versioned_key(&version), Some(key));
        }
        assert_eq!(version_key(b"a}b", true), None, "no slot-mate on a cluster");
        let standalone = version_key(b"a}b", false).unwrap();
        assert_eq!(versioned_key(&standalone), Some(&b"a}b"[..]));
        assert!(!is_version_key(b"roost:lease:{k}"));
    }
}
