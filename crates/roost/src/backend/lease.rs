//! The backend operations of origin read-through: the fill of a loaded value
//! (a set only while the key is absent; on a Redis backend with a lease, a
//! check-and-set on the lease token) and the leases themselves. The embedded
//! store is one gateway's own memory: it has no leases, single-flight alone
//! makes one fetch per key there.

use bytes::Bytes;
use roost_store::{UnixMillis, Version};

use super::{Backend, Condition, Deadline, Stored};
use crate::error::CacheError;

/// A lease this gateway holds on a key: its lease key and token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHeld {
    pub lease: Vec<u8>,
    pub token: String,
}

/// What asking for a key's lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseGrant {
    /// Ours: fetch, then fill with it.
    Held(LeaseHeld),
    /// Another gateway holds it (this lease key): wait for its fill.
    Busy(Vec<u8>),
    /// No lease for this key or backend: single-flight only.
    None,
}

impl Backend {
    /// Takes `key`'s lease for `ms` with `token`, where the backend has leases.
    pub async fn lease_acquire(
        &self,
        key: &[u8],
        token: String,
        ms: u64,
    ) -> Result<LeaseGrant, CacheError> {
        let Backend::Fleet(fleet) = self else {
            return Ok(LeaseGrant::None);
        };
        let Some(lease) = fleet.lease_key_of(key) else {
            return Ok(LeaseGrant::None);
        };
        match Box::pin(fleet.lease_acquire(key, &lease, &token, ms)).await? {
            true => Ok(LeaseGrant::Held(LeaseHeld { lease, token })),
            false => Ok(LeaseGrant::Busy(lease)),
        }
    }

    /// While another gateway holds `key`'s lease: its entry if filled, and
    /// whether the lease is still held.
    pub async fn lease_wait_step(
        &self,
        key: &[u8],
        lease: &[u8],
    ) -> Result<(Option<Stored>, bool), CacheError> {
        match self {
            Backend::Embedded(b) => Ok((b.get(key)?, false)),
            Backend::Fleet(f) => Box::pin(f.lease_wait_step(key, lease)).await,
        }
    }

    /// Gives up a lease that stored nothing (404, `no-store`, a failure).
    pub async fn lease_release(&self, key: &[u8], held: &LeaseHeld) -> Result<(), CacheError> {
        match self {
            Backend::Embedded(_) => Ok(()),
            Backend::Fleet(f) => Box::pin(f.lease_release(key, &held.lease, &held.token)).await,
        }
    }

    /// Removes `key`'s lease, whoever holds it: a client write of the key
    /// follows, and no fill that started before it may land after it.
    pub async fn lease_drop(&self, key: &[u8]) -> Result<(), CacheError> {
        let Backend::Fleet(fleet) = self else {
            return Ok(());
        };
        match fleet.lease_key_of(key) {
            Some(lease) => Box::pin(fleet.lease_drop(key, &lease)).await,
            None => Ok(()),
        }
    }

    /// Stores a value loaded from the origin, only while `key` is absent
    /// (`replace`: whatever is there — a refresh-ahead, which the Cache
    /// orders after client writes itself); with `lease`, only while the lease
    /// still holds its token (and the lease is removed). In a region
    /// (`since`, the version the miss took before asking the origin), only
    /// if that is newer than what the key holds, a tombstone included: a
    /// change another region made after the miss began wins over the fill.
    /// `true` when stored. Called by `Cache::apply` only.
    pub async fn fill(
        &self,
        key: Bytes,
        value: Bytes,
        expires_at: Option<UnixMillis>,
        lease: Option<&LeaseHeld>,
        replace: bool,
        since: Option<Version>,
    ) -> Result<bool, CacheError> {
        match (self, lease, since) {
            (Backend::Embedded(b), _, Some(since)) => {
                Ok(b.fill_newer(key, value, expires_at, since, replace))
            }
            // In a region the version orders the fill after client writes;
            // the lease, if one was taken, is given back either way.
            (Backend::Fleet(f), lease, Some(since)) if f.is_versioned() => {
                let stored = Box::pin(f.fill_versioned(&key, value, expires_at, since, replace));
                let stored = stored.await;
                if let Some(held) = lease {
                    if let Err(error) = self.lease_release(&key, held).await {
                        tracing::debug!(%error, "releasing a fill's lease failed");
                    }
                }
                stored
            }
            (Backend::Fleet(f), Some(held), _) => {
                let fill = f.lease_fill(key, &held.lease, &held.token, value, expires_at, replace);
                Box::pin(fill).await
            }
            _ => {
                let deadline = Deadline::Set(expires_at);
                let condition = if replace {
                    Condition::Always
                } else {
                    Condition::IfAbsent
                };
                let outcome =
                    Box::pin(self.set_conditional(key, value, condition, deadline, false));
                Ok(outcome.await?.written)
            }
        }
    }
}
