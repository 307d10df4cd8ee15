//! Credentials and what stays open without one. Every source folds into one
//! list of (user, role, secret): `ROOST_API_TOKENS`, the lines of
//! `ROOST_API_TOKENS_FILE`, `ROOST_RESP_PASSWORD` (user `default`, role
//! write) and `ROOST_ADMIN_TOKEN` (user `admin`, role admin).

use std::collections::HashSet;

use super::parse::bool_flag;
use super::{ConfigError, Layers};
use crate::auth::{CredentialSpec, Role};

/// Authentication as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// Empty: every door is open.
    pub credentials: Vec<CredentialSpec>,
    pub open: OpenEndpoints,
    /// Start even when a listener on a non-loopback address has no credential.
    pub allow_no_auth: bool,
}

/// HTTP endpoints served without a credential when authentication is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OpenEndpoints {
    /// `/healthz` and `/readyz`.
    pub probes: bool,
    /// `/metrics`.
    pub metrics: bool,
    /// `/api/openapi.json`.
    pub openapi: bool,
}

pub(super) fn auth_settings(layers: &Layers) -> Result<AuthSettings, ConfigError> {
    let mut credentials = Vec::new();
    if let Some(list) = layers.get("api_tokens") {
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let mut parts = entry.splitn(3, ':');
            let (user, role, secret) = (parts.next(), parts.next(), parts.next());
            let spec = credential(user, role, secret)
                .map_err(|reason| layers.invalid("api_tokens", reason))?;
            credentials.push(spec);
        }
    }
    if let Some(path) = layers.get("api_tokens_file") {
        credentials.extend(read_token_file(layers, path)?);
    }
    if let Some(password) = layers.get("resp_password") {
        credentials.push(fixed("default", Role::Write, password));
    }
    if let Some(token) = layers.get("admin_token") {
        credentials.push(fixed("admin", Role::Admin, token));
    }
    check_unique(layers, &credentials)?;
    Ok(AuthSettings {
        credentials,
        open: open_endpoints(layers)?,
        allow_no_auth: bool_flag(layers, "allow_no_auth")?,
    })
}

fn fixed(user: &str, role: Role, secret: &str) -> CredentialSpec {
    CredentialSpec {
        user: user.to_owned(),
        role,
        secret: secret.to_owned(),
    }
}

/// One credential from its three parts; the reason never quotes the secret.
fn credential(
    user: Option<&str>,
    role: Option<&str>,
    secret: Option<&str>,
) -> Result<CredentialSpec, String> {
    let (Some(user), Some(role), Some(secret)) = (user, role, secret) else {
        return Err("each credential is user:role:token (role read, write or admin)".into());
    };
    let valid_user = (1..=64).contains(&user.len())
        && user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.@".contains(&b));
    if !valid_user {
        return Err(format!(
            "user {user:?} must be 1 to 64 letters, digits or -_.@"
        ));
    }
    let role = Role::parse(role)
        .ok_or_else(|| format!("user {user:?}: role {role:?} is not read, write or admin"))?;
    if secret.is_empty() || secret.len() > 1024 || secret.bytes().any(|b| b.is_ascii_whitespace()) {
        return Err(format!(
            "user {user:?}: the token must be 1 to 1024 bytes with no spaces"
        ));
    }
    Ok(CredentialSpec {
        user: user.to_owned(),
        role,
        secret: secret.to_owned(),
    })
}

/// `user role token` per line; blank lines and `#` comments are skipped.
fn read_token_file(layers: &Layers, path: &str) -> Result<Vec<CredentialSpec>, ConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| layers.invalid("api_tokens_file", format!("cannot read it: {e}")))?;
    let mut credentials = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let mut words = line.split_whitespace();
        let spec = match (words.next(), words.next(), words.next(), words.next()) {
            (Some(user), Some(role), Some(secret), None) => {
                credential(Some(user), Some(role), Some(secret))
            }
            _ => Err("expected three words: user role token".into()),
        }
        .map_err(|reason| {
            layers.invalid("api_tokens_file", format!("line {}: {reason}", number + 1))
        })?;
        credentials.push(spec);
    }
    Ok(credentials)
}

/// A user appears once, and a token belongs to one user (a bearer token must
/// name exactly one identity).
fn check_unique(layers: &Layers, credentials: &[CredentialSpec]) -> Result<(), ConfigError> {
    let mut users = HashSet::new();
    let mut secrets = HashSet::new();
    for c in credentials {
        if !users.insert(c.user.as_str()) {
            return Err(layers.invalid(
                "api_tokens",
                format!(
                    "user {:?} is configured twice (ROOST_RESP_PASSWORD is user \"default\", \
                     ROOST_ADMIN_TOKEN user \"admin\")",
                    c.user
                ),
            ));
        }
        if !secrets.insert(c.secret.as_str()) {
            return Err(layers.invalid(
                "api_tokens",
                format!("user {:?} shares its token with another user", c.user),
            ));
        }
    }
    Ok(())
}

fn open_endpoints(layers: &Layers) -> Result<OpenEndpoints, ConfigError> {
    let mut open = OpenEndpoints {
        probes: false,
        metrics: false,
        openapi: false,
    };
    let list = layers.get("open_endpoints").unwrap_or_default();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match name {
            "probes" => open.probes = true,
            "metrics" => open.metrics = true,
            "openapi" => open.openapi = true,
            "none" => {}
            _ => {
                return Err(layers.invalid(
                    "open_endpoints",
                    format!("{name:?} is not one of probes, metrics, openapi, none"),
                ))
            }
        }
    }
    Ok(open)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::HashMap;
    use std::io::Write;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<AuthSettings, ConfigError> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        auth_settings(&Layers::defaults().with_env(&env))
    }

    #[test]
    fn every_source_folds_into_one_list() {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "# ops\n\nops admin 0ps-t0ken\nbot  read  b0t").unwrap();
        let s = settings(&[
            (
                "ROOST_API_TOKENS",
                "app:write:app-token, grafana:read:gr:with:colons",
            ),
            ("ROOST_API_TOKENS_FILE", file.path().to_str().unwrap()),
            ("ROOST_RESP_PASSWORD", "pw"),
            ("ROOST_ADMIN_TOKEN", "adm"),
        ])
        .unwrap();
        let found: Vec<(&str, Role, &str)> = s
            .credentials
            .iter()
            .map(|c| (c.user.as_str(), c.role, c.secret.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                ("app", Role::Write, "app-token"),
                ("grafana", Role::Read, "gr:with:colons"),
                ("ops", Role::Admin, "0ps-t0ken"),
                ("bot", Role::Read, "b0t"),
                ("default", Role::Write, "pw"),
                ("admin", Role::Admin, "adm"),
            ]
        );
        assert!(
            s.open.probes && s.open.metrics && s.open.openapi,
            "open by default"
        );
        assert!(settings(&[]).unwrap().credentials.is_empty());
    }

    #[test]
    fn bad_credentials_are_named_without_their_secret() {
        for (value, reason) in [
            ("app:write", "user:role:token"),
            ("app:owner:s3cr3t", "not read, write or admin"),
            ("a b:read:s3cr3t", "letters, digits"),
            ("x:read:s3cr3t,y:read:s3cr3t", "shares its token"),
            ("default:read:s3cr3t-2", "configured twice"),
        ] {
            let err = settings(&[("ROOST_API_TOKENS", value), ("ROOST_RESP_PASSWORD", "pw")])
                .unwrap_err()
                .to_string();
            assert!(err.contains(reason), "{value}: {err}");
            assert!(!err.contains("s3cr3t"), "the secret leaked: {err}");
        }
        let mut file = tempfile::NamedTempFile::new().unwrap();
        writeln!(file, "ops admin").unwrap();
        let err = settings(&[("ROOST_API_TOKENS_FILE", file.path().to_str().unwrap())])
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 1: expected three words"), "{err}");
        let err = settings(&[("ROOST_OPEN_ENDPOINTS", "probes,dashboard")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("\"dashboard\" is not one of"), "{err}");
        let s = settings(&[("ROOST_OPEN_ENDPOINTS", "none")]).unwrap();
        assert!(!s.open.probes && !s.open.metrics && !s.open.openapi);
    }
}
