//! Reading durable records from a Seq: a plan made under the state lock
//! (which segments, from which indexed offset, up to which durable record),
//! then file reads outside it. Records past the durable extent the plan
//! captured — written but not yet fsynced — are never read, and neither is
//! anything past its durable bytes (the writer's prepared zeros): a read at
//! the tail costs the records it returns, not a buffer's worth of zeros.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::PathBuf;

use bytes::Bytes;

use super::frame::{Header, HEADER_BYTES};
use super::segment;
use super::{LogError, LogRead, Seq, State};

const READ_BUFFER_BYTES: usize = 64 << 10;

/// What a read must do.
#[derive(Debug)]
pub enum Planned {
    /// The answer is known without reading (a gap, or nothing yet).
    Done(LogRead),
    Read {
        from: Seq,
        stretches: Vec<Stretch>,
    },
}

/// Durable records of one segment to go through.
#[derive(Debug)]
pub struct Stretch {
    path: PathBuf,
    /// Where reading starts, and the Seq of the record there.
    offset: u64,
    seq: Seq,
    /// The first Seq past the durable records.
    end: Seq,
    /// The end of the durable records' bytes.
    len: u64,
}

/// Why a planned read did not complete.
#[derive(Debug)]
pub enum ReadFailure {
    /// Retention removed the first segment after the plan: plan again.
    Gone,
    Failed(LogError),
}

/// What a read from `from` must do; records the in-memory tail holds are
/// the answer at once.
pub fn plan(state: &State, from: Seq, max_records: usize, max_bytes: usize) -> Planned {
    let trimmed = state.trimmed;
    if from != 0 && from <= trimmed.through_seq {
        return Planned::Done(LogRead::Gap {
            first: trimmed.through_seq + 1,
            trimmed_through: trimmed.max_version,
        });
    }
    let from = from.max(trimmed.through_seq + 1);
    if from >= state.next_seq() {
        return Planned::Done(LogRead::Records(Vec::new()));
    }
    if let Some(records) = state.tail.read(from, max_records, max_bytes) {
        return Planned::Done(LogRead::Records(records));
    }
    let first = state
        .segments
        .partition_point(|segment| segment.base <= from)
        .saturating_sub(1);
    let stretches = state.segments[first..]
        .iter()
        .filter(|segment| segment.count > 0)
        .map(|segment| {
            let (offset, seq) = segment.seek_point(from.max(segment.base));
            Stretch {
                path: segment.path.clone(),
                offset,
                seq,
                end: segment.next_seq(),
                len: segment.len,
            }
        })
        .collect();
    Planned::Read { from, stretches }
}

/// Up to `max_records` records from `from` on, stopping before the payloads
/// would pass `max_bytes` (but always at least one record if there is one).
pub fn read(
    stretches: &[Stretch],
    from: Seq,
    max_records: usize,
    max_bytes: usize,
) -> Result<Vec<(Seq, Bytes)>, ReadFailure> {
    let mut out = Vec::new();
    let mut bytes = 0;
    for stretch in stretches {
        let mut file = match File::open(&stretch.path) {
            Ok(file) => file,
            // Retention removed it after the plan: only the oldest can go, so
            // nothing was read yet.
            Err(e) if segment::is_gone(&e) && out.is_empty() => return Err(ReadFailure::Gone),
            Err(source) => return Err(failed(stretch, source)),
        };
        file.seek(SeekFrom::Start(stretch.offset))
            .map_err(|source| failed(stretch, source))?;
        let durable = stretch.len.saturating_sub(stretch.offset);
        let mut reader = BufReader::with_capacity(READ_BUFFER_BYTES, file.take(durable));
        let mut seq = stretch.seq;
        let mut offset = stretch.offset;
        while seq < stretch.end {
            if out.len() >= max_records {
                return Ok(out);
            }
            let mut head = [0; HEADER_BYTES];
            reader
                .read_exact(&mut head)
                .map_err(|source| failed(stretch, source))?;
            let header = Header::decode(&head);
            if seq < from {
                let len = u64::from(header.len);
                let skipped = io::copy(&mut (&mut reader).take(len), &mut io::sink())
                    .map_err(|source| failed(stretch, source))?;
                if skipped != len {
                    let source = io::Error::from(io::ErrorKind::UnexpectedEof);
                    return Err(failed(stretch, source));
                }
            } else {
                let len = header.len as usize;
                if !out.is_empty() && bytes + len > max_bytes {
                    return Ok(out);
                }
                let mut payload = vec![0; len];
                reader
                    .read_exact(&mut payload)
                    .map_err(|source| failed(stretch, source))?;
                if !header.checks(&payload) {
                    return Err(ReadFailure::Failed(LogError::Corrupt {
                        path: stretch.path.display().to_string(),
                        reason: format!(
                            "record {seq} at byte {offset}: a checksum mismatch in a durable record"
                        ),
                    }));
                }
                bytes += len;
                out.push((seq, Bytes::from(payload)));
            }
            offset += header.frame_bytes();
            seq += 1;
        }
    }
    Ok(out)
}

fn failed(stretch: &Stretch, source: io::Error) -> ReadFailure {
    ReadFailure::Failed(LogError::Io {
        path: stretch.path.display().to_string(),
        source,
    })
}
