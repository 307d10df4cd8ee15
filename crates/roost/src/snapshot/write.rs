//! Writing a snapshot: which entries go in, in which order, and how the file
//! replaces the previous one atomically. Blocking file I/O: callers run it on
//! the blocking pool (`Tasks::run_blocking`), never on a runtime worker.
//!
//! Order: the hot-key tracker's hottest keys first (hottest first), then every
//! other live entry shard by shard, until the byte budget is spent. Each
//! shard's handles are copied (refcounts) and visited outside its lock, so a
//! snapshot holds at most one shard's handles at a time and never blocks
//! writers for longer than that copy.
//!
//! Hashes, lists, sets and sorted sets are not written: a snapshot holds
//! strings (its format has no collection record), so after a restart those
//! keys are absent and are rebuilt by the application, as after an eviction.
//!
//! Atomicity: the entries go to `<file>.tmp` in the same directory, which is
//! flushed and fsynced, renamed over the file, and then the directory itself
//! is fsynced so the rename survives a power loss. A crash at any point leaves
//! either the old complete file or the new complete one, never a mix.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufWriter};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use roost_store::{entry_weight, UnixMillis};

use super::format::SnapshotWriter;
use crate::backend::{Embedded, Stored};

/// What a snapshot write produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub entries: u64,
    pub bytes: u64,
}

/// Writes the snapshot of `store` to `path`, `hottest` first, at most
/// `max_bytes` of entry weight (as the store charges it), created at `now`.
pub fn write_snapshot(
    store: &Embedded,
    hottest: &[Bytes],
    path: &Path,
    max_bytes: u64,
    now: UnixMillis,
) -> io::Result<Written> {
    let temp = temp_path(path);
    let written = match write_entries(store, hottest, &temp, max_bytes, now) {
        Ok(written) => written,
        Err(e) => {
            // Best effort: a leftover temp file is overwritten by the next write.
            let _ = fs::remove_file(&temp);
            return Err(e);
        }
    };
    fs::rename(&temp, path)?;
    sync_dir(path)?;
    Ok(written)
}

/// `<file>.tmp` beside `path`: the same file system, so the rename is atomic.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

fn write_entries(
    store: &Embedded,
    hottest: &[Bytes],
    temp: &Path,
    max_bytes: u64,
    now: UnixMillis,
) -> io::Result<Written> {
    let file = File::create(temp)?;
    let mut writer = SnapshotWriter::new(BufWriter::with_capacity(1 << 20, file), now)?;
    let mut budget = Budget { left: max_bytes };
    let mut hot_written: HashSet<&[u8]> = HashSet::with_capacity(hottest.len());
    let mut full = false;
    for key in hottest {
        let Some(hit) = store
            .peek_quietly(key)
            .filter(|hit| hit.collection().is_none())
        else {
            continue;
        };
        if !budget.take(key, &hit) {
            full = true;
            break;
        }
        if writer.push(key, &hit.value, hit.expires_at)? {
            hot_written.insert(key);
        }
    }
    let mut failed = None;
    if !full {
        store.export(|key, hit| {
            if hot_written.contains(&key[..]) || hit.collection().is_some() {
                return true;
            }
            if !budget.take(key, hit) {
                return false;
            }
            match writer.push(key, &hit.value, hit.expires_at) {
                Ok(_) => true,
                Err(e) => {
                    failed = Some(e);
                    false
                }
            }
        });
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let (entries, bytes, out) = writer.finish()?;
    let file = out.into_inner().map_err(io::IntoInnerError::into_error)?;
    file.sync_all()?;
    Ok(Written { entries, bytes })
}

/// The bytes of entry weight a snapshot may still take.
struct Budget {
    left: u64,
}

impl Budget {
    /// Takes an entry's weight; false (nothing taken) when it does not fit.
    fn take(&mut self, key: &[u8], hit: &Stored) -> bool {
        let weight = entry_weight(key.len(), hit.value.len());
        if weight > self.left {
            return false;
        }
        self.left -= weight;
        true
    }
}

/// Makes a rename in `path`'s directory durable.
fn sync_dir(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => File::open(dir)?.sync_all(),
        _ => File::open(".")?.sync_all(),
    }
}
