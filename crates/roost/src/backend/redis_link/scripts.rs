//! The Lua scripts behind the link's multi-step operations, so each runs
//! atomically on the node that holds the key, and the translation between
//! Roost's absolute deadlines and Redis's relative milliseconds. Scripts are
//! sent as EVALSHA; redis-rs falls back to EVAL when the node does not know
//! them yet (after a restart or a failover). Nothing here does I/O itself.

use std::sync::LazyLock;

use bytes::Bytes;
use redis::Script;
use roost_store::UnixMillis;

use crate::backend::{Condition, Deadline, RetimeCondition, Stored};

/// The longest relative deadline sent to Redis. Redis refuses an expiry that
/// overflows its clock; a deadline this far out (about 4,000 years) is "never"
/// in practice and keeps the sum with Redis's clock in range.
const MAX_RELATIVE_MS: i64 = 1 << 47;

/// Writes when the condition holds and returns what was there, in one step.
/// KEYS[1] key; ARGV[1] value; ARGV[2] `always` | `absent` | `present`;
/// ARGV[3] `keep` | `persist` | `px` | `gone`; ARGV[4] milliseconds for `px`.
/// Returns {written 0|1, previous value or nil, previous PTTL}.
pub(crate) static SET_CONDITIONAL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local old = redis.call('GET', KEYS[1])
local pttl = -2
if old then pttl = redis.call('PTTL', KEYS[1]) end
local condition = ARGV[2]
local write = condition == 'always'
  or (condition == 'absent' and not old)
  or (condition == 'present' and old ~= false)
if write then
  local mode = ARGV[3]
  if mode == 'keep' then redis.call('SET', KEYS[1], ARGV[1], 'KEEPTTL')
  elseif mode == 'persist' then redis.call('SET', KEYS[1], ARGV[1])
  elseif mode == 'px' then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[4])
  else redis.call('DEL', KEYS[1]) end
end
return {write and 1 or 0, old, pttl}
",
    )
});

/// Removes the key and returns its value and PTTL (GETDEL with the deadline).
pub(crate) static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local value = redis.call('GET', KEYS[1])
if not value then return false end
local pttl = redis.call('PTTL', KEYS[1])
redis.call('DEL', KEYS[1])
return {value, pttl}
",
    )
});

/// Returns value and PTTL, then gives the key a new deadline (GETEX).
/// ARGV[1] `persist` | `px` | `gone`; ARGV[2] milliseconds for `px`.
pub(crate) static GET_AND_RETIME: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local value = redis.call('GET', KEYS[1])
if not value then return false end
local pttl = redis.call('PTTL', KEYS[1])
local mode = ARGV[1]
if mode == 'persist' then redis.call('PERSIST', KEYS[1])
elseif mode == 'px' then redis.call('PEXPIRE', KEYS[1], ARGV[2])
else redis.call('DEL', KEYS[1]) end
return {value, pttl}
",
    )
});

/// Removes a live key's deadline when its current deadline allows; 1 when it
/// did. Unlike PERSIST, a key that already had no deadline counts as done.
/// ARGV[1] `any` | `persistent` (only without a deadline) | `volatile` (only with one).
pub(crate) static PERSIST_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local pttl = redis.call('PTTL', KEYS[1])
if pttl == -2 then return 0 end
local want = ARGV[1]
if (want == 'persistent' and pttl ~= -1) or (want == 'volatile' and pttl == -1) then
  return 0
end
redis.call('PERSIST', KEYS[1])
return 1
",
    )
});

/// Appends unless the result would be longer than the limit.
/// ARGV[1] suffix; ARGV[2] the longest allowed result.
/// Returns {appended 0|1, resulting (or refused) length}.
pub(crate) static APPEND_WITHIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local len = redis.call('STRLEN', KEYS[1]) + string.len(ARGV[1])
if len > tonumber(ARGV[2]) then return {0, len} end
return {1, redis.call('APPEND', KEYS[1], ARGV[1])}
",
    )
});

/// Deletes the key only while it still holds ARGV[1]; 1 when it did. Undoing
/// a copy with this never removes a value a client wrote after the copy.
pub(crate) static DELETE_IF_VALUE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// A deadline as Redis takes it: relative to the request, or none, or passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WireExpiry {
    /// No deadline.
    Persist,
    /// This many milliseconds from now (always positive).
    In(i64),
    /// The deadline has passed: the entry is expired the moment it is written.
    Gone,
}

impl WireExpiry {
    /// `expires_at` seen from `now`.
    pub(crate) fn from_deadline(expires_at: Option<UnixMillis>, now: UnixMillis) -> WireExpiry {
        match expires_at {
            None => WireExpiry::Persist,
            Some(at) if at <= now => WireExpiry::Gone,
            Some(at) => {
                let ms = i64::try_from(at - now).unwrap_or(MAX_RELATIVE_MS);
                WireExpiry::In(ms.min(MAX_RELATIVE_MS))
            }
        }
    }

    /// The mode word and milliseconds the scripts take.
    pub(crate) fn script_args(self) -> (&'static str, i64) {
        match self {
            WireExpiry::Persist => ("persist", 0),
            WireExpiry::In(ms) => ("px", ms),
            WireExpiry::Gone => ("gone", 0),
        }
    }
}

/// `expires_at - now` in signed milliseconds for PEXPIRE, which deletes the key
/// for a deadline that is not in the future.
pub(crate) fn relative_ms(expires_at: UnixMillis, now: UnixMillis) -> i64 {
    if expires_at >= now {
        i64::try_from(expires_at - now)
            .unwrap_or(MAX_RELATIVE_MS)
            .min(MAX_RELATIVE_MS)
    } else {
        -i64::try_from(now - expires_at)
            .unwrap_or(MAX_RELATIVE_MS)
            .min(MAX_RELATIVE_MS)
    }
}

/// SET_CONDITIONAL's words for a condition and a deadline.
pub(crate) fn set_conditional_args(
    condition: Condition,
    deadline: Deadline,
    now: UnixMillis,
) -> (&'static str, &'static str, i64) {
    let condition = match condition {
        Condition::Always => "always",
        Condition::IfAbsent => "absent",
        Condition::IfPresent => "present",
    };
    let (mode, ms) = match deadline {
        Deadline::Keep => ("keep", 0),
        Deadline::Set(at) => WireExpiry::from_deadline(at, now).script_args(),
    };
    (condition, mode, ms)
}

/// PEXPIRE's options for a retime condition; none for Always. These map
/// exactly: NX = no deadline, XX = has one, GT/LT treat no deadline as
/// infinitely late, as [`RetimeCondition::allows`] does.
pub(crate) fn pexpire_options(condition: RetimeCondition) -> &'static [&'static str] {
    match condition {
        RetimeCondition::Always => &[],
        RetimeCondition::NoDeadline => &["NX"],
        RetimeCondition::HasDeadline => &["XX"],
        RetimeCondition::Later => &["GT"],
        RetimeCondition::Earlier => &["LT"],
        RetimeCondition::EarlierDeadline => &["LT", "XX"],
    }
}

/// PERSIST_IF's word for a retime to "no deadline", or `None` when the
/// condition can never allow it (Earlier: nothing is later than no deadline).
pub(crate) fn persist_requirement(condition: RetimeCondition) -> Option<&'static str> {
    match condition {
        RetimeCondition::Always => Some("any"),
        RetimeCondition::NoDeadline => Some("persistent"),
        // "Later" than a finite deadline means none; no deadline is not later than itself.
        RetimeCondition::HasDeadline | RetimeCondition::Later => Some("volatile"),
        RetimeCondition::Earlier | RetimeCondition::EarlierDeadline => None,
    }
}

/// The entry a `{value, PTTL}` reply describes, deadlines made absolute from `now`.
pub(crate) fn stored(value: Vec<u8>, pttl: i64, now: UnixMillis) -> Stored {
    Stored::new(Bytes::from(value), deadline_from_pttl(pttl, now))
}

/// PTTL's answer as an absolute deadline: -1 (no deadline) and -2 (missing)
/// give none.
pub(crate) fn deadline_from_pttl(pttl: i64, now: UnixMillis) -> Option<UnixMillis> {
    u64::try_from(pttl).ok().map(|ms| now.saturating_add(ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_become_relative_milliseconds() {
        assert_eq!(WireExpiry::from_deadline(None, 1_000), WireExpiry::Persist);
        assert_eq!(
            WireExpiry::from_deadline(Some(1_500), 1_000),
            WireExpiry::In(500)
        );
        assert_eq!(
            WireExpiry::from_deadline(Some(1_000), 1_000),
            WireExpiry::Gone
        );
        assert_eq!(WireExpiry::from_deadline(Some(10), 1_000), WireExpiry::Gone);
        assert_eq!(
            WireExpiry::from_deadline(Some(u64::MAX), 1_000),
            WireExpiry::In(MAX_RELATIVE_MS)
        );
    }

    #[test]
    fn pexpire_milliseconds_are_signed() {
        assert_eq!(relative_ms(1_500, 1_000), 500);
        assert_eq!(relative_ms(1_000, 1_000), 0);
        assert_eq!(relative_ms(400, 1_000), -600);
        assert_eq!(relative_ms(u64::MAX, 0), MAX_RELATIVE_MS);
    }

    #[test]
    fn pttl_becomes_an_absolute_deadline() {
        assert_eq!(deadline_from_pttl(250, 1_000), Some(1_250));
        assert_eq!(deadline_from_pttl(0, 1_000), Some(1_000));
        assert_eq!(deadline_from_pttl(-1, 1_000), None);
        assert_eq!(deadline_from_pttl(-2, 1_000), None);
    }

    #[test]
    fn keep_deadline_is_keepttl_and_past_deadline_deletes() {
        let args = set_conditional_args(Condition::IfPresent, Deadline::Keep, 5);
        assert_eq!(args, ("present", "keep", 0));
        let args = set_conditional_args(Condition::IfAbsent, Deadline::Set(Some(3)), 5);
        assert_eq!(args, ("absent", "gone", 0));
        let args = set_conditional_args(Condition::Always, Deadline::Set(Some(9)), 5);
        assert_eq!(args, ("always", "px", 4));
        let args = set_conditional_args(Condition::Always, Deadline::Set(None), 5);
        assert_eq!(args, ("always", "persist", 0));
    }

    #[test]
    fn persist_requirements_follow_retime_condition_allows() {
        // For every condition, the requirement must agree with allows(current, None).
        let conditions = [
            RetimeCondition::Always,
            RetimeCondition::NoDeadline,
            RetimeCondition::HasDeadline,
            RetimeCondition::Later,
            RetimeCondition::Earlier,
            RetimeCondition::EarlierDeadline,
        ];
        for condition in conditions {
            let requirement = persist_requirement(condition);
            let on_persistent = matches!(requirement, Some("any" | "persistent"));
            let on_volatile = matches!(requirement, Some("any" | "volatile"));
            assert_eq!(on_persistent, condition.allows(None, None), "{condition:?}");
            assert_eq!(
                on_volatile,
                condition.allows(Some(10), None),
                "{condition:?}"
            );
        }
    }
}
