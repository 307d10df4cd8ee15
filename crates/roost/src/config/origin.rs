//! The origin read-through settings (`ROOST_ORIGIN_*`): where a miss is
//! loaded from, how long a fetch may take, how long a 404 and a stale copy are
//! remembered, and how many fetches may be in flight. Validated here, once;
//! without `ROOST_ORIGIN_URL` there is no origin and nothing else is read.

use std::time::Duration;

use super::parse::bounded_u64;
use super::{ConfigError, Layers, MAX_TTL};

/// Where `{key}` goes in the URL template.
pub const KEY_PLACEHOLDER: &str = "{key}";

/// A validated origin: see docs/warming.md.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginSettings {
    /// The URL before `{key}` and after it (the key goes between, percent-encoded).
    pub url: OriginUrl,
    /// Bound on one fetch: connecting, the answer and its body.
    pub timeout: Duration,
    /// How long a 404 is remembered as a miss; `None` is off.
    pub negative_ttl: Option<Duration>,
    /// How long past its expiry a value may still answer when the origin fails;
    /// `None` is off.
    pub stale_if_error: Option<Duration>,
    /// Fetches in flight at once; one more is refused as overloaded.
    pub max_concurrency: usize,
}

/// A URL template split around its first `{key}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginUrl {
    pub before: String,
    pub after: String,
}

pub(super) fn origin_settings(layers: &Layers) -> Result<Option<OriginSettings>, ConfigError> {
    let Some(template) = layers.get("origin_url").filter(|t| !t.trim().is_empty()) else {
        return Ok(None);
    };
    let url = parse_template(template.trim()).map_err(|why| layers.invalid("origin_url", why))?;
    let negative = bounded_u64(layers, "origin_negative_ttl", 0, MAX_TTL.as_secs())?;
    let stale = bounded_u64(layers, "origin_stale_if_error", 0, MAX_TTL.as_secs())?;
    Ok(Some(OriginSettings {
        url,
        timeout: Duration::from_millis(bounded_u64(layers, "origin_timeout", 10, 600_000)?),
        negative_ttl: (negative > 0).then(|| Duration::from_secs(negative)),
        stale_if_error: (stale > 0).then(|| Duration::from_secs(stale)),
        max_concurrency: bounded_u64(layers, "origin_max_concurrency", 1, 1_000_000)? as usize,
    }))
}

/// Splits `template` around `{key}`; it must be an http or https URL with a host.
fn parse_template(template: &str) -> Result<OriginUrl, String> {
    let rest = template
        .strip_prefix("http://")
        .or_else(|| template.strip_prefix("https://"))
        .ok_or("expected an http:// or https:// URL such as http://app:8080/items/{key}")?;
    let Some(at) = template.find(KEY_PLACEHOLDER) else {
        return Err("must contain {key} where the key goes".into());
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains(KEY_PLACEHOLDER) {
        return Err("needs a host before the path, and {key} in the path or query".into());
    }
    if template.contains(char::is_whitespace) {
        return Err("must not contain spaces".into());
    }
    Ok(OriginUrl {
        before: template[..at].to_owned(),
        after: template[at + KEY_PLACEHOLDER.len()..].to_owned(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn templates_need_a_scheme_a_host_and_the_key() {
        let url = parse_template("http://app:8080/items/{key}?v=1").unwrap();
        assert_eq!(url.before, "http://app:8080/items/");
        assert_eq!(url.after, "?v=1");
        assert!(parse_template("https://h/q?k={key}").is_ok());
        for (bad, why) in [
            ("ftp://h/{key}", "http://"),
            ("app:8080/{key}", "http://"),
            ("http://h/items", "{key}"),
            ("http://{key}/x", "host"),
            ("http:///{key}", "host"),
        ] {
            let err = parse_template(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }
}
