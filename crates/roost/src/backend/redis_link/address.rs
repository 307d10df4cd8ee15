//! Where one Redis node is: a parsed `redis://` or `rediss://` URL with its
//! credentials and database. Owns parsing and the password-free forms used in
//! logs, errors and node ids; it never opens a connection.

use std::fmt;

use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

const URL_SHAPE: &str = "expected redis://[user:password@]host[:port][/db] or rediss://…";

/// Parsed `redis://[user:password@]host:port[/db]` or `rediss://…` (TLS).
#[derive(Clone)]
pub struct NodeAddress {
    info: ConnectionInfo,
}

impl NodeAddress {
    /// Parses a node URL; the error says what is wrong without repeating the
    /// URL (it may hold a password).
    pub fn parse(url: &str) -> Result<NodeAddress, String> {
        let url = url.trim();
        let Some((scheme, _)) = url.split_once("://") else {
            return Err(format!("no scheme in redis url: {URL_SHAPE}"));
        };
        if scheme != "redis" && scheme != "rediss" {
            return Err(format!("unsupported scheme {scheme:?}: {URL_SHAPE}"));
        }
        let info = url
            .into_connection_info()
            .map_err(|err| format!("invalid redis url ({}): {URL_SHAPE}", describe(&err)))?;
        if let ConnectionAddr::TcpTls { insecure: true, .. } = info.addr() {
            return Err(
                "rediss://…#insecure is not supported: certificates are always verified"
                    .to_string(),
            );
        }
        if info.redis_settings().db() < 0 {
            return Err("the database number must not be negative".to_string());
        }
        Ok(NodeAddress { info })
    }

    /// The URL with the password replaced by `***` (and nothing else that was
    /// not understood), fit for logs and the topology API.
    pub fn redacted(&self) -> String {
        let settings = self.info.redis_settings();
        let scheme = if self.is_tls() { "rediss" } else { "redis" };
        let credentials = match (settings.username(), settings.password()) {
            (Some(user), Some(_)) => format!("{user}:***@"),
            (None, Some(_)) => ":***@".to_string(),
            (Some(user), None) => format!("{user}@"),
            (None, None) => String::new(),
        };
        let db = match settings.db() {
            0 => String::new(),
            db => format!("/{db}"),
        };
        format!("{scheme}://{credentials}{}{db}", self.host_port())
    }

    /// `host:port` (IPv6 hosts in brackets), the default node id.
    pub fn host_port(&self) -> String {
        let (host, port) = self.host_and_port();
        if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        }
    }

    /// Whether the connection is made over TLS (`rediss://`).
    pub fn is_tls(&self) -> bool {
        matches!(self.info.addr(), ConnectionAddr::TcpTls { .. })
    }

    /// The database selected after connecting (`/db` in the URL, 0 without).
    pub fn db(&self) -> i64 {
        self.info.redis_settings().db()
    }

    /// What redis-rs needs to connect, credentials included.
    pub(crate) fn connection_info(&self) -> &ConnectionInfo {
        &self.info
    }

    /// The same credentials, database and TLS settings at another `host:port`
    /// (a Redis Cluster master named by `CLUSTER SLOTS`).
    pub(crate) fn at(&self, host: &str, port: u16) -> NodeAddress {
        let addr = match self.info.addr() {
            ConnectionAddr::TcpTls {
                insecure,
                tls_params,
                ..
            } => ConnectionAddr::TcpTls {
                host: host.to_string(),
                port,
                insecure: *insecure,
                tls_params: tls_params.clone(),
            },
            _ => ConnectionAddr::Tcp(host.to_string(), port),
        };
        NodeAddress {
            info: self.info.clone().set_addr(addr),
        }
    }

    /// What a RESP3 connection (`HELLO 3`) to this node needs: the near
    /// cache's tracked connections receive invalidations as push messages.
    pub(crate) fn resp3_connection_info(&self) -> ConnectionInfo {
        let settings = self
            .info
            .redis_settings()
            .clone()
            .set_protocol(redis::ProtocolVersion::RESP3);
        self.info.clone().set_redis_settings(settings)
    }

    /// This address for RESP3 connections (`HELLO 3`): a RESP3 client's
    /// forwarded commands get Redis's RESP3 replies (maps, sets, doubles).
    pub(crate) fn resp3(&self) -> NodeAddress {
        NodeAddress {
            info: self.resp3_connection_info(),
        }
    }

    fn host_and_port(&self) -> (&str, u16) {
        match self.info.addr() {
            ConnectionAddr::Tcp(host, port) => (host, *port),
            ConnectionAddr::TcpTls { host, port, .. } => (host, *port),
            // parse() only accepts redis:// and rediss://, which are TCP.
            _ => ("unknown", 0),
        }
    }
}

impl fmt::Debug for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl fmt::Display for NodeAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl PartialEq for NodeAddress {
    fn eq(&self, other: &Self) -> bool {
        let (mine, theirs) = (self.info.redis_settings(), other.info.redis_settings());
        self.redacted() == other.redacted() && mine.password() == theirs.password()
    }
}

impl Eq for NodeAddress {}

/// redis-rs's parse error in lower case, without the URL.
fn describe(err: &redis::RedisError) -> String {
    // redis-rs shows a config error as "<description> - <Kind>[: <detail>]".
    let text = match err.detail() {
        Some(detail) => detail.to_string(),
        None => {
            let full = err.to_string();
            full.split(" - ").next().unwrap_or_default().to_string()
        }
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plain_url_gives_host_port_and_db_zero() {
        let address = NodeAddress::parse("redis://127.0.0.1:7001").unwrap();
        assert_eq!(address.host_port(), "127.0.0.1:7001");
        assert_eq!(address.redacted(), "redis://127.0.0.1:7001");
        assert_eq!(address.db(), 0);
        assert!(!address.is_tls());
    }

    #[test]
    fn missing_port_defaults_to_6379() {
        let address = NodeAddress::parse("redis://cache.internal").unwrap();
        assert_eq!(address.host_port(), "cache.internal:6379");
    }

    #[test]
    fn password_is_hidden_everywhere_but_the_connection_info() {
        let address = NodeAddress::parse("redis://app:s3cret@10.0.0.5:6380/3").unwrap();
        assert_eq!(address.redacted(), "redis://app:***@10.0.0.5:6380/3");
        assert_eq!(format!("{address:?}"), "redis://app:***@10.0.0.5:6380/3");
        assert!(!address.to_string().contains("s3cret"));
        let settings = address.connection_info().redis_settings();
        assert_eq!(settings.username(), Some("app"));
        assert_eq!(settings.password(), Some("s3cret"));
        assert_eq!(address.db(), 3);
    }

    #[test]
    fn password_without_user_is_hidden() {
        let address = NodeAddress::parse("redis://:hunter2@127.0.0.1:7002").unwrap();
        assert_eq!(address.redacted(), "redis://:***@127.0.0.1:7002");
    }

    #[test]
    fn rediss_means_tls() {
        let address = NodeAddress::parse("rediss://user:pw@cache.example.com:6380").unwrap();
        assert!(address.is_tls());
        assert_eq!(
            address.redacted(),
            "rediss://user:***@cache.example.com:6380"
        );
        assert!(matches!(
            address.connection_info().addr(),
            ConnectionAddr::TcpTls {
                insecure: false,
                ..
            }
        ));
    }

    #[test]
    fn ipv6_host_is_bracketed() {
        let address = NodeAddress::parse("redis://[::1]:7003").unwrap();
        assert_eq!(address.host_port(), "[::1]:7003");
    }

    #[test]
    fn bad_urls_say_what_is_wrong_without_the_password() {
        let no_scheme = NodeAddress::parse("127.0.0.1:6379").unwrap_err();
        assert!(no_scheme.contains("no scheme"), "{no_scheme}");
        let wrong_scheme = NodeAddress::parse("http://127.0.0.1:6379").unwrap_err();
        assert!(wrong_scheme.contains("\"http\""), "{wrong_scheme}");
        let bad_db = NodeAddress::parse("redis://u:topsecret@127.0.0.1:6379/x").unwrap_err();
        assert!(bad_db.contains("database"), "{bad_db}");
        assert!(!bad_db.contains("topsecret"), "{bad_db}");
        let insecure = NodeAddress::parse("rediss://127.0.0.1:6379#insecure").unwrap_err();
        assert!(insecure.contains("insecure"), "{insecure}");
    }

    #[test]
    fn equality_includes_the_password() {
        let a = NodeAddress::parse("redis://:one@h:1").unwrap();
        let b = NodeAddress::parse("redis://:two@h:1").unwrap();
        assert_ne!(a, b);
        assert_eq!(a, NodeAddress::parse("redis://:one@h:1").unwrap());
    }
}
