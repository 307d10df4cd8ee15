//! The hot-key tracker's settings (`ROOST_HOT_KEYS*`), validated into a
//! [`HotKeysConfig`].

use std::time::Duration;

use super::parse::{bool_flag, bounded_u64};
use super::{ConfigError, Layers};
use crate::hot::HotKeysConfig;

pub(super) fn hot_keys_settings(layers: &Layers) -> Result<HotKeysConfig, ConfigError> {
    let capacity = bounded_u64(layers, "hot_keys_capacity", 64, 65_536)?;
    Ok(HotKeysConfig {
        enabled: bool_flag(layers, "hot_keys")?,
        capacity: capacity as usize,
        half_life: Duration::from_millis(bounded_u64(layers, "hot_keys_half_life", 200, 600_000)?),
        hot_set: bounded_u64(layers, "hot_keys_hot_set", 1, capacity)? as usize,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with_env(pairs: &[(&str, &str)]) -> Result<HotKeysConfig, ConfigError> {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        hot_keys_settings(&Layers::defaults().with_env(&env))
    }

    #[test]
    fn defaults_match_the_tracker_and_bad_values_name_their_key() {
        assert_eq!(with_env(&[]).unwrap(), HotKeysConfig::default());
        let off = with_env(&[("ROOST_HOT_KEYS", "off")]).unwrap();
        assert!(!off.enabled);
        let small = [
            ("ROOST_HOT_KEYS_CAPACITY", "100"),
            ("ROOST_HOT_KEYS_HOT_SET", "100"),
        ];
        assert_eq!(with_env(&small).unwrap().hot_set, 100);
        let over = [
            ("ROOST_HOT_KEYS_CAPACITY", "100"),
            ("ROOST_HOT_KEYS_HOT_SET", "101"),
        ];
        let err = with_env(&over).unwrap_err().to_string();
        assert!(err.contains("ROOST_HOT_KEYS_HOT_SET"), "{err}");
        assert!(with_env(&[("ROOST_HOT_KEYS", "maybe")]).is_err());
        assert!(with_env(&[("ROOST_HOT_KEYS_HALF_LIFE", "10")]).is_err());
    }
}
