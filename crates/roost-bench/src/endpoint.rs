//! `Endpoint`: what `--target` names — a RESP server (`resp://host:port`) or an HTTP
//! base URL (`http://host:port`, Roost's REST API or webdis).

use std::fmt;
use std::str::FromStr;

/// A server the bench can drive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `host:port` of a RESP server.
    Resp(String),
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:8000`.
    Http(String),
}

/// Why a `--target` was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("target {0:?} must start with resp:// or http://")]
    UnknownScheme(String),
    #[error("target {0:?} has no host:port")]
    NoAddress(String),
    #[error("target {0:?}: https is not supported, use http:// on loopback")]
    Https(String),
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim().trim_end_matches('/');
        if let Some(address) = trimmed.strip_prefix("resp://") {
            if !address.contains(':') || address.contains('/') {
                return Err(EndpointError::NoAddress(text.into()));
            }
            return Ok(Endpoint::Resp(address.into()));
        }
        if let Some(rest) = trimmed.strip_prefix("http://") {
            if rest.is_empty() {
                return Err(EndpointError::NoAddress(text.into()));
            }
            return Ok(Endpoint::Http(trimmed.into()));
        }
        if trimmed.starts_with("https://") {
            return Err(EndpointError::Https(text.into()));
        }
        Err(EndpointError::UnknownScheme(text.into()))
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Resp(address) => write!(f, "resp://{address}"),
            Endpoint::Http(base) => f.write_str(base),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn schemes_pick_the_protocol() {
        assert_eq!(
            "resp://127.0.0.1:6380".parse::<Endpoint>().unwrap(),
            Endpoint::Resp("127.0.0.1:6380".into())
        );
        assert_eq!(
            "http://127.0.0.1:8000/".parse::<Endpoint>().unwrap(),
            Endpoint::Http("http://127.0.0.1:8000".into())
        );
        assert_eq!(Endpoint::Resp("h:1".into()).to_string(), "resp://h:1");
    }

    #[test]
    fn malformed_targets_are_rejected() {
        assert!(matches!(
            "127.0.0.1:6380".parse::<Endpoint>(),
            Err(EndpointError::UnknownScheme(_))
        ));
        assert!(matches!(
            "resp://localhost".parse::<Endpoint>(),
            Err(EndpointError::NoAddress(_))
        ));
        assert!(matches!(
            "https://x".parse::<Endpoint>(),
            Err(EndpointError::Https(_))
        ));
    }
}
