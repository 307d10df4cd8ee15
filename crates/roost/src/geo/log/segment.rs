//! Segment files: each holds consecutive records and is named after its
//! first Seq, zero-padded (`00000000000000000001.seg`), so a directory
//! listing sorts them in log order. Only the newest (active) segment is ever
//! written; older ones are immutable until retention removes them whole.
//!
//! In memory a segment is its durable extent (records, bytes), what retention
//! needs (the newest append time and the largest version it holds) and a
//! sparse index — the file offset of every `INDEX_EVERY`th record — so a read
//! from any Seq seeks close to it and skips at most `INDEX_EVERY - 1` records.
//! All of it is rebuilt by [`scan`] when the log is opened.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, ErrorKind, Read};
use std::path::{Path, PathBuf};

use super::durable::sync_dir;
use super::frame::{Header, HEADER_BYTES};
use super::Seq;

/// One index entry per this many records.
pub const INDEX_EVERY: u64 = 64;

const SUFFIX: &str = ".seg";

#[derive(Debug, Clone)]
pub struct Segment {
    /// The Seq of its first record.
    pub base: Seq,
    pub path: PathBuf,
    /// Durable records in it.
    pub count: u64,
    /// Durable bytes in it (the end of its last durable record).
    pub len: u64,
    /// `index[i]` is the offset of record `base + i * INDEX_EVERY`.
    index: Vec<u64>,
    /// The append time of its newest record (unix ms; 0 when empty).
    pub newest_ms: u64,
    /// The largest version among its records (0 when empty).
    pub max_version: u64,
}

impl Segment {
    pub fn empty(dir: &Path, base: Seq) -> Segment {
        Segment {
            base,
            path: dir.join(file_name(base)),
            count: 0,
            len: 0,
            index: Vec::new(),
            newest_ms: 0,
            max_version: 0,
        }
    }

    /// The Seq the next record appended to it gets.
    pub fn next_seq(&self) -> Seq {
        self.base + self.count
    }

    /// Counts one durable record written at `offset`.
    pub fn push(&mut self, offset: u64, header: &Header) {
        if self.count % INDEX_EVERY == 0 {
            self.index.push(offset);
        }
        self.count += 1;
        self.len = offset + header.frame_bytes();
        self.newest_ms = self.newest_ms.max(header.append_ms);
        self.max_version = self.max_version.max(header.version);
    }

    /// Where a read of `seq` (one of this segment's records) starts: the
    /// offset and Seq of the nearest indexed record at or before it.
    pub fn seek_point(&self, seq: Seq) -> (u64, Seq) {
        let slot = seq.saturating_sub(self.base) / INDEX_EVERY;
        match usize::try_from(slot).ok().and_then(|i| self.index.get(i)) {
            Some(&offset) => (offset, self.base + slot * INDEX_EVERY),
            None => (0, self.base),
        }
    }
}

pub fn file_name(base: Seq) -> String {
    format!("{base:020}{SUFFIX}")
}

/// The segments in `dir`, by base Seq; other files are not the log's.
pub fn list(dir: &Path) -> io::Result<Vec<(Seq, PathBuf)>> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(base) = name.to_str().and_then(parse_name) else {
            continue;
        };
        found.push((base, entry.path()));
    }
    found.sort_unstable_by_key(|(base, _)| *base);
    Ok(found)
}

fn parse_name(name: &str) -> Option<Seq> {
    let digits = name.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Creates (or empties) the segment starting at `base` and makes its name
/// durable; answers it open for writing.
pub fn create(dir: &Path, base: Seq) -> io::Result<(File, PathBuf)> {
    let path = dir.join(file_name(base));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&path)?;
    sync_dir(dir)?;
    Ok((file, path))
}

/// Where a scan stopped before the end of the file, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// The offset of the first record that does not check.
    pub offset: u64,
    /// The file's size.
    pub file_len: u64,
    pub reason: String,
}

/// Reads every record of the segment at `path`, checking each one, and
/// answers what it holds up to the first record that does not check (and
/// that damage, if any).
pub fn scan(path: &Path, base: Seq) -> io::Result<(Segment, Option<Damage>)> {
    let file = File::open(path)?;
    let file_len = file.metadata()?.len();
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let mut segment = Segment {
        path: path.to_path_buf(),
        ..Segment::empty(Path::new(""), base)
    };
    let mut payload = Vec::new();
    let mut offset = 0;
    while offset < file_len {
        let left = file_len - offset;
        let damage = |reason: String| Damage {
            offset,
            file_len,
            reason,
        };
        let mut head = [0; HEADER_BYTES];
        let got = usize::try_from(left).map_or(HEADER_BYTES, |left| left.min(HEADER_BYTES));
        reader.read_exact(&mut head[..got])?;
        if head[..got].iter().all(|&b| b == 0) {
            // The writer's prepared zeros (fewer than a header's worth when
            // the records end just short of a prepared boundary): the
            // records end here, unless something other than zeros follows
            // (a write torn by a crash).
            if only_zeros(&mut reader, left - got as u64)? {
                return Ok((segment, None));
            }
            let reason = "zeros followed by bytes that are not zeros".to_owned();
            return Ok((segment, Some(damage(reason))));
        }
        if got < HEADER_BYTES {
            let reason = format!("a torn header ({left} of {HEADER_BYTES} bytes)");
            return Ok((segment, Some(damage(reason))));
        }
        let header = Header::decode(&head);
        if header.frame_bytes() > left {
            let reason = format!(
                "a record of {} bytes runs past the end of the file ({left} bytes left)",
                header.frame_bytes()
            );
            return Ok((segment, Some(damage(reason))));
        }
        payload.resize(header.len as usize, 0);
        reader.read_exact(&mut payload)?;
        if !header.checks(&payload) {
            return Ok((segment, Some(damage("a checksum mismatch".to_owned()))));
        }
        segment.push(offset, &header);
        offset += header.frame_bytes();
    }
    Ok((segment, None))
}

/// Whether the next `len` bytes of `reader` are all zeros.
fn only_zeros(reader: &mut impl Read, len: u64) -> io::Result<bool> {
    let mut chunk = vec![0; 64 << 10];
    let mut left = len;
    while left > 0 {
        let take = usize::try_from(left).unwrap_or(usize::MAX).min(chunk.len());
        reader.read_exact(&mut chunk[..take])?;
        if chunk[..take].iter().any(|&b| b != 0) {
            return Ok(false);
        }
        left -= take as u64;
    }
    Ok(true)
}

/// Cuts the segment at `path` to `len` bytes, durably.
pub fn truncate(path: &Path, len: u64) -> io::Result<()> {
    let file = OpenOptions::new().write(true).open(path)?;
    file.set_len(len)?;
    file.sync_all()
}

/// Whether an I/O error means the file is gone (retention removed it).
pub fn is_gone(error: &io::Error) -> bool {
    error.kind() == ErrorKind::NotFound
}
