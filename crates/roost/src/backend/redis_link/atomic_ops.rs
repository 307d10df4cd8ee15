//! The link's operations that read and write in one step (conditional set,
//! take, get-and-retime, retime, bounded append, delete-if-unchanged). Each is one Lua script or one
//! conditional command, so it is atomic on the node that holds the key.

use super::scripts::{
    self, WireExpiry, APPEND_WITHIN, DELETE_IF_VALUE, GET_AND_RETIME, PERSIST_IF, SET_CONDITIONAL,
    TAKE,
};
use super::RedisLink;
use crate::backend::{Condition, Deadline, RetimeCondition, SetOutcome, Stored};
use roost_store::UnixMillis;

use crate::error::CacheError;

impl RedisLink {
    /// Writes when `condition` holds, atomically with reading what was there.
    pub async fn set_conditional(
        &self,
        key: &[u8],
        value: &[u8],
        condition: Condition,
        deadline: Deadline,
        now: UnixMillis,
    ) -> Result<SetOutcome, CacheError> {
        let (condition, mode, ms) = scripts::set_conditional_args(condition, deadline, now);
        let (written, previous, pttl): (i64, Option<Vec<u8>>, i64) = self
            .run(|mut c| async move {
                let mut invocation = SET_CONDITIONAL.key(key);
                invocation.arg(value).arg(condition).arg(mode).arg(ms);
                invocation.invoke_async(&mut c).await
            })
            .await?;
        Ok(SetOutcome {
            written: written == 1,
            previous: previous.map(|value| scripts::stored(value, pttl, now)),
        })
    }

    /// Removes `key` only if it still holds `value`, in one step; `true` when
    /// it did. Undoes a copy without removing a value written since.
    pub async fn delete_if_value(&self, key: &[u8], value: &[u8]) -> Result<bool, CacheError> {
        let removed: i64 = self
            .run(|mut c| async move {
                let mut invocation = DELETE_IF_VALUE.key(key);
                invocation.arg(value).invoke_async(&mut c).await
            })
            .await?;
        Ok(removed == 1)
    }

    /// Removes `key` and returns what it held, deadline included (GETDEL).
    pub async fn take(&self, key: &[u8], now: UnixMillis) -> Result<Option<Stored>, CacheError> {
        let taken: Option<(Vec<u8>, i64)> = self
            .run(|mut c| async move { TAKE.key(key).invoke_async(&mut c).await })
            .await?;
        Ok(taken.map(|(value, pttl)| scripts::stored(value, pttl, now)))
    }

    /// Reads `key` and gives it a new deadline in the same step (GETEX); returns
    /// the entry as it was. A deadline already past deletes the key.
    pub async fn get_and_retime(
        &self,
        key: &[u8],
        deadline: Option<UnixMillis>,
        now: UnixMillis,
    ) -> Result<Option<Stored>, CacheError> {
        let (mode, ms) = WireExpiry::from_deadline(deadline, now).script_args();
        let found: Option<(Vec<u8>, i64)> = self
            .run(|mut c| async move {
                let mut invocation = GET_AND_RETIME.key(key);
                invocation.arg(mode).arg(ms).invoke_async(&mut c).await
            })
            .await?;
        Ok(found.map(|(value, pttl)| scripts::stored(value, pttl, now)))
    }

    /// Replaces the deadline of a live key when `condition` allows; `true` when it
    /// was replaced. A new deadline is PEXPIRE with NX/XX/GT/LT (a deadline already
    /// past deletes the key); no deadline is a conditional PERSIST.
    pub async fn retime(
        &self,
        key: &[u8],
        deadline: Option<UnixMillis>,
        condition: RetimeCondition,
        now: UnixMillis,
    ) -> Result<bool, CacheError> {
        let Some(at) = deadline else {
            let Some(requirement) = scripts::persist_requirement(condition) else {
                return Ok(false);
            };
            let persisted: i64 = self
                .run(|mut c| async move {
                    PERSIST_IF
                        .key(key)
                        .arg(requirement)
                        .invoke_async(&mut c)
                        .await
                })
                .await?;
            return Ok(persisted == 1);
        };
        let mut cmd = redis::cmd("PEXPIRE");
        cmd.arg(key).arg(scripts::relative_ms(at, now));
        for option in scripts::pexpire_options(condition) {
            cmd.arg(*option);
        }
        let changed: i64 = self.run_cmd(cmd).await?;
        Ok(changed == 1)
    }

    /// APPEND, refused with `ValueTooLarge` when the result would pass `max_len`;
    /// checked and done in one step. Returns the new length.
    pub async fn append(
        &self,
        key: &[u8],
        suffix: &[u8],
        max_len: usize,
    ) -> Result<usize, CacheError> {
        let (appended, len): (i64, u64) = self
            .run(|mut c| async move {
                let mut invocation = APPEND_WITHIN.key(key);
                invocation
                    .arg(suffix)
                    .arg(max_len)
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        if appended == 1 {
            Ok(len)
        } else {
            Err(CacheError::ValueTooLarge { len, max: max_len })
        }
    }
}
