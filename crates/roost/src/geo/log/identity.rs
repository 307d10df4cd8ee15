//! Which log this is: `identity.json` in the log's directory, written once
//! when the directory is first used, `{"id": "<16 hex digits>", "born":
//! <version>}`. A reader that read this region's log keeps the id it was
//! served; if it later finds another id, this region's log started over (its
//! data directory was replaced or wiped), whatever the sequence numbers say
//! — a new log that already grew past the reader's cursor included.
//!
//! `born` is a version below every record of the new log and above every
//! record the lost one could have held (the region's clock when the new log
//! began): what a reader must drop unless it can prove it fresher. A log
//! that already held records when it was first given an identity (one from
//! before identities) is `born` 0: it lost nothing.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::durable::write_atomically;
use super::LogError;
use crate::geo::hlc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    #[serde(with = "hex_id")]
    pub id: u64,
    pub born: u64,
}

pub fn path(dir: &Path) -> PathBuf {
    dir.join("identity.json")
}

/// The identity of the log in `dir`, created (durably) if it has none:
/// `fresh` says the log holds nothing and never trimmed anything, so it is
/// a new log born at `now_ms`.
pub fn load_or_create(dir: &Path, fresh: bool, now_ms: u64) -> Result<Identity, LogError> {
    let path = path(dir);
    let io = |source| LogError::Io {
        path: path.display().to_string(),
        source,
    };
    match std::fs::read(&path) {
        Ok(text) => {
            return serde_json::from_slice(&text).map_err(|e| LogError::Corrupt {
                path: path.display().to_string(),
                reason: format!("not a log identity ({{\"id\": \"<hex>\", \"born\": n}}): {e}"),
            })
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(source) => return Err(io(source)),
    }
    let mut random = [0u8; 8];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut random).map_err(
        |_| {
            io(std::io::Error::other(
                "no randomness for the log's identity",
            ))
        },
    )?;
    let identity = Identity {
        id: u64::from_le_bytes(random),
        born: if fresh {
            hlc::compose(now_ms, 0, 0).get()
        } else {
            0
        },
    };
    let text = serde_json::to_vec(&identity).map_err(|e| io(e.into()))?;
    write_atomically(&path, &text).map_err(io)?;
    tracing::info!(id = %format!("{:016x}", identity.id), born = identity.born, "change log: new identity");
    Ok(identity)
}

mod hex_id {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(id: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{id:016x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        let text = String::deserialize(d)?;
        u64::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_identity_is_made_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path(), true, 1_700_000_000_000).unwrap();
        assert_eq!(first.born, hlc::compose(1_700_000_000_000, 0, 0).get());
        let again = load_or_create(dir.path(), true, 1_800_000_000_000).unwrap();
        assert_eq!(again, first, "read back, not made again");
        let text = std::fs::read_to_string(path(dir.path())).unwrap();
        assert!(text.contains(&format!("{:016x}", first.id)), "{text}");
    }

    #[test]
    fn a_log_that_held_records_before_its_identity_lost_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let old = load_or_create(dir.path(), false, 1_700_000_000_000).unwrap();
        assert_eq!(old.born, 0);
        let other = tempfile::tempdir().unwrap();
        let new = load_or_create(other.path(), true, 1_700_000_000_000).unwrap();
        assert_ne!(old.id, new.id, "two logs, two identities");
    }

    #[test]
    fn a_damaged_identity_is_an_error_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(path(dir.path()), b"{\"id\": 5").unwrap();
        let err = load_or_create(dir.path(), true, 1).unwrap_err().to_string();
        assert!(err.contains("identity.json"), "{err}");
    }
}
