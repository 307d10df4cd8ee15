//! Redis's collection types as native entries of a shard (issue 17, item 2):
//! hashes, lists, sets and sorted sets. This module owns their data
//! structures and what each is charged; which command does what to them is
//! the server's (`backend/embedded/types`), and the shard owns when they are
//! read and changed ([`crate::Shard::update_collection`]).
//!
//! One file per type:
//! - `hash`: an `IndexMap` of field to value: O(1) lookups, insertion order
//!   kept while the hash is small (deletes shift, as Redis's listpack keeps
//!   its order) and swap-removed above [`SMALL_COLLECTION`] elements.
//! - `list`: a `VecDeque`: O(1) pushes and pops at both ends, O(1) indexing.
//! - `set`: an `IndexSet`: O(1) membership, and O(1) access by position, which
//!   is what SPOP and SRANDMEMBER need to pick a member at random.
//! - `zset`: member to score in an `IndexMap` (ZSCAN walks it by position)
//!   beside `indexset`'s order-statistic B-tree of (score, member): O(log n)
//!   inserts, removals, ranks (ZRANK) and positions (ZRANGE by index), ordered
//!   walks for ranges by score and by lex.
//!
//! Every element is copied into an allocation of its own when stored, so a
//! stored element never pins the buffer it was parsed from.
//!
//! # Charging
//!
//! A collection is charged its type's base ([`Kind::base_overhead`]) plus, per
//! element, its bytes (field and value; item; member) and the per-element
//! overhead of its type ([`HASH_FIELD_OVERHEAD_BYTES`] …). The overheads were
//! measured with a counting allocator (`examples/collection_overhead.rs`) at
//! the worst point of the tables' growth, plus glibc's 16 bytes of header and
//! rounding per allocation (the counting allocator sees requested sizes); the
//! entry that holds the collection is charged its key and
//! [`crate::ENTRY_OVERHEAD_BYTES`] on top.

mod hash;
mod list;
mod set;
mod zset;

use std::sync::Arc;

use parking_lot::{RwLock, RwLockReadGuard};

pub use hash::Hash;
pub use list::List;
pub use set::Set;
pub use zset::{Score, SortedSet};

/// Above this many elements a collection stops keeping Redis's small-size
/// order (a hash's insertion order across deletes) and reports the encoding
/// Redis gives a large one. Redis's own defaults: 128 entries for hashes,
/// sets and sorted sets (`*-max-listpack-entries`, `set-max-intset-entries`).
pub const SMALL_COLLECTION: usize = 128;

/// Bytes a hash field costs beyond its field and value bytes (measured: see
/// [`hash`]).
pub const HASH_FIELD_OVERHEAD_BYTES: u64 = hash::FIELD_OVERHEAD_BYTES;

/// Bytes a list element costs beyond its bytes.
pub const LIST_ELEMENT_OVERHEAD_BYTES: u64 = list::ELEMENT_OVERHEAD_BYTES;

/// Bytes a set member costs beyond its bytes.
pub const SET_MEMBER_OVERHEAD_BYTES: u64 = set::MEMBER_OVERHEAD_BYTES;

/// Bytes a sorted-set member costs beyond its bytes (score included).
pub const ZSET_MEMBER_OVERHEAD_BYTES: u64 = zset::MEMBER_OVERHEAD_BYTES;

/// Which collection a key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Hash,
    List,
    Set,
    SortedSet,
}

impl Kind {
    /// Redis's name for the type (what TYPE answers).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Hash => "hash",
            Kind::List => "list",
            Kind::Set => "set",
            Kind::SortedSet => "zset",
        }
    }

    /// Bytes a collection of this kind is charged for itself beyond its
    /// elements: the entry's handle, the shared cell and lock, the empty
    /// structure. Measured by `examples/collection_overhead.rs` as a
    /// one-element collection's cost over a one-byte string's, less the
    /// element's charge, plus 16 bytes per allocation: hash 237 + 64, list
    /// 216 + 48, set 236 + 64, sorted set 1,003 + 80 (its tree's first node
    /// holds 32 slots); rounded up.
    pub fn base_overhead(self) -> u64 {
        match self {
            Kind::Hash => 304,
            Kind::List => 272,
            Kind::Set => 304,
            Kind::SortedSet => 1_088,
        }
    }

    /// The overhead one element of this kind is charged beyond its bytes.
    pub fn element_overhead(self) -> u64 {
        match self {
            Kind::Hash => HASH_FIELD_OVERHEAD_BYTES,
            Kind::List => LIST_ELEMENT_OVERHEAD_BYTES,
            Kind::Set => SET_MEMBER_OVERHEAD_BYTES,
            Kind::SortedSet => ZSET_MEMBER_OVERHEAD_BYTES,
        }
    }
}

/// A hash, list, set or sorted set.
#[derive(Debug, Clone)]
pub enum Collection {
    Hash(Hash),
    List(List),
    Set(Set),
    SortedSet(SortedSet),
}

impl Collection {
    /// An empty collection of `kind`.
    pub fn new(kind: Kind) -> Collection {
        match kind {
            Kind::Hash => Collection::Hash(Hash::default()),
            Kind::List => Collection::List(List::default()),
            Kind::Set => Collection::Set(Set::default()),
            Kind::SortedSet => Collection::SortedSet(SortedSet::default()),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Collection::Hash(_) => Kind::Hash,
            Collection::List(_) => Kind::List,
            Collection::Set(_) => Kind::Set,
            Collection::SortedSet(_) => Kind::SortedSet,
        }
    }

    /// Elements held (fields, items, members).
    pub fn len(&self) -> usize {
        match self {
            Collection::Hash(h) => h.len(),
            Collection::List(l) => l.len(),
            Collection::Set(s) => s.len(),
            Collection::SortedSet(z) => z.len(),
        }
    }

    /// An empty collection is no key: Redis removes a key whose collection
    /// became empty, and so does the shard.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the collection is charged: its kind's base, its elements'
    /// bytes, and each element's overhead.
    pub fn charge(&self) -> u64 {
        let element_bytes = match self {
            Collection::Hash(h) => h.bytes(),
            Collection::List(l) => l.bytes(),
            Collection::Set(s) => s.bytes(),
            Collection::SortedSet(z) => z.bytes(),
        };
        self.kind()
            .base_overhead()
            .saturating_add(element_bytes)
            .saturating_add((self.len() as u64).saturating_mul(self.kind().element_overhead()))
    }

    /// The most one write adding `elements` elements of `bytes` bytes in all
    /// may add to a collection of `kind`'s charge: what
    /// [`crate::Shard::update_collection`] checks against the shard's
    /// capacity before the write runs.
    pub fn growth(kind: Kind, elements: usize, bytes: usize) -> u64 {
        (bytes as u64).saturating_add((elements as u64).saturating_mul(kind.element_overhead()))
    }

    /// Redis 7.0's name for how a collection like this one is encoded there
    /// (what OBJECT ENCODING answers): a hash or sorted set is `listpack` up
    /// to [`SMALL_COLLECTION`] elements, a set of integers `intset`, a list
    /// always `quicklist` (7.0 has no small-list encoding, nor a small-set
    /// listpack). Roost's structure does not change with the size (see the
    /// module docs); the name says how Redis would hold the same data.
    pub fn encoding(&self) -> &'static str {
        let small = self.len() <= SMALL_COLLECTION;
        match self {
            Collection::Hash(_) if small => "listpack",
            Collection::Hash(_) => "hashtable",
            Collection::List(_) => "quicklist",
            Collection::Set(s) if small && s.all_integers() => "intset",
            Collection::Set(_) => "hashtable",
            Collection::SortedSet(_) if small => "listpack",
            Collection::SortedSet(_) => "skiplist",
        }
    }
}

/// An entry's collection: the cell it is changed in place through, shared by
/// every copy of the entry, and what the entry was charged for it when
/// stored. The charge is fixed per stored entry (a write that changes the
/// collection stores a new handle with the new charge), so the eviction
/// policy and the shard's counters always agree on what an entry weighs.
#[derive(Clone)]
pub struct Held(Arc<HeldInner>);

struct HeldInner {
    kind: Kind,
    charge: u64,
    cell: Arc<RwLock<Collection>>,
}

impl Held {
    pub(crate) fn new(kind: Kind, charge: u64, cell: Arc<RwLock<Collection>>) -> Held {
        Held(Arc::new(HeldInner { kind, charge, cell }))
    }

    /// The collection's kind, known without taking its lock.
    pub fn kind(&self) -> Kind {
        self.0.kind
    }

    /// What the entry is charged for the collection.
    pub fn charge(&self) -> u64 {
        self.0.charge
    }

    /// Reads the collection; writes go through the shard, under its lock.
    pub fn read(&self) -> RwLockReadGuard<'_, Collection> {
        self.0.cell.read()
    }

    pub(crate) fn cell(&self) -> &Arc<RwLock<Collection>> {
        &self.0.cell
    }
}

/// Two handles are equal when they share a cell and a charge.
impl PartialEq for Held {
    fn eq(&self, other: &Held) -> bool {
        Arc::ptr_eq(&self.0.cell, &other.0.cell) && self.0.charge == other.0.charge
    }
}

impl Eq for Held {}

impl std::fmt::Debug for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Held")
            .field("kind", &self.0.kind)
            .field("charge", &self.0.charge)
            .finish_non_exhaustive()
    }
}

/// An element's own allocation, sized to it.
pub(crate) fn owned(bytes: &[u8]) -> Box<[u8]> {
    Box::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charge_counts_every_element_and_its_overhead() {
        let mut c = Collection::new(Kind::List);
        let base = Kind::List.base_overhead();
        assert_eq!(c.charge(), base);
        let Collection::List(list) = &mut c else {
            unreachable!()
        };
        list.push_back(b"abc");
        list.push_front(b"de");
        assert_eq!(c.charge(), base + 5 + 2 * LIST_ELEMENT_OVERHEAD_BYTES);
        assert!(c.charge() - base <= Collection::growth(Kind::List, 2, 5));
    }

    #[test]
    fn encodings_follow_redis_names_by_size() {
        let mut set = Set::default();
        set.insert(b"1");
        assert_eq!(Collection::Set(set.clone()).encoding(), "intset");
        set.insert(b"x");
        assert_eq!(Collection::Set(set.clone()).encoding(), "hashtable");
        for i in 0..SMALL_COLLECTION {
            set.insert(i.to_string().as_bytes());
        }
        assert_eq!(Collection::Set(set).encoding(), "hashtable");
        assert_eq!(Collection::new(Kind::SortedSet).encoding(), "listpack");
        assert_eq!(Collection::new(Kind::List).encoding(), "quicklist");
    }
}
