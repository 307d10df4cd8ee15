//! Geographic coherence (issue 16; docs/regions.md): every region keeps its
//! own cache; each acknowledged write is versioned (a hybrid logical clock),
//! appended to this region's durable change log before the client is
//! answered, and pulled by every other region, which applies it only if it is
//! newer than what the key holds there.
//!
//! [`Geo`] is the service `server::start` builds when `ROOST_REGION` is set.
//! One file per concern:
//!
//! - `hlc.rs`: the clock versions come from.
//! - `record.rs`: one change as bytes (log and wire); `frame.rs`: the stream.
//! - `log.rs`, `cursors.rs`: the durable log and how far each peer was read.
//! - `sink.rs`: client writes into the log before their acknowledgement.
//! - `link.rs`: pulling one peer; `serve.rs`: being pulled, and the status
//!   endpoint; `status.rs`: what `GET /api/regions` shows.
//!
//! **Invariant:** a region's store is written only through `Cache::apply`:
//! replicated changes as `Change::Replicate` / `Change::DropOlder`.

pub mod cursors;
pub mod frame;
pub mod hlc;
pub mod link;
pub mod log;
pub mod record;
pub mod serve;
pub mod sink;
pub mod status;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use roost_store::{Clock, Version, Versioning};
use tokio_util::sync::CancellationToken;

use self::cursors::Cursors;
use self::hlc::Hlc;
use self::log::ChangeLog;
use self::sink::LogSink;
use self::status::{PeerLink, RegionsStatus};
use crate::cache::{Applied, Cache, Change, ChangeSink, Origin, Write};
use crate::config::{Config, GeoSettings};
use crate::tasks::Tasks;
use crate::telemetry::{EventKind, Events, GeoMetrics, Metrics};

/// How often cursors are persisted (when one moved).
const PERSIST_EVERY: Duration = Duration::from_millis(100);
/// How far before the newest logged version a restart looks in Redis for
/// writes the log did not get (`Geo::log_what_redis_kept`): longer than a
/// write waits on Redis and the log together.
const UNLOGGED_MARGIN_MS: u64 = 30_000;
/// How often the log is trimmed and the rates and log gauges refreshed.
const TICK_EVERY: Duration = Duration::from_secs(1);

/// A region: its clock, its log, and its links to the other regions.
#[derive(Debug)]
pub struct Geo {
    settings: GeoSettings,
    hlc: Arc<Hlc>,
    log: Arc<ChangeLog>,
    cursors: Arc<Cursors>,
    links: Vec<Arc<PeerLink>>,
    metrics: Arc<GeoMetrics>,
    events: Arc<Events>,
    /// The largest value a replicated record may carry (`ROOST_MAX_VALUE_BYTES`).
    max_value_bytes: usize,
    /// The server's shutdown token: ends the streams this region serves.
    stop: CancellationToken,
}

impl Geo {
    /// The region `config` asks for, with its log and cursors opened under
    /// `$ROOST_DATA_DIR/geo/` (an error names what could not be opened);
    /// `None` without `ROOST_REGION`.
    pub fn open(
        config: &Config,
        clock: Arc<dyn Clock>,
        metrics: &Metrics,
        events: Arc<Events>,
        stop: CancellationToken,
    ) -> anyhow::Result<Option<Arc<Geo>>> {
        let Some(settings) = config.geo.clone() else {
            return Ok(None);
        };
        let data_dir = config
            .warming
            .data_dir
            .as_deref()
            .context("a region needs ROOST_DATA_DIR")?;
        let dir = data_dir.join("geo");
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("creating the region's directory {}", dir.display()))?;
        let log = ChangeLog::open(
            &dir.join("log"),
            settings.log_max_bytes,
            settings.log_max_age,
            clock.clone(),
        )
        .context("opening the region's change log")?;
        let cursors =
            Cursors::open(&dir.join("cursors.json")).context("opening the region's cursors")?;
        let hlc = Hlc::new(clock, settings.region_index(), settings.max_clock_skew);
        let links = settings
            .peers
            .iter()
            .map(|peer| Arc::new(PeerLink::new(peer.clone())))
            .collect();
        let geo = Geo {
            hlc: Arc::new(hlc),
            log: Arc::new(log),
            cursors: Arc::new(cursors),
            links,
            metrics: Arc::new(GeoMetrics::register(metrics)),
            events,
            max_value_bytes: config.limits.max_value_bytes,
            stop,
            settings,
        };
        geo.announce(data_dir);
        Ok(Some(Arc::new(geo)))
    }

    fn announce(&self, data_dir: &Path) {
        let s = &self.settings;
        let peers: Vec<&str> = s.peers.iter().map(|p| p.name.as_str()).collect();
        let message = format!(
            "region {} (index {}), {} mode, peers [{}]; change log in {}",
            s.region,
            s.region_index(),
            s.mode.as_str(),
            peers.join(", "),
            data_dir.join("geo").display()
        );
        tracing::info!(%message, "geographic coherence on");
        self.events.record(EventKind::Region, message);
    }

    pub fn settings(&self) -> &GeoSettings {
        &self.settings
    }

    /// The clock every version of this region comes from.
    pub fn hlc(&self) -> &Arc<Hlc> {
        &self.hlc
    }

    /// What the embedded store stamps its writes and deletes with.
    pub fn versioning(&self) -> Versioning {
        let hlc = self.hlc.clone();
        Versioning {
            stamp: Arc::new(move || hlc.now()),
            tombstone_ttl_ms: u64::try_from(self.settings.tombstone_ttl.as_millis())
                .unwrap_or(u64::MAX),
        }
    }

    /// What a Redis fleet or Redis Cluster stamps its writes with and keeps
    /// its tombstones for (`backend/fleet/versions.rs`).
    pub fn fleet_versions(&self) -> crate::backend::fleet::Versions {
        let ttl_ms = u64::try_from(self.settings.tombstone_ttl.as_millis()).unwrap_or(u64::MAX);
        crate::backend::fleet::Versions::new(self.hlc.clone(), ttl_ms)
    }

    /// What the Cache hands each acknowledged client write to.
    pub fn sink(&self, tasks: &Tasks) -> Arc<dyn ChangeSink> {
        Arc::new(LogSink::new(
            self.log.clone(),
            self.hlc.region(),
            self.settings.mode,
            self.metrics.clone(),
            tasks.clone(),
        ))
    }

    /// Whether `presented` is this region's secret (none configured: nothing is).
    pub fn admits(&self, presented: Option<&str>) -> bool {
        match (&self.settings.secret, presented) {
            (Some(secret), Some(presented)) => serve::secret_matches(secret, presented),
            _ => false,
        }
    }

    /// Starts a link per peer and the region's upkeep (cursors persisted at
    /// most every 100 ms, the log trimmed every second).
    pub fn spawn(self: &Arc<Self>, tasks: &Tasks, cache: &Cache) {
        for link in &self.links {
            let (geo, link, cache) = (self.clone(), link.clone(), cache.clone());
            tasks.spawn("geo-link", move |stop| link::run(geo, link, cache, stop));
        }
        let geo = self.clone();
        tasks.spawn("geo-upkeep", move |stop| async move {
            geo.upkeep(stop).await;
            Ok(())
        });
    }

    async fn upkeep(self: Arc<Self>, stop: CancellationToken) {
        let mut tick = tokio::time::interval(PERSIST_EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let per_second = (TICK_EVERY.as_millis() / PERSIST_EVERY.as_millis()).max(1);
        let mut ticks: u128 = 0;
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            self.persist_cursors().await;
            ticks += 1;
            if ticks % per_second == 0 {
                self.trim().await;
                for link in &self.links {
                    link.sample_rate(TICK_EVERY.as_secs_f64());
                }
            }
        }
    }

    /// Trims the log to its retention and publishes its size.
    async fn trim(self: &Arc<Self>) {
        let log = self.log.clone();
        match Tasks::run_blocking(move || log.trim()).await {
            Ok(Ok(removed)) if removed > 0 => {
                tracing::debug!(removed, "change log trimmed");
            }
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::warn!(%error, "trimming the change log failed"),
            Err(error) => tracing::warn!(%error, "trimming the change log failed"),
        }
        let bytes = self.log.stats().bytes;
        self.metrics
            .log_bytes
            .set(i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    /// Writes the cursors durably if one moved (also called at shutdown).
    pub async fn persist_cursors(&self) {
        let cursors = self.cursors.clone();
        match Tasks::run_blocking(move || cursors.persist()).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => tracing::warn!(%error, "persisting the region's cursors failed"),
            Err(error) => tracing::warn!(%error, "persisting the region's cursors failed"),
        }
    }

    /// Replays this region's own retained log into `cache` before anything
    /// serves: after a `kill -9` the store comes back empty while the peers
    /// still hold this region's acknowledged writes, and the links re-read
    /// the peers' logs from their start. Without its own changes back, a
    /// restarted region would take a peer's older value over its own newer
    /// write. Each record also moves the clock past it (`Hlc::resume`), so a
    /// version is never issued twice across a restart. Invalidate mode logs
    /// no value bytes: its own writes come back as tombstones at their
    /// versions (the key misses here, and nothing older can land on it).
    ///
    /// If retention trimmed part of the log, the trimmed changes cannot come
    /// back: the clock moves past the newest of them, and
    /// `Change::DropOlder` raises the store's forgotten floor above it, so a
    /// peer's older change for one of those keys is not taken as fresh.
    /// Answers how many records were replayed.
    pub async fn replay_own_log(&self, cache: &Cache) -> anyhow::Result<u64> {
        const BATCH_RECORDS: usize = 4096;
        const BATCH_BYTES: usize = 4 << 20;
        let started = std::time::Instant::now();
        let ttl_ms = u64::try_from(self.settings.tombstone_ttl.as_millis()).unwrap_or(u64::MAX);
        let mut from = 0;
        if let Some(log::LogRead::Gap {
            first,
            trimmed_through,
        }) = self.log.trimmed()
        {
            self.forget_through(cache, trimmed_through)
                .await
                .context("dropping what this region's trimmed log no longer proves")?;
            from = first;
        }
        let (mut replayed, mut stored) = (0u64, 0u64);
        // The newest version this region's log holds (or trimmed).
        let mut newest = Version::NONE;
        loop {
            let items = match self.log.read(from, BATCH_RECORDS, BATCH_BYTES).await? {
                log::LogRead::Records(items) => items,
                // Retention trimmed under the replay: what went is forgotten
                // like the rest, and the replay goes on from what is kept.
                log::LogRead::Gap {
                    first,
                    trimmed_through,
                } => {
                    self.forget_through(cache, trimmed_through)
                        .await
                        .context("dropping what this region's trimmed log no longer proves")?;
                    from = first;
                    continue;
                }
            };
            let Some(&(last, _)) = items.last() else {
                break;
            };
            let mut entries = Vec::with_capacity(items.len());
            for (seq, bytes) in items {
                let record = record::Record::decode(&bytes, self.max_value_bytes)
                    .with_context(|| format!("record {seq} of this region's change log"))?;
                self.hlc.resume(record.version);
                newest = newest.max(record.version);
                entries.push(record.into_entry(
                    self.settings.mode,
                    self.hlc.physical_now(),
                    ttl_ms,
                ));
            }
            replayed += entries.len() as u64;
            let write = Write {
                change: Change::Replicate(entries),
                origin: Origin::Region,
            };
            stored += cache.apply(write).await?.into_replicated().applied;
            from = last + 1;
        }
        if replayed > 0 {
            let message = format!(
                "replayed {replayed} changes of this region's own log ({stored} stored) in {} ms",
                started.elapsed().as_millis()
            );
            tracing::info!(%message, "region restart");
            self.events.record(EventKind::Region, message);
        }
        self.log_what_redis_kept(cache, newest).await?;
        Ok(replayed)
    }

    /// In front of Redis, writes outlive the gateway: one whose script ran
    /// just before a `kill -9`, with its record not yet durable, is in Redis
    /// but in no log, and the other regions would never get it. At start,
    /// every key this region stamped after the newest version its log holds
    /// is logged now, as it is.
    async fn log_what_redis_kept(&self, cache: &Cache, newest: Version) -> anyhow::Result<()> {
        let crate::backend::Backend::Fleet(fleet) = cache.backend() else {
            return Ok(());
        };
        let trimmed = match self.log.trimmed() {
            Some(log::LogRead::Gap {
                trimmed_through, ..
            }) => Version::new(trimmed_through).unwrap_or(Version::MAX),
            _ => Version::NONE,
        };
        // Writes stamped a little before the newest logged one may have
        // missed their group commit: look that far back too (logging a state
        // again is harmless: the others take it as already held).
        let newest = newest.max(trimmed);
        let since_ms = hlc::physical_ms(newest).saturating_sub(UNLOGGED_MARGIN_MS);
        let after = if newest.is_none() {
            Version::NONE
        } else {
            hlc::compose(since_ms, 0, 0)
        };
        let region = self.hlc.region();
        let entries = fleet
            .own_unlogged(region, after)
            .await
            .context("looking in Redis for writes the log did not get")?;
        if entries.is_empty() {
            return Ok(());
        }
        for (_, entry) in &entries {
            self.hlc.resume(entry.version());
        }
        let records = sink::records(region, self.settings.mode, entries);
        let count = records.len();
        self.log
            .append(records)
            .await
            .context("logging writes found in Redis beyond the log")?;
        let message = format!(
            "logged {count} writes Redis kept after the log's last record (the gateway stopped between a write and its record)"
        );
        tracing::warn!(%message, "region restart");
        self.events.record(EventKind::Region, message);
        Ok(())
    }

    /// Changes up to version `trimmed_through` can no longer be sent or
    /// replayed: the clock moves past them, so later writes here stamp
    /// newer, and every entry older than them goes (`Change::DropOlder`,
    /// which also raises the store's forgotten floor). Answers how many
    /// entries went; nothing happens for 0 (nothing was trimmed).
    pub(crate) async fn forget_through(
        &self,
        cache: &Cache,
        trimmed_through: u64,
    ) -> anyhow::Result<u64> {
        let Some(trimmed) = Version::new(trimmed_through).filter(|v| !v.is_none()) else {
            return Ok(0);
        };
        self.hlc.resume(trimmed);
        let floor = Version::new(trimmed_through.saturating_add(1)).unwrap_or(Version::MAX);
        let write = Write {
            change: Change::DropOlder(floor),
            origin: Origin::Region,
        };
        match cache.apply(write).await? {
            Applied::Count(dropped) => Ok(dropped),
            other => anyhow::bail!(
                "dropping entries older than version {} answered {other:?}",
                floor.get()
            ),
        }
    }

    /// What `GET /api/regions` answers.
    pub fn status(&self) -> RegionsStatus {
        RegionsStatus {
            enabled: true,
            region: self.settings.region.clone(),
            mode: self.settings.mode.as_str(),
            version: self.hlc.now().get().to_string(),
            log: self.log.stats().into(),
            peers: self.links.iter().map(|link| link.view()).collect(),
        }
    }
}

/// Region "us" with one peer "eu" (never dialled) in replicate mode, its
/// data under `dir`, on `clock`, with `env` on top: what the geo modules'
/// unit tests build on. Answers the region and the metrics it registered.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) fn test_geo(
    dir: &Path,
    clock: &roost_store::ManualClock,
    env: &[(&str, &str)],
) -> (Arc<Geo>, Arc<Metrics>) {
    let mut vars: std::collections::HashMap<String, String> = [
        ("ROOST_REGION", "us"),
        ("ROOST_REGION_PEERS", "eu=http://127.0.0.1:9"),
        ("ROOST_REGION_SECRET", "0123456789abcdef"),
        ("ROOST_GEO_MODE", "replicate"),
        ("ROOST_DATA_DIR", dir.to_str().unwrap()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    vars.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let config = Config::from_layers(&crate::config::Layers::defaults().with_env(&vars)).unwrap();
    let metrics = Arc::new(Metrics::new());
    let geo = Geo::open(
        &config,
        Arc::new(clock.clone()),
        &metrics,
        Arc::new(Events::default()),
        CancellationToken::new(),
    )
    .unwrap()
    .unwrap();
    (geo, metrics)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;
    use roost_store::ManualClock;

    use super::record::{Kind, Record};
    use super::*;

    const T0: u64 = 1_750_000_000_000;

    fn record(key: &str, value: Vec<u8>, version: Version) -> (u64, Bytes) {
        let bytes = Record {
            version,
            kind: Kind::Value,
            expires_at: None,
            key: Bytes::copy_from_slice(key.as_bytes()),
            value: Bytes::from(value),
        }
        .encode();
        (version.get(), bytes)
    }

    #[tokio::test]
    async fn the_replay_moves_the_clock_past_what_its_own_log_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let clock = ManualClock::new(T0);
        let big = || vec![1u8; 600 << 10];
        let (geo, _) = test_geo(
            dir.path(),
            &clock,
            &[
                ("ROOST_GEO_LOG_MAX_BYTES", "1MiB"),
                ("ROOST_MAX_VALUE_BYTES", "1MiB"),
            ],
        );
        // Stamped while the clock ran a minute ahead, then trimmed.
        let ahead = hlc::compose(T0 + 60_000, 0, geo.hlc.region());
        let kept = hlc::compose(T0, 0, geo.hlc.region());
        geo.log
            .append(vec![record("a", big(), ahead)])
            .await
            .unwrap();
        geo.log
            .append(vec![record("b", big(), kept)])
            .await
            .unwrap();
        geo.log
            .append(vec![record("c", big(), kept)])
            .await
            .unwrap();
        assert!(geo.log.trim().unwrap() > 0);
        assert!(matches!(
            geo.log.trimmed(),
            Some(log::LogRead::Gap { trimmed_through, .. }) if trimmed_through == ahead.get()
        ));
        drop(geo);

        // Restarted: the same directory, an empty store.
        let (geo, _) = test_geo(
            dir.path(),
            &clock,
            &[
                ("ROOST_GEO_LOG_MAX_BYTES", "1MiB"),
                ("ROOST_MAX_VALUE_BYTES", "1MiB"),
            ],
        );
        let cache =
            crate::cache::test_cache_versioned(Arc::new(clock.clone()), Some(geo.versioning()));
        geo.replay_own_log(&cache).await.unwrap();
        assert!(
            geo.hlc.now() > ahead,
            "a version at or below a trimmed one would be issued again"
        );
    }
}
