//! Memory accounting: how many bytes one entry is charged. Every bound in the
//! store (shard capacity, `used_bytes`, `EntryTooLarge`) is in these units, and
//! the constants here are measured, not guessed (see `examples/entry_overhead.rs`).

use crate::Entry;

/// Heap bytes one entry costs beyond its key and value bytes, for the default policy
/// (s3fifo), measured by `examples/entry_overhead.rs` (release, 100k resident
/// entries, 16-byte keys, 100-byte values, each read once, after 300k inserts so the
/// ghost queue is full): 183.9 bytes counted by a counting global allocator, 187.8
/// bytes by resident-set growth (malloc headers and rounding included); rounded up
/// to 192. It was 184 before an entry could hold a collection (measured 173.4 and
/// 179.9 then; the handle added 8 bytes and its alignment the rest), and 176 before
/// entries carried a version word. For comparison the same run gives 180.6 for lru
/// and 353.7 for tinylfu, which are therefore undercharged here by 0 and ~160 bytes
/// an entry.
pub const ENTRY_OVERHEAD_BYTES: u64 = 192;

/// Extra bytes charged for an entry with an expiry deadline: its slot in the
/// shard's expiry index (a `BTreeSet<(UnixMillis, Bytes)>` node share plus the key's
/// `Bytes` moving to its shared form), measured by the same example as 265.2 - 162.9
/// = 102.3 bytes; rounded up to 104.
pub const EXPIRY_OVERHEAD_BYTES: u64 = 104;

/// Bytes charged for one entry without an expiry: key + value + [`ENTRY_OVERHEAD_BYTES`].
pub fn entry_weight(key_len: usize, value_len: usize) -> u64 {
    (key_len as u64)
        .saturating_add(value_len as u64)
        .saturating_add(ENTRY_OVERHEAD_BYTES)
}

/// Bytes charged for a stored entry: [`entry_weight`], plus its collection's
/// charge when it holds one, plus the expiry index slot when it has a deadline. Always at least [`ENTRY_OVERHEAD_BYTES`], never zero (a
/// zero weight would make an entry unevictable in `quick_cache`).
pub(crate) fn stored_weight(key: &[u8], hit: &Entry) -> u64 {
    let charge = hit.collection().map_or(0, crate::Held::charge);
    weight_of(key.len(), hit.value.len(), charge, hit.expires_at.is_some())
}

/// [`stored_weight`] of an entry not built yet: `value_len` bytes of string,
/// a collection charged `charge` (0 for none), with or without a deadline.
pub(crate) fn weight_of(key_len: usize, value_len: usize, charge: u64, deadline: bool) -> u64 {
    let base = entry_weight(key_len, value_len).saturating_add(charge);
    if deadline {
        base.saturating_add(EXPIRY_OVERHEAD_BYTES)
    } else {
        base
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn weight_counts_key_value_and_overhead() {
        assert_eq!(entry_weight(16, 100), 116 + ENTRY_OVERHEAD_BYTES);
        assert_eq!(entry_weight(0, 0), ENTRY_OVERHEAD_BYTES);
        assert_eq!(entry_weight(usize::MAX, usize::MAX), u64::MAX);
    }

    #[test]
    fn tombstone_is_charged_as_an_empty_entry() {
        let tombstone = Entry::tombstone(crate::Version::new(7).expect("a small version"), Some(5));
        assert_eq!(
            stored_weight(b"key", &tombstone),
            entry_weight(3, 0) + EXPIRY_OVERHEAD_BYTES
        );
    }

    #[test]
    fn deadline_costs_the_index_slot() {
        let forever = Entry::new(Bytes::from_static(b"abc"), None);
        let expiring = Entry::new(Bytes::from_static(b"abc"), Some(5));
        assert_eq!(stored_weight(b"k", &forever), entry_weight(1, 3));
        assert_eq!(
            stored_weight(b"k", &expiring),
            entry_weight(1, 3) + EXPIRY_OVERHEAD_BYTES
        );
    }
}
