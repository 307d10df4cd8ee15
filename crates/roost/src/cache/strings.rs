//! String writes with conditions or a read in the same atomic step: SET with
//! NX / XX / GET / KEEPTTL, GETDEL, GETEX, INCRBY, APPEND, STRLEN and MSETNX.
//! Each single-key operation is one atomic read-modify-write on the key's
//! node; each is a typed write through [`Cache::apply`] (see `write.rs`).

use bytes::Bytes;

use super::{Cache, Change, Expiry, Item, Origin, Write};
use crate::error::CacheError;
use crate::telemetry::Op;

pub use crate::backend::Condition as SetCondition;

/// How a conditional SET behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetOptions {
    pub condition: SetCondition,
    pub expiry: Expiry,
    /// Keep the current entry's deadline (Redis's KEEPTTL); `expiry` is ignored.
    pub keep_ttl: bool,
    /// SET's GET: the old value is answered, so it must be a string; a key
    /// holding a collection answers WRONGTYPE and is left as it is.
    pub returns_previous: bool,
}

/// What a conditional SET did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetResult {
    pub written: bool,
    /// The value before the write, if there was one.
    pub previous: Option<Bytes>,
}

impl Cache {
    /// SET with options: writes only if `condition` holds, and returns the value
    /// that was there, in one atomic step.
    pub async fn set_with(
        &self,
        key: Bytes,
        value: Bytes,
        options: SetOptions,
    ) -> Result<SetResult, CacheError> {
        let change = Change::Set {
            key,
            value,
            options,
        };
        Ok(self.apply(Write::client(change)).await?.into_set())
    }

    /// Removes `key` and returns its value (GETDEL).
    pub async fn getdel(&self, key: Bytes) -> Result<Option<Bytes>, CacheError> {
        Ok(self
            .apply(Write::client(Change::Take(key)))
            .await?
            .into_value())
    }

    /// Reads `key` and, when `expiry` is given, gives it that expiry in the same
    /// step (`Expiry::Never` removes its deadline) (GETEX).
    pub async fn getex(
        &self,
        key: Bytes,
        expiry: Option<Expiry>,
    ) -> Result<Option<Bytes>, CacheError> {
        match expiry {
            None => {
                self.timed(Op::Getex, async {
                    self.check_key(&key)?;
                    let hit = self.lookup_checked(&key, Origin::Client).await?;
                    Ok(hit.map(|hit| hit.value))
                })
                .await
            }
            Some(expiry) => {
                let change = Change::Retime { key, expiry };
                Ok(self.apply(Write::client(change)).await?.into_value())
            }
        }
    }

    /// Adds `delta` to the integer at `key` (missing counts as 0), keeping its
    /// deadline; Redis's integer rules and error texts (INCR, INCRBY, DECR, DECRBY).
    pub async fn incr_by(&self, key: Bytes, delta: i64) -> Result<i64, CacheError> {
        let change = Change::IncrBy { key, delta };
        Ok(self.apply(Write::client(change)).await?.into_integer())
    }

    /// Appends `suffix` to the value at `key`, creating it without expiry when
    /// missing; returns the new length. The result must fit `max_value_bytes`.
    pub async fn append(&self, key: Bytes, suffix: &[u8]) -> Result<usize, CacheError> {
        let suffix = Bytes::copy_from_slice(suffix);
        let change = Change::Append { key, suffix };
        Ok(self.apply(Write::client(change)).await?.into_length())
    }

    /// Length of the value at `key`; 0 when missing (STRLEN).
    pub async fn strlen(&self, key: &[u8]) -> Result<usize, CacheError> {
        match self.inspect(key).await? {
            Some(info) if info.collection => Err(CacheError::wrong_type()),
            found => Ok(found.map_or(0, |info| info.len)),
        }
    }

    /// Writes every entry only if none of the keys exists (MSETNX); `true` when
    /// written. See [`Change::MsetNx`].
    pub async fn msetnx(&self, entries: Vec<Item>) -> Result<bool, CacheError> {
        Ok(self
            .apply(Write::client(Change::MsetNx(entries)))
            .await?
            .into_done())
    }
}
