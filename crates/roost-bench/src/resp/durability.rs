//! `roost-bench durability`: do acknowledged writes survive a fault?
//!
//! Each connection writes keys no other write touches (`<prefix><connection>:<seq>`,
//! the value spelled from the key, so a value that belongs to another key is caught),
//! reads back random keys it has seen acknowledged, and remembers every acknowledged
//! write. A request that fails or outlives `timeout` is an error, its write is not
//! counted as acknowledged, and the connection is re-made (a late reply would put the
//! next ones out of step); while the server cannot be reached, each failed connect
//! counts as one failed request (with `rate`, every request due; closed loop, one per
//! `RECONNECT_PAUSE`). When the load ends, every acknowledged key is read
//! back over fresh connections: one that is missing or holds another value is a lost
//! write. Submodule `tally` counts and reports.

pub mod tally;

use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

use super::connection::{error_text, RespConnection};
use super::scan::Reply;
use crate::load::target::TargetError;
use tally::{DurabilityReport, LoadTally, ReadOutcome, VerifyTally};

/// Pause between attempts to reach a server that refused or dropped a connection.
const RECONNECT_PAUSE: Duration = Duration::from_millis(50);
/// GETs pipelined per write during the read-back.
const VERIFY_BATCH: usize = 256;
/// Attempts at one read-back batch before its keys are counted as unverified.
const VERIFY_ATTEMPTS: usize = 5;

/// How a durability run loads the server.
#[derive(Debug, Clone)]
pub struct DurabilityOptions {
    pub connections: usize,
    pub duration: Duration,
    /// Share of requests that read an acknowledged key back (the rest write new keys).
    pub read_share: f64,
    /// Requests per second over all connections; as fast as answered when `None`.
    pub rate: Option<f64>,
    pub value_size: usize,
    /// Key prefix; give each run its own, so earlier runs' keys cannot answer for it.
    pub prefix: String,
    /// Longest wait for one reply before the request counts as failed.
    pub timeout: Duration,
    pub seed: u64,
}

impl Default for DurabilityOptions {
    fn default() -> Self {
        Self {
            connections: 8,
            duration: Duration::from_secs(60),
            read_share: 0.5,
            rate: None,
            value_size: 32,
            prefix: "durable:".into(),
            timeout: Duration::from_secs(2),
            seed: 0x5eed,
        }
    }
}

/// Why a durability run could not run (faults during it are counted, not raised).
#[derive(Debug, thiserror::Error)]
pub enum DurabilityError {
    #[error("connections must be at least 1, the read share within 0..=1 and the rate positive")]
    BadOptions,
    #[error("cannot start: {0}")]
    Connect(TargetError),
    #[error("a durability task failed: {0}")]
    TaskFailed(String),
}

/// Runs the load against `address` (`host:port`), then reads every acknowledged write
/// back.
pub async fn run_durability(
    address: &str,
    options: &DurabilityOptions,
) -> Result<DurabilityReport, DurabilityError> {
    let rate_ok = options
        .rate
        .is_none_or(|rate| rate.is_finite() && rate > 0.0);
    if options.connections == 0 || !(0.0..=1.0).contains(&options.read_share) || !rate_ok {
        return Err(DurabilityError::BadOptions);
    }
    let mut writers = Vec::with_capacity(options.connections);
    for id in 0..options.connections {
        let connection = RespConnection::connect(address)
            .await
            .map_err(DurabilityError::Connect)?;
        writers.push(Writer::new(address, options, id, connection));
    }
    let started = Instant::now();
    let deadline = started + options.duration;
    let tasks: Vec<_> = writers
        .into_iter()
        .map(|writer| tokio::spawn(writer.run(started, deadline)))
        .collect();
    let mut load = LoadTally::default();
    let mut acknowledged = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (tally, keys) = task.await.map_err(task_failed)?;
        load.merge(&tally);
        acknowledged.push(keys);
    }
    let load_time = started.elapsed();
    let verify_started = Instant::now();
    let checks: Vec<_> = acknowledged
        .into_iter()
        .map(|keys| tokio::spawn(verify(address.to_owned(), options.clone(), keys)))
        .collect();
    let mut verified = VerifyTally::default();
    for check in checks {
        verified.merge(&check.await.map_err(task_failed)?);
    }
    Ok(DurabilityReport::new(
        format!("resp://{address}"),
        options,
        load,
        verified,
        load_time,
        verify_started.elapsed(),
    ))
}

fn task_failed(error: tokio::task::JoinError) -> DurabilityError {
    DurabilityError::TaskFailed(error.to_string())
}

/// One connection's keys: `<prefix><connection>:<seq>`, and the value each must hold.
#[derive(Debug, Clone)]
struct KeySpace {
    prefix: String,
    connection: usize,
    value_size: usize,
}

impl KeySpace {
    fn key(&self, seq: u64) -> Vec<u8> {
        format!("{}{}:{seq}", self.prefix, self.connection).into_bytes()
    }

    /// `=<key>` padded with dots to `value_size` (longer when the key does not fit).
    fn value(&self, seq: u64) -> Vec<u8> {
        let mut value = format!("={}{}:{seq}", self.prefix, self.connection).into_bytes();
        if value.len() < self.value_size {
            value.resize(self.value_size, b'.');
        }
        value
    }
}

/// The acknowledged writes of one connection, by their `seq`.
struct Acknowledged {
    keys: KeySpace,
    seqs: Vec<u64>,
}

/// One load connection: writes new keys, reads acknowledged ones back.
struct Writer {
    address: String,
    connection: Option<RespConnection>,
    keys: KeySpace,
    rng: SmallRng,
    read_share: f64,
    interval: Option<Duration>,
    timeout: Duration,
    next_seq: u64,
    tally: LoadTally,
    acknowledged: Vec<u64>,
}

impl Writer {
    fn new(
        address: &str,
        options: &DurabilityOptions,
        id: usize,
        connection: RespConnection,
    ) -> Self {
        let per_connection = options.rate.map(|rate| rate / options.connections as f64);
        Self {
            address: address.to_owned(),
            connection: Some(connection),
            keys: KeySpace {
                prefix: options.prefix.clone(),
                connection: id,
                value_size: options.value_size,
            },
            rng: SmallRng::seed_from_u64(options.seed + id as u64),
            read_share: options.read_share,
            interval: per_connection.map(|rate| Duration::from_secs_f64(1.0 / rate)),
            timeout: options.timeout,
            next_seq: 0,
            tally: LoadTally::default(),
            acknowledged: Vec::new(),
        }
    }

    async fn run(mut self, started: Instant, deadline: Instant) -> (LoadTally, Acknowledged) {
        let mut next_send = started;
        while Instant::now() < deadline {
            let due = match self.interval {
                Some(interval) => {
                    next_send += interval;
                    if next_send >= deadline {
                        break;
                    }
                    tokio::time::sleep_until(next_send.into()).await;
                    next_send
                }
                None => Instant::now(),
            };
            let read = !self.acknowledged.is_empty() && self.rng.random_bool(self.read_share);
            let Some(connection) = self.connection().await else {
                let error = format!("cannot connect to {}", self.address);
                if read {
                    self.tally.record_read(started, ReadOutcome::Failed(error));
                } else {
                    self.tally.record_write(started, Err(error));
                }
                if self.interval.is_none() {
                    let left = deadline.saturating_duration_since(Instant::now());
                    tokio::time::sleep(RECONNECT_PAUSE.min(left)).await;
                }
                continue;
            };
            let answered = if read {
                self.read_one(connection, started).await
            } else {
                self.write_one(connection, started).await
            };
            if answered {
                self.tally.latency.record(started, due);
            }
        }
        let acknowledged = Acknowledged {
            keys: self.keys,
            seqs: self.acknowledged,
        };
        (self.tally, acknowledged)
    }

    /// The open connection, or a new one after a failure (`None` if that fails too).
    async fn connection(&mut self) -> Option<RespConnection> {
        if let Some(connection) = self.connection.take() {
            return Some(connection);
        }
        let connect = RespConnection::connect(&self.address);
        let connection = tokio::time::timeout(self.timeout, connect)
            .await
            .ok()?
            .ok()?;
        self.tally.reconnects += 1;
        Some(connection)
    }

    /// Writes the next key; whether it was acknowledged.
    async fn write_one(&mut self, mut connection: RespConnection, started: Instant) -> bool {
        let seq = self.next_seq;
        self.next_seq += 1;
        let (key, value) = (self.keys.key(seq), self.keys.value(seq));
        let reply = exchange(&mut connection, &[b"SET", &key, &value], self.timeout).await;
        let result = match &reply {
            Ok(SingleReply::Status) => Ok(()),
            Ok(other) => Err(other.describe("SET")),
            Err(error) => Err(error.to_string()),
        };
        let acknowledged = result.is_ok();
        if acknowledged {
            self.acknowledged.push(seq);
        }
        self.keep_unless_broken(connection, &reply);
        self.tally.record_write(started, result);
        acknowledged
    }

    /// Reads an acknowledged key back; whether the read was answered (found or not).
    async fn read_one(&mut self, mut connection: RespConnection, started: Instant) -> bool {
        let seq = self.acknowledged[self.rng.random_range(0..self.acknowledged.len())];
        let key = self.keys.key(seq);
        let reply = exchange(&mut connection, &[b"GET", &key], self.timeout).await;
        let outcome = match &reply {
            Ok(SingleReply::Value(value)) if *value == self.keys.value(seq) => ReadOutcome::Found,
            Ok(SingleReply::Value(_)) => ReadOutcome::Wrong,
            Ok(SingleReply::Null) => ReadOutcome::Missing,
            Ok(other) => ReadOutcome::Failed(other.describe("GET")),
            Err(error) => ReadOutcome::Failed(error.to_string()),
        };
        self.keep_unless_broken(connection, &reply);
        let answered = !matches!(outcome, ReadOutcome::Failed(_));
        self.tally.record_read(started, outcome);
        answered
    }

    /// Keeps the connection for the next request unless its exchange failed in a way
    /// that may leave replies out of step.
    fn keep_unless_broken(
        &mut self,
        connection: RespConnection,
        reply: &Result<SingleReply, TargetError>,
    ) {
        if reply.is_ok() {
            self.connection = Some(connection);
        }
    }
}

/// One reply, read whole (values are small).
#[derive(Debug, Clone, PartialEq, Eq)]
enum SingleReply {
    Status,
    Value(Vec<u8>),
    Null,
    Error(String),
    Other(Reply),
}

impl SingleReply {
    fn describe(&self, command: &str) -> String {
        match self {
            SingleReply::Error(text) => format!("server error: {text}"),
            other => format!("unexpected reply {other:?} to {command}"),
        }
    }
}

/// Sends one command and reads its reply, within `timeout`.
async fn exchange(
    connection: &mut RespConnection,
    command: &[&[u8]],
    timeout: Duration,
) -> Result<SingleReply, TargetError> {
    let round_trip = async {
        connection.queue_command(command);
        connection.send().await?;
        let mut single = SingleReply::Null;
        connection
            .receive(1, |reply, raw, _| single = single_reply(reply, raw))
            .await?;
        Ok(single)
    };
    tokio::time::timeout(timeout, round_trip)
        .await
        .map_err(|_| TargetError::Timeout(timeout.as_millis() as u64))?
}

fn single_reply(reply: Reply, raw: &[u8]) -> SingleReply {
    match reply {
        Reply::Status => SingleReply::Status,
        Reply::Null => SingleReply::Null,
        Reply::Error => SingleReply::Error(error_text(raw)),
        Reply::Bulk => SingleReply::Value(bulk_payload(raw).to_vec()),
        other => SingleReply::Other(other),
    }
}

/// The data of a whole bulk reply's raw bytes (`$3\r\nabc\r\n` → `abc`).
fn bulk_payload(raw: &[u8]) -> &[u8] {
    let start = raw
        .windows(2)
        .position(|pair| pair == b"\r\n")
        .map_or(raw.len(), |at| at + 2);
    let end = raw.len().saturating_sub(2).max(start);
    &raw[start..end]
}

/// Reads every acknowledged key of one connection back, `VERIFY_BATCH` per write.
async fn verify(address: String, options: DurabilityOptions, written: Acknowledged) -> VerifyTally {
    let mut tally = VerifyTally::default();
    let mut connection = None;
    for batch in written.seqs.chunks(VERIFY_BATCH) {
        let mut attempts = 0;
        loop {
            attempts += 1;
            match verify_batch(&address, &mut connection, &written.keys, batch, &options).await {
                Ok(checked) => {
                    tally.merge(&checked);
                    break;
                }
                Err(error) if attempts < VERIFY_ATTEMPTS => {
                    connection = None;
                    tally.note_error(error.to_string());
                    tokio::time::sleep(RECONNECT_PAUSE).await;
                }
                Err(error) => {
                    connection = None;
                    tally.note_error(error.to_string());
                    tally.unverified += batch.len() as u64;
                    break;
                }
            }
        }
    }
    tally
}

async fn verify_batch(
    address: &str,
    connection: &mut Option<RespConnection>,
    keys: &KeySpace,
    seqs: &[u64],
    options: &DurabilityOptions,
) -> Result<VerifyTally, TargetError> {
    let open = match connection.take() {
        Some(open) => open,
        None => RespConnection::connect(address).await?,
    };
    let connection = connection.insert(open);
    for &seq in seqs {
        connection.queue_command(&[b"GET", &keys.key(seq)]);
    }
    let mut tally = VerifyTally::default();
    let mut expected = seqs.iter().map(|&seq| keys.value(seq));
    let round_trip = async {
        connection.send().await?;
        connection
            .receive(seqs.len(), |reply, raw, _| {
                let value = expected.next().unwrap_or_default();
                match single_reply(reply, raw) {
                    SingleReply::Value(found) => {
                        tally.checked += 1;
                        tally.wrong += u64::from(found != value);
                    }
                    SingleReply::Null => {
                        tally.checked += 1;
                        tally.missing += 1;
                    }
                    other => {
                        tally.unverified += 1;
                        tally.note_error(other.describe("GET"));
                    }
                }
            })
            .await
    };
    tokio::time::timeout(options.timeout * 4, round_trip)
        .await
        .map_err(|_| TargetError::Timeout(options.timeout.as_millis() as u64 * 4))??;
    Ok(tally)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_spell_their_key_and_differ_between_keys() {
        let keys = KeySpace {
            prefix: "run7:".into(),
            connection: 3,
            value_size: 16,
        };
        assert_eq!(keys.key(42), b"run7:3:42");
        assert_eq!(keys.value(42), b"=run7:3:42......");
        assert_ne!(keys.value(4), keys.value(42));
        let long = KeySpace {
            value_size: 2,
            ..keys
        };
        assert_eq!(long.value(1), b"=run7:3:1", "a short size never truncates");
    }

    #[test]
    fn bulk_payload_strips_the_header_and_line_end() {
        assert_eq!(bulk_payload(b"$3\r\nabc\r\n"), b"abc");
        assert_eq!(bulk_payload(b"$0\r\n\r\n"), b"");
        assert_eq!(
            bulk_payload(b"$12\r\na\r\nb\r\ncdefgh\r\n"),
            b"a\r\nb\r\ncdefgh"
        );
    }

    #[test]
    fn replies_read_whole() {
        assert_eq!(
            single_reply(Reply::Bulk, b"$2\r\nok\r\n"),
            SingleReply::Value(b"ok".to_vec())
        );
        assert_eq!(
            single_reply(Reply::Error, b"-ERR node down\r\n").describe("GET"),
            "server error: ERR node down"
        );
        assert_eq!(
            single_reply(Reply::Integer(1), b":1\r\n"),
            SingleReply::Other(Reply::Integer(1))
        );
    }
}
