//! Small files replaced atomically (the log's `trimmed.json`, the peers'
//! `cursors.json`): written beside the target, fsynced, renamed over it, and
//! the directory fsynced, so a crash leaves either the old file or the new
//! one, never a mix.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes` durably.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let temp = temp_path(path);
    let written = File::create(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = written {
        // Best effort: a leftover temp file is overwritten by the next write.
        let _ = fs::remove_file(&temp);
        return Err(e);
    }
    fs::rename(&temp, path)?;
    sync_parent(path)
}

/// `<file>.tmp` beside `path`: the same file system, so the rename is atomic.
pub fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

/// Makes a file created, renamed or removed in `dir` durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

fn sync_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => sync_dir(dir),
        _ => sync_dir(Path::new(".")),
    }
}
