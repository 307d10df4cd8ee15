//! Group commit: the one thread that writes the log. Appenders queue their
//! records on a bounded channel (a full queue makes `append` wait: that is
//! the backpressure); the writer takes everything queued (up to a byte cap),
//! writes it with one `write`, fsyncs once, publishes the new durable extent,
//! and only then answers every appender of the batch. Under load one fsync
//! serves many appends; alone, an append costs one write and one fsync.
//!
//! Prepared space: the writer keeps the active segment's file zero-filled
//! up to the next [`PREPARE_BYTES`] boundary past its records, and writes
//! each batch into those zeros. A commit that only overwrites blocks the
//! file already has changes no file metadata, so on ext4 its `fdatasync`
//! flushes the data alone instead of also committing the journal for the
//! new size and blocks: 113 µs instead of 190 µs on this project's test
//! machine (`bench/log-fsync.py`, docs/benchmarks.md). One commit in every
//! megabyte pays for the next megabyte. The zeros are not records: recovery
//! ends a segment's records where nothing but zeros follows
//! (`segment::scan`), and a segment is cut back to its records when it is
//! closed and when the log is dropped.
//!
//! A std thread rather than a task: it blocks on the disk by design, it is
//! owned by the `ChangeLog` (joined when the log is dropped), and it must not
//! take a runtime worker or a blocking-pool slot for the process's lifetime.
//!
//! Failures: a failed write is undone (the segment cut back to its durable
//! end) and that batch's appenders get the error; the next batch tries
//! again. A failed fsync is final — after it the kernel may have dropped the
//! dirty pages and reported the error once, so nothing later could be
//! trusted — and every later append fails, naming the first error, until the
//! process restarts and recovery reads what the disk really holds.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use roost_store::Clock;
use tokio::sync::{mpsc, oneshot};

use super::frame::{self, Header, HEADER_BYTES, MAX_PAYLOAD_BYTES};
use super::segment::{self, Segment};
use super::{LogError, Seq, Shared, State};

/// A batch takes queued appends until it holds this many bytes.
const MAX_BATCH_BYTES: usize = 8 << 20;

/// The writer zero-fills the active segment up to the next multiple of this
/// many bytes past its records (see the module's docs).
pub const PREPARE_BYTES: u64 = 1 << 20;

/// One `append` call: its records, and where its answer goes.
#[derive(Debug)]
pub struct Request {
    pub records: Vec<(u64, Bytes)>,
    pub done: oneshot::Sender<Result<Seq, LogError>>,
}

impl Request {
    fn bytes(&self) -> usize {
        self.records
            .iter()
            .map(|(_, payload)| HEADER_BYTES + payload.len())
            .sum()
    }
}

#[derive(Debug)]
pub struct Writer {
    pub shared: Arc<Shared>,
    pub requests: mpsc::Receiver<Request>,
    pub clock: Arc<dyn Clock>,
    /// The active segment (written at offsets; its position is not used).
    pub file: File,
    /// Bytes of the active segment's file that are written, records or
    /// prepared zeros: a commit within them changes no file metadata.
    pub prepared: u64,
    pub path: PathBuf,
    /// A segment this large is closed before the next batch.
    pub segment_bytes: u64,
    /// The fsync failure that stopped the log, if one did.
    pub failed: Option<String>,
}

impl Writer {
    /// Commits batches until every sender is gone (the log was dropped).
    pub fn run(mut self) {
        let mut buf = Vec::new();
        while let Some(first) = self.requests.blocking_recv() {
            let mut bytes = first.bytes();
            let mut batch = vec![first];
            while bytes < MAX_BATCH_BYTES {
                let Ok(next) = self.requests.try_recv() else {
                    break;
                };
                bytes += next.bytes();
                batch.push(next);
            }
            self.commit(batch, &mut buf);
            if buf.capacity() > 2 * MAX_BATCH_BYTES {
                buf = Vec::new();
            }
        }
        // Every appender is gone: leave the active segment as long as its
        // records, so a clean stop leaves no prepared zeros behind.
        if let Err(e) = self.cut_to_records() {
            tracing::warn!(path = %self.path.display(), error = %e, "change log: the prepared space past the last record could not be cut at close; the next open ends the records at it all the same");
        }
    }

    fn commit(&mut self, batch: Vec<Request>, buf: &mut Vec<u8>) {
        let batch = self.refuse_oversized(batch);
        if batch.is_empty() {
            return;
        }
        if let Some(why) = &self.failed {
            let why = format!("the change log stopped after an earlier failure: {why}");
            return self.fail(batch, io::ErrorKind::Other, &why);
        }
        if let Err(e) = self.roll_if_full() {
            return self.fail(batch, e.kind(), &format!("starting a new segment: {e}"));
        }
        let start = self.shared.state.lock().active_len();
        let append_ms = self.clock.now_millis();
        buf.clear();
        let mut headers = Vec::new();
        for request in &batch {
            for (version, payload) in &request.records {
                let offset = start + buf.len() as u64;
                let header = frame::encode(buf, *version, append_ms, payload);
                headers.push((offset, header));
            }
        }
        let records_len = buf.len();
        let end = start + records_len as u64;
        if end > self.prepared {
            // This commit writes the zeros of the next stretch with its records.
            let padded = end.next_multiple_of(PREPARE_BYTES);
            buf.resize(records_len + (padded - end) as usize, 0);
        }
        let mut written = self.file.write_all_at(buf, start);
        if written.is_err() && buf.len() > records_len {
            // No room for the zeros (a full disk) need not refuse the
            // records: try them alone, as an unprepared append.
            self.undo(start);
            buf.truncate(records_len);
            written = self.file.write_all_at(buf, start);
        }
        if let Err(e) = written {
            self.undo(start);
            return self.fail(batch, e.kind(), &format!("write: {e}"));
        }
        self.prepared = self.prepared.max(start + buf.len() as u64);
        if let Err(e) = self.file.sync_data() {
            let why = format!("fsync: {e}");
            self.failed = Some(why.clone());
            tracing::error!(path = %self.path.display(), error = %e, "change log: fsync failed; every later append fails until a restart");
            return self.fail(batch, e.kind(), &why);
        }
        let last = self.publish(&headers, &batch);
        answer(batch, last);
    }

    /// Answers (with an error) the requests with a record too large to
    /// frame, and keeps the others.
    fn refuse_oversized(&self, batch: Vec<Request>) -> Vec<Request> {
        let (fits, oversized): (Vec<_>, Vec<_>) = batch.into_iter().partition(|request| {
            request
                .records
                .iter()
                .all(|(_, payload)| payload.len() <= MAX_PAYLOAD_BYTES)
        });
        let why =
            format!("a record is larger than the {MAX_PAYLOAD_BYTES} bytes a record can hold");
        self.fail(oversized, io::ErrorKind::InvalidInput, &why);
        fits
    }

    /// Closes a full active segment (cut back to its records, durably) and
    /// starts the next one.
    fn roll_if_full(&mut self) -> io::Result<()> {
        let (count, len, next) = {
            let state = self.shared.state.lock();
            (state.active_count(), state.active_len(), state.next_seq())
        };
        if count == 0 || len < self.segment_bytes {
            return Ok(());
        }
        self.cut_to_records()?;
        let (file, path) = segment::create(&self.shared.dir, next)?;
        self.file = file;
        self.path = path;
        self.prepared = 0;
        let mut state = self.shared.state.lock();
        state.segments.push(Segment::empty(&self.shared.dir, next));
        Ok(())
    }

    /// Cuts the active segment's prepared zeros off, durably. A failed
    /// fsync here is final, as after a commit.
    fn cut_to_records(&mut self) -> io::Result<()> {
        let len = self.shared.state.lock().active_len();
        if self.prepared > len {
            self.file.set_len(len)?;
            if let Err(e) = self.file.sync_all() {
                let why = format!("fsync after cutting the prepared zeros: {e}");
                tracing::error!(path = %self.path.display(), error = %e, "change log: {why}; every later append fails until a restart");
                self.failed = Some(why);
                return Err(e);
            }
            self.prepared = len;
        }
        Ok(())
    }

    /// Cuts what a failed write left past the durable end `len` (the
    /// prepared zeros with it: they are written again by the next commit).
    fn undo(&mut self, len: u64) {
        let undone = self.file.set_len(len);
        self.prepared = len;
        if let Err(e) = undone {
            let why = format!("a failed write could not be undone: {e}");
            tracing::error!(path = %self.path.display(), error = %e, "change log: {why}; every later append fails until a restart");
            self.failed = Some(why);
        }
    }

    /// Counts the batch's records as durable (in the active segment and the
    /// in-memory tail) and wakes the readers; answers the last Seq.
    fn publish(&self, headers: &[(u64, Header)], batch: &[Request]) -> Seq {
        let payloads: Vec<&Bytes> = batch
            .iter()
            .flat_map(|request| &request.records)
            .map(|(_, payload)| payload)
            .collect();
        let last = {
            let mut state = self.shared.state.lock();
            let State { segments, tail, .. } = &mut *state;
            if let Some(active) = segments.last_mut() {
                let first = active.next_seq();
                for (offset, header) in headers {
                    active.push(*offset, header);
                }
                tail.extend(first, &payloads);
            }
            state.appended += headers.len() as u64;
            state.commits += 1;
            state.last()
        };
        self.shared.durable.send_replace(last);
        last
    }

    fn fail(&self, batch: Vec<Request>, kind: io::ErrorKind, why: &str) {
        for request in batch {
            let error = LogError::Io {
                path: self.path.display().to_string(),
                source: io::Error::new(kind, why.to_owned()),
            };
            // The appender may have given up waiting; nothing to tell then.
            let _ = request.done.send(Err(error));
        }
    }
}

/// Answers each request of a durable batch its own last Seq: the batch's
/// records took the Seqs up to `last`, in request order.
fn answer(batch: Vec<Request>, last: Seq) {
    let total: u64 = batch
        .iter()
        .map(|request| request.records.len() as u64)
        .sum();
    let mut seq = last.saturating_sub(total);
    for request in batch {
        seq += request.records.len() as u64;
        let _ = request.done.send(Ok(seq));
    }
}
