//! Retention: which whole segments to remove (older than the maximum age by
//! their newest record's append time, or while the log holds more than its
//! byte budget; never the active segment), and the durable record of what
//! was removed — `trimmed.json`, `{"through_seq": .., "max_version": ..}` —
//! so a reader that asks for a removed Seq learns, even after a restart,
//! which versions it can no longer be sent (`LogRead::Gap`).
//!
//! The file is written before any segment is deleted: a crash in between
//! leaves segments that `trimmed.json` already counts as removed, and opening
//! the log finishes the job.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::durable::write_atomically;
use super::segment::Segment;
use super::{LogError, Seq};

const FILE: &str = "trimmed.json";

/// What retention removed so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trimmed {
    /// The newest Seq removed (0: none).
    pub through_seq: Seq,
    /// The largest version among the removed records.
    pub max_version: u64,
}

impl Trimmed {
    /// What is trimmed once `removed` (the oldest segments, in order) go too.
    pub fn after(self, removed: &[Segment]) -> Trimmed {
        removed.iter().fold(self, |trimmed, segment| Trimmed {
            through_seq: segment.next_seq().saturating_sub(1),
            max_version: trimmed.max_version.max(segment.max_version),
        })
    }
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Reads `trimmed.json` in `dir` (missing: nothing trimmed yet).
pub fn load(dir: &Path) -> Result<Trimmed, LogError> {
    let path = path(dir);
    let text = match std::fs::read(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Trimmed::default()),
        Err(source) => {
            return Err(LogError::Io {
                path: path.display().to_string(),
                source,
            })
        }
    };
    serde_json::from_slice(&text).map_err(|e| LogError::Corrupt {
        path: path.display().to_string(),
        reason: format!("not the log's trimmed record: {e}"),
    })
}

/// Replaces `trimmed.json` in `dir` durably.
pub fn store(dir: &Path, trimmed: &Trimmed) -> Result<(), LogError> {
    let path = path(dir);
    let io = |source| LogError::Io {
        path: path.display().to_string(),
        source,
    };
    let text = serde_json::to_vec(trimmed).map_err(|e| io(e.into()))?;
    write_atomically(&path, &text).map_err(io)
}

/// How many of the oldest `segments` retention removes at `now_ms`.
pub fn removable(segments: &[Segment], now_ms: u64, max_age_ms: u64, max_bytes: u64) -> usize {
    let Some((_active, older)) = segments.split_last() else {
        return 0;
    };
    let mut bytes: u64 = segments.iter().map(|segment| segment.len).sum();
    let mut removed = 0;
    for segment in older {
        let too_old = now_ms.saturating_sub(segment.newest_ms) > max_age_ms;
        if !too_old && bytes <= max_bytes {
            break;
        }
        bytes -= segment.len;
        removed += 1;
    }
    removed
}
