//! String writes with conditions or a read in the same atomic step: SET with
//! NX / XX / GET / KEEPTTL, GETDEL, GETEX, INCRBY, APPEND, STRLEN and MSETNX.
//! Each single-key operation is one atomic read-modify-write on the key's node.

use std::collections::HashSet;

use bytes::Bytes;

use super::{Cache, Expiry, Write};
use crate::backend::{Condition, Deadline};
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
        self.timed(Op::Set, async {
            self.check_key(&key)?;
            self.check_value(&value)?;
            let deadline = match options.keep_ttl {
                true => Deadline::Keep,
                false => Deadline::Set(self.deadline(options.expiry)?),
            };
            let node = self.route(&key)?;
            let outcome = self
                .backend
                .set_conditional(node, key, value, options.condition, deadline)
                .await?;
            Ok(SetResult {
                written: outcome.written,
                previous: outcome.previous.map(|s| s.value),
            })
        })
        .await
    }

    /// Removes `key` and returns its value (GETDEL).
    pub async fn getdel(&self, key: Bytes) -> Result<Option<Bytes>, CacheError> {
        self.timed(Op::Getdel, async {
            self.check_key(&key)?;
            let node = self.route(&key)?;
            Ok(self.backend.take(node, key).await?.map(|s| s.value))
        })
        .await
    }

    /// Reads `key` and, when `expiry` is given, gives it that expiry in the same
    /// step (`Expiry::Never` removes its deadline) (GETEX).
    pub async fn getex(
        &self,
        key: Bytes,
        expiry: Option<Expiry>,
    ) -> Result<Option<Bytes>, CacheError> {
        let result = self
            .timed(Op::Getex, async {
                self.check_key(&key)?;
                let Some(expiry) = expiry else {
                    return Ok(self.lookup_checked(&key).await?.map(|hit| hit.value));
                };
                let deadline = self.deadline(expiry)?;
                let node = self.route(&key)?;
                let found = self.backend.get_and_retime(node, key, deadline).await?;
                Ok(found.map(|s| s.value))
            })
            .await;
        if let Ok(found) = &result {
            let hit = u64::from(found.is_some());
            self.metrics.record_lookups(hit, 1 - hit);
        }
        result
    }

    /// Adds `delta` to the integer at `key` (missing counts as 0), keeping its
    /// deadline; Redis's integer rules and error texts (INCR, INCRBY, DECR, DECRBY).
    pub async fn incr_by(&self, key: Bytes, delta: i64) -> Result<i64, CacheError> {
        self.timed(Op::Incr, async {
            self.check_key(&key)?;
            let node = self.route(&key)?;
            self.backend.incr_by(node, key, delta).await
        })
        .await
    }

    /// Appends `suffix` to the value at `key`, creating it without expiry when
    /// missing; returns the new length. The result must fit `max_value_bytes`.
    pub async fn append(&self, key: Bytes, suffix: &[u8]) -> Result<usize, CacheError> {
        self.timed(Op::Append, async {
            self.check_key(&key)?;
            let node = self.route(&key)?;
            let max = self.limits.max_value_bytes;
            self.backend.append(node, key, suffix, max).await
        })
        .await
    }

    /// Length of the value at `key`; 0 when missing (STRLEN).
    pub async fn strlen(&self, key: &[u8]) -> Result<usize, CacheError> {
        Ok(self.inspect(key).await?.map_or(0, |info| info.len))
    }

    /// Writes every entry only if none of the keys exists (MSETNX); `true` when
    /// written. Keys on different nodes are not locked together: every key is
    /// checked first, then each is written only if still absent, and if a
    /// concurrent writer created one in between, the keys this call wrote are
    /// removed again and the answer is `false`. A key given twice takes its last value.
    pub async fn msetnx(&self, writes: Vec<Write>) -> Result<bool, CacheError> {
        self.timed(Op::Mset, async {
            let deadlines = self.check_writes(&writes)?;
            for w in &writes {
                let node = self.route(&w.key)?;
                if self.backend.peek(node, &w.key).await?.is_some() {
                    return Ok(false);
                }
            }
            let mut seen = HashSet::with_capacity(writes.len());
            let last_of_each: Vec<_> = writes
                .into_iter()
                .zip(deadlines)
                .rev()
                .filter(|(w, _)| seen.insert(w.key.clone()))
                .collect();
            let mut written = Vec::with_capacity(last_of_each.len());
            for (w, deadline) in last_of_each {
                let node = self.route(&w.key)?;
                let outcome = self
                    .backend
                    .set_conditional(
                        node,
                        w.key.clone(),
                        w.value,
                        Condition::IfAbsent,
                        Deadline::Set(deadline),
                    )
                    .await?;
                if !outcome.written {
                    for (node, key) in written {
                        self.backend.take(node, key).await?;
                    }
                    return Ok(false);
                }
                written.push((node, w.key));
            }
            Ok(true)
        })
        .await
    }
}
