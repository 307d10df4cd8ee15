//! `roost-bench trace --target …`: replays a trace against a live server — GET each
//! key, and on a miss SET it with a 1-byte value — and puts the hit ratio the server
//! scored beside exact LRU and Bélády at the sizes asked for.
//!
//! A live server has one capacity, the one it was started with; this module cannot
//! know it. The report prints, for each `--size`, the `ROOST_MAX_MEMORY` at which
//! Roost's store accounting holds that many of these entries, so the user can start
//! Roost (or redis with `--maxmemory`) to match; comparing at other sizes is
//! meaningless. Keys are `<prefix><16 hex digits>`; `--flush` empties a RESP server
//! (FLUSHALL) before each trace so earlier runs cannot lend it hits.
//!
//! Over RESP, `window` > 1 pipelines: up to `window` GETs of *distinct* keys go out
//! together, then the SETs for their misses. Within a window a later GET can thus see
//! the cache before an earlier miss's SET evicted something — a small deviation from
//! strict one-at-a-time replay, which `window` = 1 (the default) avoids.

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use roost_resp::Frame;
use serde::Serialize;

use super::catalog::TraceSpec;
use super::{belady, lru, LoadedTrace, TraceError};
use crate::endpoint::Endpoint;
use crate::load::http::{HttpFlavor, HttpTarget};
use crate::load::target::{Outcome, Target, TargetError};
use crate::load::workload::Operation;
use crate::resp::connection::{error_text, RespConnection};
use crate::resp::scan::Reply;

/// The value every missed key is set to.
const VALUE: &[u8] = b"1";

/// How to replay against a live server.
#[derive(Debug, Clone)]
pub struct LiveOptions {
    pub endpoint: Endpoint,
    pub flavor: HttpFlavor,
    pub window: usize,
    pub prefix: String,
    pub flush: bool,
}

/// Why a live replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum LiveError {
    #[error(transparent)]
    Target(#[from] TargetError),
    #[error("--flush needs a resp:// target")]
    FlushNeedsResp,
    #[error("--window must be at least 1")]
    EmptyWindow,
}

/// One trace at one size: the live server's hit ratio beside LRU and OPT.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LiveRow {
    pub trace: &'static str,
    pub requests: usize,
    pub live_percent: f64,
    pub size: usize,
    pub lru_percent: f64,
    pub opt_percent: f64,
    /// `ROOST_MAX_MEMORY` that holds `size` of these entries in Roost's accounting.
    pub roost_max_memory_bytes: u64,
}

impl LiveOptions {
    /// `<prefix><16 hex digits>`, the key a trace key is replayed as.
    pub fn key(&self, key: u64) -> String {
        format!("{}{key:016x}", self.prefix)
    }

    /// Bytes Roost charges per replayed entry (key, 1-byte value, overhead).
    pub fn roost_entry_bytes(&self) -> u64 {
        roost_store::entry_weight(self.prefix.len() + 16, VALUE.len())
    }
}

/// Replays each trace against the live server, then scores LRU and OPT at `sizes`
/// (each trace's catalog sizes when empty); `on_row` sees each row as it is made.
pub async fn run_live(
    traces_dir: &Path,
    traces: &[&'static TraceSpec],
    sizes: &[usize],
    options: &LiveOptions,
    show_progress: bool,
    mut on_row: impl FnMut(&LiveRow),
) -> Result<Vec<LiveRow>, TraceError> {
    let mut rows = Vec::new();
    for spec in traces {
        let trace = LoadedTrace::load(traces_dir, spec)?;
        let bar = if show_progress {
            ProgressBar::new(trace.keys.len() as u64)
        } else {
            ProgressBar::hidden()
        };
        bar.set_style(
            ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec})")
                .expect("invariant: constant progress template is valid")
                .progress_chars("=> "),
        );
        bar.set_message(spec.name);
        let hits = replay_live(&trace.keys, options, &bar).await?;
        bar.finish_and_clear();
        let sizes = if sizes.is_empty() { spec.sizes } else { sizes };
        for &size in sizes {
            let row = LiveRow {
                trace: spec.name,
                requests: trace.keys.len(),
                live_percent: trace.percent(hits),
                size,
                lru_percent: trace.percent(lru::lru_hits(&trace.ids, trace.unique, size)),
                opt_percent: trace.percent(belady::belady_hits(&trace.ids, trace.unique, size)),
                roost_max_memory_bytes: size as u64 * options.roost_entry_bytes(),
            };
            on_row(&row);
            rows.push(row);
        }
    }
    Ok(rows)
}

/// Replays `keys` in order against the live server; returns the hits it scored.
pub async fn replay_live(
    keys: &[u64],
    options: &LiveOptions,
    bar: &ProgressBar,
) -> Result<u64, LiveError> {
    if options.window == 0 {
        return Err(LiveError::EmptyWindow);
    }
    match &options.endpoint {
        Endpoint::Resp(address) => {
            let mut connection = RespConnection::connect(address).await?;
            if options.flush {
                expect_ok(connection.command(&[b"FLUSHALL"]).await?)?;
            }
            let mut hits = 0;
            for window in distinct_windows(keys, options.window) {
                hits += replay_window(&mut connection, window, options).await?;
                bar.inc(window.len() as u64);
            }
            Ok(hits)
        }
        Endpoint::Http(_) if options.flush => Err(LiveError::FlushNeedsResp),
        Endpoint::Http(base) => {
            let target = HttpTarget::with_flavor(base, 1, options.flavor);
            let value: Arc<str> = Arc::from("1");
            let mut hits = 0;
            for &key in keys {
                let key = options.key(key);
                let get = Operation::Get { key: key.clone() };
                if target.execute(&get).await? == (Outcome::Get { hit: true }) {
                    hits += 1;
                } else {
                    let set = Operation::Set {
                        key,
                        value: Arc::clone(&value),
                        ttl_seconds: None,
                    };
                    target.execute(&set).await?;
                }
                bar.inc(1);
            }
            Ok(hits)
        }
    }
}

/// GETs every key of `window` in one write, then SETs the misses in another.
async fn replay_window(
    connection: &mut RespConnection,
    window: &[u64],
    options: &LiveOptions,
) -> Result<u64, LiveError> {
    for &key in window {
        connection.queue_command(&[b"GET", options.key(key).as_bytes()]);
    }
    connection.send().await?;
    let mut missed = Vec::new();
    let mut failure = None;
    let mut index = 0;
    connection
        .receive(window.len(), |reply, raw, _| {
            match reply {
                Reply::Bulk => {}
                Reply::Null => missed.push(window[index]),
                other => failure = Some(unexpected(other, raw, "GET")),
            }
            index += 1;
        })
        .await?;
    if let Some(error) = failure {
        return Err(error.into());
    }
    if !missed.is_empty() {
        for &key in &missed {
            connection.queue_command(&[b"SET", options.key(key).as_bytes(), VALUE]);
        }
        connection.send().await?;
        connection
            .receive(missed.len(), |reply, raw, _| {
                if reply != Reply::Status {
                    failure = Some(unexpected(reply, raw, "SET"));
                }
            })
            .await?;
        if let Some(error) = failure {
            return Err(error.into());
        }
    }
    Ok((window.len() - missed.len()) as u64)
}

fn unexpected(reply: Reply, raw: &[u8], command: &str) -> TargetError {
    match reply {
        Reply::Error => TargetError::Server(error_text(raw)),
        other => TargetError::Protocol(format!("{other:?} to {command}")),
    }
}

/// Splits `keys` into consecutive windows of at most `max` keys with no key twice.
pub fn distinct_windows(keys: &[u64], max: usize) -> Vec<&[u64]> {
    let mut windows = Vec::new();
    let mut seen = HashSet::new();
    let mut start = 0;
    for (index, key) in keys.iter().enumerate() {
        if index - start == max || !seen.insert(*key) {
            windows.push(&keys[start..index]);
            start = index;
            seen.clear();
            seen.insert(*key);
        }
    }
    if start < keys.len() {
        windows.push(&keys[start..]);
    }
    windows
}

fn expect_ok(frame: Frame) -> Result<(), TargetError> {
    match frame {
        Frame::Simple(_) => Ok(()),
        Frame::Error(text) => Err(TargetError::Server(
            String::from_utf8_lossy(&text).into_owned(),
        )),
        other => Err(TargetError::Protocol(format!("{other:?} to FLUSHALL"))),
    }
}

/// The table header for live rows.
pub fn render_header() -> String {
    format!(
        "{:<9} {:>9} {:>7} {:>7} {:>7} {:>7} {:>9}  {}",
        "trace",
        "requests",
        "live%",
        "size",
        "LRU%",
        "OPT%",
        "live/OPT",
        "ROOST_MAX_MEMORY for size"
    )
}

/// One live row, matching `render_header`.
pub fn render_row(row: &LiveRow) -> String {
    let of_opt = super::table::ratio_of_opt(row.live_percent, row.opt_percent);
    format!(
        "{:<9} {:>9} {:>7.2} {:>7} {:>7.2} {:>7.2} {:>9.3}  {}",
        row.trace,
        row.requests,
        row.live_percent,
        row.size,
        row.lru_percent,
        row.opt_percent,
        of_opt,
        row.roost_max_memory_bytes
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_never_repeat_a_key_or_exceed_the_size() {
        let keys = [1, 2, 3, 2, 4, 5, 6, 7, 7];
        let windows = distinct_windows(&keys, 3);
        let expected: Vec<&[u64]> = vec![&[1, 2, 3], &[2, 4, 5], &[6, 7], &[7]];
        assert_eq!(windows, expected);
        assert_eq!(distinct_windows(&keys, 1).len(), keys.len());
        assert!(distinct_windows(&[], 4).is_empty());
    }

    #[test]
    fn keys_are_fixed_width_and_the_entry_size_follows() {
        let options = LiveOptions {
            endpoint: Endpoint::Resp("h:1".into()),
            flavor: HttpFlavor::Roost,
            window: 1,
            prefix: "t:".into(),
            flush: false,
        };
        assert_eq!(options.key(255), "t:00000000000000ff");
        assert_eq!(
            options.roost_entry_bytes(),
            roost_store::entry_weight(18, 1)
        );
    }
}
