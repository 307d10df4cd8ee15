//! One change as bytes: the same encoding in this region's log on disk and
//! on the wire to the other regions (`log.rs` frames and checksums it; the
//! transport frames it again). Big-endian:
//!
//! ```text
//! version u64 | kind u8 | expires_at i64 (0: none) | key_len u32 | key | value_len u32 | value
//! ```
//!
//! `kind` is 0 for a value, 1 for a tombstone (a delete), 2 for an
//! invalidation (a value written in invalidate mode, sent without its
//! bytes). A value is carried only by kind 0. Decoding checks every length
//! against the bytes present and the limits before it slices, so arbitrary
//! bytes (a damaged log, a hostile peer) give an error, never a panic or a
//! large allocation.

use bytes::{BufMut, Bytes, BytesMut};
use roost_store::{Entry, UnixMillis, Version};

use crate::config::GeoMode;

/// The longest key a record may carry (the largest `ROOST_MAX_KEY_BYTES`).
pub const MAX_KEY_BYTES: usize = 64 * 1024;

/// Fixed bytes of a record besides its key and value.
pub const HEADER_BYTES: usize = 8 + 1 + 8 + 4 + 4;

/// What a change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The key holds this value.
    Value,
    /// The key was deleted.
    Tombstone,
    /// The key was written; the value stays in its region (invalidate mode).
    Invalidate,
}

impl Kind {
    fn byte(self) -> u8 {
        match self {
            Kind::Value => 0,
            Kind::Tombstone => 1,
            Kind::Invalidate => 2,
        }
    }

    fn from_byte(byte: u8) -> Option<Kind> {
        match byte {
            0 => Some(Kind::Value),
            1 => Some(Kind::Tombstone),
            2 => Some(Kind::Invalidate),
            _ => None,
        }
    }
}

/// One change to one key, at its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub version: Version,
    pub kind: Kind,
    /// The entry's deadline (a tombstone's: when it is forgotten).
    pub expires_at: Option<UnixMillis>,
    pub key: Bytes,
    /// Empty unless `kind` is [`Kind::Value`].
    pub value: Bytes,
}

/// Why bytes are not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record truncated: {needed} bytes needed at offset {at}, {len} present")]
    Truncated {
        at: usize,
        needed: usize,
        len: usize,
    },
    #[error("record kind {0} is unknown")]
    UnknownKind(u8),
    #[error("record version {0} is not a version (0 or past 63 bits)")]
    BadVersion(u64),
    #[error("record deadline {0} is negative")]
    BadDeadline(i64),
    #[error("record key is empty")]
    EmptyKey,
    #[error("record key is {len} bytes, the limit is {max}")]
    KeyTooLong { len: usize, max: usize },
    #[error("record value is {len} bytes, the limit is {max}")]
    ValueTooLarge { len: usize, max: usize },
    #[error("a {kind:?} record carries a {len}-byte value")]
    UnexpectedValue { kind: Kind, len: usize },
    #[error("{0} bytes after the record's end")]
    Trailing(usize),
}

impl Record {
    /// The record's bytes.
    pub fn encode(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        out.put_u64(self.version.get());
        out.put_u8(self.kind.byte());
        let deadline = self
            .expires_at
            .map_or(0, |at| i64::try_from(at).unwrap_or(i64::MAX));
        out.put_i64(deadline);
        out.put_u32(len_u32(self.key.len()));
        out.put_slice(&self.key);
        out.put_u32(len_u32(self.value.len()));
        out.put_slice(&self.value);
        out.freeze()
    }

    pub fn encoded_len(&self) -> usize {
        HEADER_BYTES + self.key.len() + self.value.len()
    }

    /// What this record stores in a region running in `mode` at `now` (unix
    /// ms): its key and the entry at its version. A value is kept as a value
    /// only in replicate mode; in invalidate mode it (and an invalidation)
    /// becomes a tombstone at its version, remembered for `tombstone_ttl_ms`
    /// from `now`, so an older value goes and a newer one stays. A delete is
    /// a tombstone until its own deadline (or for the TTL without one). The
    /// one mapping for a peer's records (`link.rs`) and this region's own
    /// log replayed at start (`geo.rs`).
    pub fn into_entry(
        self,
        mode: GeoMode,
        now: UnixMillis,
        tombstone_ttl_ms: u64,
    ) -> (Bytes, Entry) {
        let remember_until = Some(now.saturating_add(tombstone_ttl_ms));
        let entry = match (self.kind, mode) {
            (Kind::Value, GeoMode::Replicate) => {
                Entry::versioned(self.value, self.expires_at, self.version)
            }
            (Kind::Value | Kind::Invalidate, _) => Entry::tombstone(self.version, remember_until),
            (Kind::Tombstone, _) => {
                Entry::tombstone(self.version, self.expires_at.or(remember_until))
            }
        };
        (self.key, entry)
    }

    /// The record in `bytes` (the key and value share its buffer), checked
    /// against the limits: a key of at most [`MAX_KEY_BYTES`], a value of at
    /// most `max_value_bytes`.
    pub fn decode(bytes: &Bytes, max_value_bytes: usize) -> Result<Record, RecordError> {
        let mut at = 0;
        let version = u64::from_be_bytes(take(bytes, &mut at)?);
        let version = Version::new(version)
            .filter(|v| !v.is_none())
            .ok_or(RecordError::BadVersion(version))?;
        let [kind] = take::<1>(bytes, &mut at)?;
        let kind = Kind::from_byte(kind).ok_or(RecordError::UnknownKind(kind))?;
        let deadline = i64::from_be_bytes(take(bytes, &mut at)?);
        let expires_at = match deadline {
            0 => None,
            d if d < 0 => return Err(RecordError::BadDeadline(d)),
            d => Some(d.unsigned_abs()),
        };
        let key_len = u32::from_be_bytes(take(bytes, &mut at)?) as usize;
        if key_len == 0 {
            return Err(RecordError::EmptyKey);
        }
        if key_len > MAX_KEY_BYTES {
            return Err(RecordError::KeyTooLong {
                len: key_len,
                max: MAX_KEY_BYTES,
            });
        }
        let key = slice(bytes, &mut at, key_len)?;
        let value_len = u32::from_be_bytes(take(bytes, &mut at)?) as usize;
        if value_len > max_value_bytes {
            return Err(RecordError::ValueTooLarge {
                len: value_len,
                max: max_value_bytes,
            });
        }
        if value_len > 0 && kind != Kind::Value {
            return Err(RecordError::UnexpectedValue {
                kind,
                len: value_len,
            });
        }
        let value = slice(bytes, &mut at, value_len)?;
        if at != bytes.len() {
            return Err(RecordError::Trailing(bytes.len() - at));
        }
        Ok(Record {
            version,
            kind,
            expires_at,
            key,
            value,
        })
    }
}

/// A length that fits a record's u32 field (keys and values are bounded far
/// below 4 GiB by the limits the Cache checks before anything is recorded).
fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// The next `N` bytes at `at`, advancing it.
fn take<const N: usize>(bytes: &[u8], at: &mut usize) -> Result<[u8; N], RecordError> {
    let end = at.checked_add(N).filter(|end| *end <= bytes.len());
    let Some(end) = end else {
        return Err(RecordError::Truncated {
            at: *at,
            needed: N,
            len: bytes.len(),
        });
    };
    let mut out = [0u8; N];
    out.copy_from_slice(&bytes[*at..end]);
    *at = end;
    Ok(out)
}

/// The next `len` bytes at `at` as a slice of `bytes`, advancing it.
fn slice(bytes: &Bytes, at: &mut usize, len: usize) -> Result<Bytes, RecordError> {
    let end = at.checked_add(len).filter(|end| *end <= bytes.len());
    let Some(end) = end else {
        return Err(RecordError::Truncated {
            at: *at,
            needed: len,
            len: bytes.len(),
        });
    };
    let out = bytes.slice(*at..end);
    *at = end;
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const MAX_VALUE: usize = 1 << 20;

    fn record(kind: Kind, value: &'static [u8]) -> Record {
        Record {
            version: Version::new(0x1234_5678_9abc).unwrap(),
            kind,
            expires_at: Some(1_750_000_000_000),
            key: Bytes::from_static(b"user:42"),
            value: Bytes::from_static(value),
        }
    }

    #[test]
    fn each_kind_round_trips() {
        for r in [
            record(Kind::Value, b"hello"),
            record(Kind::Value, b""),
            record(Kind::Tombstone, b""),
            record(Kind::Invalidate, b""),
            Record {
                expires_at: None,
                ..record(Kind::Value, b"forever")
            },
        ] {
            let bytes = r.encode();
            assert_eq!(bytes.len(), r.encoded_len());
            assert_eq!(Record::decode(&bytes, MAX_VALUE).unwrap(), r);
        }
    }

    #[test]
    fn the_layout_is_the_documented_one() {
        let bytes = record(Kind::Tombstone, b"").encode();
        assert_eq!(&bytes[..8], &0x1234_5678_9abc_u64.to_be_bytes());
        assert_eq!(bytes[8], 1);
        assert_eq!(&bytes[9..17], &1_750_000_000_000_i64.to_be_bytes());
        assert_eq!(&bytes[17..21], &7u32.to_be_bytes());
        assert_eq!(&bytes[21..28], b"user:42");
        assert_eq!(&bytes[28..32], &0u32.to_be_bytes());
        assert_eq!(bytes.len(), 32);
    }

    #[test]
    fn every_bad_field_is_named() {
        let good = record(Kind::Value, b"v").encode().to_vec();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (good[..good.len() - 1].to_vec(), "truncated"),
            ([good.clone(), vec![0]].concat(), "after the record"),
            (with(&good, 8, &[9]), "kind 9"),
            (with(&good, 0, &0u64.to_be_bytes()), "not a version"),
            (with(&good, 0, &u64::MAX.to_be_bytes()), "not a version"),
            (with(&good, 9, &(-5i64).to_be_bytes()), "negative"),
            (with(&good, 17, &0u32.to_be_bytes()), "key is empty"),
            (
                with(&good, 17, &(70_000u32).to_be_bytes()),
                "limit is 65536",
            ),
            (with(&good, 28, &u32::MAX.to_be_bytes()), "limit is 1048576"),
            (with(&good, 8, &[1]), "carries a 1-byte value"),
        ];
        for (bytes, expected) in cases {
            let err = Record::decode(&Bytes::from(bytes), MAX_VALUE).unwrap_err();
            assert!(err.to_string().contains(expected), "{expected}: {err}");
        }
    }

    #[test]
    fn the_value_limit_is_the_configured_one() {
        let bytes = record(Kind::Value, b"12345").encode();
        assert!(Record::decode(&bytes, 5).is_ok());
        assert_eq!(
            Record::decode(&bytes, 4).unwrap_err(),
            RecordError::ValueTooLarge { len: 5, max: 4 }
        );
    }

    #[test]
    fn a_record_becomes_the_entry_its_mode_stores() {
        let now = 1_750_000_100_000;
        let ttl = 86_400_000;
        let version = Version::new(0x1234_5678_9abc).unwrap();
        let cases = [
            // (kind, mode, tombstone?, value, deadline)
            (
                Kind::Value,
                GeoMode::Replicate,
                false,
                &b"hello"[..],
                Some(1_750_000_000_000),
            ),
            (
                Kind::Value,
                GeoMode::Invalidate,
                true,
                &b""[..],
                Some(now + ttl),
            ),
            (
                Kind::Invalidate,
                GeoMode::Replicate,
                true,
                &b""[..],
                Some(now + ttl),
            ),
            (
                Kind::Invalidate,
                GeoMode::Invalidate,
                true,
                &b""[..],
                Some(now + ttl),
            ),
            (
                Kind::Tombstone,
                GeoMode::Replicate,
                true,
                &b""[..],
                Some(1_750_000_000_000),
            ),
            (
                Kind::Tombstone,
                GeoMode::Invalidate,
                true,
                &b""[..],
                Some(1_750_000_000_000),
            ),
        ];
        for (kind, mode, tombstone, value, deadline) in cases {
            let r = record(kind, if kind == Kind::Value { b"hello" } else { b"" });
            let (key, entry) = r.into_entry(mode, now, ttl);
            let what = format!("{kind:?} in {mode:?}");
            assert_eq!(&key[..], b"user:42", "{what}");
            assert_eq!(entry.is_tombstone(), tombstone, "{what}");
            assert_eq!(&entry.value[..], value, "{what}");
            assert_eq!(entry.version(), version, "{what}");
            assert_eq!(entry.expires_at, deadline, "{what}");
        }
        // A delete without a deadline is remembered for the TTL.
        let forever = Record {
            expires_at: None,
            ..record(Kind::Tombstone, b"")
        };
        let (_, entry) = forever.into_entry(GeoMode::Replicate, now, ttl);
        assert_eq!(entry.expires_at, Some(now + ttl));
    }

    fn with(bytes: &[u8], at: usize, patch: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        out[at..at + patch.len()].copy_from_slice(patch);
        out
    }

    proptest! {
        /// Arbitrary bytes decode or fail; they never panic.
        #[test]
        fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..128)) {
            let _ = Record::decode(&Bytes::from(bytes), MAX_VALUE);
        }

        /// A valid record with any one byte changed or cut short still never
        /// panics, and decodes to something that re-encodes to those bytes.
        #[test]
        fn damaged_records_never_panic(
            key in proptest::collection::vec(any::<u8>(), 1..40),
            value in proptest::collection::vec(any::<u8>(), 0..40),
            at in any::<prop::sample::Index>(),
            byte in any::<u8>(),
            cut in any::<prop::sample::Index>(),
        ) {
            let r = Record {
                version: Version::new(99).unwrap(),
                kind: Kind::Value,
                expires_at: None,
                key: Bytes::from(key),
                value: Bytes::from(value),
            };
            let mut bytes = r.encode().to_vec();
            let i = at.index(bytes.len());
            bytes[i] = byte;
            let n = cut.index(bytes.len() + 1);
            for candidate in [bytes.clone(), bytes[..n].to_vec()] {
                let candidate = Bytes::from(candidate);
                if let Ok(decoded) = Record::decode(&candidate, MAX_VALUE) {
                    prop_assert_eq!(decoded.encode(), candidate);
                }
            }
        }

        #[test]
        fn any_record_round_trips(
            version in 1u64..(1 << 63),
            kind in 0u8..3,
            deadline in proptest::option::of(1u64..(i64::MAX as u64)),
            key in proptest::collection::vec(any::<u8>(), 1..64),
            value in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let kind = Kind::from_byte(kind).unwrap();
            let r = Record {
                version: Version::new(version).unwrap(),
                kind,
                expires_at: deadline,
                key: Bytes::from(key),
                value: if kind == Kind::Value { Bytes::from(value) } else { Bytes::new() },
            };
            prop_assert_eq!(Record::decode(&r.encode(), MAX_VALUE).unwrap(), r);
        }
    }
}
