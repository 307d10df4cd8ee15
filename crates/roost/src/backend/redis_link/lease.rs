//! Leases for origin read-through across gateways (Facebook memcache's
//! leases): `SET <lease> <token> NX PX <ms>` names the one gateway that
//! fetches a missing key; the fill is a check-and-set on the token. The lease
//! key is on the same node (or Redis Cluster slot) as the key, so each script
//! here is atomic on one node. The fleet decides the lease key's name.

use std::sync::LazyLock;

use redis::Script;
use roost_store::UnixMillis;

use super::scripts::{self, WireExpiry};
use super::RedisLink;
use crate::backend::Stored;
use crate::error::CacheError;

/// The key's value and PTTL if present; else whether the lease is still held.
/// KEYS[1] key, KEYS[2] lease. Returns {value or nil, pttl, lease held 0|1}.
static WAIT_STEP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local value = redis.call('GET', KEYS[1])
if value then return {value, redis.call('PTTL', KEYS[1]), 1} end
return {false, -2, redis.call('EXISTS', KEYS[2])}
",
    )
});

/// The fill: only while the lease holds our token and the key is absent (or,
/// for a refresh-ahead, whatever is there), SET the key with its deadline; the
/// lease is removed either way when it is ours. KEYS[1] key, KEYS[2] lease;
/// ARGV[1] token, ARGV[2] value, ARGV[3] `persist` | `px` | `gone`, ARGV[4] ms,
/// ARGV[5] `absent` | `replace`. Returns 1 when stored.
static FILL: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2])
if ARGV[5] ~= 'replace' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local mode = ARGV[3]
if mode == 'persist' then redis.call('SET', KEYS[1], ARGV[2])
elseif mode == 'px' then redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
else return 0 end
return 1
",
    )
});

/// Removes the lease only if it still holds our token. KEYS[1] lease, ARGV[1] token.
static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

impl RedisLink {
    /// Takes the lease for `ms` milliseconds; `false` when another holds it.
    pub async fn lease_acquire(
        &self,
        lease: &[u8],
        token: &str,
        ms: u64,
    ) -> Result<bool, CacheError> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(lease).arg(token).arg("NX").arg("PX").arg(ms.max(1));
        let reply: Option<String> = self.run_cmd(cmd).await?;
        Ok(reply.is_some())
    }

    /// One look while another gateway holds the lease: the key's entry if it
    /// was filled, and whether the lease is still held.
    pub async fn lease_wait_step(
        &self,
        key: &[u8],
        lease: &[u8],
        now: UnixMillis,
    ) -> Result<(Option<Stored>, bool), CacheError> {
        let (value, pttl, held): (Option<Vec<u8>>, i64, i64) = self
            .run(|mut c| async move { WAIT_STEP.key(key).key(lease).invoke_async(&mut c).await })
            .await?;
        let entry = value
            .filter(|_| pttl != -2)
            .map(|value| scripts::stored(value, pttl, now));
        Ok((entry, held == 1))
    }

    /// The check-and-set fill; `true` when it stored the value. `replace`:
    /// store over a present value too (a refresh-ahead).
    #[allow(clippy::too_many_arguments)]
    pub async fn lease_fill(
        &self,
        key: &[u8],
        lease: &[u8],
        token: &str,
        value: &[u8],
        expires_at: Option<UnixMillis>,
        now: UnixMillis,
        replace: bool,
    ) -> Result<bool, CacheError> {
        let (mode, ms) = WireExpiry::from_deadline(expires_at, now).script_args();
        let when = if replace { "replace" } else { "absent" };
        let stored: i64 = self
            .run(|mut c| async move {
                let mut invocation = FILL.key(key);
                invocation
                    .key(lease)
                    .arg(token)
                    .arg(value)
                    .arg(mode)
                    .arg(ms)
                    .arg(when);
                invocation.invoke_async(&mut c).await
            })
            .await?;
        Ok(stored == 1)
    }

    /// Gives the lease up if it is still ours (nothing was stored).
    pub async fn lease_release(&self, lease: &[u8], token: &str) -> Result<(), CacheError> {
        let _: i64 = self
            .run(|mut c| async move { RELEASE.key(lease).arg(token).invoke_async(&mut c).await })
            .await?;
        Ok(())
    }

    /// Removes the lease whoever holds it: a client write is coming.
    pub async fn lease_drop(&self, lease: &[u8]) -> Result<(), CacheError> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(lease);
        let _: i64 = self.run_cmd(cmd).await?;
        Ok(())
    }
}
