//! A hash: field to value, in an `IndexMap`.

use indexmap::IndexMap;

use super::{owned, SMALL_COLLECTION};

/// Bytes a field costs beyond its field and value bytes: the map's slot
/// (hash, two boxed slices) and index, measured by
/// `examples/collection_overhead.rs` over hashes of 600 to 2,100 fields of 8
/// and 16 bytes (58.7 .. 100.1 bytes counted as the table grows), plus 32
/// for the two allocations' malloc headers; the worst point rounded up.
pub(crate) const FIELD_OVERHEAD_BYTES: u64 = 136;

type Map = IndexMap<Box<[u8]>, Box<[u8]>, foldhash::fast::RandomState>;

/// Fields in insertion order while the hash is small (as Redis's listpack
/// keeps them); above [`SMALL_COLLECTION`] a delete moves the last field
/// into the hole, as order no longer matters there (nor in Redis).
#[derive(Debug, Clone, Default)]
pub struct Hash {
    map: Map,
    bytes: u64,
}

impl Hash {
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Field and value bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        self.map.get(field).map(|v| &v[..])
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.map.contains_key(field)
    }

    /// Sets `field` to `value`; true when the field is new.
    pub fn insert(&mut self, field: &[u8], value: &[u8]) -> bool {
        if let Some(old) = self.map.get_mut(field) {
            self.bytes = self.bytes - old.len() as u64 + value.len() as u64;
            *old = owned(value);
            return false;
        }
        self.bytes += (field.len() + value.len()) as u64;
        self.map.insert(owned(field), owned(value));
        true
    }

    /// Removes `field`; true when it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        let removed = if self.map.len() <= SMALL_COLLECTION {
            self.map.shift_remove_entry(field)
        } else {
            self.map.swap_remove_entry(field)
        };
        match removed {
            Some((f, v)) => {
                self.bytes -= (f.len() + v.len()) as u64;
                true
            }
            None => false,
        }
    }

    /// Fields and values in the hash's order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> {
        self.map.iter().map(|(f, v)| (&f[..], &v[..]))
    }

    /// The field and value at `index` (for picking one at random).
    pub fn get_index(&self, index: usize) -> Option<(&[u8], &[u8])> {
        self.map.get_index(index).map(|(f, v)| (&f[..], &v[..]))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_insertion_order_and_counts_bytes() {
        let mut h = Hash::default();
        assert!(h.insert(b"b", b"1"));
        assert!(h.insert(b"a", b"22"));
        assert!(h.insert(b"c", b"3"));
        assert!(!h.insert(b"a", b"4"));
        assert!(h.remove(b"b"));
        assert!(!h.remove(b"b"));
        let order: Vec<_> = h.iter().collect();
        assert_eq!(order, [(&b"a"[..], &b"4"[..]), (&b"c"[..], &b"3"[..])]);
        assert_eq!(h.bytes(), 4);
        assert_eq!(h.get(b"c"), Some(&b"3"[..]));
    }
}
