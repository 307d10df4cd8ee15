//! Opening the log: finds the segments, finishes a trim a crash interrupted,
//! checks every record, and cuts a torn tail.
//!
//! A segment's records may be followed by zeros the writer prepared
//! (`writer.rs`): where nothing but zeros follows the last record (even
//! fewer than a header's worth), the records end, in any segment; that is
//! not damage.
//!
//! Only the newest segment can end in a torn record: records are written to
//! it alone, and a segment is closed (a new one started) only after a group
//! commit fsynced it whole. So the first record of the newest segment that
//! does not check — short, past the end, or a checksum mismatch — and
//! everything after it are cut (logged with what and why): a crash tore it
//! before its fsync, so no appender was answered for it. (If instead the disk
//! flipped a byte inside the newest segment, the acknowledged records after
//! that byte are cut with it: the framing cannot find where the next good
//! record starts. The warning gives the bytes cut.) A record that does not check in an
//! *older* segment is different: it was fsynced and acknowledged, so opening
//! fails with an error naming the file and offset rather than skipping it.
//! Skipping would quietly drop acknowledged changes from what peers are sent
//! with no gap reported to them; refusing to start lets the operator choose
//! (restore the file, or remove it and the segments before it, which the log
//! then refuses as missing records until its directory is reset as a whole —
//! the peers then resynchronise from a new, empty log).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

use super::retention::{self, Trimmed};
use super::segment::{self, Segment};
use super::{durable, LogError};

/// What an opened log holds.
#[derive(Debug)]
pub struct Recovered {
    /// At least one; the last is the active segment.
    pub segments: Vec<Segment>,
    pub trimmed: Trimmed,
    /// The active segment, open for writing (the writer writes at offsets:
    /// its records end at the last segment's `len`).
    pub active: File,
}

pub fn recover(dir: &Path) -> Result<Recovered, LogError> {
    std::fs::create_dir_all(dir).map_err(|source| io(dir, source))?;
    let trimmed = retention::load(dir)?;
    // A temp file from a write that crashed before its rename.
    let _ = std::fs::remove_file(durable::temp_path(&retention::path(dir)));
    let found = segment::list(dir).map_err(|source| io(dir, source))?;
    let found = finish_trim(found, &trimmed)?;
    let mut segments = scan_all(&found)?;
    let active = match segments.last() {
        Some(last) => {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(&last.path)
                .map_err(|source| io(&last.path, source))?;
            // After a process crash the scan read the page cache: the last
            // commit's records may be there without its fsync having run.
            // Durable before any of them is served or numbered after, so a
            // power loss now cannot take back records peers were sent.
            file.sync_all().map_err(|source| io(&last.path, source))?;
            file
        }
        None => {
            let base = trimmed.through_seq + 1;
            let (file, path) = segment::create(dir, base)
                .map_err(|source| io(&dir.join(segment::file_name(base)), source))?;
            tracing::info!(path = %path.display(), "change log: started a new log");
            segments.push(Segment::empty(dir, base));
            file
        }
    };
    Ok(Recovered {
        segments,
        trimmed,
        active,
    })
}

/// Removes the segments `trimmed` already counts as removed (a crash came
/// between writing it and deleting them), and checks that the rest start
/// right after the trimmed records.
fn finish_trim(
    found: Vec<(u64, PathBuf)>,
    trimmed: &Trimmed,
) -> Result<Vec<(u64, PathBuf)>, LogError> {
    let first_kept = trimmed.through_seq + 1;
    let mut kept = Vec::with_capacity(found.len());
    for (i, (base, path)) in found.iter().enumerate() {
        let next_base = found.get(i + 1).map(|(next, _)| *next);
        if next_base.is_some_and(|next| next <= first_kept) {
            std::fs::remove_file(path).map_err(|source| io(path, source))?;
            tracing::info!(path = %path.display(), "change log: removed a segment an interrupted trim left");
            continue;
        }
        kept.push((*base, path.clone()));
    }
    if let Some((base, path)) = kept.first() {
        if *base != first_kept {
            return Err(LogError::Corrupt {
                path: path.display().to_string(),
                reason: format!(
                    "the log's first segment starts at {base} but retention removed records through {} only: records are missing",
                    trimmed.through_seq
                ),
            });
        }
    }
    Ok(kept)
}

/// Scans every segment: older ones must check whole and follow each other
/// without a hole; the newest one's damaged tail is cut.
fn scan_all(found: &[(u64, PathBuf)]) -> Result<Vec<Segment>, LogError> {
    let mut segments: Vec<Segment> = Vec::with_capacity(found.len());
    for (i, (base, path)) in found.iter().enumerate() {
        if let Some(before) = segments.last() {
            if before.next_seq() != *base {
                return Err(LogError::Corrupt {
                    path: path.display().to_string(),
                    reason: format!(
                        "starts at record {base} but the segment before ends at {}: records are missing",
                        before.next_seq().saturating_sub(1)
                    ),
                });
            }
        }
        let (segment, damage) = segment::scan(path, *base).map_err(|source| io(path, source))?;
        if let Some(damage) = damage {
            let newest = i + 1 == found.len();
            let seq = segment.next_seq();
            if !newest {
                return Err(LogError::Corrupt {
                    path: path.display().to_string(),
                    reason: format!(
                        "record {seq} at byte {}: {}; only the newest segment may end in a torn record",
                        damage.offset, damage.reason
                    ),
                });
            }
            segment::truncate(path, damage.offset).map_err(|source| io(path, source))?;
            tracing::warn!(
                path = %path.display(),
                from_seq = seq,
                offset = damage.offset,
                cut_bytes = damage.file_len - damage.offset,
                reason = %damage.reason,
                "change log: cut a torn or corrupt tail off the newest segment"
            );
        }
        segments.push(segment);
    }
    Ok(segments)
}

fn io(path: &Path, source: std::io::Error) -> LogError {
    LogError::Io {
        path: path.display().to_string(),
        source,
    }
}
