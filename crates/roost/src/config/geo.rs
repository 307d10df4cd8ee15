//! Geographic coherence's settings (`ROOST_REGION`, `ROOST_REGION_PEERS`,
//! `ROOST_GEO_MODE`, `ROOST_REGION_SECRET`, `ROOST_TOMBSTONE_TTL`,
//! `ROOST_MAX_CLOCK_SKEW`, `ROOST_GEO_LOG_MAX_BYTES`, `ROOST_GEO_LOG_MAX_AGE`),
//! validated into [`GeoSettings`]. docs/regions.md explains each.

use std::time::Duration;

use super::parse::{bounded_u64, byte_size};
use super::{ConfigError, Layers};

/// The most regions (this one and its peers) a deployment may have: a
/// version's tie-break field holds a region's index in 8 bits.
pub const MAX_REGIONS: usize = 64;

/// What another region's change does here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GeoMode {
    /// The key is dropped here (a newer value exists elsewhere).
    Invalidate,
    /// The new value is stored here.
    Replicate,
}

impl GeoMode {
    pub fn as_str(self) -> &'static str {
        match self {
            GeoMode::Invalidate => "invalidate",
            GeoMode::Replicate => "replicate",
        }
    }
}

/// Another region: its name and the HTTP base URL of a Roost in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub name: String,
    /// `http://host:port` or `https://host:port`, without a trailing slash.
    pub url: String,
}

/// Settings of this region and its links; `None` in `Config.geo` when
/// `ROOST_REGION` is unset (no versions, no log, no links).
#[derive(Clone, PartialEq, Eq)]
pub struct GeoSettings {
    /// `ROOST_REGION`: this region's name.
    pub region: String,
    /// `ROOST_REGION_PEERS`: the other regions, in the order given.
    pub peers: Vec<Peer>,
    /// `ROOST_GEO_MODE`.
    pub mode: GeoMode,
    /// `ROOST_REGION_SECRET`: every replication request carries it; required
    /// when there are peers.
    pub secret: Option<String>,
    /// `ROOST_TOMBSTONE_TTL`: how long a delete is remembered.
    pub tombstone_ttl: Duration,
    /// `ROOST_MAX_CLOCK_SKEW`: a change stamped further ahead of this
    /// region's clock is refused.
    pub max_clock_skew: Duration,
    /// `ROOST_GEO_LOG_MAX_BYTES`: the change log's retention by size.
    pub log_max_bytes: u64,
    /// `ROOST_GEO_LOG_MAX_AGE`: the change log's retention by age.
    pub log_max_age: Duration,
}

impl std::fmt::Debug for GeoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoSettings")
            .field("region", &self.region)
            .field("peers", &self.peers)
            .field("mode", &self.mode)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("tombstone_ttl", &self.tombstone_ttl)
            .field("max_clock_skew", &self.max_clock_skew)
            .field("log_max_bytes", &self.log_max_bytes)
            .field("log_max_age", &self.log_max_age)
            .finish()
    }
}

impl GeoSettings {
    /// Every region's name (this one and its peers), sorted: a region's
    /// position here is the tie-break index in its versions, the same in
    /// every region that lists the same set.
    pub fn region_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = std::iter::once(self.region.as_str())
            .chain(self.peers.iter().map(|p| p.name.as_str()))
            .collect();
        names.sort_unstable();
        names
    }

    /// This region's tie-break index (see [`GeoSettings::region_names`]).
    pub fn region_index(&self) -> u8 {
        let names = self.region_names();
        let index = names.iter().position(|n| *n == self.region).unwrap_or(0);
        u8::try_from(index).unwrap_or(u8::MAX)
    }
}

/// The shortest secret accepted: guessable secrets guard nothing.
const MIN_SECRET_CHARS: usize = 16;

fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

pub(super) fn geo_settings(layers: &Layers) -> Result<Option<GeoSettings>, ConfigError> {
    let region = layers.get("region").unwrap_or_default().trim().to_string();
    let raw_peers = layers.get("region_peers").unwrap_or_default().trim();
    if region.is_empty() {
        if !raw_peers.is_empty() {
            return Err(layers.invalid(
                "region_peers",
                "peers need ROOST_REGION (this region's name) set as well".into(),
            ));
        }
        return Ok(None);
    }
    if !valid_name(&region) {
        return Err(layers.invalid(
            "region",
            "expected 1 to 32 characters of a-z, 0-9, '-' or '_'".into(),
        ));
    }
    let peers = peers(layers, raw_peers, &region)?;
    let mode = match layers.get("geo_mode").unwrap_or("invalidate") {
        "invalidate" => GeoMode::Invalidate,
        "replicate" => GeoMode::Replicate,
        _ => return Err(layers.invalid("geo_mode", "expected invalidate or replicate".into())),
    };
    let secret = layers
        .get("region_secret")
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    match &secret {
        None if !peers.is_empty() => {
            return Err(layers.invalid(
                "region_secret",
                "required when ROOST_REGION_PEERS is set: every replication request is authenticated with it".into(),
            ))
        }
        Some(s) if s.chars().count() < MIN_SECRET_CHARS => {
            return Err(layers.invalid(
                "region_secret",
                format!("must be at least {MIN_SECRET_CHARS} characters"),
            ))
        }
        _ => {}
    }
    let tombstone_ttl = Duration::from_secs(bounded_u64(layers, "tombstone_ttl", 1, 30 * 86_400)?);
    let log_max_age = Duration::from_secs(bounded_u64(layers, "geo_log_max_age", 1, 30 * 86_400)?);
    if tombstone_ttl < log_max_age {
        return Err(layers.invalid(
            "tombstone_ttl",
            format!(
                "must be at least ROOST_GEO_LOG_MAX_AGE ({} s): a change can arrive as late as the log keeps it, and the delete it follows must still be remembered",
                log_max_age.as_secs()
            ),
        ));
    }
    Ok(Some(GeoSettings {
        region,
        peers,
        mode,
        secret,
        tombstone_ttl,
        max_clock_skew: Duration::from_millis(bounded_u64(layers, "max_clock_skew", 1, 3_600_000)?),
        log_max_bytes: byte_size(layers, "geo_log_max_bytes", 1 << 20, 1 << 40)?,
        log_max_age,
    }))
}

fn peers(layers: &Layers, raw: &str, region: &str) -> Result<Vec<Peer>, ConfigError> {
    let mut peers: Vec<Peer> = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((name, url)) = part.split_once('=') else {
            return Err(layers.invalid(
                "region_peers",
                format!("{part:?}: expected name=http://host:port"),
            ));
        };
        let (name, url) = (name.trim(), url.trim().trim_end_matches('/'));
        if !valid_name(name) {
            return Err(layers.invalid(
                "region_peers",
                format!("{name:?}: a region name is 1 to 32 characters of a-z, 0-9, '-' or '_'"),
            ));
        }
        if name == region {
            return Err(layers.invalid(
                "region_peers",
                format!("{name:?} is this region (ROOST_REGION); list only the others"),
            ));
        }
        if peers.iter().any(|p| p.name == name) {
            return Err(layers.invalid("region_peers", format!("{name:?} is listed twice")));
        }
        let host = url
            .strip_prefix("http://")
            .or_else(|| url.strip_prefix("https://"));
        if host.is_none_or(|h| h.is_empty() || h.contains('/')) {
            return Err(layers.invalid(
                "region_peers",
                format!("{name}: {url:?} is not an http:// or https:// base URL such as http://10.0.0.5:8000"),
            ));
        }
        peers.push(Peer {
            name: name.to_string(),
            url: url.to_string(),
        });
    }
    if peers.len() + 1 > MAX_REGIONS {
        return Err(layers.invalid("region_peers", format!("at most {} peers", MAX_REGIONS - 1)));
    }
    Ok(peers)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn with_env(pairs: &[(&str, &str)]) -> Result<Option<GeoSettings>, ConfigError> {
        let env = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        geo_settings(&Layers::defaults().with_env(&env))
    }

    const SECRET: &str = "0123456789abcdef";

    #[test]
    fn unset_region_means_no_geo_and_peers_alone_are_refused() {
        assert_eq!(with_env(&[]).unwrap(), None);
        let err = with_env(&[("ROOST_REGION_PEERS", "eu=http://127.0.0.1:8001")]).unwrap_err();
        assert!(err.to_string().contains("ROOST_REGION"), "{err}");
    }

    #[test]
    fn a_region_with_peers_parses_with_defaults() {
        let geo = with_env(&[
            ("ROOST_REGION", "us"),
            (
                "ROOST_REGION_PEERS",
                "eu=http://127.0.0.1:8001/, ap=https://10.0.0.9:8000",
            ),
            ("ROOST_REGION_SECRET", SECRET),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(geo.mode, GeoMode::Invalidate);
        assert_eq!(geo.peers[0].url, "http://127.0.0.1:8001");
        assert_eq!(geo.peers[1].name, "ap");
        assert_eq!(geo.region_names(), vec!["ap", "eu", "us"]);
        assert_eq!(geo.region_index(), 2);
        assert_eq!(geo.max_clock_skew, Duration::from_secs(5));
        assert!(geo.tombstone_ttl >= geo.log_max_age);
        assert!(!format!("{geo:?}").contains(SECRET));
    }

    #[test]
    fn bad_values_name_their_key() {
        let base = [("ROOST_REGION", "us"), ("ROOST_REGION_SECRET", SECRET)];
        for (env, bad) in [
            ("ROOST_REGION", "US East"),
            ("ROOST_REGION_PEERS", "eu"),
            ("ROOST_REGION_PEERS", "us=http://127.0.0.1:1"),
            ("ROOST_REGION_PEERS", "eu=ftp://x"),
            ("ROOST_REGION_PEERS", "eu=http://a:1,eu=http://b:2"),
            ("ROOST_GEO_MODE", "sometimes"),
            ("ROOST_REGION_SECRET", "short"),
            ("ROOST_TOMBSTONE_TTL", "60"),
            ("ROOST_MAX_CLOCK_SKEW", "0"),
        ] {
            let mut pairs = base.to_vec();
            pairs.retain(|(k, _)| *k != env);
            pairs.push((env, bad));
            let err = with_env(&pairs).unwrap_err().to_string();
            let named = if env == "ROOST_TOMBSTONE_TTL" {
                "ROOST_TOMBSTONE_TTL"
            } else {
                env
            };
            assert!(err.contains(named), "{env}={bad}: {err}");
        }
        let err = with_env(&[
            ("ROOST_REGION", "us"),
            ("ROOST_REGION_PEERS", "eu=http://127.0.0.1:8001"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("ROOST_REGION_SECRET"), "{err}");
    }
}
