//! How far this region applied each peer's log (scaffold: the log helper
//! replaces every body).

use std::path::Path;

use super::log::{LogError, Seq};

/// Each peer's cursor: the last Seq of its log applied here.
#[derive(Debug)]
pub struct Cursors {}

impl Cursors {
    /// Loads `path` (missing means every cursor at 0; damaged is an error
    /// that names the file).
    pub fn open(_path: &Path) -> Result<Cursors, LogError> {
        todo!("issue 16 scaffold: log helper")
    }

    pub fn get(&self, _peer: &str) -> Seq {
        todo!("issue 16 scaffold: log helper")
    }

    /// Records `seq` for `peer` in memory.
    pub fn set(&self, _peer: &str, _seq: Seq) {
        todo!("issue 16 scaffold: log helper")
    }

    /// Writes every cursor durably (temp file, fsync, rename) if any changed.
    pub fn persist(&self) -> Result<(), LogError> {
        todo!("issue 16 scaffold: log helper")
    }
}
