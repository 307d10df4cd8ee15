//! The rest of the string family on the embedded store: GETSET, GETRANGE,
//! SUBSTR, SETRANGE, INCRBYFLOAT, GETBIT, SETBIT, BITCOUNT. Writes go
//! through the shard's read-modify-write ([`roost_store::Shard::update`]), so
//! each is atomic; a key holding a collection answers WRONGTYPE; a value may
//! not grow past the configured value size (`ROOST_MAX_VALUE_BYTES`), as
//! APPEND's may not.

use bytes::{Bytes, BytesMut};
use roost_store::{Entry, Mutation};

use super::args::{self, bulk, err, int_reply};
use super::Call;
use crate::backend::NodeReply;
use crate::error::CacheError;

/// The commands this file runs.
pub(super) const NAMES: &[&str] = &[
    "getset",
    "getrange",
    "substr",
    "setrange",
    "incrbyfloat",
    "getbit",
    "setbit",
    "bitcount",
];

/// A bit offset's bound: Redis's 512 MB string, in bits.
const MAX_BIT_OFFSET: u64 = (1 << 32) - 1;

pub(super) fn run(call: &Call<'_>, name: &'static str) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    match name {
        "getrange" | "substr" => {
            let (start, end) = (args::int(&argv[2])?, args::int(&argv[3])?);
            let value = call
                .db
                .get(call.key())?
                .map(|hit| hit.value)
                .unwrap_or_default();
            Ok(bulk(range(&value, start, end)))
        }
        "getbit" => {
            let offset = bit_offset(&argv[2])?;
            let value = call
                .db
                .get(call.key())?
                .map(|hit| hit.value)
                .unwrap_or_default();
            Ok(NodeReply::Int(bit_at(&value, offset).into()))
        }
        "bitcount" => bitcount(call),
        "getset" => {
            let value = argv[2].clone();
            call.fits(value.len())?;
            let value = Bytes::copy_from_slice(&value);
            update(call, |current| {
                let previous = current.map_or(NodeReply::Nil, |hit| bulk(&hit.value));
                // GETSET's new value has no deadline, as SET's.
                let set = Mutation::Set {
                    value,
                    expires_at: None,
                };
                (set, Ok(previous))
            })
        }
        "setrange" => setrange(call),
        "incrbyfloat" => incrbyfloat(call),
        "setbit" => setbit(call),
        _ => Err(CacheError::NeedsRedis { command: name }),
    }
}

/// A string read-modify-write on the call's key: `f` sees the string (a
/// collection answers WRONGTYPE before `f` runs).
fn update(
    call: &Call<'_>,
    f: impl FnOnce(Option<Entry>) -> (Mutation, Result<NodeReply, CacheError>),
) -> Result<NodeReply, CacheError> {
    let key = call.key();
    let shard = call.db.shard(key);
    shard.update(Bytes::copy_from_slice(key), |current| {
        if current
            .as_ref()
            .is_some_and(|hit| hit.collection().is_some())
        {
            return (Mutation::Keep, Err(CacheError::wrong_type()));
        }
        f(current)
    })?
}

/// GETRANGE's slice, by Redis's rules for negative and out-of-range ends.
fn range(value: &[u8], start: i64, end: i64) -> &[u8] {
    let len = i64::try_from(value.len()).unwrap_or(i64::MAX);
    if start < 0 && end < 0 && start > end {
        return &[];
    }
    let start = if start < 0 { len + start } else { start }.max(0);
    let end = if end < 0 { len + end } else { end }.max(0).min(len - 1);
    if len == 0 || start > end {
        return &[];
    }
    let (start, end) = (start.unsigned_abs() as usize, end.unsigned_abs() as usize);
    &value[start..=end]
}

fn bit_offset(arg: &[u8]) -> Result<u64, CacheError> {
    crate::integer::parse_i64(arg)
        .and_then(|n| u64::try_from(n).ok())
        .filter(|&n| n <= MAX_BIT_OFFSET)
        .ok_or_else(|| err("ERR bit offset is not an integer or out of range"))
}

/// The bit at `offset` (the first bit is a byte's most significant one).
fn bit_at(value: &[u8], offset: u64) -> bool {
    let byte = usize::try_from(offset / 8).unwrap_or(usize::MAX);
    value
        .get(byte)
        .is_some_and(|b| b & (0x80 >> (offset % 8)) != 0)
}

fn setrange(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    let offset = crate::integer::parse_i64(&argv[2])
        .ok_or_else(args::not_integer)
        .and_then(|n| usize::try_from(n).map_err(|_| err("ERR offset is out of range")))?;
    let piece = &argv[3][..];
    if piece.is_empty() {
        // Nothing to write: the length as it is, and no key created.
        let len = call.db.get(call.key())?.map_or(0, |hit| hit.value.len());
        return Ok(int_reply(len));
    }
    let len = offset.saturating_add(piece.len());
    update(call, |current| {
        let (old, expires_at) = match &current {
            Some(hit) => (&hit.value[..], hit.expires_at),
            None => (&b""[..], None),
        };
        let new_len = len.max(old.len());
        if let Err(too_large) = call.fits(new_len) {
            return (Mutation::Keep, Err(too_large));
        }
        let mut value = BytesMut::zeroed(new_len);
        value[..old.len()].copy_from_slice(old);
        value[offset..len].copy_from_slice(piece);
        let set = Mutation::Set {
            value: value.freeze(),
            expires_at,
        };
        (set, Ok(int_reply(new_len)))
    })
}

fn incrbyfloat(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let delta = args::float(&call.argv[2])?;
    update(call, |current| {
        let (base, expires_at) = match &current {
            None => (Some(0.0), None),
            Some(hit) => (args::parse_float(&hit.value), hit.expires_at),
        };
        let Some(base) = base else {
            return (Mutation::Keep, Err(args::not_float()));
        };
        let sum = base + delta;
        if !sum.is_finite() {
            return (
                Mutation::Keep,
                Err(err("ERR increment would produce NaN or Infinity")),
            );
        }
        let text = args::human(sum);
        let reply = bulk(text.as_bytes());
        let set = Mutation::Set {
            value: Bytes::from(text),
            expires_at,
        };
        (set, Ok(reply))
    })
}

fn setbit(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let offset = bit_offset(&call.argv[2])?;
    let on = match &call.argv[3][..] {
        b"1" => true,
        b"0" => false,
        _ => return Err(err("ERR bit is not an integer or out of range")),
    };
    let byte = usize::try_from(offset / 8).unwrap_or(usize::MAX);
    call.fits(byte + 1)?;
    update(call, |current| {
        let (old, expires_at) = match &current {
            Some(hit) => (&hit.value[..], hit.expires_at),
            None => (&b""[..], None),
        };
        let was = bit_at(old, offset);
        let mut value = BytesMut::zeroed(old.len().max(byte + 1));
        value[..old.len()].copy_from_slice(old);
        let mask = 0x80 >> (offset % 8);
        if on {
            value[byte] |= mask;
        } else {
            value[byte] &= !mask;
        }
        let set = Mutation::Set {
            value: value.freeze(),
            expires_at,
        };
        (set, Ok(NodeReply::Int(was.into())))
    })
}

/// BITCOUNT key [start end [BYTE | BIT]].
fn bitcount(call: &Call<'_>) -> Result<NodeReply, CacheError> {
    let argv = call.argv;
    let span = match argv.len() {
        2 => None,
        4 | 5 => {
            let bits = match argv.get(4) {
                None => false,
                Some(word) if args::is(word, "byte") => false,
                Some(word) if args::is(word, "bit") => true,
                Some(_) => return Err(args::syntax()),
            };
            Some((args::int(&argv[2])?, args::int(&argv[3])?, bits))
        }
        _ => return Err(args::syntax()),
    };
    let value = call
        .db
        .get(call.key())?
        .map(|hit| hit.value)
        .unwrap_or_default();
    let ones = match span {
        None => value.iter().map(|b| b.count_ones() as usize).sum(),
        Some((start, end, false)) => range(&value, start, end)
            .iter()
            .map(|b| b.count_ones() as usize)
            .sum(),
        Some((start, end, true)) => {
            let total = (value.len() as u64) * 8;
            match args::index_range(start, end, usize::try_from(total).unwrap_or(usize::MAX)) {
                Some((from, to)) => (from..to).filter(|&bit| bit_at(&value, bit as u64)).count(),
                None => 0,
            }
        }
    };
    Ok(int_reply(ones))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_follow_redis() {
        assert_eq!(range(b"abc", -3, -1), b"abc");
        assert_eq!(range(b"abc", 5, 2), b"");
        assert_eq!(range(b"abc", -1, -5), b"");
        assert_eq!(range(b"abc", 0, 100), b"abc");
        assert_eq!(range(b"", 0, -1), b"");
        assert!(bit_at(&[0x01], 7) && !bit_at(&[0x01], 0) && !bit_at(&[], 3));
    }
}
