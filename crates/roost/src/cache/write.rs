//! The one write path. Every mutation — a set with or without conditions, a
//! delete, an expiry change, INCR, APPEND, a multi-set, a flush — is a typed
//! [`Write`] applied by [`Cache::apply`]: validated, sent to the backend,
//! counted (client writes only) and shown to the write taps, in that one place.
//! The front doors' convenience methods (`set`, `put`, `delete`, `incr_by` …)
//! only build a client `Write` and unpack its [`Applied`].
//!
//! Keys on different nodes are not locked together: MSET writes its entries
//! concurrently, MSETNX checks every key and undoes its own writes when it
//! loses a race (see [`Change::MsetNx`]).
//!
//! In a region (issue 16) a client write is acknowledged only once it is
//! logged: after it succeeds, every key it touched is read back as stored
//! (tombstones and versions included) and handed to the [`ChangeSink`];
//! another region's changes arrive as [`Change::Replicate`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use roost_store::{AbsentInserts, ReplicaApply, UnixMillis};

use super::strings::{SetOptions, SetResult};
use super::taps::ChangeSink;
use super::{Cache, Expiry, Found, Item};
use crate::backend::fleet::Receipts;
use crate::backend::{Backend, Condition, Deadline, LeaseHeld, RetimeCondition, SetEntry, Stored};
use crate::error::{CacheError, Cause};
use crate::telemetry::Op;

/// Who caused a read or a write. Only `Client` traffic is counted in the
/// request metrics and the hit ratio; every origin reaches the taps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Origin {
    /// A request through a front door (REST or RESP).
    Client,
    /// Roost loading or refreshing an entry ahead of demand.
    Warming,
    /// A write replicated from another region.
    Region,
    /// Roost restoring an entry it lost or holds stale.
    Repair,
    /// Roost storing a value it loaded from the origin on a client's miss
    /// (`cache/read_through.rs`).
    ReadThrough,
}

/// A mutation and who caused it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub change: Change,
    pub origin: Origin,
}

impl Write {
    /// A write a client asked for.
    pub fn client(change: Change) -> Write {
        Write {
            change,
            origin: Origin::Client,
        }
    }
}

/// What a write changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A plain set: the value with its expiry, whatever was there.
    Put {
        key: Bytes,
        value: Bytes,
        expiry: Expiry,
    },
    /// A set with Redis's options (NX / XX / GET / KEEPTTL), atomic with
    /// reading the value it replaces.
    Set {
        key: Bytes,
        value: Bytes,
        options: SetOptions,
    },
    /// Independent plain sets (a RESP pipeline's), each checked and answered
    /// on its own and sent as one batch. Keys must be distinct in front of
    /// Redis; the embedded store applies repeated keys in order.
    PutEach(Vec<Item>),
    /// Every entry, validated before any is written (MSET); a key given twice
    /// ends with its last value.
    Mset(Vec<Item>),
    /// Every entry only if none of the keys exists (MSETNX): every key is
    /// checked, then each written only if still absent; if a concurrent
    /// writer created one in between, the keys this write made are removed
    /// again and nothing is written.
    MsetNx(Vec<Item>),
    /// Removes one key.
    Delete(Bytes),
    /// Removes every key given, in one batch per node (DEL, UNLINK).
    DeleteMany(Vec<Bytes>),
    /// Removes a key and answers its value (GETDEL).
    Take(Bytes),
    /// Reads a key and gives it a new expiry in the same step (GETEX with an
    /// option); `Expiry::Never` removes its deadline.
    Retime { key: Bytes, expiry: Expiry },
    /// Gives a live key the deadline `at` (unix ms; one already past removes
    /// the key) when `condition` allows (the EXPIRE family).
    ExpireAt {
        key: Bytes,
        at: i64,
        condition: RetimeCondition,
    },
    /// Removes a live key's deadline (PERSIST).
    Persist(Bytes),
    /// Adds to the integer at a key, missing counting as 0 (INCRBY …).
    IncrBy { key: Bytes, delta: i64 },
    /// Appends to the value at a key, creating it without expiry (APPEND).
    Append { key: Bytes, suffix: Bytes },
    /// Removes every entry on every node.
    Flush,
    /// Stores a value loaded from the origin, only while the key is absent
    /// and, with a lease, only while the lease still holds its token: a
    /// fill never overwrites a write (see `cache/read_through.rs`).
    /// `replace`: a refresh-ahead's fill, stored over the present value (the
    /// lease, and the flight's fill lock in this gateway, still order it
    /// after client writes; see `cache/ahead.rs`).
    /// `since`: in a region, the version the miss took before asking the
    /// origin; the fill is stored only if that is newer than what the key
    /// holds, so a change another region made after the miss began (a
    /// delete's tombstone included) wins over the origin's older answer.
    Fill {
        key: Bytes,
        value: Bytes,
        expiry: Expiry,
        lease: Option<LeaseHeld>,
        replace: bool,
        since: Option<roost_store::Version>,
    },
    /// Entries read back from a snapshot (`crate::snapshot`), each with its
    /// own absolute deadline, stored only where the key holds no live value
    /// (a client write since start-up wins); expired ones and ones over the
    /// limits are skipped. The embedded store only: a Redis fleet keeps its
    /// own data and writes nothing.
    Restore(Vec<SetEntry>),
    /// Another region's changes (`crate::geo`): each entry — a value or a
    /// tombstone, at its version — is stored only if it is newer than what
    /// the key holds here (a tombstone included), so a late or repeated
    /// change is a no-op. The embedded store only.
    Replicate(Vec<SetEntry>),
    /// Removes every entry (values and tombstones) whose version is older
    /// than the given one: a resync after a peer's log no longer covers this
    /// region's cursor drops what cannot be proven fresh.
    DropOlder(roost_store::Version),
}

impl Change {
    /// The operation a client write is counted under; `None` for a batch
    /// whose entries are counted one by one.
    fn op(&self) -> Option<Op> {
        Some(match self {
            Change::Put { .. } | Change::Set { .. } => Op::Set,
            Change::PutEach(_) => return None,
            Change::Mset(_) | Change::MsetNx(_) => Op::Mset,
            Change::Delete(_) | Change::DeleteMany(_) => Op::Delete,
            Change::Take(_) => Op::Getdel,
            Change::Retime { .. } => Op::Getex,
            Change::ExpireAt { .. } | Change::Persist(_) => Op::Expire,
            Change::IncrBy { .. } => Op::Incr,
            Change::Append { .. } => Op::Append,
            Change::Flush => Op::Flush,
            Change::Fill { .. }
            | Change::Restore(_)
            | Change::Replicate(_)
            | Change::DropOlder(_) => return None,
        })
    }

    /// Calls `each` with every key the change touches (none for a flush).
    pub fn each_key(&self, mut each: impl FnMut(&[u8])) {
        match self {
            Change::Put { key, .. }
            | Change::Set { key, .. }
            | Change::Delete(key)
            | Change::Take(key)
            | Change::Retime { key, .. }
            | Change::ExpireAt { key, .. }
            | Change::Persist(key)
            | Change::IncrBy { key, .. }
            | Change::Append { key, .. }
            | Change::Fill { key, .. } => each(key),
            Change::PutEach(items) | Change::Mset(items) | Change::MsetNx(items) => {
                items.iter().for_each(|item| each(&item.key))
            }
            Change::DeleteMany(keys) => keys.iter().for_each(|key| each(key)),
            Change::Restore(entries) | Change::Replicate(entries) => {
                entries.iter().for_each(|(key, _)| each(key))
            }
            Change::Flush | Change::DropOlder(_) => {}
        }
    }

    /// The keys a region's change log records after this change succeeds
    /// (each once, in order): every key a client change touches. `None` for
    /// what is not logged: a flush (local only), fills and restores, and
    /// changes that came from another region.
    /// Whether a successful change of this kind may store a value at each of
    /// its keys (whether it did is [`Applied::wrote_value`]).
    fn creates_values(&self) -> bool {
        matches!(
            self,
            Change::Put { .. }
                | Change::Set { .. }
                | Change::PutEach(_)
                | Change::Mset(_)
                | Change::MsetNx(_)
                | Change::IncrBy { .. }
                | Change::Append { .. }
        )
    }

    fn logged_keys(&self) -> Option<Vec<Bytes>> {
        match self {
            Change::Flush
            | Change::Fill { .. }
            | Change::Restore(_)
            | Change::Replicate(_)
            | Change::DropOlder(_) => None,
            _ => {
                let mut seen = HashSet::new();
                let mut keys = Vec::new();
                self.each_key(|key| {
                    let key = Bytes::copy_from_slice(key);
                    if seen.insert(key.clone()) {
                        keys.push(key);
                    }
                });
                Some(keys)
            }
        }
    }

    /// The keys whose values this change may replace or remove, for read-through's
    /// ordering of fills after writes; `None` for a flush (every key).
    pub(super) fn replaced_keys(&self) -> Option<Vec<&Bytes>> {
        Some(match self {
            Change::Put { key, .. }
            | Change::Set { key, .. }
            | Change::Delete(key)
            | Change::Take(key)
            | Change::IncrBy { key, .. }
            | Change::Append { key, .. } => vec![key],
            Change::PutEach(entries) | Change::Mset(entries) | Change::MsetNx(entries) => {
                entries.iter().map(|e| &e.key).collect()
            }
            Change::DeleteMany(keys) => keys.iter().collect(),
            Change::Replicate(entries) => entries.iter().map(|(key, _)| key).collect(),
            Change::DropOlder(_) => return None,
            // An expiry change, a fill or a restore replaces no value.
            Change::Retime { .. }
            | Change::ExpireAt { .. }
            | Change::Persist(_)
            | Change::Fill { .. }
            | Change::Restore(_) => Vec::new(),
            Change::Flush => return None,
        })
    }
}

/// What a write did.
#[derive(Debug, Clone)]
pub enum Applied {
    /// A plain set was stored.
    Stored,
    /// What a set with options found and did.
    Set(SetResult),
    /// Each entry's outcome, in order ([`Change::PutEach`]).
    Each(Vec<Result<(), CacheError>>),
    /// Entries written (MSET), keys removed (DEL, flush).
    Count(u64),
    /// Whether it happened: a key deleted, MSETNX written, a deadline changed.
    Done(bool),
    /// The value before the write (GETDEL, GETEX).
    Value(Option<Bytes>),
    /// The new integer (INCRBY).
    Integer(i64),
    /// The new length (APPEND).
    Length(usize),
    /// What a restore stored and skipped.
    Restored(AbsentInserts),
    /// What another region's changes did here.
    Replicated(Replicated),
}

/// What [`Change::Replicate`] did with its entries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replicated {
    /// Stored: newer than what the key held.
    pub applied: u64,
    /// Not stored: the key holds this version or a newer one (a conflict
    /// resolved, or a change seen before).
    pub older: u64,
    /// Not stored: the key is absent here and the change is not newer than
    /// the newest version this store has forgotten (evicted or expired), so
    /// it cannot be proven fresh.
    pub forgotten: u64,
    /// Refused: over the limits (key or value size, memory).
    pub refused: u64,
}

impl Applied {
    /// Whether a change that may store values did (a conditional SET or
    /// MSETNX that found its condition false did not).
    fn wrote_value(&self) -> bool {
        match self {
            Applied::Set(result) => result.written,
            Applied::Done(done) => *done,
            _ => true,
        }
    }
}

/// One `Applied::into_*` per kind of answer: what each change answers is
/// fixed by its kind (see `perform`), and the convenience methods unpack it.
macro_rules! unpack {
    ($($method:ident -> $variant:ident($answer:ty)),* $(,)?) => {
        impl Applied {
            $(
                pub fn $method(self) -> $answer {
                    match self {
                        Applied::$variant(answer) => answer,
                        other => unexpected(stringify!($variant), &other),
                    }
                }
            )*
        }
    };
}

unpack! {
    into_set -> Set(SetResult),
    into_each -> Each(Vec<Result<(), CacheError>>),
    into_count -> Count(u64),
    into_done -> Done(bool),
    into_value -> Value(Option<Bytes>),
    into_integer -> Integer(i64),
    into_length -> Length(usize),
    into_restored -> Restored(AbsentInserts),
    into_replicated -> Replicated(Replicated),
}

fn unexpected(wanted: &str, got: &Applied) -> ! {
    panic!("invariant: each change answers one kind of Applied; wanted {wanted}, got {got:?}")
}

impl Cache {
    /// Applies one write: the one path every mutation takes.
    pub async fn apply(&self, write: Write) -> Result<Applied, CacheError> {
        let watched = self.taps.watches_writes().then(|| write.clone());
        let Write { change, origin } = write;
        let op = change.op();
        let start = Instant::now();
        if origin == Origin::Client {
            // Before the write, so a restore never lands between the write
            // and its record (`fence.rs`).
            if let Some(fence) = &self.fence {
                fence.client_write(&change);
            }
            if self.origin.is_some() {
                self.before_client_write(&change).await;
            }
        }
        // Armed from before the write until its record is handed to the
        // log, so a request dropped in between still logs what it applied.
        let mut unlogged = match (&self.sink, origin) {
            (Some(sink), Origin::Client) => change.logged_keys().map(|keys| Unlogged {
                cache: self,
                sink,
                wrote: change.creates_values(),
                keys: Some(keys),
                receipts: self.backend.is_remote().then(Arc::default),
            }),
            _ => None,
        };
        let receipts = unlogged.as_ref().and_then(|u| u.receipts.clone());
        let result = match receipts {
            Some(receipts) => receipts.gather(self.perform(change, origin)).await,
            None => self.perform(change, origin).await,
        };
        // The taps see what the write did here, logged or not.
        if let Some(write) = watched {
            self.taps.write(&write, result.as_ref());
        }
        let result = match (result, unlogged.as_mut()) {
            (Ok(applied), Some(unlogged)) => {
                unlogged.wrote &= applied.wrote_value();
                unlogged.log().await.map(|()| applied)
            }
            (Err(error), Some(unlogged)) if unlogged.receipts.is_some() => {
                // In front of Redis a failed write may have changed some of
                // its keys (a batch across nodes, a reply lost after the
                // script ran): what its keys hold now is logged all the
                // same (each state at its own version, so logging one again
                // is harmless); the client still gets the error.
                unlogged.wrote = false;
                if let Err(not_logged) = unlogged.log().await {
                    tracing::warn!(error = %not_logged.chain(), "a failed write's keys could not be logged");
                }
                Err(error)
            }
            (result, Some(unlogged)) => {
                // A failed write is answered as failed and not logged.
                unlogged.keys = None;
                result
            }
            (result, None) => result,
        };
        if let (Some(op), Origin::Client) = (op, origin) {
            self.metrics.record(op, result.is_ok(), start.elapsed());
        }
        result
    }

    /// What a client write left at `keys`: values and tombstones, with
    /// their versions. A key holding nothing is left out, unless the write
    /// stored a value there (`wrote`): then the value was evicted or expired
    /// before the read-back, and a tombstone at a fresh version stands in,
    /// so the other regions drop their older value as this one did.
    /// `receipts`: what the write's own scripts answered, in front of Redis.
    async fn read_back(
        &self,
        keys: &[Bytes],
        wrote: bool,
        receipts: Option<&Receipts>,
    ) -> Result<Vec<SetEntry>, CacheError> {
        let held = self.backend.versioned_entries(keys, receipts).await?;
        // A receipt is the key's state right after the write: a key without
        // one was not written by it, so no tombstone stands in for it.
        Ok(self.left_behind(keys, held, wrote && receipts.is_none()))
    }

    /// [`Cache::read_back`] without waiting: the embedded store only (a
    /// request dropped mid-write, see [`Unlogged`]'s `Drop`).
    fn read_back_now(&self, keys: &[Bytes], wrote: bool) -> Result<Vec<SetEntry>, CacheError> {
        let held = self.backend.peek_entries(keys)?;
        Ok(self.left_behind(keys, held, wrote))
    }

    /// The entries to log for `keys`, given what each holds (see
    /// [`Cache::read_back`]).
    fn left_behind(&self, keys: &[Bytes], held: Vec<Option<Stored>>, wrote: bool) -> Vec<SetEntry> {
        keys.iter()
            .zip(held)
            .filter_map(|(key, entry)| {
                let entry = entry.or_else(|| wrote.then(|| self.backend.fresh_tombstone())?)?;
                // A collection is not replicated: the other regions drop the
                // key, at the collection's version (a change between the two
                // is then ordered the same way everywhere).
                let entry = match entry.collection() {
                    Some(_) => {
                        let fresh = self.backend.fresh_tombstone()?;
                        match entry.version() {
                            version if version.is_none() => fresh,
                            version => Stored::tombstone(version, fresh.expires_at),
                        }
                    }
                    None => entry,
                };
                Some((key.clone(), entry))
            })
            .collect()
    }

    async fn perform(&self, change: Change, origin: Origin) -> Result<Applied, CacheError> {
        match change {
            Change::Put { key, value, expiry } => {
                let expires_at = self.check_write(&key, &value, expiry)?;
                self.backend.set(key, value, expires_at).await?;
                Ok(Applied::Stored)
            }
            Change::Set {
                key,
                value,
                options,
            } => self.set_conditional(key, value, options).await,
            Change::PutEach(entries) => Ok(Applied::Each(self.put_each(entries, origin).await)),
            Change::Mset(entries) => self.mset_all(entries).await,
            Change::MsetNx(entries) => Box::pin(self.mset_if_none(entries)).await,
            Change::Delete(key) => {
                self.check_key(&key)?;
                Ok(Applied::Done(self.backend.delete(&key).await?))
            }
            Change::DeleteMany(keys) => {
                self.check_keys(&keys)?;
                let mut removed = 0;
                for outcome in self.backend.delete_many(&keys).await {
                    removed += u64::from(outcome?);
                }
                Ok(Applied::Count(removed))
            }
            Change::Take(key) => {
                self.check_key(&key)?;
                let taken = self.backend.take(key).await?;
                Ok(Applied::Value(taken.map(|s| s.value)))
            }
            Change::Retime { key, expiry } => {
                self.check_key(&key)?;
                let deadline = self.deadline(expiry)?;
                let found = self.backend.get_and_retime(key.clone(), deadline).await?;
                // The deadline is the one this GETEX just set: no refresh cue.
                let seen = if found.is_some() {
                    Found::Hit(None)
                } else {
                    Found::Miss
                };
                self.looked_up(&key, seen, origin);
                Ok(Applied::Value(found.map(|s| s.value)))
            }
            Change::ExpireAt { key, at, condition } => {
                self.expire_at_time(key, at, condition).await
            }
            Change::Persist(key) => {
                self.check_key(&key)?;
                let condition = RetimeCondition::HasDeadline;
                let changed = self.backend.retime(key, None, condition).await?;
                Ok(Applied::Done(changed))
            }
            Change::IncrBy { key, delta } => {
                self.check_key(&key)?;
                Ok(Applied::Integer(self.backend.incr_by(key, delta).await?))
            }
            Change::Append { key, suffix } => {
                self.check_key(&key)?;
                let max = self.limits.max_value_bytes;
                let len = self.backend.append(key, &suffix, max).await?;
                Ok(Applied::Length(len))
            }
            Change::Flush => {
                let removed = self.backend.flush().await?;
                tracing::warn!(removed, ?origin, "cache flushed");
                Ok(Applied::Count(removed))
            }
            Change::Fill {
                key,
                value,
                expiry,
                lease,
                replace,
                since,
            } => {
                let expires_at = self.check_write(&key, &value, expiry)?;
                let stored = self
                    .backend
                    .fill(key, value, expires_at, lease.as_ref(), replace, since)
                    .await?;
                Ok(Applied::Done(stored))
            }
            Change::Restore(entries) => {
                let (valid, refused) = self.within_limits(entries);
                let mut done = match &self.fence {
                    Some(fence) => fence.restore(valid, |valid| self.backend.restore(valid)),
                    None => self.backend.restore(valid),
                };
                done.too_large += refused;
                Ok(Applied::Restored(done))
            }
            Change::Replicate(entries) => self.replicate(entries).await,
            Change::DropOlder(version) => {
                // One pass over every shard under its write lock: on the
                // blocking pool, not on a worker serving requests.
                if let Backend::Fleet(fleet) = &*self.backend {
                    return Ok(Applied::Count(fleet.drop_older_than(version).await?));
                }
                let backend = self.backend.clone();
                let dropped =
                    crate::tasks::Tasks::run_blocking(move || backend.drop_older_than(version))
                        .await
                        .map_err(|error| CacheError::Interrupted {
                            what: "dropping entries older than a resync's version",
                            reason: error.to_string(),
                        })??;
                Ok(Applied::Count(dropped))
            }
        }
    }

    /// The entries within the key and value limits, and how many were not
    /// (a snapshot's or another region's entries: checked, never trusted).
    fn within_limits(&self, entries: Vec<SetEntry>) -> (Vec<SetEntry>, u64) {
        let count = entries.len() as u64;
        let valid: Vec<SetEntry> = entries
            .into_iter()
            .filter(|(key, hit)| {
                self.check_key(key).is_ok() && self.check_value(&hit.value).is_ok()
            })
            .collect();
        let refused = count - valid.len() as u64;
        (valid, refused)
    }

    /// Another region's entries, each stored only if newer than what its key
    /// holds; entries over the key or value limits are refused unapplied.
    async fn replicate(&self, entries: Vec<SetEntry>) -> Result<Applied, CacheError> {
        let (valid, refused) = self.within_limits(entries);
        let mut done = Replicated {
            refused,
            ..Replicated::default()
        };
        for outcome in self.backend.apply_versioned(valid).await? {
            match outcome {
                ReplicaApply::Applied => done.applied += 1,
                ReplicaApply::Older => done.older += 1,
                ReplicaApply::Forgotten => done.forgotten += 1,
                ReplicaApply::Refused => done.refused += 1,
            }
        }
        Ok(Applied::Replicated(done))
    }

    async fn set_conditional(
        &self,
        key: Bytes,
        value: Bytes,
        options: SetOptions,
    ) -> Result<Applied, CacheError> {
        self.check_key(&key)?;
        self.check_value(&value)?;
        let deadline = match options.keep_ttl {
            true => Deadline::Keep,
            false => Deadline::Set(self.deadline(options.expiry)?),
        };
        let outcome = self
            .backend
            .set_conditional(
                key,
                value,
                options.condition,
                deadline,
                options.returns_previous,
            )
            .await?;
        Ok(Applied::Set(SetResult {
            written: outcome.written,
            previous: outcome.previous.map(|s| s.value),
        }))
    }

    /// Each entry checked on its own, the accepted ones written as one batch;
    /// each outcome counted (for a client) with the batch's latency.
    async fn put_each(&self, entries: Vec<Item>, origin: Origin) -> Vec<Result<(), CacheError>> {
        let check = |entry: Item| -> Result<SetEntry, CacheError> {
            let expires_at = self.check_write(&entry.key, &entry.value, entry.expiry)?;
            Ok((entry.key, Stored::new(entry.value, expires_at)))
        };
        let run = |accepted: Vec<SetEntry>| self.backend.set_many(accepted);
        self.batched(Op::Set, origin, entries, check, run).await
    }

    async fn mset_all(&self, entries: Vec<Item>) -> Result<Applied, CacheError> {
        let deadlines = self.check_entries(&entries)?;
        let count = entries.len();
        // A key given twice ends with its last value, as when written in
        // order; the batch below may write its keys concurrently.
        let mut last = HashMap::with_capacity(count);
        for (i, entry) in entries.iter().enumerate() {
            last.insert(entry.key.clone(), i);
        }
        let batch: Vec<SetEntry> = entries
            .into_iter()
            .zip(deadlines)
            .enumerate()
            .filter(|(i, (entry, _))| last.get(&entry.key) == Some(i))
            .map(|(_, (entry, expires_at))| (entry.key, Stored::new(entry.value, expires_at)))
            .collect();
        for result in self.backend.set_many(batch).await {
            result?;
        }
        Ok(Applied::Count(count as u64))
    }

    async fn mset_if_none(&self, entries: Vec<Item>) -> Result<Applied, CacheError> {
        let deadlines = self.check_entries(&entries)?;
        let keys: Vec<&[u8]> = entries.iter().map(|e| &e.key[..]).collect();
        for exists in self.backend.peek_many(&keys).await {
            if exists? {
                return Ok(Applied::Done(false));
            }
        }
        let mut seen = HashSet::with_capacity(entries.len());
        let last_of_each: Vec<_> = entries
            .into_iter()
            .zip(deadlines)
            .rev()
            .filter(|(entry, _)| seen.insert(entry.key.clone()))
            .collect();
        let mut written = Vec::with_capacity(last_of_each.len());
        for (entry, deadline) in last_of_each {
            let outcome = self
                .backend
                .set_conditional(
                    entry.key.clone(),
                    entry.value,
                    Condition::IfAbsent,
                    Deadline::Set(deadline),
                    false,
                )
                .await?;
            if !outcome.written {
                for key in written {
                    self.backend.take(key).await?;
                }
                return Ok(Applied::Done(false));
            }
            written.push(entry.key);
        }
        Ok(Applied::Done(true))
    }

    async fn expire_at_time(
        &self,
        key: Bytes,
        at: i64,
        condition: RetimeCondition,
    ) -> Result<Applied, CacheError> {
        self.check_key(&key)?;
        let now = self.backend.now_millis();
        // A time before 1970 is in the past: the key goes, as in Redis.
        let at = UnixMillis::try_from(at).unwrap_or(0);
        let changed = self
            .backend
            .retime(key.clone(), Some(at), condition)
            .await?;
        if changed && at <= now {
            self.backend.delete(&key).await?;
        }
        Ok(Applied::Done(changed))
    }

    /// Independent operations of one kind run as a batch: `check` accepts or
    /// rejects each item on its own, `run` does the accepted ones together
    /// (answers in their order), and each outcome of a client's batch is
    /// recorded under `op` with the batch's latency. Outcomes in item order.
    pub(super) async fn batched<I, A, T, Fut>(
        &self,
        op: Op,
        origin: Origin,
        items: impl IntoIterator<Item = I>,
        check: impl Fn(I) -> Result<A, CacheError>,
        run: impl FnOnce(Vec<A>) -> Fut,
    ) -> Vec<Result<T, CacheError>>
    where
        Fut: std::future::Future<Output = Vec<Result<T, CacheError>>>,
    {
        let start = Instant::now();
        let mut outcomes: Vec<Option<Result<T, CacheError>>> = Vec::new();
        let mut accepted = Vec::new();
        for item in items {
            match check(item) {
                Ok(item) => {
                    accepted.push(item);
                    outcomes.push(None);
                }
                Err(err) => outcomes.push(Some(Err(err))),
            }
        }
        let mut answers = run(accepted).await.into_iter();
        let elapsed = start.elapsed();
        outcomes
            .into_iter()
            .map(|early| {
                let outcome = early.unwrap_or_else(|| {
                    answers
                        .next()
                        .expect("invariant: one answer per accepted item")
                });
                if origin == Origin::Client {
                    self.metrics.record(op, outcome.is_ok(), elapsed);
                }
                outcome
            })
            .collect()
    }

    /// Validates a whole batch of entries; returns each entry's deadline.
    fn check_entries(&self, entries: &[Item]) -> Result<Vec<Option<UnixMillis>>, CacheError> {
        self.check_batch(entries.len())?;
        entries
            .iter()
            .map(|e| self.check_write(&e.key, &e.value, e.expiry))
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;

/// A client write in a region whose record is not yet in the change log.
/// [`Unlogged::log`] reads back what the write left and waits for the log to
/// hold it; if the request is dropped first — while the write is applied,
/// or while its record waits for room in the log's queue — `Drop` reads
/// back and hands the record over detached
/// ([`ChangeSink::record_detached`]), so no applied write is left out of
/// the log because its client went away.
pub(super) struct Unlogged<'a> {
    cache: &'a Cache,
    sink: &'a Arc<dyn ChangeSink>,
    /// Whether the write stored a value (see [`Cache::read_back`]); assumed
    /// when the request is dropped before the write answered.
    wrote: bool,
    /// The keys to record; `None` once recorded, or for a failed write.
    keys: Option<Vec<Bytes>>,
    /// In front of Redis: what the write's scripts said they left.
    receipts: Option<Arc<Receipts>>,
}

impl<'a> Unlogged<'a> {
    /// A write to `keys` that stores no string value (a collection command):
    /// what it leaves is read back and recorded after it ran.
    pub(super) fn new(cache: &'a Cache, sink: &'a Arc<dyn ChangeSink>, keys: Vec<Bytes>) -> Self {
        Unlogged {
            cache,
            sink,
            wrote: false,
            keys: Some(keys),
            receipts: None,
        }
    }

    /// A failed write is answered as failed and not logged.
    pub(super) fn forget(&mut self) {
        self.keys = None;
    }

    /// Waits for the change log to hold the write. Any failure is
    /// [`CacheError::NotLogged`]: the write stays applied here.
    pub(super) async fn log(&mut self) -> Result<(), CacheError> {
        let not_logged = |err: CacheError| match err {
            CacheError::NotLogged { .. } => err,
            other => CacheError::NotLogged {
                source: Some(Cause::new(other)),
            },
        };
        let Some(keys) = &self.keys else {
            return Ok(());
        };
        // The keys stay until the record is handed over: a drop while it
        // waits for room in the log must still find them.
        let receipts = self.receipts.as_deref();
        let recorded = match self.cache.read_back(keys, self.wrote, receipts).await {
            Ok(entries) if entries.is_empty() => Ok(()),
            Ok(entries) => self.sink.record(entries).await,
            Err(err) => Err(err),
        };
        self.keys = None;
        recorded.map_err(not_logged)
    }
}

impl Drop for Unlogged<'_> {
    fn drop(&mut self) {
        let Some(keys) = self.keys.take() else {
            return;
        };
        if std::thread::panicking() {
            // The write panicked part way; a second panic here would abort.
            tracing::error!(keys = keys.len(), "a write panicked; not logged");
            return;
        }
        if self.cache.backend.is_remote() {
            // Reading back from Redis waits: on a task of its own.
            let (cache, sink, wrote) = (self.cache.clone(), self.sink.clone(), self.wrote);
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                return not_read_back(&CacheError::NoNode, keys.len());
            };
            runtime.spawn(async move {
                match cache.read_back(&keys, wrote, None).await {
                    Ok(entries) if entries.is_empty() => {}
                    Ok(entries) => sink.record_detached(entries),
                    Err(error) => not_read_back(&error, keys.len()),
                }
            });
            return;
        }
        match self.cache.read_back_now(&keys, self.wrote) {
            Ok(entries) if entries.is_empty() => {}
            Ok(entries) => self.sink.record_detached(entries),
            Err(error) => not_read_back(&error, keys.len()),
        }
    }
}

fn not_read_back(error: &CacheError, keys: usize) {
    tracing::error!(
        %error,
        keys,
        "a dropped request's write could not be read back for the change log; \
         the other regions will not get it"
    );
}
