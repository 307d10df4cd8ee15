//! Warming's settings (`ROOST_WARMING`, `ROOST_ORIGIN_MAX_RPS`, the snapshot
//! settings `ROOST_DATA_DIR`, `ROOST_SNAPSHOT_MAX_BYTES`,
//! `ROOST_READY_AFTER_WARM`), validated into [`WarmingSettings`].
//! docs/warming.md explains each mechanism.

use std::path::PathBuf;

use super::parse::{bool_flag, bounded_u64, byte_size};
use super::{ConfigError, Layers};

/// Settings of the warming cycle, its origin budget and snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmingSettings {
    /// `ROOST_WARMING`: off stops refresh-ahead, preloading, snapshots and the
    /// hottest-first copy to a new node (read-through and single-flight stay).
    pub enabled: bool,
    /// `ROOST_ORIGIN_MAX_RPS`: the token bucket every background origin fetch
    /// (refresh, prefetch) takes from; client misses never wait on it.
    pub origin_max_rps: u32,
    /// `ROOST_DATA_DIR`: where the embedded store's snapshot lives; `None`
    /// means no snapshots.
    pub data_dir: Option<PathBuf>,
    /// `ROOST_SNAPSHOT_MAX_BYTES`: the most entry bytes a snapshot keeps
    /// (hottest first); `None` means the store's memory cap.
    pub snapshot_max_bytes: Option<u64>,
    /// `ROOST_READY_AFTER_WARM`: `/readyz` answers 503 until the snapshot is loaded.
    pub ready_after_warm: bool,
}

impl Default for WarmingSettings {
    fn default() -> Self {
        WarmingSettings {
            enabled: true,
            origin_max_rps: 1000,
            data_dir: None,
            snapshot_max_bytes: None,
            ready_after_warm: false,
        }
    }
}

pub(super) fn warming_settings(layers: &Layers) -> Result<WarmingSettings, ConfigError> {
    let data_dir = layers
        .get("data_dir")
        .filter(|raw| !raw.is_empty())
        .map(PathBuf::from);
    let snapshot_max_bytes = match layers.get("snapshot_max_bytes") {
        None | Some("") | Some("0") => None,
        Some(_) => Some(byte_size(layers, "snapshot_max_bytes", 4096, 1 << 40)?),
    };
    Ok(WarmingSettings {
        enabled: bool_flag(layers, "warming")?,
        origin_max_rps: bounded_u64(layers, "origin_max_rps", 1, 1_000_000)? as u32,
        data_dir,
        snapshot_max_bytes,
        ready_after_warm: bool_flag(layers, "ready_after_warm")?,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with_env(pairs: &[(&str, &str)]) -> Result<WarmingSettings, ConfigError> {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        warming_settings(&Layers::defaults().with_env(&env))
    }

    #[test]
    fn defaults_are_on_with_no_snapshots_and_bad_values_name_their_key() {
        assert_eq!(with_env(&[]).unwrap(), WarmingSettings::default());
        let set = with_env(&[
            ("ROOST_WARMING", "off"),
            ("ROOST_ORIGIN_MAX_RPS", "50"),
            ("ROOST_DATA_DIR", "/var/lib/roost"),
            ("ROOST_SNAPSHOT_MAX_BYTES", "64MiB"),
            ("ROOST_READY_AFTER_WARM", "true"),
        ])
        .unwrap();
        assert!(!set.enabled);
        assert_eq!(set.origin_max_rps, 50);
        assert_eq!(set.data_dir, Some(PathBuf::from("/var/lib/roost")));
        assert_eq!(set.snapshot_max_bytes, Some(64 << 20));
        assert!(set.ready_after_warm);
        for (env, bad) in [
            ("ROOST_WARMING", "sometimes"),
            ("ROOST_ORIGIN_MAX_RPS", "0"),
            ("ROOST_SNAPSHOT_MAX_BYTES", "12"),
            ("ROOST_READY_AFTER_WARM", "later"),
        ] {
            let err = with_env(&[(env, bad)]).unwrap_err().to_string();
            assert!(err.contains(env), "{err}");
        }
    }
}
