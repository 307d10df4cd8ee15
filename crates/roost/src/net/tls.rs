//! TLS for every listener, on the listener's own port: the certificate chain
//! and key from `ROOST_TLS_CERT` / `ROOST_TLS_KEY`, and with
//! `ROOST_TLS_CLIENT_CA` a client certificate signed by that CA is required
//! (mutual TLS). [`Tls::reload`] reads the files again (SIGHUP): connections
//! made after it use the new certificate, open ones keep theirs.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use super::Stream;

/// Where the PEM files are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// CA whose client certificates are required; `None` asks for none.
    pub client_ca: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("reading {what} {path}: {reason}")]
    File {
        what: &'static str,
        path: String,
        reason: String,
    },
    #[error("{0}")]
    Config(String),
}

/// The acceptor every listener shares, swapped whole on reload.
pub struct Tls {
    files: TlsFiles,
    acceptor: ArcSwap<TlsAcceptor>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("files", &self.files)
            .finish_non_exhaustive()
    }
}

impl Tls {
    /// Loads and checks the files; a start-up error names the file and why.
    pub fn load(files: &TlsFiles) -> Result<Arc<Tls>, TlsError> {
        let acceptor = acceptor(files)?;
        Ok(Arc::new(Tls {
            files: files.clone(),
            acceptor: ArcSwap::from_pointee(acceptor),
        }))
    }

    /// Reads the files again; on error the running certificate stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let acceptor = acceptor(&self.files)?;
        self.acceptor.store(Arc::new(acceptor));
        Ok(())
    }

    /// The TLS handshake, bounded by `timeout` so a client that opens a socket
    /// and says nothing holds it no longer than a half-sent request would.
    pub async fn accept(&self, tcp: TcpStream, timeout: Duration) -> std::io::Result<Stream> {
        let acceptor = self.acceptor.load_full();
        match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
            Ok(Ok(tls)) => Ok(Stream::Tls(Box::new(tls))),
            Ok(Err(error)) => Err(error),
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "tls handshake timed out",
            )),
        }
    }
}

fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, TlsError> {
    let certs = read_certs(&files.cert, "ROOST_TLS_CERT certificate")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).map_err(|e| TlsError::File {
        what: "ROOST_TLS_KEY private key",
        path: files.key.display().to_string(),
        reason: e.to_string(),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in read_certs(path, "ROOST_TLS_CLIENT_CA certificate")? {
                roots.add(cert).map_err(|e| TlsError::File {
                    what: "ROOST_TLS_CLIENT_CA certificate",
                    path: path.display().to_string(),
                    reason: e.to_string(),
                })?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(roots.into(), provider)
                .build()
                .map_err(|e| TlsError::Config(format!("ROOST_TLS_CLIENT_CA: {e}")))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(certs, key)
        .map_err(|e| TlsError::Config(format!("ROOST_TLS_CERT and ROOST_TLS_KEY: {e}")))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(path: &Path, what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let error = |reason: String| TlsError::File {
        what,
        path: path.display().to_string(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| error(e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| error(e.to_string()))?;
    if certs.is_empty() {
        return Err(error("no PEM certificate in the file".into()));
    }
    Ok(certs)
}
