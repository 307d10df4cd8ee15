//! A region's versioned operations on one Redis node (issue 16;
//! docs/regions.md, "Redis backends"). Each key's version lives beside it in
//! a *version key* on the same node and, on a Redis Cluster, in the same slot
//! (`fleet/versions.rs` names it). Every operation is one Lua script, so the
//! version check, the change and the new version are one atomic step on the
//! node:
//!
//! - [`RedisLink::versioned`]: a client's write, stamped with a version newer
//!   than the key's (else it answers the key's version, and the caller takes
//!   a newer one and asks again);
//! - [`RedisLink::apply_versioned`]: another region's change (or a region's
//!   read-through fill), stored only if newer than what the key holds;
//! - [`RedisLink::peek_versioned`]: what a key holds, with its version;
//! - [`RedisLink::drop_unproven`]: a resync's removal of what is older.
//!
//! A version key holds the version as 16 hex digits, so Lua (whose numbers
//! are doubles) compares versions as strings. It lives `tombstone_ms` past
//! its key's deadline, as long as the key for a key without one, and
//! `tombstone_ms` after a delete: the tombstone. A key present without a version key (written
//! before the region, or its version key evicted) has no provable version.

use std::sync::LazyLock;

use bytes::Bytes;
use redis::{Script, Value};
use roost_store::{UnixMillis, Version};

use super::scripts::{self, WireExpiry};
use super::RedisLink;
use crate::backend::{Condition, Deadline, RetimeCondition, SetOutcome, Stored};
use crate::error::CacheError;

/// A client's write under a version. KEYS[1] key, KEYS[2] its version key;
/// ARGV[1] version (hex), ARGV[2] tombstone ms, ARGV[3] the operation,
/// ARGV[4..] its arguments. Answers `{0, held}` when the key holds this
/// version or a newer one (nothing done), else `{1, result, kind, value,
/// pttl, version}`: the operation's answer and what the key holds after it
/// (as [`PEEK`] reads it), so the change log needs no second round trip. The
/// version is stamped only when the operation changed the key (a delete
/// always: a tombstone even for an absent key).
static WRITE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local key, vkey = KEYS[1], KEYS[2]
local ver, ttl, op = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local held = redis.call('GET', vkey)
if held and held >= ver then return {0, held} end
local result, wrote = false, true
local function set_with(mode, value, ms)
  if mode == 'persist' then redis.call('SET', key, value)
  elseif mode == 'px' then redis.call('SET', key, value, 'PX', ms)
  elseif mode == 'keep' then redis.call('SET', key, value, 'KEEPTTL')
  else redis.call('DEL', key) end
end
if op == 'set' then
  -- The hot path, three calls: what the key holds after it is known.
  set_with(ARGV[5], ARGV[4], ARGV[6])
  if ARGV[5] == 'persist' then
    redis.call('SET', vkey, ver)
    return {1, 1, 1, ARGV[4], -1, ver}
  elseif ARGV[5] == 'px' then
    redis.call('SET', vkey, ver, 'PX', tonumber(ARGV[6]) + ttl)
    return {1, 1, 1, ARGV[4], tonumber(ARGV[6]), ver}
  end
  result = 1
elseif op == 'setif' then
  local old = redis.call('GET', key)
  local pttl = -2
  if old then pttl = redis.call('PTTL', key) end
  local condition = ARGV[5]
  wrote = condition == 'always' or (condition == 'absent' and not old)
    or (condition == 'present' and old ~= false)
  if wrote then set_with(ARGV[6], ARGV[4], ARGV[7]) end
  result = {wrote and 1 or 0, old, pttl}
elseif op == 'del' then
  result = redis.call('DEL', key)
elseif op == 'take' then
  local value = redis.call('GET', key)
  if value then
    result = {value, redis.call('PTTL', key)}
    redis.call('DEL', key)
  end
elseif op == 'getex' then
  local value = redis.call('GET', key)
  wrote = value ~= false
  if wrote then
    result = {value, redis.call('PTTL', key)}
    if ARGV[4] == 'persist' then redis.call('PERSIST', key)
    elseif ARGV[4] == 'px' then redis.call('PEXPIRE', key, ARGV[5])
    else redis.call('DEL', key) end
  end
elseif op == 'pexpire' then
  result = redis.call('PEXPIRE', key, unpack(ARGV, 4))
  wrote = result == 1
elseif op == 'persistif' then
  local pttl = redis.call('PTTL', key)
  local want = ARGV[4]
  result = 0
  if pttl ~= -2 and not ((want == 'persistent' and pttl ~= -1) or (want == 'volatile' and pttl == -1)) then
    redis.call('PERSIST', key)
    result = 1
  end
  wrote = result == 1
elseif op == 'incrby' then
  result = redis.call('INCRBY', key, ARGV[4])
elseif op == 'append' then
  local len = redis.call('STRLEN', key) + string.len(ARGV[4])
  if len > tonumber(ARGV[5]) then
    result, wrote = {0, len}, false
  else
    result = {1, redis.call('APPEND', key, ARGV[4])}
  end
else
  return redis.error_reply('ERR unknown versioned operation ' .. op)
end
local kind = redis.call('TYPE', key)['ok']
local pttl = -2
if kind ~= 'none' then pttl = redis.call('PTTL', key) end
if wrote then
  if pttl > 0 then redis.call('SET', vkey, ver, 'PX', pttl + ttl)
  elseif pttl == -1 then redis.call('SET', vkey, ver)
  else redis.call('SET', vkey, ver, 'PX', ttl) end
  held = ver
end
if kind == 'none' then return {1, result, 0, false, pttl, held} end
if kind ~= 'string' then return {1, result, 2, false, pttl, held} end
if op == 'set' then return {1, result, 1, ARGV[4], pttl, held} end
return {1, result, 1, redis.call('GET', key), pttl, held}
",
    )
});

/// A forwarded command that writes (HSET, LPUSH, SADD …) under a version.
/// KEYS[1..n] its keys, KEYS[n+1..2n] their version keys; ARGV[1] version,
/// ARGV[2] tombstone ms, ARGV[3] `3` for a RESP3 client, ARGV[4..] the
/// command. Answers `{0, held}` when a key holds this version or a newer
/// one (nothing run), else `{1, reply}`, every key stamped.
static FORWARD: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local n = #KEYS / 2
local ver, ttl = ARGV[1], tonumber(ARGV[2])
for i = 1, n do
  local held = redis.call('GET', KEYS[n + i])
  if held and held >= ver then return {0, held} end
end
if ARGV[3] == '3' then redis.setresp(3) end
local reply = redis.call(unpack(ARGV, 4))
for i = 1, n do
  local pttl = redis.call('PTTL', KEYS[i])
  if pttl > 0 then redis.call('SET', KEYS[n + i], ver, 'PX', pttl + ttl)
  elseif pttl == -1 then redis.call('SET', KEYS[n + i], ver)
  else redis.call('SET', KEYS[n + i], ver, 'PX', ttl) end
end
return {1, reply}
",
    )
});

/// Another region's change, or a fill, stored only if newer than what the
/// key holds. KEYS[1] key, KEYS[2] version key; ARGV[1] version, ARGV[2]
/// tombstone ms, ARGV[3] the forgotten floor (a key holding nothing is taken
/// only above it), ARGV[4] `value` | `tomb`, ARGV[5] the value, ARGV[6] ms
/// until its deadline (0: none, -1: passed), ARGV[7] `change` | `fill` (a
/// fill never replaces a value). Answers `applied`, `older`, `forgotten`, or
/// `unproven`: the key held a value of no provable version, which was
/// dropped and a tombstone left at this version instead of storing the
/// change's value.
static APPLY: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local key, vkey = KEYS[1], KEYS[2]
local ver, ttl = ARGV[1], tonumber(ARGV[2])
local held = redis.call('GET', vkey)
local present = redis.call('EXISTS', key) == 1
local tomb = ARGV[4] == 'tomb' or tonumber(ARGV[6]) < 0
if held then
  if held >= ver then return 'older' end
elseif present then
  if ARGV[7] == 'fill' then return 'older' end
  redis.call('DEL', key)
  redis.call('SET', vkey, ver, 'PX', ttl)
  if tomb then return 'applied' end
  return 'unproven'
elseif ver <= ARGV[3] then
  return 'forgotten'
end
if ARGV[7] == 'fill' and present then return 'older' end
local ms = tonumber(ARGV[6])
if tomb then
  redis.call('DEL', key)
  redis.call('SET', vkey, ver, 'PX', ttl)
elseif ms > 0 then
  redis.call('SET', key, ARGV[5], 'PX', ms)
  redis.call('SET', vkey, ver, 'PX', ms + ttl)
else
  redis.call('SET', key, ARGV[5])
  redis.call('SET', vkey, ver)
end
return 'applied'
",
    )
});

/// What a key holds, with its version: `{kind, value, pttl, version}`, kind
/// 0 nothing, 1 a string, 2 another type (a hash, a list …).
static PEEK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local kind = redis.call('TYPE', KEYS[1])['ok']
local held = redis.call('GET', KEYS[2])
if kind == 'none' then return {0, false, -2, held} end
local pttl = redis.call('PTTL', KEYS[1])
if kind ~= 'string' then return {2, false, pttl, held} end
return {1, redis.call('GET', KEYS[1]), pttl, held}
",
    )
});

/// Removes the key and its version key unless the version is at least
/// ARGV[1]; 1 when anything went.
static DROP_OLDER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local held = redis.call('GET', KEYS[2])
if held and held >= ARGV[1] then return 0 end
if redis.call('DEL', KEYS[1], KEYS[2]) > 0 then return 1 end
return 0
",
    )
});

/// A version as the scripts hold it: 16 hex digits, ordered as the numbers.
pub fn version_text(version: Version) -> String {
    format!("{:016x}", version.get())
}

/// A version key's text back as a version; `None` for anything else.
pub fn parse_version(text: &[u8]) -> Option<Version> {
    let text = std::str::from_utf8(text).ok().filter(|t| t.len() == 16)?;
    Version::new(u64::from_str_radix(text, 16).ok()?)
}

/// Where a versioned operation's key keeps its version, and the version.
#[derive(Debug, Clone, Copy)]
pub struct Stamp<'a> {
    pub version_key: &'a [u8],
    pub version: Version,
    /// How long a tombstone lives (`ROOST_TOMBSTONE_TTL`), in milliseconds.
    pub tombstone_ms: u64,
}

/// A client's write, as [`RedisLink::versioned`] performs it.
#[derive(Debug, Clone, Copy)]
pub enum VersionedOp<'a> {
    /// SET, or DEL for a deadline already past.
    Set {
        value: &'a [u8],
        expires_at: Option<UnixMillis>,
    },
    /// The conditional set of [`RedisLink::set_conditional`].
    SetIf {
        value: &'a [u8],
        condition: Condition,
        deadline: Deadline,
    },
    Delete,
    /// GETDEL with the deadline.
    Take,
    /// GETEX: the entry as it was, and a new deadline.
    GetAndRetime {
        deadline: Option<UnixMillis>,
    },
    /// A new deadline when `condition` allows (`None`: persist).
    Retime {
        deadline: Option<UnixMillis>,
        condition: RetimeCondition,
    },
    IncrBy(i64),
    /// APPEND within a length.
    Append {
        suffix: &'a [u8],
        max_len: usize,
    },
}

/// What a versioned write did.
#[derive(Debug, Clone, PartialEq)]
pub enum Versioned {
    /// Done; the operation's own answer, as [`Answer`] reads it, and what the
    /// key holds after it (`None`: nothing was run).
    Done(Answer, Option<Peeked>),
    /// The key holds this version, not older than the one offered: nothing
    /// was done. Ask again with a newer one.
    Newer(Version),
}

/// A versioned write's answer, per operation.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    Set,
    SetIf(SetOutcome),
    Removed(bool),
    Entry(Option<Stored>),
    Changed(bool),
    Integer(i64),
    /// Appended (the new length), or refused (the length it would have had).
    Appended(Result<usize, usize>),
}

impl Answer {
    pub fn removed(self) -> Result<bool, CacheError> {
        match self {
            Answer::Removed(removed) => Ok(removed),
            other => Err(other.unexpected()),
        }
    }

    pub fn set_if(self) -> Result<SetOutcome, CacheError> {
        match self {
            Answer::SetIf(outcome) => Ok(outcome),
            other => Err(other.unexpected()),
        }
    }

    pub fn entry(self) -> Result<Option<Stored>, CacheError> {
        match self {
            Answer::Entry(entry) => Ok(entry),
            other => Err(other.unexpected()),
        }
    }

    pub fn changed(self) -> Result<bool, CacheError> {
        match self {
            Answer::Changed(changed) => Ok(changed),
            other => Err(other.unexpected()),
        }
    }

    pub fn integer(self) -> Result<i64, CacheError> {
        match self {
            Answer::Integer(value) => Ok(value),
            other => Err(other.unexpected()),
        }
    }

    pub fn appended(self) -> Result<Result<usize, usize>, CacheError> {
        match self {
            Answer::Appended(appended) => Ok(appended),
            other => Err(other.unexpected()),
        }
    }

    fn unexpected(&self) -> CacheError {
        CacheError::Interrupted {
            what: "reading a versioned operation's answer",
            reason: format!("an answer of another operation: {self:?}"),
        }
    }
}

/// What another region's change (or a fill) did to the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    Applied,
    Older,
    Forgotten,
    /// The key held a value of no provable version: dropped, and a
    /// tombstone left at the change's version.
    Unproven,
}

/// Another region's change to store (see [`RedisLink::apply_versioned`]).
#[derive(Debug, Clone, Copy)]
pub struct Incoming<'a> {
    pub entry: &'a Stored,
    /// A fill: never replaces a value.
    pub fill: bool,
    /// A key holding nothing takes only versions above this one.
    pub floor: Version,
}

/// What a key holds, as [`RedisLink::peek_versioned`] reads it.
#[derive(Debug, Clone, PartialEq)]
pub enum Peeked {
    /// Nothing; with the version of its tombstone, if one is kept.
    Absent(Option<Version>),
    /// A string: the entry, at its version (`Version::NONE` if unknown).
    Value(Stored),
    /// A hash, list, set or sorted set, at its version.
    Other(Option<Version>),
}

impl RedisLink {
    /// A client's write of `key` under `stamp`'s version (see [`WRITE`]).
    pub async fn versioned(
        &self,
        key: &[u8],
        stamp: Stamp<'_>,
        op: VersionedOp<'_>,
        now: UnixMillis,
    ) -> Result<Versioned, CacheError> {
        let mut invocation = WRITE.key(key);
        invocation
            .key(stamp.version_key)
            .arg(version_text(stamp.version))
            .arg(stamp.tombstone_ms.max(1));
        match op {
            VersionedOp::Set { value, expires_at } => {
                let (mode, ms) = WireExpiry::from_deadline(expires_at, now).script_args();
                invocation.arg("set").arg(value).arg(mode).arg(ms)
            }
            VersionedOp::SetIf {
                value,
                condition,
                deadline,
            } => {
                let (condition, mode, ms) = scripts::set_conditional_args(condition, deadline, now);
                invocation
                    .arg("setif")
                    .arg(value)
                    .arg(condition)
                    .arg(mode)
                    .arg(ms)
            }
            VersionedOp::Delete => invocation.arg("del"),
            VersionedOp::Take => invocation.arg("take"),
            VersionedOp::GetAndRetime { deadline } => {
                let (mode, ms) = WireExpiry::from_deadline(deadline, now).script_args();
                invocation.arg("getex").arg(mode).arg(ms)
            }
            VersionedOp::Retime {
                deadline: Some(at),
                condition,
            } => {
                invocation.arg("pexpire").arg(scripts::relative_ms(at, now));
                for option in scripts::pexpire_options(condition) {
                    invocation.arg(*option);
                }
                &mut invocation
            }
            VersionedOp::Retime {
                deadline: None,
                condition,
            } => match scripts::persist_requirement(condition) {
                Some(requirement) => invocation.arg("persistif").arg(requirement),
                // Nothing is later than no deadline: nothing to do or stamp.
                None => return Ok(Versioned::Done(Answer::Changed(false), None)),
            },
            VersionedOp::IncrBy(delta) => invocation.arg("incrby").arg(delta),
            VersionedOp::Append { suffix, max_len } => {
                invocation.arg("append").arg(suffix).arg(max_len)
            }
        };
        let invocation = &invocation;
        let replies: Vec<Value> = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        let mut replies = replies.into_iter();
        let done: i64 = from_reply(&replies.next().unwrap_or(Value::Nil))?;
        let reply = replies.next().unwrap_or(Value::Nil);
        if done == 0 {
            let held: Vec<u8> = from_reply(&reply)?;
            return parse_version(&held)
                .map(Versioned::Newer)
                .ok_or_else(|| malformed("a version key", &held));
        }
        let answer = match op {
            VersionedOp::Set { .. } => Answer::Set,
            VersionedOp::SetIf { .. } => {
                let (written, previous, pttl): (i64, Option<Vec<u8>>, i64) = from_reply(&reply)?;
                Answer::SetIf(SetOutcome {
                    written: written == 1,
                    previous: previous.map(|value| scripts::stored(value, pttl, now)),
                })
            }
            VersionedOp::Delete => Answer::Removed(from_reply::<i64>(&reply)? > 0),
            VersionedOp::Take | VersionedOp::GetAndRetime { .. } => {
                let found: Option<(Vec<u8>, i64)> = from_reply(&reply)?;
                Answer::Entry(found.map(|(value, pttl)| scripts::stored(value, pttl, now)))
            }
            VersionedOp::Retime { .. } => Answer::Changed(from_reply::<i64>(&reply)? == 1),
            VersionedOp::IncrBy(_) => Answer::Integer(from_reply(&reply)?),
            VersionedOp::Append { .. } => {
                let (appended, len): (i64, u64) = from_reply(&reply)?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                Answer::Appended(if appended == 1 { Ok(len) } else { Err(len) })
            }
        };
        let state: (i64, Option<Vec<u8>>, i64, Option<Vec<u8>>) =
            from_reply(&Value::Array(replies.collect()))?;
        Ok(Versioned::Done(answer, Some(peeked(state, now))))
    }

    /// A forwarded command that writes, run under `version` with every key
    /// stamped (see [`FORWARD`]); `Ok(Err(held))` when a key holds `held`,
    /// not older than `version`, and nothing ran.
    pub async fn forward_versioned(
        &self,
        keys: &[&[u8]],
        version_keys: &[Vec<u8>],
        stamp: (Version, u64),
        argv: &[Bytes],
        resp3: bool,
    ) -> Result<Result<Value, Version>, CacheError> {
        if resp3 {
            let link = self.over_resp3().await?;
            let forward = link.forward_stamped(keys, version_keys, stamp, argv, "3");
            return Box::pin(forward).await;
        }
        self.forward_stamped(keys, version_keys, stamp, argv, "2")
            .await
    }

    async fn forward_stamped(
        &self,
        keys: &[&[u8]],
        version_keys: &[Vec<u8>],
        (version, tombstone_ms): (Version, u64),
        argv: &[Bytes],
        protocol: &str,
    ) -> Result<Result<Value, Version>, CacheError> {
        let mut invocation = FORWARD.prepare_invoke();
        for key in keys {
            invocation.key(*key);
        }
        for key in version_keys {
            invocation.key(&key[..]);
        }
        invocation
            .arg(version_text(version))
            .arg(tombstone_ms.max(1))
            .arg(protocol);
        for arg in argv {
            invocation.arg(&arg[..]);
        }
        let invocation = &invocation;
        let reply: Vec<Value> = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        let mut reply = reply.into_iter();
        let done: i64 = from_reply(&reply.next().unwrap_or(Value::Nil))?;
        // A RESP3 nil ends a Lua table: a missing reply is a nil one.
        let answer = reply.next().unwrap_or(Value::Nil);
        if done == 1 {
            return Ok(Ok(answer));
        }
        let held: Vec<u8> = from_reply(&answer)?;
        parse_version(&held)
            .map(Err)
            .ok_or_else(|| malformed("a version key", &held))
    }

    /// Stores another region's change (or a fill) if it is newer than what
    /// the key holds (see [`APPLY`]).
    pub async fn apply_versioned(
        &self,
        key: &[u8],
        version_key: &[u8],
        incoming: Incoming<'_>,
        tombstone_ms: u64,
        now: UnixMillis,
    ) -> Result<ApplyOutcome, CacheError> {
        let entry = incoming.entry;
        let ms: i64 = match WireExpiry::from_deadline(entry.expires_at, now) {
            WireExpiry::Persist => 0,
            WireExpiry::In(ms) => ms,
            WireExpiry::Gone => -1,
        };
        let mut invocation = APPLY.key(key);
        invocation
            .key(version_key)
            .arg(version_text(entry.version()))
            .arg(tombstone_ms.max(1))
            .arg(version_text(incoming.floor))
            .arg(if entry.is_tombstone() {
                "tomb"
            } else {
                "value"
            })
            .arg(&entry.value[..])
            .arg(ms)
            .arg(if incoming.fill { "fill" } else { "change" });
        let invocation = &invocation;
        let outcome: String = self
            .run(|mut c| async move { invocation.invoke_async(&mut c).await })
            .await?;
        match outcome.as_str() {
            "applied" => Ok(ApplyOutcome::Applied),
            "older" => Ok(ApplyOutcome::Older),
            "forgotten" => Ok(ApplyOutcome::Forgotten),
            "unproven" => Ok(ApplyOutcome::Unproven),
            other => Err(malformed("an apply's outcome", other.as_bytes())),
        }
    }

    /// What `key` holds, with its version (see [`PEEK`]).
    pub async fn peek_versioned(
        &self,
        key: &[u8],
        version_key: &[u8],
        now: UnixMillis,
    ) -> Result<Peeked, CacheError> {
        let state = self
            .run(|mut c| async move { PEEK.key(key).key(version_key).invoke_async(&mut c).await })
            .await?;
        Ok(peeked(state, now))
    }

    /// Removes `key` and its version key unless its version is at least
    /// `floor`; `true` when anything went.
    pub async fn drop_unproven(
        &self,
        key: &[u8],
        version_key: &[u8],
        floor: Version,
    ) -> Result<bool, CacheError> {
        let floor = version_text(floor);
        let floor = &floor;
        let dropped: i64 = self
            .run(|mut c| async move {
                DROP_OLDER
                    .key(key)
                    .key(version_key)
                    .arg(floor)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(dropped == 1)
    }
}

/// `{kind, value, pttl, version}` as [`PEEK`] and [`WRITE`] answer it.
fn peeked(
    (kind, value, pttl, held): (i64, Option<Vec<u8>>, i64, Option<Vec<u8>>),
    now: UnixMillis,
) -> Peeked {
    let version = held.as_deref().and_then(parse_version);
    match (kind, value) {
        (1, Some(value)) => {
            let deadline = scripts::deadline_from_pttl(pttl, now);
            let version = version.unwrap_or(Version::NONE);
            Peeked::Value(Stored::versioned(Bytes::from(value), deadline, version))
        }
        (2, _) => Peeked::Other(version),
        _ => Peeked::Absent(version),
    }
}

fn from_reply<T: redis::FromRedisValue>(reply: &Value) -> Result<T, CacheError> {
    redis::from_redis_value_ref(reply).map_err(|error| CacheError::Interrupted {
        what: "reading a versioned operation's answer",
        reason: error.to_string(),
    })
}

fn malformed(what: &str, text: &[u8]) -> CacheError {
    CacheError::Interrupted {
        what: "reading a versioned operation's answer",
        reason: format!("{what} read {:?}", String::from_utf8_lossy(text)),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn version_text_orders_as_the_numbers_and_reads_back() {
        let small = Version::new(255).unwrap();
        let large = Version::new(1 << 60).unwrap();
        assert!(version_text(small) < version_text(large));
        assert_eq!(version_text(Version::MAX).len(), 16);
        assert_eq!(parse_version(version_text(large).as_bytes()), Some(large));
        assert_eq!(parse_version(b"12"), None);
        assert_eq!(parse_version(b"zzzzzzzzzzzzzzzz"), None);
    }
}
