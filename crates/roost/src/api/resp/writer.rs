//! Writing a connection's replies under its limits, as Redis's
//! `client-output-buffer-limit` does, with Roost's own budget beside it.
//!
//! A flush first offers the kernel everything without waiting; a client that
//! reads gets its replies at once and costs no bookkeeping. Only what the
//! kernel would not take ("pending") is measured, every time the writer is
//! about to wait:
//!
//! - past the hard limit, the client must read some of it within
//!   [`OVER_LIMIT_GRACE`] or be disconnected;
//! - pending bytes are held against the global [`OutputBudget`]; when it
//!   cannot take them, the same grace applies — so a client that reads gets
//!   its reply, however large, one that does not is cut within a second, and
//!   no client ever waits for memory a non-reader holds;
//! - above the soft limit for its whole window the client is disconnected
//!   even while it reads (a consumer too slow for what it asks);
//! - a wait with no progress for the write timeout disconnects too, and once
//!   shutdown begins no wait lasts longer than [`SHUTDOWN_STALL`].
//!
//! The connection reads no more input until a flush is done, so a client that
//! does not read stops being served rather than growing the server's memory.

use std::time::Duration;

use futures_util::FutureExt;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::output::Output;
use crate::config::OutputLimits;
use crate::net::{Holding, Stream, SHUTDOWN_STALL};
use crate::telemetry::Disconnect;

/// How long a client whose waiting replies pass the hard limit, or that the
/// budget cannot hold, has to read some of them before it is disconnected.
pub const OVER_LIMIT_GRACE: Duration = Duration::from_secs(1);

/// Why a flush gave up.
#[derive(Debug)]
pub enum WriteError {
    Io(std::io::Error),
    /// A limit closed the connection; the text says how much was pending.
    Limit(Disconnect, String),
}

/// A client's socket with the limits on writing to it.
#[derive(Debug)]
pub struct Wire {
    stream: Stream,
    limits: OutputLimits,
    holding: Holding,
    /// When pending output first went above the soft limit (reset below it).
    soft_since: Option<Instant>,
    /// Since when pending output has been past the hard limit or beyond what
    /// the budget could hold, and which; reset on progress.
    over_limit: Option<(Instant, Disconnect)>,
    shutdown: CancellationToken,
    /// Why a flush from inside a command failed, for the connection to act on.
    failure: Option<WriteError>,
}

impl Wire {
    pub fn new(
        stream: Stream,
        limits: OutputLimits,
        holding: Holding,
        shutdown: CancellationToken,
    ) -> Wire {
        Wire {
            stream,
            limits,
            holding,
            soft_since: None,
            over_limit: None,
            shutdown,
            failure: None,
        }
    }

    /// The socket, to read from.
    pub fn stream(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// Notes why a flush inside a command failed; the connection ends with it.
    pub fn fail(&mut self, error: WriteError) {
        self.failure.get_or_insert(error);
    }

    /// Whether a write has failed: nothing more should run for this client.
    pub fn has_failed(&self) -> bool {
        self.failure.is_some()
    }

    pub fn take_failure(&mut self) -> Option<WriteError> {
        self.failure.take()
    }

    /// Writes all of `out`, or fails when a limit closes the connection.
    pub async fn flush(&mut self, out: &mut Output) -> Result<(), WriteError> {
        let mut stalled_since: Option<Instant> = None;
        while !out.is_empty() {
            let offered = match out.contiguous() {
                Some(bytes) => self.stream.write(bytes).now_or_never(),
                None => self.stream.write_vectored(&out.slices()).now_or_never(),
            };
            if let Some(written) = offered {
                out.advance(written_bytes(written)?);
                stalled_since = None;
                self.over_limit = None;
                continue;
            }
            let now = Instant::now();
            let pending = out.len();
            self.check(pending, now)?;
            let stalled = *stalled_since.get_or_insert(now);
            let (deadline, reason) = self.deadline(stalled, now);
            let waited = {
                let slices = out.slices();
                let (stream, shutdown) = (&mut self.stream, &self.shutdown);
                tokio::select! {
                    written = stream.write_vectored(&slices) => Some(written_bytes(written)?),
                    _ = sleep_until(deadline) => None,
                    _ = shutdown.cancelled(), if !shutdown.is_cancelled() => Some(0),
                }
            };
            match waited {
                Some(0) => {}
                Some(written) => {
                    out.advance(written);
                    stalled_since = None;
                    self.over_limit = None;
                }
                None => return Err(self.cut(reason, out.len())),
            }
        }
        self.soft_since = None;
        self.over_limit = None;
        let _ = self.holding.resize(0);
        Ok(())
    }

    /// The hard limit, the soft limit's window and the budget, for `pending`
    /// bytes the kernel did not take.
    fn check(&mut self, pending: usize, now: Instant) -> Result<(), WriteError> {
        match self.limits.soft {
            Some(soft) if pending > soft.bytes => {
                let since = *self.soft_since.get_or_insert(now);
                if now.duration_since(since) >= soft.window {
                    return Err(self.cut(Disconnect::OutputSoftLimit, pending));
                }
            }
            _ => self.soft_since = None,
        }
        let budgeted = self.holding.resize(pending).is_ok();
        let over = if self.limits.hard.is_some_and(|hard| pending > hard) {
            Some(Disconnect::OutputHardLimit)
        } else if !budgeted {
            Some(Disconnect::OutputBudget)
        } else {
            None
        };
        match over {
            None => self.over_limit = None,
            Some(reason) => {
                let (since, _) = *self.over_limit.get_or_insert((now, reason));
                if now.duration_since(since) >= OVER_LIMIT_GRACE {
                    return Err(self.cut(reason, pending));
                }
            }
        }
        Ok(())
    }

    /// When the wait that starts now must end, and what ends it then.
    fn deadline(&self, stalled: Instant, now: Instant) -> (Option<Instant>, Disconnect) {
        let mut end: Option<(Instant, Disconnect)> = None;
        let mut consider = |at: Instant, why: Disconnect| {
            if end.is_none_or(|(t, _)| at < t) {
                end = Some((at, why));
            }
        };
        if let Some(timeout) = self.limits.write_timeout {
            consider(stalled + timeout, Disconnect::WriteTimeout);
        }
        if let (Some(soft), Some(since)) = (self.limits.soft, self.soft_since) {
            consider(since + soft.window, Disconnect::OutputSoftLimit);
        }
        if let Some((since, reason)) = self.over_limit {
            consider(since + OVER_LIMIT_GRACE, reason);
        }
        if self.shutdown.is_cancelled() {
            consider(now + SHUTDOWN_STALL, Disconnect::WriteTimeout);
        }
        match end {
            Some((at, why)) => (Some(at), why),
            None => (None, Disconnect::WriteTimeout),
        }
    }

    fn cut(&self, reason: Disconnect, pending: usize) -> WriteError {
        let detail = match reason {
            Disconnect::OutputHardLimit => format!(
                "{pending} bytes of replies wait, past the hard limit of {}, and the client \
                 read nothing for {} s",
                self.limits.hard.unwrap_or_default(),
                OVER_LIMIT_GRACE.as_secs()
            ),
            Disconnect::OutputSoftLimit => format!(
                "{pending} bytes of replies waited above the soft limit for {} s",
                self.limits.soft.map_or(0, |s| s.window.as_secs())
            ),
            Disconnect::OutputBudget => format!(
                "{pending} bytes of replies wait, the budget for slow clients is spent, \
                 and the client read nothing for {} s",
                OVER_LIMIT_GRACE.as_secs()
            ),
            _ => format!(
                "{pending} bytes of replies wait and the client read none for {} s",
                self.limits
                    .write_timeout
                    .unwrap_or(Duration::ZERO)
                    .as_secs()
            ),
        };
        WriteError::Limit(reason, detail)
    }
}

fn written_bytes(written: std::io::Result<usize>) -> Result<usize, WriteError> {
    match written {
        Ok(0) => Err(WriteError::Io(std::io::ErrorKind::WriteZero.into())),
        Ok(n) => Ok(n),
        Err(error) => Err(WriteError::Io(error)),
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
