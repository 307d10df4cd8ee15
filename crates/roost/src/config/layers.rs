//! The configuration layers: defaults, `roost.toml`, environment, flags. Each
//! later layer overrides an earlier one key by key, and every value remembers the
//! layer it came from so errors and `roost config check` can say so.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::Path;

use super::catalogue::{setting, SETTINGS};
use super::ConfigError;

/// Where a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    Default,
    File(String),
    Environment,
    Flag,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Default => f.write_str("default"),
            Origin::File(path) => write!(f, "file {path}"),
            Origin::Environment => f.write_str("environment"),
            Origin::Flag => f.write_str("command line"),
        }
    }
}

/// Raw values keyed by catalogue key, merged layer by layer.
#[derive(Debug, Clone)]
pub struct Layers {
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl Layers {
    /// The catalogue defaults.
    pub fn defaults() -> Layers {
        let values = SETTINGS
            .iter()
            .map(|s| (s.key, (s.default.to_owned(), Origin::Default)))
            .collect();
        Layers { values }
    }

    /// Overlays a TOML file. Unknown keys and non-scalar values are errors.
    pub fn with_file(self, path: &Path) -> Result<Layers, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        self.with_toml(&text, &shown)
    }

    /// Overlays TOML text read from `shown` (named in errors and origins).
    pub fn with_toml(mut self, text: &str, shown: &str) -> Result<Layers, ConfigError> {
        let file_error = |reason: String| ConfigError::File {
            path: shown.to_owned(),
            reason,
        };
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            file_error(e.to_string().trim_end().replace('\n', " "))
        })?;
        for (key, value) in table {
            let Some(setting) = setting(&key) else {
                return Err(file_error(format!("unknown key {key:?}")));
            };
            let raw = match value {
                toml::Value::String(s) => s,
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    let kind = other.type_str();
                    return Err(file_error(format!(
                        "{key}: expected a string or integer, got {kind}"
                    )));
                }
            };
            self.values
                .insert(setting.key, (raw, Origin::File(shown.to_owned())));
        }
        Ok(self)
    }

    /// Overlays environment variables (a snapshot taken once at start-up).
    pub fn with_env(mut self, env: &HashMap<String, String>) -> Layers {
        for s in SETTINGS {
            if let Some(value) = env.get(s.env) {
                self.values
                    .insert(s.key, (value.trim().to_owned(), Origin::Environment));
            }
        }
        self
    }

    /// Overlays command-line flags given as (catalogue key, value).
    pub fn with_flags(mut self, flags: &[(&'static str, String)]) -> Layers {
        for (key, value) in flags {
            self.values.insert(key, (value.clone(), Origin::Flag));
        }
        self
    }

    /// The value of a key; `None` when unset or empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values
            .get(key)
            .map(|(v, _)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// Every key with its value and origin, secrets redacted, for `config check`.
    pub fn describe(&self) -> Vec<(&'static str, String, &Origin)> {
        SETTINGS
            .iter()
            .filter_map(|s| {
                let (value, origin) = self.values.get(s.key)?;
                let shown = match value.is_empty() {
                    true => "(unset)".to_owned(),
                    false => shown_value(s.key, value),
                };
                Some((s.env, shown, origin))
            })
            .collect()
    }

    /// An error for `key` naming its variable, value and origin.
    pub fn invalid(&self, key: &str, reason: String) -> ConfigError {
        let setting = setting(key).expect("invariant: validation only asks for catalogue keys");
        let (value, origin) = self
            .values
            .get(key)
            .cloned()
            .unwrap_or((String::new(), Origin::Default));
        ConfigError::Invalid {
            env: setting.env,
            value: shown_value(key, &value),
            origin,
            reason,
        }
    }
}

/// Keys whose values are secrets and are never printed, not even in errors.
const SECRET_KEYS: [&str; 4] = [
    "admin_token",
    "resp_password",
    "api_tokens",
    "region_secret",
];

/// A value as it may be printed: secrets are hidden, node URLs lose their
/// passwords.
fn shown_value(key: &str, value: &str) -> String {
    if SECRET_KEYS.contains(&key) {
        return "(set, hidden)".to_owned();
    }
    if key != "redis_cluster_nodes" {
        return value.to_owned();
    }
    value
        .split(',')
        .map(redact_password)
        .collect::<Vec<_>>()
        .join(",")
}

/// `redis://user:secret@host` → `redis://user:***@host`; anything without a
/// password in it is returned as it is.
pub(super) fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn node_urls_are_shown_without_their_passwords() {
        let env = std::collections::HashMap::from([(
            "REDIS_CLUSTER_NODES".to_owned(),
            "redis://:s3cret@a:1, rediss://user:pw@b:2,redis://c:3".to_owned(),
        )]);
        let layers = Layers::defaults().with_env(&env);
        let shown = layers
            .describe()
            .into_iter()
            .find(|(env, _, _)| *env == "REDIS_CLUSTER_NODES")
            .map(|(_, value, _)| value)
            .expect("listed");
        assert_eq!(shown, "redis://:***@a:1, rediss://user:***@b:2,redis://c:3");
        let err = layers
            .invalid("redis_cluster_nodes", "because".into())
            .to_string();
        assert!(!err.contains("s3cret") && !err.contains("pw@"), "{err}");
    }

    use super::*;
    use std::io::Write;

    fn file(text: &str) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        f
    }

    #[test]
    fn later_layers_win_key_by_key() {
        let f = file("http_addr = \"127.0.0.1:9000\"\ncache_ttl = 10\nshards = 3\n");
        let env = HashMap::from([("CACHE_TTL".to_string(), "20".to_string())]);
        let layers = Layers::defaults()
            .with_file(f.path())
            .unwrap()
            .with_env(&env)
            .with_flags(&[("shards", "5".into())]);
        assert_eq!(layers.get("http_addr"), Some("127.0.0.1:9000"));
        assert_eq!(layers.get("cache_ttl"), Some("20"));
        assert_eq!(layers.get("shards"), Some("5"));
        assert_eq!(layers.get("max_key_bytes"), Some("512"));
    }

    #[test]
    fn unknown_file_keys_and_bad_toml_are_rejected() {
        let f = file("htp_addr = \"x\"\n");
        let err = Layers::defaults().with_file(f.path()).unwrap_err();
        assert!(
            err.to_string().contains("unknown key \"htp_addr\""),
            "{err}"
        );
        let f = file("shards = [1, 2]\n");
        let err = Layers::defaults().with_file(f.path()).unwrap_err();
        assert!(
            err.to_string().contains("expected a string or integer"),
            "{err}"
        );
        let f = file("shards = \n");
        assert!(Layers::defaults().with_file(f.path()).is_err());
    }

    #[test]
    fn secrets_are_not_shown() {
        let env = HashMap::from([
            ("ROOST_ADMIN_TOKEN".to_string(), "s3cret".to_string()),
            ("ROOST_RESP_PASSWORD".to_string(), "pa55word".to_string()),
            (
                "ROOST_REGION_SECRET".to_string(),
                "reg10n-secret-value".to_string(),
            ),
        ]);
        let layers = Layers::defaults().with_env(&env);
        let shown = layers.describe();
        assert!(shown.iter().all(|(_, v, _)| !v.contains("s3cret")));
        assert!(shown.iter().all(|(_, v, _)| !v.contains("pa55word")));
        assert!(shown.iter().all(|(_, v, _)| !v.contains("reg10n")));
    }
}
