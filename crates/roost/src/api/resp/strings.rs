//! String commands: GET SET SETEX PSETEX SETNX GETDEL GETEX MGET MSET MSETNX
//! INCR INCRBY DECR DECRBY APPEND STRLEN. Each parses its arguments Redis's way,
//! makes one Cache call and writes Redis's reply shape.
//!
//! Writes without an expiry option never expire, as in Redis; `CACHE_TTL` is the
//! REST default only.

use std::time::Duration;

use bytes::Bytes;
use roost_resp::{write_array_header, write_integer};

use super::dispatch::{integer, is, owned, owned_pair, Cx};
use super::reply::RespError;
use crate::cache::{Entry, Expiry, SetCondition, SetOptions};

pub async fn get(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    match cx.cache().get_value(&args[1]).await? {
        Some(value) => cx.out.bulk(&value),
        None => cx.null(),
    }
    Ok(())
}

/// SET key value [NX | XX] [GET] [EX s | PX ms | EXAT s | PXAT ms | KEEPTTL]
pub async fn set(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let mut options = SetOptions {
        condition: SetCondition::Always,
        expiry: Expiry::Never,
        keep_ttl: false,
    };
    let mut return_previous = false;
    let mut expire: Option<(&Bytes, ExpiryUnit)> = None;
    let mut i = 3;
    while i < args.len() {
        let arg = &args[i];
        let unit = ExpiryUnit::parse(arg);
        if is(arg, "NX") && options.condition != SetCondition::IfPresent {
            options.condition = SetCondition::IfAbsent;
        } else if is(arg, "XX") && options.condition != SetCondition::IfAbsent {
            options.condition = SetCondition::IfPresent;
        } else if is(arg, "GET") {
            return_previous = true;
        } else if is(arg, "KEEPTTL") && expire.is_none() {
            options.keep_ttl = true;
        } else if let (Some(unit), None, false, Some(value)) =
            (unit, expire, options.keep_ttl, args.get(i + 1))
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
    let (key, value) = owned_pair(&args[1], &args[2]);
    if options.condition == SetCondition::Always && !options.keep_ttl && !return_previous {
        // A plain write needs no read of the old entry: the cheaper path REST takes.
        cx.cache().put(key, value, options.expiry).await?;
        cx.ok();
        return Ok(());
    }
    let result = cx.cache().set_with(key, value, options).await?;
    match (return_previous, result.previous, result.written) {
        (true, Some(previous), _) => cx.out.bulk(&previous),
        (true, None, _) | (false, _, false) => cx.null(),
        (false, _, true) => cx.ok(),
    }
    Ok(())
}

/// SETEX key seconds value / PSETEX key milliseconds value.
pub async fn setex(
    cx: &mut Cx<'_>,
    args: &[Bytes],
    unit_ms: i64,
    command: &'static str,
) -> Result<(), RespError> {
    let unit = ExpiryUnit {
        unit_ms,
        absolute: false,
    };
    let expiry = unit.expiry(&args[2], command)?;
    let (key, value) = owned_pair(&args[1], &args[3]);
    cx.cache().put(key, value, expiry).await?;
    cx.ok();
    Ok(())
}

pub async fn setnx(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let options = SetOptions {
        condition: SetCondition::IfAbsent,
        expiry: Expiry::Never,
        keep_ttl: false,
    };
    let result = cx
        .cache()
        .set_with(owned(&args[1]), owned(&args[2]), options)
        .await?;
    write_integer(cx.out, i64::from(result.written));
    Ok(())
}

pub async fn getdel(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    match cx.cache().getdel(args[1].clone()).await? {
        Some(value) => cx.out.bulk(&value),
        None => cx.null(),
    }
    Ok(())
}

/// GETEX key [EX s | PX ms | EXAT s | PXAT ms | PERSIST]
pub async fn getex(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let expiry = match &args[2..] {
        [] => None,
        [persist] if is(persist, "PERSIST") => Some(Expiry::Never),
        [option, value] => match ExpiryUnit::parse(option) {
            Some(unit) => Some(unit.expiry(value, "getex")?),
            None => return Err(RespError::Syntax),
        },
        _ => return Err(RespError::Syntax),
    };
    match cx.cache().getex(owned(&args[1]), expiry).await? {
        Some(value) => cx.out.bulk(&value),
        None => cx.null(),
    }
    Ok(())
}

/// MGET key [key ...]: read a slice at a time (`cache/mget.rs`) and written
/// out value by value, so a large answer is never held whole. A slice that fails after the first
/// answers each of its keys with the error, inside the array.
pub async fn mget(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let keys = &args[1..];
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

pub async fn mset(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let writes = pairs(args, "mset")?;
    cx.cache().mset(writes).await?;
    cx.ok();
    Ok(())
}

pub async fn msetnx(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let writes = pairs(args, "msetnx")?;
    let written = cx.cache().msetnx(writes).await?;
    write_integer(cx.out, i64::from(written));
    Ok(())
}

/// INCRBY key n / DECRBY key n.
pub async fn incrby(cx: &mut Cx<'_>, args: &[Bytes], negate: bool) -> Result<(), RespError> {
    let n = integer(&args[2])?;
    let delta = match negate {
        false => n,
        true => n.checked_neg().ok_or(RespError::DecrementOverflow)?,
    };
    incr_by(cx, &args[1], delta).await
}

pub async fn incr_by(cx: &mut Cx<'_>, key: &Bytes, delta: i64) -> Result<(), RespError> {
    let value = cx.cache().incr_by(owned(key), delta).await?;
    write_integer(cx.out, value);
    Ok(())
}

pub async fn append(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let len = cx.cache().append(owned(&args[1]), &args[2]).await?;
    write_integer(cx.out, len as i64);
    Ok(())
}

pub async fn strlen(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let len = cx.cache().strlen(&args[1]).await?;
    write_integer(cx.out, len as i64);
    Ok(())
}

/// The key/value pairs of MSET and MSETNX, copied out of the read buffer.
fn pairs(args: &[Bytes], command: &'static str) -> Result<Vec<Entry>, RespError> {
    if args.len() % 2 == 0 {
        return Err(RespError::WrongArity(command));
    }
    Ok(args[1..]
        .chunks_exact(2)
        .map(|pair| {
            let (key, value) = owned_pair(&pair[0], &pair[1]);
            Entry {
                key,
                value,
                expiry: Expiry::Never,
            }
        })
        .collect())
}

/// EX, PX, EXAT or PXAT: the unit of the number that follows.
#[derive(Debug, Clone, Copy)]
struct ExpiryUnit {
    unit_ms: i64,
    absolute: bool,
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
    fn expiry(self, value: &[u8], command: &'static str) -> Result<Expiry, RespError> {
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
