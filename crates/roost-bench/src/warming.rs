//! `roost-bench warming`: the workloads that show what cache warming buys, each run
//! the same way against a server with `ROOST_WARMING=off` and `=on` (bench/warming.sh
//! does both in one run and compares).
//!
//! - `scenario`: which keys a visit reads (refresh, sessions, uniform).
//! - `reads`: the open-loop driver of those visits over RESP, warm-up then a measured
//!   window, with the origin's and Roost's counters read at both ends.
//! - `tally`: per class of reads, how many waited on the origin, and latency.
//! - `probe`: the HTTP side — the origin's `/__stats`, `/api/cache/warming`, and
//!   `roost_origin_requests_total{reason}` from `/metrics`; each optional.
//! - `report`: the scenario's JSON report and its text rendering.
//! - `curve`: the restart curve — cache-aside Zipf traffic whose hit ratio is printed
//!   every second as a JSON line, reconnecting across a server restart, with the hit
//!   ratio right after each restart against the steady one before it.
//!
//! This module talks to servers over the wire only; it never starts or stops one
//! (the script does, so it can SIGTERM or kill -9 it mid-run).

pub mod curve;
pub mod probe;
pub mod reads;
pub mod report;
pub mod scenario;
pub mod tally;

use std::time::Duration;

use roost_resp::Frame;

use crate::resp::connection::RespConnection;

/// Between two attempts to connect to a server that is not (yet) listening.
pub const RECONNECT_PAUSE: Duration = Duration::from_millis(20);

/// What one GET got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetOutcome {
    Value,
    Nil,
    /// An error reply, a timeout or a broken connection (which is then dropped, to be
    /// reconnected by the next call).
    Failed(String),
}

/// `GET key` on `connection`, connecting to `address` first when there is none. A
/// failed connect pauses `RECONNECT_PAUSE` so a server that is down is not spun on.
pub async fn get(
    connection: &mut Option<RespConnection>,
    address: &str,
    key: &str,
    timeout: Duration,
) -> GetOutcome {
    match command(connection, address, &[b"GET", key.as_bytes()], timeout).await {
        Ok(Frame::Bulk(_)) => GetOutcome::Value,
        Ok(Frame::Null) => GetOutcome::Nil,
        Ok(Frame::Error(text)) => GetOutcome::Failed(String::from_utf8_lossy(&text).into_owned()),
        Ok(other) => GetOutcome::Failed(format!("unexpected reply {other:?}")),
        Err(error) => GetOutcome::Failed(error),
    }
}

/// Sends one command, (re)connecting first when needed; a transport error or a
/// timeout drops the connection.
pub async fn command(
    connection: &mut Option<RespConnection>,
    address: &str,
    args: &[&[u8]],
    timeout: Duration,
) -> Result<Frame, String> {
    if connection.is_none() {
        match tokio::time::timeout(timeout, RespConnection::connect(address)).await {
            Ok(Ok(connected)) => *connection = Some(connected),
            Ok(Err(error)) => {
                tokio::time::sleep(RECONNECT_PAUSE).await;
                return Err(error.to_string());
            }
            Err(_) => return Err(format!("connect timed out after {timeout:?}")),
        }
    }
    let Some(open) = connection.as_mut() else {
        return Err("not connected".into());
    };
    match tokio::time::timeout(timeout, open.command(args)).await {
        Ok(Ok(frame)) => Ok(frame),
        Ok(Err(error)) => {
            *connection = None;
            Err(error.to_string())
        }
        Err(_) => {
            *connection = None;
            Err(format!("timed out after {timeout:?}"))
        }
    }
}
