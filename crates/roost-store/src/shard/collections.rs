//! Writing a shard's collections (issue 17): one key changed in place
//! ([`Shard::update_collection`]), two keys of one shard changed together
//! under one hold of the write lock ([`Shard::update_collection_pair`]: LMOVE,
//! SMOVE), and a key replaced by a whole new collection
//! ([`Shard::put_collection`]: SINTERSTORE and the like). Every one checks
//! the types and the shard's capacity before anything changes, stores each
//! collection again with its new charge, and removes one left empty.

use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use super::{Entry, Shard, ShardState};
use crate::collection::{Collection, Held, Kind};
use crate::weight::weight_of;
use crate::{StoreError, UnixMillis};

/// A key's collection opened for a write: its deadline, and the cell the
/// write changes (the held one, or a new empty one).
struct Opened {
    key: Bytes,
    kind: Kind,
    expires_at: Option<UnixMillis>,
    cell: Arc<RwLock<Collection>>,
}

impl Shard {
    /// Changes the `kind` collection at `key` in place: `f` runs on it under
    /// the shard's write lock (an absent key is an empty collection), and the
    /// entry is stored again with its new charge, its deadline kept, at a
    /// fresh version with versioning. A collection `f` leaves empty removes
    /// the key (or never creates it), as in Redis. Counts an access.
    ///
    /// Refused before `f` runs, with nothing changed: with
    /// [`StoreError::WrongType`] when the key holds a string or another
    /// kind, and with [`StoreError::EntryTooLarge`] when the collection's
    /// charge plus `growth` (the most `f` may add: [`Collection::growth`] of
    /// what it inserts) would not fit the shard. `f` must not call back into
    /// this shard.
    pub fn update_collection<R>(
        &self,
        key: Bytes,
        kind: Kind,
        growth: u64,
        f: impl FnOnce(&mut Collection) -> R,
    ) -> Result<R, StoreError> {
        let mut state = self.state.write();
        let opened = self.open(&mut state, key, kind, growth)?;
        let result = f(&mut opened.cell.write());
        self.close(&mut state, opened)?;
        Ok(result)
    }

    /// [`Shard::update_collection`] on two different keys of this shard at
    /// once, both of `kind`, under one hold of the write lock: no other
    /// writer sees one changed and not the other. Each may grow by `growth`.
    pub fn update_collection_pair<R>(
        &self,
        (first, second): (Bytes, Bytes),
        kind: Kind,
        growth: u64,
        f: impl FnOnce(&mut Collection, &mut Collection) -> R,
    ) -> Result<R, StoreError> {
        debug_assert!(first != second, "a pair of different keys");
        let mut state = self.state.write();
        let a = self.open(&mut state, first, kind, growth)?;
        let b = self.open(&mut state, second, kind, growth)?;
        let result = f(&mut a.cell.write(), &mut b.cell.write());
        let closed_a = self.close(&mut state, a);
        let closed_b = self.close(&mut state, b);
        closed_a.and(closed_b)?;
        Ok(result)
    }

    /// Replaces whatever `key` holds (a string or a collection of any kind)
    /// with `collection`, without a deadline; an empty one removes the key.
    /// Refused with [`StoreError::EntryTooLarge`] when it would not fit the
    /// shard, leaving the key as it was.
    pub fn put_collection(&self, key: Bytes, collection: Collection) -> Result<(), StoreError> {
        let kind = collection.kind();
        let charge = collection.charge();
        let mut state = self.state.write();
        let current = self.resident_for_write(&mut state, &key);
        let live = current.as_ref().is_some_and(|hit| !hit.is_tombstone());
        if collection.is_empty() {
            if live {
                self.remove_for_write(&mut state, key, current.as_ref());
            }
            return Ok(());
        }
        self.fits_charge(&key, charge, false)?;
        let opened = Opened {
            key,
            kind,
            expires_at: None,
            cell: Arc::new(RwLock::new(collection)),
        };
        self.close(&mut state, opened)
    }

    /// Opens `key`'s `kind` collection for a write that adds at most
    /// `growth`, under the held write lock; refuses another type and a write
    /// that could not fit.
    fn open(
        &self,
        state: &mut ShardState,
        key: Bytes,
        kind: Kind,
        growth: u64,
    ) -> Result<Opened, StoreError> {
        let current = self.resident_for_write(state, &key);
        let live = current.as_ref().filter(|hit| !hit.is_tombstone());
        let held = match live.map(Entry::collection) {
            None => None,
            Some(Some(held)) if held.kind() == kind => Some(held.clone()),
            Some(_) => return Err(StoreError::WrongType),
        };
        let expires_at = live.and_then(|hit| hit.expires_at);
        let charge = held
            .as_ref()
            .map_or_else(|| Collection::new(kind).charge(), Held::charge);
        self.fits_charge(&key, charge.saturating_add(growth), expires_at.is_some())?;
        let cell = held.map_or_else(
            || Arc::new(RwLock::new(Collection::new(kind))),
            |held| Arc::clone(held.cell()),
        );
        Ok(Opened {
            key,
            kind,
            expires_at,
            cell,
        })
    }

    /// Stores an opened collection after its write: again with its new
    /// charge (stamped with versioning), or removed when empty. What the key
    /// holds is read again here: storing the first of a pair may have
    /// evicted the second.
    fn close(&self, state: &mut ShardState, opened: Opened) -> Result<(), StoreError> {
        let Opened {
            key,
            kind,
            expires_at,
            cell,
        } = opened;
        let current = state.map.peek(&key);
        let live = current.as_ref().is_some_and(|hit| !hit.is_tombstone());
        let (charge, empty) = {
            let collection = cell.read();
            (collection.charge(), collection.is_empty())
        };
        if empty {
            if live {
                self.remove_for_write(state, key, current.as_ref());
            }
            return Ok(());
        }
        let hit = self.local(Entry {
            value: Bytes::new(),
            expires_at,
            meta: 0,
            collection: Some(Held::new(kind, charge, cell)),
        });
        if let Err(err) = self.check_fits(&key, &hit) {
            // Only if a growth bound understated the write: the collection
            // cannot stay, and is removed rather than let the shard pass its cap.
            self.remove_for_write(state, key, current.as_ref());
            return Err(err);
        }
        self.settle(state, key, hit, current.as_ref());
        Ok(())
    }

    /// Refuses a collection charged `charge` that no eviction could make room for.
    fn fits_charge(&self, key: &[u8], charge: u64, deadline: bool) -> Result<(), StoreError> {
        let weight = weight_of(key.len(), 0, charge, deadline);
        if weight > self.capacity_bytes {
            return Err(StoreError::EntryTooLarge {
                weight,
                shard_capacity: self.capacity_bytes,
            });
        }
        Ok(())
    }
}
