//! Accepting connections without going dark: a listener that runs out of file
//! descriptors backs off and tries again instead of spinning or dying, and
//! says so in the log at most once per interval. [`raise_fd_limit`] gives the
//! process every descriptor its hard limit allows before anything listens.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::telemetry::Throttled;

const FIRST_BACKOFF: Duration = Duration::from_millis(5);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// The next connection on `listener`. Errors that belong to one connection
/// (reset before it was accepted) are skipped; running out of descriptors or
/// memory pauses this listener, doubling the pause while it lasts, so the
/// connections that are open can finish and free theirs.
pub async fn accept(listener: &TcpListener, door: &'static str) -> (TcpStream, SocketAddr) {
    static EXHAUSTED: Throttled = Throttled::new(Duration::from_secs(10));
    let mut backoff = FIRST_BACKOFF;
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(error) if is_per_connection(&error) => continue,
            Err(error) => {
                if let Some(suppressed) = EXHAUSTED.allow() {
                    tracing::warn!(
                        door,
                        %error,
                        suppressed,
                        pause_ms = backoff.as_millis() as u64,
                        "accept failed (out of file descriptors?); pausing this listener"
                    );
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn is_per_connection(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
            | io::ErrorKind::Interrupted
    )
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the limit now in
/// force (the old one when raising failed, which is logged).
pub fn raise_fd_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            let current = rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(0, |(soft, _)| soft);
            tracing::warn!(%error, limit = current, "could not raise the open-file limit");
            current
        }
    }
}
