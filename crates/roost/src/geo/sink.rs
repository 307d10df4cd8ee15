//! The [`ChangeSink`] a region installs in its Cache: each acknowledged
//! client write becomes records in this region's change log, durable before
//! the client is answered.
//!
//! Only this region's own changes are recorded: an entry whose version
//! another region stamped (read back after a replicated change won a race)
//! is already in that region's log, and an unversioned entry is not a
//! change a peer can order. In invalidate mode a value is recorded without
//! its bytes (the other regions only drop the key); a delete is always a
//! tombstone.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::hlc;
use super::log::ChangeLog;
use super::record::{Kind, Record};
use crate::backend::SetEntry;
use crate::cache::ChangeSink;
use crate::config::GeoMode;
use crate::error::{CacheError, Cause};
use crate::tasks::Tasks;
use crate::telemetry::GeoMetrics;

#[derive(Debug)]
pub struct LogSink {
    log: Arc<ChangeLog>,
    region: u8,
    mode: GeoMode,
    metrics: Arc<GeoMetrics>,
    /// Runs the appends nobody waits for (`record_detached`).
    tasks: Tasks,
}

impl LogSink {
    pub fn new(
        log: Arc<ChangeLog>,
        region: u8,
        mode: GeoMode,
        metrics: Arc<GeoMetrics>,
        tasks: Tasks,
    ) -> LogSink {
        LogSink {
            log,
            region,
            mode,
            metrics,
            tasks,
        }
    }
}

/// The log records (each with its version) of `entries`: this region's
/// changes only, values without bytes in invalidate mode.
pub fn records(region: u8, mode: GeoMode, entries: Vec<SetEntry>) -> Vec<(u64, Bytes)> {
    entries
        .into_iter()
        .filter_map(|(key, entry)| {
            let version = entry.version();
            if version.is_none() || hlc::region_index(version) != region {
                return None;
            }
            let (kind, value) = match (entry.is_tombstone(), mode) {
                (true, _) => (Kind::Tombstone, Bytes::new()),
                (false, GeoMode::Replicate) => (Kind::Value, entry.value),
                (false, GeoMode::Invalidate) => (Kind::Invalidate, Bytes::new()),
            };
            let record = Record {
                version,
                kind,
                expires_at: entry.expires_at,
                key,
                value,
            };
            Some((version.get(), record.encode()))
        })
        .collect()
}

impl ChangeSink for LogSink {
    fn record(
        &self,
        entries: Vec<SetEntry>,
    ) -> Pin<Box<dyn Future<Output = Result<(), CacheError>> + Send + '_>> {
        Box::pin(async move {
            let records = records(self.region, self.mode, entries);
            if records.is_empty() {
                return Ok(());
            }
            let count = records.len() as u64;
            let start = Instant::now();
            self.log
                .append(records)
                .await
                .map_err(|error| CacheError::NotLogged {
                    source: Some(Cause::new(error)),
                })?;
            self.metrics
                .log_commit_seconds
                .observe(start.elapsed().as_secs_f64());
            self.metrics.log_appends.inc_by(count);
            Ok(())
        })
    }

    fn record_detached(&self, entries: Vec<SetEntry>) {
        let records = records(self.region, self.mode, entries);
        if records.is_empty() {
            return;
        }
        let count = records.len() as u64;
        self.metrics.log_detached.inc_by(count);
        let (log, metrics) = (self.log.clone(), self.metrics.clone());
        // Not cancelled by shutdown: the writer drains what it was handed
        // before it closes, and a record it never got is lost with the
        // process (the write was never acknowledged).
        self.tasks
            .spawn("geo-log-detached", move |_stop| async move {
                log.append(records).await.map_err(|error| {
                    anyhow::anyhow!(
                    "{count} change(s) of a dropped request applied here but not logged: {error}"
                )
                })?;
                metrics.log_appends.inc_by(count);
                Ok(())
            });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use roost_store::Entry;

    use super::*;

    const MAX_VALUE: usize = 1 << 20;

    fn key(k: &str) -> Bytes {
        Bytes::copy_from_slice(k.as_bytes())
    }

    fn decoded(records: &[(u64, Bytes)]) -> Vec<Record> {
        records
            .iter()
            .map(|(version, bytes)| {
                let r = Record::decode(bytes, MAX_VALUE).unwrap();
                assert_eq!(r.version.get(), *version);
                r
            })
            .collect()
    }

    fn entries() -> Vec<SetEntry> {
        vec![
            (
                key("mine"),
                Entry::versioned(key("v1"), Some(5_000), hlc::compose(100, 0, 1)),
            ),
            (
                key("gone"),
                Entry::tombstone(hlc::compose(101, 0, 1), Some(9_000)),
            ),
            (
                key("theirs"),
                Entry::versioned(key("x"), None, hlc::compose(102, 0, 2)),
            ),
            (key("plain"), Entry::new(key("unversioned"), None)),
        ]
    }

    #[test]
    fn replicate_mode_records_this_regions_values_and_tombstones() {
        let got = decoded(&records(1, GeoMode::Replicate, entries()));
        assert_eq!(
            got.len(),
            2,
            "another region's change and an unversioned entry are left out"
        );
        assert_eq!(got[0].key, key("mine"));
        assert_eq!((got[0].kind, &got[0].value[..]), (Kind::Value, &b"v1"[..]));
        assert_eq!(got[0].expires_at, Some(5_000));
        assert_eq!(got[1].key, key("gone"));
        assert_eq!(got[1].kind, Kind::Tombstone);
        assert_eq!(got[1].expires_at, Some(9_000));
    }

    #[test]
    fn invalidate_mode_records_no_value_bytes() {
        let got = decoded(&records(1, GeoMode::Invalidate, entries()));
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].kind, Kind::Invalidate);
        assert!(got[0].value.is_empty());
        assert_eq!(got[1].kind, Kind::Tombstone);
    }

    /// A dropped request's records reach the real log with nobody waiting,
    /// counted as detached.
    #[tokio::test]
    async fn a_detached_record_reaches_the_log() {
        use crate::telemetry::{Events, Metrics};
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(roost_store::ManualClock::new(1_700_000_000_000));
        let log = ChangeLog::open(
            dir.path(),
            1 << 20,
            std::time::Duration::from_secs(60),
            clock,
        )
        .unwrap();
        let log = Arc::new(log);
        let metrics = Arc::new(Metrics::new());
        let geo_metrics = Arc::new(GeoMetrics::register(&metrics));
        let tasks = Tasks::new(Arc::new(Events::default()), metrics);
        let sink = LogSink::new(
            log.clone(),
            1,
            GeoMode::Replicate,
            geo_metrics.clone(),
            tasks.clone(),
        );
        sink.record_detached(entries());
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        let records = loop {
            match log.read(1, 100, 1 << 20).await.unwrap() {
                super::super::log::LogRead::Records(r) if r.len() == 2 => break r,
                other => assert!(Instant::now() < deadline, "not logged: {other:?}"),
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        };
        let keys: Vec<Bytes> = records
            .iter()
            .map(|(_, bytes)| Record::decode(bytes, MAX_VALUE).unwrap().key)
            .collect();
        assert_eq!(keys, vec![key("mine"), key("gone")]);
        assert_eq!(geo_metrics.log_detached.get(), 2);
        assert!(tasks
            .shutdown(std::time::Duration::from_secs(5))
            .await
            .is_empty());
        assert_eq!(geo_metrics.log_appends.get(), 2);
    }

    #[test]
    fn another_regions_index_sees_the_other_entry() {
        let got = decoded(&records(2, GeoMode::Replicate, entries()));
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].key, key("theirs"));
    }
}
