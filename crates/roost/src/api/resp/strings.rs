//! String commands: GET SET SETEX PSETEX SETNX GETDEL GETEX MGET MSET MSETNX
//! INCR INCRBY DECR DECRBY APPEND STRLEN. The options that need more than a
//! position (SET's, GETEX's, the expiry units) are read here for `command.rs`;
//! each handler takes its typed arguments, makes one Cache call and writes
//! Redis's reply shape.
//!
//! Writes without an expiry option never expire, as in Redis; `CACHE_TTL` is the
//! REST default only.

use std::time::Duration;

use bytes::Bytes;
use roost_resp::{write_array_header, write_integer};

use super::command::Command;
use super::dispatch::{integer, is, owned, owned_pair, Cx};
use super::reply::RespError;
use crate::cache::{Expiry, Item, SetCondition, SetOptions};

pub async fn get(cx: &mut Cx<'_>, key: &Bytes) -> Result<(), RespError> {
    match cx.cache().get_value(key).await? {
        Some(value) => cx.out.bulk(&value),
        None => cx.null(),
    }
    Ok(())
}

/// SET without options: what a plain `SET key value` means.
pub const PLAIN_SET: SetOptions = SetOptions {
    condition: SetCondition::Always,
    expiry: Expiry::Never,
    keep_ttl: false,
    returns_previous: false,
};

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]
pub fn parse_set(argv: &[Bytes]) -> Result<Command<'_>, RespError> {
    let mut options = PLAIN_SET;
    let mut get_previous = false;
    let mut expire: Option<(&Bytes, ExpiryUnit)> = None;
    let mut i = 3;
    while i < argv.len() {
        let arg = &argv[i];
        let unit = ExpiryUnit::parse(arg);
        if is(arg, "NX") && options.condition != SetCondition::IfPresent {
            options.condition = SetCondition::IfAbsent;
        } else if is(arg, "XX") && options.condition != SetCondition::IfAbsent {
            options.condition = SetCondition::IfPresent;
        } else if is(arg, "GET") {
            get_previous = true;
        } else if is(arg, "KEEPTTL") && expire.is_none() {
            options.keep_ttl = true;
        } else if let (Some(unit), None, false, Some(value)) =
            (unit, expire, options.keep_ttl, argv.get(i + 1))
        {
            expire = Some((value, unit));
            i += 1;
        } else {
            return Err(RespError::Syntax);
        }
        i += 1;
    }
    if let Some((value, unit)) = expire {
        options.expiry = unit.expiry(value, "set")?;
    }
    options.returns_previous = get_previous;
    Ok(Command::Set {
        key: &argv[1],
        value: &argv[2],
        options,
        get_previous,
    })
}

/// SET, SETEX and PSETEX.
pub async fn set(
    cx: &mut Cx<'_>,
    key: &Bytes,
    value: &Bytes,
    options: SetOptions,
    get_previous: bool,
) -> Result<(), RespError> {
    let (key, value) = owned_pair(key, value);
    if options.condition == SetCondition::Always && !options.keep_ttl && !get_previous {
        // A plain write needs no read of the old entry: the cheaper path REST takes.
        cx.cache().put(key, value, options.expiry).await?;
        cx.ok();
        return Ok(());
    }
    let result = cx.cache().set_with(key, value, options).await?;
    match (get_previous, result.previous, result.written) {
        (true, Some(previous), _) => cx.out.bulk(&previous),
        (true, None, _) | (false, _, false) => cx.null(),
        (false, _, true) => cx.ok(),
    }
    Ok(())
}

pub async fn setnx(cx: &mut Cx<'_>, key: &Bytes, value: &Bytes) -> Result<(), RespError> {
    let options = SetOptions {
        condition: SetCondition::IfAbsent,
        ..PLAIN_SET
    };
    let result = cx
        .cache()
        .set_with(owned(key), owned(value), options)
        .await?;
    write_integer(cx.out, i64::from(result.written));
    Ok(())
}

pub async fn getdel(cx: &mut Cx<'_>, key: &Bytes) -> Result<(), RespError> {
    match cx.cache().getdel(key.clone()).await? {
        Some(value) => cx.out.bulk(&value),
        None => cx.null(),
    }
    Ok(())
}

/// GETEX's options: [EX s | PX ms | EXAT s | PXAT ms | PERSIST]; `None` leaves
/// the deadline as it is.
pub fn parse_getex_expiry(options: &[Bytes]) -> Result<Option<Expiry>, RespError> {
    Ok(match options {
        [] => None,
        [persist] if is(persist, "PERSIST") => Some(Expiry::Never),
        [option, value] => match ExpiryUnit::parse(option) {
            Some(unit) => Some(unit.expiry(value, "getex")?),
            None => return Err(RespError::Syntax),
        },
        _ => return Err(RespError::Syntax),
    })
}

pub async fn getex(cx: &mut Cx<'_>, key: &Bytes, expiry: Option<Expiry>) -> Result<(), RespError> {
    match cx.cache().getex(owned(key), expiry).await? {
        Some(value) => cx.out.bulk(&value),
        None => cx.null(),
    }
    Ok(())
}

/// MGET key [key ...]: read a slice at a time (`cache/mget.rs`) and written
/// out value by value, so a large answer is never held whole. A slice that fails after the first
/// answers each of its keys with the error, inside the array.
pub async fn mget(cx: &mut Cx<'_>, keys: &[Bytes]) -> Result<(), RespError> {
    let mut cursor = cx.cache().mget_cursor(keys)?;
    let mut first = true;
    while let Some((range, found)) = cx.cache().mget_next(&mut cursor, keys).await {
        match found {
            Ok(hits) => {
                if first {
                    write_array_header(cx.out, keys.len());
                }
                for hit in hits {
                    match hit {
                        Some(hit) => cx.out.bulk(&hit.value),
                        None => cx.null(),
                    }
                    cx.flush_if_full().await?;
                }
            }
            Err(err) if first => return Err(err.into()),
            Err(err) => {
                let error = RespError::from(err);
                for _ in range {
                    error.write(cx.out);
                }
            }
        }
        first = false;
        cx.flush_if_full().await?;
    }
    Ok(())
}

pub async fn mset(cx: &mut Cx<'_>, pairs: &[Bytes]) -> Result<(), RespError> {
    cx.cache().mset(entries(pairs)).await?;
    cx.ok();
    Ok(())
}

pub async fn msetnx(cx: &mut Cx<'_>, pairs: &[Bytes]) -> Result<(), RespError> {
    let written = cx.cache().msetnx(entries(pairs)).await?;
    write_integer(cx.out, i64::from(written));
    Ok(())
}

/// INCR, DECR, INCRBY, DECRBY.
pub async fn incr_by(cx: &mut Cx<'_>, key: &Bytes, delta: i64) -> Result<(), RespError> {
    let value = cx.cache().incr_by(owned(key), delta).await?;
    write_integer(cx.out, value);
    Ok(())
}

pub async fn append(cx: &mut Cx<'_>, key: &Bytes, value: &Bytes) -> Result<(), RespError> {
    let len = cx.cache().append(owned(key), value).await?;
    write_integer(cx.out, len as i64);
    Ok(())
}

pub async fn strlen(cx: &mut Cx<'_>, key: &Bytes) -> Result<(), RespError> {
    let len = cx.cache().strlen(key).await?;
    write_integer(cx.out, len as i64);
    Ok(())
}

/// The entries of MSET and MSETNX (keys and values in turn), copied out of
/// the read buffer.
fn entries(pairs: &[Bytes]) -> Vec<Item> {
    pairs
        .chunks_exact(2)
        .map(|pair| {
            let (key, value) = owned_pair(&pair[0], &pair[1]);
            Item {
                key,
                value,
                expiry: Expiry::Never,
            }
        })
        .collect()
}

/// EX, PX, EXAT or PXAT: the unit of the number that follows.
#[derive(Debug, Clone, Copy)]
pub struct ExpiryUnit {
    /// 1000 for seconds, 1 for milliseconds.
    pub unit_ms: i64,
    /// A unix time (EXAT, PXAT) rather than a time from now.
    pub absolute: bool,
}

impl ExpiryUnit {
    fn parse(option: &[u8]) -> Option<ExpiryUnit> {
        let (unit_ms, absolute) = if is(option, "EX") {
            (1000, false)
        } else if is(option, "PX") {
            (1, false)
        } else if is(option, "EXAT") {
            (1000, true)
        } else if is(option, "PXAT") {
            (1, true)
        } else {
            return None;
        };
        Some(ExpiryUnit { unit_ms, absolute })
    }

    /// The expiry `value` means in this unit; Redis's errors for a bad number.
    pub fn expiry(self, value: &[u8], command: &'static str) -> Result<Expiry, RespError> {
        let n = integer(value)?;
        let ms = Some(n)
            .filter(|&n| n > 0)
            .and_then(|n| n.checked_mul(self.unit_ms))
            .ok_or(RespError::InvalidExpireTime(command))?;
        let ms = ms as u64;
        Ok(match self.absolute {
            true => Expiry::At(ms),
            false => Expiry::After(Duration::from_millis(ms)),
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::api::resp::testing::Harness;

    fn bytes(text: &str) -> Bytes {
        Bytes::from(text.to_string())
    }

    #[tokio::test]
    async fn typed_set_and_get_answer_like_redis() {
        let mut h = Harness::new();
        let (key, value) = (bytes("k"), bytes("v"));
        let set = Command::Set {
            key: &key,
            value: &value,
            options: PLAIN_SET,
            get_previous: false,
        };
        assert_eq!(h.apply(set).await, "+OK\r\n");
        assert_eq!(h.apply(Command::Get { key: &key }).await, "$1\r\nv\r\n");
        let absent = bytes("absent");
        assert_eq!(h.apply(Command::Get { key: &absent }).await, "$-1\r\n");
        let nx = Command::Set {
            key: &key,
            value: &absent,
            options: SetOptions {
                condition: SetCondition::IfAbsent,
                ..PLAIN_SET
            },
            get_previous: true,
        };
        assert_eq!(
            h.apply(nx).await,
            "$1\r\nv\r\n",
            "NX GET: not written, old value"
        );
        assert_eq!(h.apply(Command::Strlen { key: &key }).await, ":1\r\n");
    }

    #[tokio::test]
    async fn set_options_and_the_conditional_writes() {
        let mut h = Harness::new();
        assert_eq!(h.send(&["SET", "k", "1", "XX"]).await, "$-1\r\n");
        assert_eq!(h.send(&["SET", "k", "1", "NX"]).await, "+OK\r\n");
        assert_eq!(h.send(&["SET", "k", "2", "NX"]).await, "$-1\r\n");
        assert_eq!(h.send(&["SET", "k", "3", "XX", "GET"]).await, "$1\r\n1\r\n");
        assert_eq!(h.send(&["SETNX", "k", "4"]).await, ":0\r\n");
        assert_eq!(h.send(&["GETDEL", "k"]).await, "$1\r\n3\r\n");
        assert_eq!(h.send(&["SETNX", "k", "5"]).await, ":1\r\n");
        assert_eq!(h.send(&["INCRBY", "k", "10"]).await, ":15\r\n");
        assert_eq!(h.send(&["DECR", "k"]).await, ":14\r\n");
        assert_eq!(h.send(&["APPEND", "k", "x"]).await, ":3\r\n");
        assert_eq!(
            h.send(&["INCR", "k"]).await,
            "-ERR value is not an integer or out of range\r\n"
        );
    }

    #[tokio::test]
    async fn expiring_writes_follow_the_clock() {
        let mut h = Harness::new();
        assert_eq!(h.send(&["SETEX", "a", "10", "v"]).await, "+OK\r\n");
        assert_eq!(h.send(&["SET", "b", "v", "PX", "1500"]).await, "+OK\r\n");
        assert_eq!(h.send(&["SET", "b", "w", "KEEPTTL"]).await, "+OK\r\n");
        assert_eq!(h.send(&["GETEX", "c", "EX", "5"]).await, "$-1\r\n");
        assert_eq!(h.send(&["TTL", "a"]).await, ":10\r\n");
        h.advance(Duration::from_millis(1500));
        assert_eq!(h.send(&["GET", "b"]).await, "$-1\r\n", "KEEPTTL kept 1.5 s");
        assert_eq!(h.send(&["GETEX", "a", "PERSIST"]).await, "$1\r\nv\r\n");
        h.advance(Duration::from_secs(60));
        assert_eq!(h.send(&["GET", "a"]).await, "$1\r\nv\r\n", "PERSIST");
    }

    #[tokio::test]
    async fn mset_msetnx_and_mget() {
        let mut h = Harness::new();
        let pairs = ["a", "1", "b", "2"].map(bytes);
        assert_eq!(h.apply(Command::Mset { pairs: &pairs }).await, "+OK\r\n");
        let again = ["b", "x", "c", "3"].map(bytes);
        assert_eq!(h.apply(Command::Msetnx { pairs: &again }).await, ":0\r\n");
        let keys = ["a", "b", "c"].map(bytes);
        assert_eq!(
            h.apply(Command::Mget { keys: &keys }).await,
            "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n"
        );
    }

    #[tokio::test]
    async fn stored_keys_and_values_are_copies_not_slices_of_the_read_buffer() {
        let mut h = Harness::new();
        let read_buffer = bytes("k1v1k2v2k3v3");
        let within = |b: &Bytes| {
            let start = read_buffer.as_ptr() as usize;
            (start..start + read_buffer.len()).contains(&(b.as_ptr() as usize))
        };
        let slice = |from: usize| read_buffer.slice(from..from + 2);
        let set = Command::Set {
            key: &slice(0),
            value: &slice(2),
            options: PLAIN_SET,
            get_previous: false,
        };
        h.apply(set).await;
        let pairs = [slice(4), slice(6), slice(8), slice(10)];
        h.apply(Command::Mset { pairs: &pairs }).await;
        let cache = &h.state.app.cache;
        for key in ["k1", "k2", "k3"] {
            let value = cache.get_value(key.as_bytes()).await.unwrap().unwrap();
            assert!(!within(&value), "{key}'s value pins the read buffer");
        }
        let keys = cache.keys(b"*").await.unwrap();
        assert_eq!(keys.len(), 3);
        assert!(
            keys.iter().all(|key| !within(key)),
            "a key pins the read buffer"
        );
    }
}
