//! How far this region applied each peer's log: `cursors.json` under
//! `$ROOST_DATA_DIR/geo/`, `{"peer": seq, ...}`. Set in memory after every
//! applied batch; written (temp file, fsync, rename, fsync of the directory)
//! only when something changed, so an idle region does not touch the disk.
//!
//! `persist` does file I/O on the calling thread: call it from blocking
//! context (`Tasks::run_blocking`), at most every 100 ms and on shutdown.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use super::log::durable::write_atomically;
use super::log::{LogError, Seq};

/// Each peer's cursor: the last Seq of its log applied here.
#[derive(Debug)]
pub struct Cursors {
    path: PathBuf,
    state: Mutex<State>,
    /// One write of the file at a time (they share its temp file).
    writing: Mutex<()>,
}

/// A std (parking_lot) mutex: held for map updates only, never across I/O.
#[derive(Debug, Default)]
struct State {
    seqs: BTreeMap<String, Seq>,
    /// Bumped by every change; `written` is the last generation on disk.
    generation: u64,
    written: u64,
}

impl Cursors {
    /// Loads `path` (missing means every cursor at 0; damaged is an error
    /// that names the file).
    pub fn open(path: &Path) -> Result<Cursors, LogError> {
        let seqs = match std::fs::read(path) {
            Ok(text) => serde_json::from_slice(&text).map_err(|e| LogError::Corrupt {
                path: path.display().to_string(),
                reason: format!("not a cursors file ({{\"peer\": seq, ...}}): {e}"),
            })?,
            Err(e) if e.kind() == ErrorKind::NotFound => BTreeMap::new(),
            Err(source) => {
                return Err(LogError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        Ok(Cursors {
            path: path.to_path_buf(),
            state: Mutex::new(State {
                seqs,
                ..State::default()
            }),
            writing: Mutex::new(()),
        })
    }

    pub fn get(&self, peer: &str) -> Seq {
        self.state.lock().seqs.get(peer).copied().unwrap_or(0)
    }

    /// Records `seq` for `peer` in memory.
    pub fn set(&self, peer: &str, seq: Seq) {
        let mut state = self.state.lock();
        if state.seqs.get(peer) == Some(&seq) {
            return;
        }
        state.seqs.insert(peer.to_owned(), seq);
        state.generation += 1;
    }

    /// Every cursor, by peer name.
    pub fn all(&self) -> BTreeMap<String, Seq> {
        self.state.lock().seqs.clone()
    }

    /// Writes every cursor durably (temp file, fsync, rename) if any changed.
    pub fn persist(&self) -> Result<(), LogError> {
        let _one_at_a_time = self.writing.lock();
        let (text, generation) = {
            let state = self.state.lock();
            if state.generation == state.written {
                return Ok(());
            }
            (serde_json::to_vec_pretty(&state.seqs), state.generation)
        };
        let io = |source| LogError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let text = text.map_err(|e| io(e.into()))?;
        if let Some(dir) = self.path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        write_atomically(&self.path, &text).map_err(io)?;
        let mut state = self.state.lock();
        state.written = state.written.max(generation);
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn cursors_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("geo").join("cursors.json");
        let cursors = Cursors::open(&path).unwrap();
        assert_eq!(cursors.get("eu"), 0);
        cursors.set("eu", 42);
        cursors.set("ap", 7);
        cursors.persist().unwrap();
        cursors.set("eu", 43);
        cursors.persist().unwrap();
        drop(cursors);

        let cursors = Cursors::open(&path).unwrap();
        assert_eq!(cursors.get("eu"), 43);
        assert_eq!(cursors.get("ap"), 7);
        assert_eq!(cursors.get("us"), 0);
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: BTreeMap<String, u64> = serde_json::from_str(&text).unwrap();
        assert_eq!(
            parsed,
            BTreeMap::from([("ap".to_owned(), 7), ("eu".to_owned(), 43)])
        );
        assert!(!path.with_file_name("cursors.json.tmp").exists());
    }

    #[test]
    fn persist_writes_only_after_a_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursors.json");
        let cursors = Cursors::open(&path).unwrap();
        // Nothing set: nothing to write.
        cursors.persist().unwrap();
        assert!(!path.exists());
        cursors.set("eu", 5);
        cursors.persist().unwrap();
        assert!(path.exists());
        // Unchanged (also when set to the same value): the file is not
        // written again, so a removed file stays removed.
        std::fs::remove_file(&path).unwrap();
        cursors.set("eu", 5);
        cursors.persist().unwrap();
        assert!(!path.exists());
        cursors.set("eu", 6);
        cursors.persist().unwrap();
        assert_eq!(Cursors::open(&path).unwrap().get("eu"), 6);
    }

    #[test]
    fn a_damaged_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cursors.json");
        std::fs::write(&path, b"{\"eu\": 12, \"ap\":").unwrap();
        let error = Cursors::open(&path).unwrap_err();
        assert!(matches!(error, LogError::Corrupt { .. }), "{error:?}");
        assert!(
            error.to_string().contains(&path.display().to_string()),
            "{error}"
        );

        std::fs::write(&path, b"{\"eu\": -1}").unwrap();
        let error = Cursors::open(&path).unwrap_err();
        assert!(error.to_string().contains("cursors.json"), "{error}");
    }
}
