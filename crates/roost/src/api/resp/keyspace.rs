//! Keyspace commands: DEL UNLINK EXISTS EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL
//! PTTL PERSIST TYPE DBSIZE SCAN KEYS FLUSHALL FLUSHDB: EXPIRE's and SCAN's
//! arguments read for `command.rs`, and the handlers. Multi-key commands go
//! through the Cache, which routes every key to its own node.

use bytes::Bytes;
use roost_resp::{write_array_header, write_bulk, write_integer, write_simple};

use super::command_table::Cmd;
use super::dispatch::{integer, is, owned, Cx};
use super::reply::RespError;
use crate::backend::RetimeCondition;

/// SCAN's page size when the client gives no COUNT, as Redis.
const DEFAULT_SCAN_COUNT: usize = 10;

pub async fn del(cx: &mut Cx<'_>, keys: &[Bytes]) -> Result<(), RespError> {
    let removed = cx.cache().delete_many(keys).await?;
    write_integer(cx.out, removed as i64);
    Ok(())
}

pub async fn exists(cx: &mut Cx<'_>, keys: &[Bytes]) -> Result<(), RespError> {
    let found = cx.cache().exists(keys).await?;
    write_integer(cx.out, found as i64);
    Ok(())
}

/// EXPIRE / PEXPIRE / EXPIREAT / PEXPIREAT key n [NX | XX | GT | LT], read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpireArgs<'a> {
    /// The command's name, for Redis's error naming it.
    pub command: &'static str,
    pub key: &'a Bytes,
    pub deadline: Deadline,
    pub condition: RetimeCondition,
}

/// When an EXPIRE family command says the key expires, in milliseconds. Either
/// may be in the past, which removes the key, as in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deadline {
    /// This long from now (EXPIRE, PEXPIRE).
    In(i64),
    /// At this unix time (EXPIREAT, PEXPIREAT).
    At(i64),
}

impl<'a> ExpireArgs<'a> {
    /// `cmd` is one of the four; the unit and the form follow from it.
    pub fn parse(cmd: Cmd, argv: &'a [Bytes]) -> Result<ExpireArgs<'a>, RespError> {
        let unit_ms = match cmd {
            Cmd::Expire | Cmd::Expireat => 1000,
            _ => 1,
        };
        let n = integer(&argv[2])?;
        let condition = retime_condition(&argv[3..])?;
        let ms = n
            .checked_mul(unit_ms)
            .ok_or(RespError::InvalidExpireTime(cmd.spec().name))?;
        let deadline = match cmd {
            Cmd::Expireat | Cmd::Pexpireat => Deadline::At(ms),
            _ => Deadline::In(ms),
        };
        Ok(ExpireArgs {
            command: cmd.spec().name,
            key: &argv[1],
            deadline,
            condition,
        })
    }
}

pub async fn expire(cx: &mut Cx<'_>, args: ExpireArgs<'_>) -> Result<(), RespError> {
    let at = match args.deadline {
        Deadline::At(ms) => ms,
        Deadline::In(ms) => cx
            .cache()
            .deadline_in(ms)
            .ok_or(RespError::InvalidExpireTime(args.command))?,
    };
    let key = owned(args.key);
    let changed = cx.cache().expire_at(key, at, args.condition).await?;
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
        (_, true, _, true) => RetimeCondition::EarlierDeadline,
        (_, _, _, true) => RetimeCondition::Earlier,
        (_, true, ..) => RetimeCondition::HasDeadline,
        _ => RetimeCondition::Always,
    })
}

/// TTL / PTTL: -2 when the key is missing, -1 when it never expires.
pub async fn ttl(cx: &mut Cx<'_>, key: &Bytes, millis: bool) -> Result<(), RespError> {
    let reply = match cx.cache().inspect(key).await? {
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

pub async fn persist(cx: &mut Cx<'_>, key: &Bytes) -> Result<(), RespError> {
    let changed = cx.cache().persist(owned(key)).await?;
    write_integer(cx.out, i64::from(changed));
    Ok(())
}

/// TYPE: every value is a string in Roost.
/// TYPE: in front of Redis the node's answer (a key may hold any of Redis's
/// types there); the embedded store holds strings only.
pub async fn key_type(cx: &mut Cx<'_>, key: &Bytes) -> Result<(), RespError> {
    let name = cx.cache().key_type(key).await?;
    write_simple(cx.out, name.as_bytes());
    Ok(())
}

pub fn dbsize(cx: &mut Cx<'_>) -> Result<(), RespError> {
    let len = cx.cache().len();
    write_integer(cx.out, len as i64);
    Ok(())
}

/// SCAN cursor [MATCH pattern] [COUNT n] [TYPE type], read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanArgs<'a> {
    pub cursor: u64,
    pub pattern: Option<&'a [u8]>,
    /// A hint, as in Redis; at least 1.
    pub count: usize,
    /// TYPE asked for strings, or did not ask (every key is a string).
    pub strings_only: bool,
}

impl<'a> ScanArgs<'a> {
    pub fn parse(argv: &'a [Bytes]) -> Result<ScanArgs<'a>, RespError> {
        let cursor = std::str::from_utf8(&argv[1])
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
            .ok_or(RespError::InvalidCursor)?;
        let mut scan = ScanArgs {
            cursor,
            pattern: None,
            count: DEFAULT_SCAN_COUNT,
            strings_only: true,
        };
        for option in argv[2..].chunks(2) {
            let [name, value] = option else {
                return Err(RespError::Syntax);
            };
            if is(name, "MATCH") {
                scan.pattern = Some(&value[..]);
            } else if is(name, "COUNT") {
                let count =
                    usize::try_from(integer(value)?).map_err(|_| RespError::NotAnInteger)?;
                if count < 1 {
                    return Err(RespError::Syntax);
                }
                scan.count = count;
            } else if is(name, "TYPE") {
                scan.strings_only = is(value, "STRING");
            } else {
                return Err(RespError::Syntax);
            }
        }
        Ok(scan)
    }
}

pub async fn scan(cx: &mut Cx<'_>, args: ScanArgs<'_>) -> Result<(), RespError> {
    let mut page = cx
        .cache()
        .scan(args.cursor, args.pattern, args.count)
        .await?;
    if !args.strings_only {
        page.keys.clear();
    }
    write_array_header(cx.out, 2);
    write_bulk(cx.out, itoa::Buffer::new().format(page.cursor).as_bytes());
    write_keys(cx, &page.keys).await
}

pub async fn keys(cx: &mut Cx<'_>, pattern: &Bytes) -> Result<(), RespError> {
    let keys = cx.cache().keys(pattern).await?;
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
pub async fn flush(cx: &mut Cx<'_>) -> Result<(), RespError> {
    cx.cache().flush().await?;
    cx.ok();
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::api::resp::command::Command;
    use crate::api::resp::testing::{Harness, START_MS};

    #[tokio::test]
    async fn expire_ttl_and_persist_follow_the_clock() {
        let mut h = Harness::new();
        h.send(&["SET", "k", "v"]).await;
        assert_eq!(h.send(&["TTL", "k"]).await, ":-1\r\n");
        assert_eq!(h.send(&["TTL", "absent"]).await, ":-2\r\n");
        assert_eq!(h.send(&["EXPIRE", "k", "10"]).await, ":1\r\n");
        h.advance(Duration::from_millis(4_400));
        assert_eq!(h.send(&["PTTL", "k"]).await, ":5600\r\n");
        assert_eq!(
            h.send(&["TTL", "k"]).await,
            ":6\r\n",
            "rounded as Redis does"
        );
        assert_eq!(h.send(&["EXPIRE", "k", "100", "LT"]).await, ":0\r\n");
        assert_eq!(h.send(&["PEXPIRE", "k", "100000", "GT"]).await, ":1\r\n");
        assert_eq!(h.send(&["EXPIRE", "k", "5", "NX"]).await, ":0\r\n");
        assert_eq!(h.send(&["PERSIST", "k"]).await, ":1\r\n");
        assert_eq!(h.send(&["TTL", "k"]).await, ":-1\r\n");
        let past = ((START_MS / 1000) - 1).to_string();
        assert_eq!(h.send(&["EXPIREAT", "k", &past]).await, ":1\r\n");
        assert_eq!(
            h.send(&["EXISTS", "k"]).await,
            ":0\r\n",
            "a past time removes it"
        );
    }

    /// As Redis 7: `XX` with `LT` needs an existing TTL (a key without one
    /// is infinitely late for `LT` alone); TTLs past 30 days are accepted.
    #[tokio::test]
    async fn expire_lt_xx_needs_a_ttl_and_long_ttls_are_accepted() {
        let mut h = Harness::new();
        h.send(&["SET", "k", "v"]).await;
        assert_eq!(h.send(&["EXPIRE", "k", "200", "LT", "XX"]).await, ":0\r\n");
        assert_eq!(h.send(&["EXPIRE", "k", "200", "XX", "GT"]).await, ":0\r\n");
        assert_eq!(h.send(&["TTL", "k"]).await, ":-1\r\n");
        assert_eq!(h.send(&["EXPIRE", "k", "200", "LT"]).await, ":1\r\n");
        assert_eq!(h.send(&["EXPIRE", "k", "300", "LT", "XX"]).await, ":0\r\n");
        assert_eq!(h.send(&["EXPIRE", "k", "100", "XX", "LT"]).await, ":1\r\n");
        assert_eq!(h.send(&["TTL", "k"]).await, ":100\r\n");
        let year = (365 * 24 * 3600).to_string();
        assert_eq!(h.send(&["EXPIRE", "k", &year]).await, ":1\r\n");
        assert_eq!(h.send(&["TTL", "k"]).await, format!(":{year}\r\n"));
        let ten_years_ms = (10 * 365 * 24 * 3600 * 1000_i64).to_string();
        assert_eq!(
            h.send(&["SET", "s", "v", "PX", &ten_years_ms]).await,
            "+OK\r\n"
        );
        assert_eq!(h.send(&["PTTL", "s"]).await, format!(":{ten_years_ms}\r\n"));
        let at = (START_MS as i64 / 1000 + 40 * 24 * 3600).to_string();
        assert_eq!(h.send(&["EXPIREAT", "s", &at]).await, ":1\r\n");
        // Past what a signed 64-bit millisecond deadline holds: Redis's error.
        let huge = (i64::MAX / 1000 - 1).to_string();
        assert_eq!(
            h.send(&["EXPIRE", "k", &huge]).await,
            "-ERR invalid expire time in 'expire' command\r\n"
        );
        assert_eq!(h.send(&["TTL", "k"]).await, format!(":{year}\r\n"));
    }

    #[tokio::test]
    async fn a_typed_expire_at_a_unix_time() {
        let mut h = Harness::new();
        h.send(&["SET", "k", "v"]).await;
        let key = Bytes::from_static(b"k");
        let expire = Command::Expire(ExpireArgs {
            command: "expireat",
            key: &key,
            deadline: Deadline::At(START_MS as i64 + 2_000),
            condition: RetimeCondition::Always,
        });
        assert_eq!(h.apply(expire).await, ":1\r\n");
        assert_eq!(h.send(&["PTTL", "k"]).await, ":2000\r\n");
    }

    #[tokio::test]
    async fn multi_key_commands_type_dbsize_and_flush() {
        let mut h = Harness::new();
        h.send(&["MSET", "a", "1", "b", "2", "c", "3"]).await;
        assert_eq!(h.send(&["EXISTS", "a", "b", "a", "z"]).await, ":3\r\n");
        assert_eq!(h.send(&["TYPE", "a"]).await, "+string\r\n");
        assert_eq!(h.send(&["TYPE", "z"]).await, "+none\r\n");
        assert_eq!(h.send(&["UNLINK", "a", "z"]).await, ":1\r\n");
        assert_eq!(h.send(&["DBSIZE"]).await, ":2\r\n");
        assert_eq!(h.send(&["FLUSHALL", "NOW"]).await, "-ERR syntax error\r\n");
        assert_eq!(h.send(&["FLUSHDB", "ASYNC"]).await, "+OK\r\n");
        assert_eq!(h.send(&["DBSIZE"]).await, ":0\r\n");
    }

    #[tokio::test]
    async fn scan_pages_through_every_key_and_keys_matches() {
        let mut h = Harness::new();
        for i in 0..25 {
            h.send(&["SET", &format!("user:{i}"), "v"]).await;
        }
        h.send(&["SET", "other", "v"]).await;
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = 0u64;
        loop {
            let scan = ScanArgs {
                cursor,
                pattern: Some(b"user:*"),
                count: 7,
                strings_only: true,
            };
            let reply = h.apply(Command::Scan(scan)).await;
            let mut lines = reply.split("\r\n").skip(2);
            cursor = lines.next().and_then(|c| c.parse().ok()).unwrap_or(0);
            seen.extend(lines.filter(|l| l.starts_with("user:")).map(str::to_owned));
            if cursor == 0 {
                break;
            }
        }
        assert_eq!(seen.len(), 25);
        let keys = h.send(&["KEYS", "user:1?"]).await;
        assert!(keys.starts_with("*10\r\n"), "{keys}");
        let wrong_type = h.send(&["SCAN", "0", "TYPE", "hash"]).await;
        assert!(wrong_type.ends_with("*0\r\n"), "{wrong_type}");
        assert_eq!(
            h.send(&["SCAN", "0", "COUNT", "0"]).await,
            "-ERR syntax error\r\n"
        );
    }
}
