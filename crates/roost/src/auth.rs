//! Who may do what, the same for every door. A credential is a user name, a
//! role and a secret; REST and the dashboard present the secret as a bearer
//! token (or the dashboard's session cookie), RESP as `AUTH [user] secret`.
//! When no credential is configured every door is open, as before; when any
//! is, no door serves data without one.
//!
//! Secrets are kept only as SHA-256 digests and compared digest to digest in
//! constant time against every credential, so neither the time taken nor the
//! comparison reveals a secret's length or which user it nearly matched.

use std::fmt;
use std::sync::Arc;

use ring::digest::{digest, SHA256};
use subtle::ConstantTimeEq;

/// What a credential may do; each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads of values and keys, stats, the dashboard and its live stream.
    Read,
    /// Reads, and every write and delete of entries.
    Write,
    /// Everything: flushes and topology changes too.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Write => "write",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "read" => Some(Role::Read),
            "write" => Some(Role::Write),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A configured credential with its secret in clear, as configuration reads it.
#[derive(Clone, PartialEq, Eq)]
pub struct CredentialSpec {
    pub user: String,
    pub role: Role,
    pub secret: String,
}

impl fmt::Debug for CredentialSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialSpec")
            .field("user", &self.user)
            .field("role", &self.role)
            .field("secret", &"(hidden)")
            .finish()
    }
}

/// Who a request or connection is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user: Arc<str>,
    pub role: Role,
}

impl Identity {
    /// Everyone, when authentication is off.
    pub fn anonymous() -> Identity {
        Identity {
            user: Arc::from("default"),
            role: Role::Admin,
        }
    }
}

#[derive(Debug)]
struct Credential {
    identity: Identity,
    digest: [u8; 32],
}

/// The configured credentials.
#[derive(Debug, Default)]
pub struct Auth {
    credentials: Vec<Credential>,
}

impl Auth {
    pub fn new(specs: &[CredentialSpec]) -> Auth {
        let credentials = specs
            .iter()
            .map(|spec| Credential {
                identity: Identity {
                    user: Arc::from(spec.user.as_str()),
                    role: spec.role,
                },
                digest: sha256(spec.secret.as_bytes()),
            })
            .collect();
        Auth { credentials }
    }

    /// Whether any credential is configured (and so every door needs one).
    pub fn is_enabled(&self) -> bool {
        !self.credentials.is_empty()
    }

    /// The identity whose secret this is (a bearer token, one-argument AUTH).
    pub fn by_secret(&self, secret: &[u8]) -> Option<Identity> {
        self.find(|_| true, secret)
    }

    /// The identity of `user` if `secret` is theirs (`AUTH user secret`).
    pub fn by_user(&self, user: &[u8], secret: &[u8]) -> Option<Identity> {
        self.find(|c| c.identity.user.as_bytes() == user, secret)
    }

    /// Compares against every credential, whatever matches first, so the time
    /// taken does not say which one matched or how many there are before it.
    fn find(&self, candidate: impl Fn(&Credential) -> bool, secret: &[u8]) -> Option<Identity> {
        let given = sha256(secret);
        let mut found = None;
        for credential in &self.credentials {
            let equal = bool::from(credential.digest.ct_eq(&given));
            if equal && candidate(credential) && found.is_none() {
                found = Some(credential.identity.clone());
            }
        }
        found
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, bytes).as_ref());
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(user: &str, role: Role, secret: &str) -> CredentialSpec {
        CredentialSpec {
            user: user.into(),
            role,
            secret: secret.into(),
        }
    }

    #[test]
    fn secrets_find_their_user_and_role_and_nothing_else() {
        let auth = Auth::new(&[
            spec("grafana", Role::Read, "r-secret"),
            spec("app", Role::Write, "w-secret"),
        ]);
        assert!(auth.is_enabled());
        assert_eq!(auth.by_secret(b"w-secret").unwrap().role, Role::Write);
        assert_eq!(&*auth.by_secret(b"r-secret").unwrap().user, "grafana");
        assert_eq!(auth.by_secret(b"w-secre"), None);
        assert_eq!(auth.by_secret(b""), None);
        assert_eq!(auth.by_user(b"app", b"w-secret").unwrap().role, Role::Write);
        assert_eq!(
            auth.by_user(b"grafana", b"w-secret"),
            None,
            "another user's secret"
        );
        assert!(!Auth::new(&[]).is_enabled());
    }

    #[test]
    fn roles_include_the_ones_below() {
        assert!(Role::Admin.allows(Role::Write) && Role::Write.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Write) && !Role::Write.allows(Role::Admin));
        let shown = format!("{:?}", spec("u", Role::Read, "hunter2"));
        assert!(!shown.contains("hunter2"), "{shown}");
    }
}
