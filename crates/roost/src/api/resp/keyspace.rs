//! Keyspace commands: DEL UNLINK EXISTS EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL
//! PTTL PERSIST TYPE DBSIZE SCAN KEYS FLUSHALL FLUSHDB. Multi-key commands go
//! through the Cache, which routes every key to its own node.

use bytes::Bytes;
use roost_resp::{write_array_header, write_bulk, write_integer, write_simple};

use super::dispatch::{integer, is, owned, Cx};
use super::reply::RespError;
use crate::backend::RetimeCondition;

/// SCAN's page size when the client gives no COUNT, as Redis.
const DEFAULT_SCAN_COUNT: usize = 10;

pub async fn del(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let removed = cx.cache().delete_many(&args[1..]).await?;
    write_integer(cx.out, removed as i64);
    Ok(())
}

pub async fn exists(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let found = cx.cache().exists(&args[1..]).await?;
    write_integer(cx.out, found as i64);
    Ok(())
}

/// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key n [NX | XX | GT | LT].
/// `unit_ms` is 1000 for seconds; `absolute` for the *AT forms. A time in the past
/// removes the key, as in Redis.
pub async fn expire(
    cx: &mut Cx<'_>,
    args: &[Bytes],
    unit_ms: i64,
    absolute: bool,
    command: &'static str,
) -> Result<(), RespError> {
    let n = integer(&args[2])?;
    let condition = retime_condition(&args[3..])?;
    let ms = n
        .checked_mul(unit_ms)
        .ok_or(RespError::InvalidExpireTime(command))?;
    let at = match absolute {
        true => ms,
        false => cx.cache().deadline_in(ms),
    };
    let changed = cx.cache().expire_at(owned(&args[1]), at, condition).await?;
    write_integer(cx.out, i64::from(changed));
    Ok(())
}

/// Redis 7's EXPIRE options, with its errors for incompatible ones.
fn retime_condition(options: &[Bytes]) -> Result<RetimeCondition, RespError> {
    let (mut nx, mut xx, mut gt, mut lt) = (false, false, false, false);
    for option in options {
        if is(option, "NX") {
            nx = true;
        } else if is(option, "XX") {
            xx = true;
        } else if is(option, "GT") {
            gt = true;
        } else if is(option, "LT") {
            lt = true;
        } else {
            let text = String::from_utf8_lossy(option).into_owned();
            return Err(RespError::UnsupportedOption(text));
        }
    }
    if nx && (xx || gt || lt) {
        return Err(RespError::ExpireNxWithOthers);
    }
    if gt && lt {
        return Err(RespError::ExpireGtWithLt);
    }
    Ok(match (nx, xx, gt, lt) {
        (true, ..) => RetimeCondition::NoDeadline,
        (_, _, true, _) => RetimeCondition::Later,
        (_, _, _, true) => RetimeCondition::Earlier,
        (_, true, ..) => RetimeCondition::HasDeadline,
        _ => RetimeCondition::Always,
    })
}

/// TTL / PTTL: -2 when the key is missing, -1 when it never expires.
pub async fn ttl(cx: &mut Cx<'_>, args: &[Bytes], millis: bool) -> Result<(), RespError> {
    let reply = match cx.cache().inspect(&args[1]).await? {
        None => -2,
        Some(info) => match info.ttl {
            None => -1,
            Some(left) if millis => left.as_millis() as i64,
            // Redis rounds to the nearest second.
            Some(left) => ((left.as_millis() + 500) / 1000) as i64,
        },
    };
    write_integer(cx.out, reply);
    Ok(())
}

pub async fn persist(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let changed = cx.cache().persist(owned(&args[1])).await?;
    write_integer(cx.out, i64::from(changed));
    Ok(())
}

/// TYPE: every value is a string in Roost.
pub async fn key_type(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let found = cx.cache().inspect(&args[1]).await?.is_some();
    write_simple(cx.out, if found { b"string" } else { b"none" });
    Ok(())
}

pub fn dbsize(cx: &mut Cx<'_>) -> Result<(), RespError> {
    let len = cx.cache().len();
    write_integer(cx.out, len as i64);
    Ok(())
}

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type]
pub async fn scan(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let cursor = std::str::from_utf8(&args[1])
        .ok()
        .and_then(|text| text.parse::<u64>().ok())
        .ok_or(RespError::InvalidCursor)?;
    let (mut pattern, mut count, mut strings_only) = (None, DEFAULT_SCAN_COUNT, true);
    let mut options = args[2..].chunks(2);
    for option in options.by_ref() {
        let [name, value] = option else {
            return Err(RespError::Syntax);
        };
        if is(name, "MATCH") {
            pattern = Some(&value[..]);
        } else if is(name, "COUNT") {
            count = usize::try_from(integer(value)?).map_err(|_| RespError::NotAnInteger)?;
            if count < 1 {
                return Err(RespError::Syntax);
            }
        } else if is(name, "TYPE") {
            strings_only = is(value, "STRING");
        } else {
            return Err(RespError::Syntax);
        }
    }
    let mut page = cx.cache().scan(cursor, pattern, count).await?;
    if !strings_only {
        page.keys.clear();
    }
    write_array_header(cx.out, 2);
    write_bulk(cx.out, itoa::Buffer::new().format(page.cursor).as_bytes());
    write_keys(cx, &page.keys).await
}

pub async fn keys(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    let keys = cx.cache().keys(&args[1]).await?;
    write_keys(cx, &keys).await
}

/// An array of keys, written out as it grows: KEYS on a million keys holds
/// their names (shared with the store), not a copy of all of them.
async fn write_keys(cx: &mut Cx<'_>, keys: &[Bytes]) -> Result<(), RespError> {
    write_array_header(cx.out, keys.len());
    for key in keys {
        write_bulk(cx.out, key);
        cx.flush_if_full().await?;
    }
    Ok(())
}

/// FLUSHALL / FLUSHDB [ASYNC | SYNC]: the admin role only, when authentication
/// is on (dispatch checks it).
pub async fn flush(cx: &mut Cx<'_>, args: &[Bytes]) -> Result<(), RespError> {
    match &args[1..] {
        [] => {}
        [mode] if is(mode, "ASYNC") || is(mode, "SYNC") => {}
        _ => return Err(RespError::Syntax),
    }
    cx.cache().flush().await?;
    cx.ok();
    Ok(())
}
