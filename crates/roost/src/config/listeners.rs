//! The listeners' settings: what a client may cost (replies waiting for it,
//! how long a request may take to arrive, how many connections), TLS, and
//! the shutdown grace. Validated here into typed values, like the rest.

use std::path::PathBuf;
use std::time::Duration;

use bytesize::ByteSize;

use super::parse::{bounded_u64, byte_size};
use super::{ConfigError, Layers};
use crate::net::TlsFiles;

/// How every listener treats its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerSettings {
    pub output: OutputLimits,
    pub http: HttpLimits,
    /// TLS on every listener when set.
    pub tls: Option<TlsFiles>,
    /// How long `/readyz` answers 503 before the listeners close on shutdown.
    pub shutdown_grace: Duration,
}

/// Replies waiting for a client that does not read them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutputLimits {
    /// Waiting replies past this close the connection at once.
    pub hard: Option<usize>,
    /// Waiting replies above `bytes` for `window` close the connection.
    pub soft: Option<SoftLimit>,
    /// What all slow clients together may hold.
    pub budget: usize,
    /// How long a write may make no progress.
    pub write_timeout: Option<Duration>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftLimit {
    pub bytes: usize,
    pub window: Duration,
}

/// The HTTP listeners' (API and dashboard) own limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// From the first byte of a request (or from the end of the previous one
    /// on a kept-alive connection) to the end of its headers.
    pub header_timeout: Duration,
    /// From the end of the headers to the response, body upload included.
    pub request_timeout: Duration,
    /// Request line plus headers.
    pub max_header_bytes: usize,
    /// Open connections per HTTP listener.
    pub max_connections: usize,
}

/// hyper reads headers into a buffer of at least this many bytes.
const MIN_HEADER_BYTES: u64 = 8 * 1024;

pub(super) fn listener_settings(layers: &Layers) -> Result<ListenerSettings, ConfigError> {
    let output = output_limits(layers)?;
    let http = HttpLimits {
        header_timeout: seconds(layers, "http_header_timeout", 1, 3600)?
            .expect("invariant: the minimum is 1"),
        request_timeout: seconds(layers, "http_request_timeout", 1, 3600)?
            .expect("invariant: the minimum is 1"),
        max_header_bytes: byte_size(layers, "http_max_header_bytes", MIN_HEADER_BYTES, 1 << 20)?
            as usize,
        max_connections: bounded_u64(layers, "http_max_connections", 1, 1_000_000)? as usize,
    };
    Ok(ListenerSettings {
        output,
        http,
        tls: tls_files(layers)?,
        shutdown_grace: Duration::from_secs(bounded_u64(layers, "shutdown_grace", 0, 300)?),
    })
}

/// `seconds` of `key` in `min..=max`; 0 (when `min` allows it) means `None`.
fn seconds(
    layers: &Layers,
    key: &str,
    min: u64,
    max: u64,
) -> Result<Option<Duration>, ConfigError> {
    let secs = bounded_u64(layers, key, min, max)?;
    Ok((secs > 0).then(|| Duration::from_secs(secs)))
}

fn output_limits(layers: &Layers) -> Result<OutputLimits, ConfigError> {
    let key = "client_output_limit";
    let raw = layers.get(key).unwrap_or_default();
    let expected = || {
        layers.invalid(
            key,
            "expected \"<hard> <soft> <seconds>\" such as \"64MiB 16MiB 60\" (0 turns a part off)"
                .into(),
        )
    };
    let [hard, soft, window] = raw
        .split_whitespace()
        .collect::<Vec<_>>()
        .try_into()
        .map_err(|_| expected())?;
    let size = |text: &str| text.parse::<ByteSize>().map(|b| b.as_u64() as usize);
    let (hard, soft) = (
        size(hard).map_err(|_| expected())?,
        size(soft).map_err(|_| expected())?,
    );
    let window: u64 = window.parse().map_err(|_| expected())?;
    if hard > 0 && soft > hard {
        return Err(layers.invalid(key, "the soft limit cannot exceed the hard limit".into()));
    }
    if (soft > 0) != (window > 0) {
        return Err(layers.invalid(
            key,
            "a soft limit needs its seconds, and seconds need a soft limit".into(),
        ));
    }
    let budget = byte_size(layers, "client_output_budget", 1 << 20, 1 << 40)? as usize;
    if hard > budget {
        return Err(layers.invalid(
            key,
            format!("the hard limit cannot exceed ROOST_CLIENT_OUTPUT_BUDGET ({budget} bytes)"),
        ));
    }
    Ok(OutputLimits {
        hard: (hard > 0).then_some(hard),
        soft: (soft > 0).then(|| SoftLimit {
            bytes: soft,
            window: Duration::from_secs(window),
        }),
        budget,
        write_timeout: seconds(layers, "client_write_timeout", 0, 3600)?,
    })
}

fn tls_files(layers: &Layers) -> Result<Option<TlsFiles>, ConfigError> {
    let path = |key: &str| layers.get(key).map(PathBuf::from);
    match (path("tls_cert"), path("tls_key"), path("tls_client_ca")) {
        (None, None, None) => Ok(None),
        (Some(cert), Some(key), client_ca) => Ok(Some(TlsFiles {
            cert,
            key,
            client_ca,
        })),
        (None, _, _) => Err(layers.invalid(
            "tls_cert",
            "TLS needs ROOST_TLS_CERT (and ROOST_TLS_KEY)".into(),
        )),
        (Some(_), None, _) => Err(layers.invalid(
            "tls_key",
            "ROOST_TLS_CERT needs its private key in ROOST_TLS_KEY".into(),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<ListenerSettings, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        listener_settings(&Layers::defaults().with_env(&env))
    }

    #[test]
    fn defaults_bound_every_client() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.output.hard, Some(64 << 20));
        assert_eq!(
            s.output.soft,
            Some(SoftLimit {
                bytes: 16 << 20,
                window: Duration::from_secs(60)
            })
        );
        assert_eq!(s.output.budget, 128 << 20);
        assert_eq!(s.output.write_timeout, Some(Duration::from_secs(30)));
        assert!(s.http.header_timeout <= Duration::from_secs(30));
        assert!(s.http.max_header_bytes < 64 * 1024);
        assert!(s.http.max_connections >= 1000);
        assert_eq!(s.tls, None);
    }

    #[test]
    fn output_limits_parse_like_redis_and_are_checked() {
        let s = settings(&[("ROOST_CLIENT_OUTPUT_LIMIT", "0 0 0")]).unwrap();
        assert_eq!((s.output.hard, s.output.soft), (None, None));
        let s = settings(&[("ROOST_CLIENT_OUTPUT_LIMIT", "2MiB 512KiB 5")]).unwrap();
        assert_eq!(s.output.hard, Some(2 << 20));
        for (bad, reason) in [
            ("64MiB 16MiB", "expected"),
            ("64MiB x 60", "expected"),
            ("2MiB 3MiB 5", "cannot exceed the hard"),
            ("4MiB 512KiB 0", "needs its seconds"),
            ("1TiB 0 0", "cannot exceed ROOST_CLIENT_OUTPUT_BUDGET"),
        ] {
            let err = settings(&[("ROOST_CLIENT_OUTPUT_LIMIT", bad)])
                .unwrap_err()
                .to_string();
            assert!(err.contains(reason), "{bad}: {err}");
            assert!(err.contains("ROOST_CLIENT_OUTPUT_LIMIT"), "{err}");
        }
    }

    #[test]
    fn tls_needs_both_files() {
        let err = settings(&[("ROOST_TLS_CERT", "/c.pem")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ROOST_TLS_KEY"), "{err}");
        let err = settings(&[("ROOST_TLS_KEY", "/k.pem")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("ROOST_TLS_CERT"), "{err}");
        let s = settings(&[("ROOST_TLS_CERT", "/c.pem"), ("ROOST_TLS_KEY", "/k.pem")]).unwrap();
        assert_eq!(s.tls.unwrap().client_ca, None);
    }
}
