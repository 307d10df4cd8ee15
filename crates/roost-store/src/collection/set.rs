//! A set: an `IndexSet` of members.

use indexmap::IndexSet;

use super::{owned, SMALL_COLLECTION};

/// Bytes a member costs beyond its bytes: the set's slot (hash, boxed slice)
/// and index, measured by `examples/collection_overhead.rs` (600 to 2,100
/// members of 8 and 16 bytes: 40.0 .. 68.3 bytes counted as the table
/// grows), plus 16 for the allocation's malloc header; the worst point
/// rounded up.
pub(crate) const MEMBER_OVERHEAD_BYTES: u64 = 88;

type Members = IndexSet<Box<[u8]>, foldhash::fast::RandomState>;

#[derive(Debug, Clone, Default)]
pub struct Set {
    members: Members,
    bytes: u64,
}

impl Set {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Member bytes held.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        self.members.contains(member)
    }

    /// Adds `member`; true when it is new.
    pub fn insert(&mut self, member: &[u8]) -> bool {
        if self.members.contains(member) {
            return false;
        }
        self.bytes += member.len() as u64;
        self.members.insert(owned(member));
        true
    }

    /// Removes `member`; true when it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        let removed = if self.members.len() <= SMALL_COLLECTION {
            self.members.shift_remove(member)
        } else {
            self.members.swap_remove(member)
        };
        if removed {
            self.bytes -= member.len() as u64;
        }
        removed
    }

    /// Removes and answers the member at `index` (SPOP picks it at random).
    pub fn take_index(&mut self, index: usize) -> Option<Box<[u8]>> {
        let member = self.members.swap_remove_index(index)?;
        self.bytes -= member.len() as u64;
        Some(member)
    }

    pub fn get_index(&self, index: usize) -> Option<&[u8]> {
        self.members.get_index(index).map(|m| &m[..])
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.members.iter().map(|m| &m[..])
    }

    /// Whether every member is a 64-bit integer as Redis writes one (Redis
    /// holds such a small set as an `intset`).
    pub fn all_integers(&self) -> bool {
        self.members.iter().all(|m| is_canonical_integer(m))
    }
}

/// Whether `bytes` is an i64 written the one way Redis writes it (no sign
/// on zero, no leading zeros or plus sign).
fn is_canonical_integer(bytes: &[u8]) -> bool {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return false;
    };
    text.parse::<i64>().is_ok_and(|n| n.to_string() == text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_and_bytes() {
        let mut s = Set::default();
        assert!(s.insert(b"12"));
        assert!(!s.insert(b"12"));
        assert!(s.insert(b"-3"));
        assert!(s.all_integers());
        assert!(s.insert(b"007"));
        assert!(!s.all_integers());
        assert_eq!(s.bytes(), 7);
        assert!(s.remove(b"12"));
        assert_eq!(s.take_index(0).as_deref(), Some(&b"-3"[..]));
        assert_eq!(s.bytes(), 3);
    }
}
