//! The limits every request goes through (key length, value size, batch size) and
//! the TTL rules that turn an [`Expiry`] into an absolute deadline. One place, so
//! REST and RESP refuse exactly the same things with the same errors.

use bytes::Bytes;
use roost_store::UnixMillis;

use super::{Cache, Expiry};
use crate::error::CacheError;

impl Cache {
    pub(super) fn check_key(&self, key: &[u8]) -> Result<(), CacheError> {
        match key.len() {
            0 => Err(CacheError::EmptyKey),
            len if len > self.limits.max_key_bytes => Err(CacheError::KeyTooLong {
                len,
                max: self.limits.max_key_bytes,
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn check_keys(&self, keys: &[Bytes]) -> Result<(), CacheError> {
        self.check_batch(keys.len())?;
        keys.iter().try_for_each(|key| self.check_key(key))
    }

    pub(super) fn check_batch(&self, count: usize) -> Result<(), CacheError> {
        match count {
            0 => Err(CacheError::NoKeys),
            n if n > self.limits.max_batch_keys => Err(CacheError::TooManyKeys {
                count: n,
                max: self.limits.max_batch_keys,
            }),
            _ => Ok(()),
        }
    }

    pub(super) fn check_value(&self, value: &[u8]) -> Result<(), CacheError> {
        if value.len() > self.limits.max_value_bytes {
            return Err(CacheError::ValueTooLarge {
                len: value.len(),
                max: self.limits.max_value_bytes,
            });
        }
        Ok(())
    }

    /// Validates a write and returns its absolute deadline.
    pub(super) fn check_write(
        &self,
        key: &[u8],
        value: &[u8],
        expiry: Expiry,
    ) -> Result<Option<UnixMillis>, CacheError> {
        self.check_key(key)?;
        self.check_value(value)?;
        self.deadline(expiry)
    }

    /// The absolute deadline an [`Expiry`] means now; `None` is "never".
    /// The clock is read only for expiries that depend on it, so the common
    /// write without a TTL costs no clock read.
    pub(super) fn deadline(&self, expiry: Expiry) -> Result<Option<UnixMillis>, CacheError> {
        let now = || self.backend.now_millis();
        let latest = i64::MAX as u64;
        match expiry {
            Expiry::Default => Ok(self.default_ttl.map(|t| now() + t.as_millis() as u64)),
            Expiry::Never => Ok(None),
            Expiry::After(ttl) if ttl.is_zero() => Err(CacheError::InvalidExpireTime),
            Expiry::After(ttl) => u64::try_from(ttl.as_millis())
                .ok()
                .and_then(|ms| now().checked_add(ms))
                .filter(|&at| at <= latest)
                .map(Some)
                .ok_or(CacheError::InvalidExpireTime),
            Expiry::At(at) if at > latest => Err(CacheError::InvalidExpireTime),
            Expiry::At(at) => Ok(Some(at)),
        }
    }
}
