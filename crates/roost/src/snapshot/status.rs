//! What the operator surface shows of snapshots: the last write and the last
//! load, as [`SnapshotStatus`] (serialized into `GET /api/cache/warming`).
//! Plain data; the snapshot tasks fill it in.

use roost_store::UnixMillis;
use serde::Serialize;

/// The last snapshot written and the last load, `None` before the first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SnapshotStatus {
    pub last_snapshot: Option<LastSnapshot>,
    pub last_load: Option<LastLoad>,
}

/// The last snapshot write: when it ended, what it held, or why it failed
/// (then `entries` and `bytes` are 0 and the previous file is still in place).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LastSnapshot {
    pub at_ms: UnixMillis,
    pub entries: u64,
    pub bytes: u64,
    pub duration_ms: u64,
    pub error: Option<String>,
}

/// Where the start-up load is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadState {
    /// Entries are being restored while the server serves.
    Loading,
    /// Read to its end, or up to the last good block (then `error` says why it stopped).
    Done,
    /// The file could not be read (an I/O error); the server started cold.
    Failed,
    /// No snapshot, or one this build must not read (not a snapshot, another
    /// version, a damaged header); the server started cold.
    Skipped,
}

/// The start-up load: restored entries, entries skipped (expired, already
/// written by a client, over the limits), and how long it took.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LastLoad {
    pub at_ms: UnixMillis,
    pub state: LoadState,
    pub entries: u64,
    pub skipped: u64,
    pub duration_ms: u64,
    pub error: Option<String>,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn serializes_to_the_shape_the_warming_api_promises() {
        let status = SnapshotStatus {
            last_snapshot: None,
            last_load: Some(LastLoad {
                at_ms: 1,
                state: LoadState::Loading,
                entries: 2,
                skipped: 3,
                duration_ms: 4,
                error: None,
            }),
        };
        let json = serde_json::to_value(&status).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "last_snapshot": null,
                "last_load": {"at_ms": 1, "state": "loading", "entries": 2, "skipped": 3,
                              "duration_ms": 4, "error": null}
            })
        );
    }
}
