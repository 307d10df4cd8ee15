//! Snapshots and warm restart of the embedded store (`ROOST_DATA_DIR`;
//! docs/warming.md, "Warm restart"). [`Snapshots`] owns the start-up check of
//! the directory, the load task (hottest first, while the server serves), the
//! periodic writer (every `WARMING_INTERVAL`), the final snapshot on graceful
//! shutdown, readiness while loading (`ROOST_READY_AFTER_WARM`), the status
//! the warming API shows, metrics and events. One file per concern:
//!
//! - `format.rs`: the file format (header, checksummed blocks, footer).
//! - `write.rs`: what goes in, hottest first, and the atomic replace.
//! - `load.rs`: restoring a file block by block through `Cache::apply`.
//! - `status.rs`: [`SnapshotStatus`], the operator's view.
//! - `metrics.rs`: `roost_snapshot_*`.
//!
//! It never writes into the store except through `Cache::apply`
//! (`Change::Restore`), and never snapshots a Redis fleet (Redis persists itself).

mod format;
mod load;
mod metrics;
mod status;
mod write;

pub use format::{FormatError, SnapshotEntry, SnapshotReader, SnapshotWriter, VERSION};
pub use status::{LastLoad, LastSnapshot, LoadState, SnapshotStatus};
pub use write::{write_snapshot, Written};

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use parking_lot::Mutex;
use tokio_util::sync::CancellationToken;

use self::load::{LoadEnd, Loaded};
use self::metrics::SnapshotMetrics;
use crate::app::SharedState;
use crate::backend::Backend;
use crate::cache::LoadFence;
use crate::config::Config;
use crate::hot::HotSet;
use crate::tasks::Tasks;
use crate::telemetry::{EventKind, Events, Metrics};

/// The load's `error` when shutdown came before its end (no damage).
const STOPPED: &str = "stopped by shutdown";

/// The start of the load's `error` when a client write stopped it (a flush,
/// or more written keys than the fence records); the rest says which.
const INTERRUPTED: &str = "stopped by a client write: ";

/// The snapshot's file name inside `ROOST_DATA_DIR`.
pub const FILE_NAME: &str = "roost.snapshot";

/// The snapshots of one server: where, how much, and what happened last.
#[derive(Debug)]
pub struct Snapshots {
    path: PathBuf,
    max_bytes: u64,
    interval: Duration,
    ready_after_warm: bool,
    /// True from start-up until the load has ended, however it ended.
    loading: AtomicBool,
    /// The load was cut short by shutdown: the file holds entries the store
    /// does not, so no final snapshot may replace it.
    load_cut_short: AtomicBool,
    /// The keys clients write while the load runs, which it must not undo;
    /// installed in the Cache (`Cache::with_load_fence`) and finished when
    /// the load ends.
    fence: Arc<LoadFence>,
    status: Mutex<SnapshotStatus>,
    /// One write at a time: the periodic one and the final one never share
    /// the temp file. Held by the blocking work itself, so a periodic write
    /// whose task was cancelled at shutdown still finishes before the final
    /// one starts (a std lock: it is never held across an `.await`).
    writing: Mutex<()>,
    metrics: SnapshotMetrics,
    events: Arc<Events>,
}

impl Snapshots {
    /// The snapshots `config` asks for, after checking that the directory can
    /// be written (it is created if missing): an error names the directory
    /// and the cause, so a bad `ROOST_DATA_DIR` stops the start, never a
    /// later snapshot. `None` without `ROOST_DATA_DIR`, with warming off, or
    /// in front of Redis, or in a region (each said once in the log).
    pub fn open(
        config: &Config,
        backend: &Backend,
        metrics: &Metrics,
        events: Arc<Events>,
    ) -> anyhow::Result<Option<Arc<Snapshots>>> {
        let settings = &config.warming;
        let Some(dir) = &settings.data_dir else {
            return Ok(None);
        };
        if !settings.enabled {
            tracing::info!(dir = %dir.display(), "ROOST_WARMING=off: no snapshot is written or loaded");
            return Ok(None);
        }
        if config.geo.is_some() {
            // A snapshot cannot prove its entries fresh: another region may
            // have changed them while this one was down (docs/regions.md).
            tracing::info!(
                dir = %dir.display(),
                "ROOST_REGION is set: no snapshot is written or loaded; after a restart the region \
                 starts empty and re-reads its peers' logs"
            );
            return Ok(None);
        }
        if backend.is_remote() {
            tracing::warn!(
                dir = %dir.display(),
                "ROOST_DATA_DIR is set but snapshots are for the embedded store; Redis persists \
                 its own data (RDB/AOF), so nothing is written"
            );
            return Ok(None);
        }
        check_writable(dir)?;
        let max_bytes = settings
            .snapshot_max_bytes
            .unwrap_or_else(|| backend.max_memory_bytes());
        let path = dir.join(FILE_NAME);
        tracing::info!(path = %path.display(), max_bytes, interval_ms = config.warming_interval.as_millis() as u64, "snapshots on");
        Ok(Some(Arc::new(Snapshots {
            path,
            max_bytes,
            interval: config.warming_interval,
            ready_after_warm: settings.ready_after_warm,
            loading: AtomicBool::new(true),
            load_cut_short: AtomicBool::new(false),
            fence: Arc::new(LoadFence::new()),
            status: Mutex::new(SnapshotStatus::default()),
            writing: Mutex::new(()),
            metrics: SnapshotMetrics::register(metrics),
            events,
        })))
    }

    /// The snapshot file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What the Cache must install so the load never undoes a client's
    /// write (`Cache::with_load_fence`).
    pub fn load_fence(&self) -> Arc<LoadFence> {
        self.fence.clone()
    }

    /// The last write and the last load.
    pub fn status(&self) -> SnapshotStatus {
        self.status.lock().clone()
    }

    /// True while `/readyz` must answer 503: `ROOST_READY_AFTER_WARM` is on
    /// and the start-up load has not ended.
    pub fn holds_readiness(&self) -> bool {
        self.ready_after_warm && self.loading.load(Ordering::Acquire)
    }

    /// Starts the load task and, once it ends, the periodic writer; both
    /// in `tasks`, so shutdown stops them.
    pub fn spawn(self: &Arc<Self>, tasks: &Tasks, state: &SharedState) {
        let (snapshots, state) = (self.clone(), state.clone());
        tasks.spawn("snapshot", |stop| async move {
            snapshots.load(&state, &stop).await;
            snapshots.write_every_interval(&state, stop).await;
            Ok(())
        });
    }

    /// The final snapshot, after the listeners drained and the tasks ended.
    /// Skipped when the load never finished: the file on disk then still
    /// holds entries the store does not, and replacing it would lose them.
    pub async fn write_final(self: &Arc<Self>, state: &SharedState) {
        if self.loading.load(Ordering::Acquire) || self.load_cut_short.load(Ordering::Acquire) {
            tracing::warn!(
                "shutdown before the snapshot was loaded: the previous snapshot is kept"
            );
            return;
        }
        if let Some(written) = self.write_now(state).await {
            let message = format!(
                "final snapshot written on shutdown: {} entries, {} bytes",
                written.entries, written.bytes
            );
            self.events.record(EventKind::Warming, message);
        }
    }

    async fn write_every_interval(self: &Arc<Self>, state: &SharedState, stop: CancellationToken) {
        let mut tick = tokio::time::interval(self.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first tick is immediate: the store was just loaded from this file.
        tick.tick().await;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.write_now(state).await;
        }
    }

    /// Writes one snapshot on the blocking pool, records how it went, and
    /// answers what it wrote (`None` after a failure, which is logged, counted
    /// and shown as an event; the previous file stays).
    pub async fn write_now(self: &Arc<Self>, state: &SharedState) -> Option<Written> {
        let started = Instant::now();
        let (snapshots, state) = (self.clone(), state.clone());
        let now = state.cache.backend().now_millis();
        let outcome = Tasks::run_blocking(move || snapshots.write_blocking(&state, now)).await;
        let outcome = outcome.and_then(|written| written);
        let duration = started.elapsed();
        let duration_ms = duration.as_millis() as u64;
        let mut status = self.status.lock();
        match outcome {
            Ok(written) => {
                self.metrics
                    .written(duration.as_secs_f64(), written.entries, written.bytes, now);
                tracing::info!(entries = written.entries, bytes = written.bytes, duration_ms, path = %self.path.display(), "snapshot written");
                status.last_snapshot = Some(LastSnapshot {
                    at_ms: now,
                    entries: written.entries,
                    bytes: written.bytes,
                    duration_ms,
                    error: None,
                });
                Some(written)
            }
            Err(e) => {
                let error = format!("{e:#}");
                self.metrics.write_failed();
                tracing::error!(%error, path = %self.path.display(), "snapshot failed; the previous one is kept");
                self.events.record(
                    EventKind::Warming,
                    format!("snapshot failed: {error}; the previous one is kept"),
                );
                status.last_snapshot = Some(LastSnapshot {
                    at_ms: now,
                    duration_ms,
                    error: Some(error),
                    ..LastSnapshot::default()
                });
                None
            }
        }
    }

    fn write_blocking(&self, state: &SharedState, now: u64) -> anyhow::Result<Written> {
        let _one_at_a_time = self.writing.lock();
        let Backend::Embedded(store) = state.cache.backend() else {
            anyhow::bail!("snapshots are for the embedded store");
        };
        let hottest = state.hot.hottest(state.hot.config().capacity);
        write_snapshot(store, &hottest, &self.path, self.max_bytes, now)
            .with_context(|| format!("writing {}", self.path.display()))
    }

    /// Restores the file, then records how it ended (log, event, status,
    /// metrics) and releases readiness.
    async fn load(&self, state: &SharedState, stop: &CancellationToken) {
        let at_ms = state.cache.backend().now_millis();
        let started = Instant::now();
        self.status.lock().last_load = Some(LastLoad {
            at_ms,
            state: LoadState::Loading,
            entries: 0,
            skipped: 0,
            duration_ms: 0,
            error: None,
        });
        let fence = &self.fence;
        let Loaded { end, counts } = load::load(&self.path, &state.cache, fence, stop, |batch| {
            self.metrics.restored(batch);
            if let Some(load) = self.status.lock().last_load.as_mut() {
                load.entries += batch.inserted;
                load.skipped += batch.present + batch.expired + batch.too_large;
                load.duration_ms = started.elapsed().as_millis() as u64;
            }
        })
        .await;
        self.fence.finish();
        let duration = started.elapsed();
        self.metrics.loaded(duration.as_secs_f64());
        let skipped = counts.present + counts.expired + counts.too_large;
        let (state_now, error) = match end {
            LoadEnd::Missing => (LoadState::Skipped, Some("no snapshot".to_owned())),
            LoadEnd::Complete => (LoadState::Done, None),
            LoadEnd::Refused(e) => (LoadState::Skipped, Some(e.to_string())),
            LoadEnd::Partial(why) => (LoadState::Done, Some(why)),
            LoadEnd::Stopped => {
                self.load_cut_short.store(true, Ordering::Release);
                (LoadState::Done, Some(STOPPED.to_owned()))
            }
            LoadEnd::Interrupted(why) => (LoadState::Done, Some(format!("{INTERRUPTED}{why}"))),
            LoadEnd::Failed(e) => (LoadState::Failed, Some(e.to_string())),
        };
        self.report_load(
            state_now,
            error.as_deref(),
            counts.inserted,
            skipped,
            duration,
        );
        if let Some(load) = self.status.lock().last_load.as_mut() {
            load.state = state_now;
            load.entries = counts.inserted;
            load.skipped = skipped;
            load.duration_ms = duration.as_millis() as u64;
            load.error = error;
        }
        self.loading.store(false, Ordering::Release);
    }

    /// One log line and one event for how a load ended.
    fn report_load(
        &self,
        state: LoadState,
        error: Option<&str>,
        entries: u64,
        skipped: u64,
        duration: Duration,
    ) {
        let path = self.path.display();
        let duration_ms = duration.as_millis() as u64;
        let message = match (state, error) {
            (LoadState::Skipped, Some("no snapshot")) => {
                tracing::info!(%path, "no snapshot to load: starting cold");
                return;
            }
            (LoadState::Done, Some(STOPPED)) => {
                tracing::info!(%path, entries, duration_ms, "snapshot load stopped by shutdown; the file is kept");
                format!(
                    "snapshot load stopped by shutdown after {entries} entries; the file is kept"
                )
            }
            (LoadState::Done, Some(why)) if why.starts_with(INTERRUPTED) => {
                tracing::warn!(%path, entries, skipped, duration_ms, error = why, "snapshot load stopped by a client write; what it restored before is kept");
                format!(
                    "snapshot load {why}; {entries} entries restored before it in {duration_ms} ms"
                )
            }
            (LoadState::Done, None) => {
                tracing::info!(%path, entries, skipped, duration_ms, "snapshot loaded");
                format!(
                    "snapshot loaded: {entries} entries ({skipped} skipped) in {duration_ms} ms"
                )
            }
            (LoadState::Done, Some(why)) => {
                self.metrics.load_failed();
                tracing::warn!(%path, entries, skipped, duration_ms, error = why, "snapshot loaded up to its last good block");
                format!("snapshot loaded up to its last good block ({why}): {entries} entries in {duration_ms} ms")
            }
            (_, why) => {
                let why = why.unwrap_or("unknown");
                self.metrics.load_failed();
                tracing::warn!(%path, error = why, "snapshot not loaded: starting cold");
                format!("snapshot not loaded ({why}): starting cold")
            }
        };
        self.events.record(EventKind::Warming, message);
    }
}

/// Creates `dir` if missing and proves it writable by creating, syncing and
/// removing a file in it.
fn check_writable(dir: &Path) -> anyhow::Result<()> {
    fs::create_dir_all(dir).with_context(|| {
        format!(
            "ROOST_DATA_DIR {}: cannot create the snapshot directory",
            dir.display()
        )
    })?;
    let probe = dir.join(".roost-write-check");
    let written = fs::write(&probe, b"roost").and_then(|()| fs::File::open(&probe)?.sync_all());
    let _ = fs::remove_file(&probe);
    written.with_context(|| {
        format!(
            "ROOST_DATA_DIR {}: the snapshot directory is not writable",
            dir.display()
        )
    })
}
