//! `roost-bench trace`: replays the key-only traces in `shared/traces` and compares the
//! store's eviction policy against exact LRU, exact Bélády (OPT) and published figures.
//!
//! Submodules: `formats` decodes files, `catalog` lists traces and published numbers,
//! `lru`, `arc`, `lirs` and `belady` are the exact reference simulators (over the
//! `id_list` they share), `replay` drives the real
//! `roost-store`, `live` replays against a running server over RESP or HTTP, and
//! `table` prints and serialises the results.

pub mod arc;
pub mod belady;
pub mod catalog;
pub mod formats;
mod id_list;
pub mod lirs;
pub mod live;
pub mod lru;
pub mod replay;
pub mod table;

use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};

use roost_store::PolicyKind;

use catalog::{PublishedPolicy, TraceSpec};
use formats::DecodeError;
use replay::ReplayError;
use table::{PolicyScore, TraceReport, TraceRow};

/// What `roost-bench trace` replays.
#[derive(Debug, Clone)]
pub struct TraceOptions {
    pub traces_dir: PathBuf,
    pub traces: Vec<&'static TraceSpec>,
    pub policies: Vec<PolicyKind>,
    pub shards: NonZeroUsize,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error("{trace}: decoded {requests} requests / {unique} keys, README says {expected_requests} / {expected_unique}; wrong file?")]
    CountMismatch {
        trace: &'static str,
        requests: usize,
        unique: usize,
        expected_requests: usize,
        expected_unique: usize,
    },
    #[error("live replay: {0}")]
    Live(#[from] live::LiveError),
    #[error("{trace} @ {size}: {source}")]
    Replay {
        trace: &'static str,
        size: usize,
        source: ReplayError,
    },
}

/// Replays every requested trace at every size; `on_row` sees each row as soon as it
/// is computed (the slow traces take seconds each).
pub fn run_traces(
    options: &TraceOptions,
    mut on_row: impl FnMut(&TraceRow),
) -> Result<TraceReport, TraceError> {
    let mut rows = Vec::new();
    for spec in &options.traces {
        let trace = LoadedTrace::load(&options.traces_dir, spec)?;
        if trace.keys.len() != spec.requests || trace.unique != spec.unique {
            return Err(TraceError::CountMismatch {
                trace: spec.name,
                requests: trace.keys.len(),
                unique: trace.unique,
                expected_requests: spec.requests,
                expected_unique: spec.unique,
            });
        }
        for &size in spec.sizes {
            let row = replay_size(&trace, size, options)?;
            on_row(&row);
            rows.push(row);
        }
    }
    let dir = options.traces_dir.display().to_string();
    Ok(TraceReport::new(dir, options.shards.get(), rows))
}

fn replay_size(
    trace: &LoadedTrace,
    size: usize,
    options: &TraceOptions,
) -> Result<TraceRow, TraceError> {
    let name = trace.spec.name;
    let lru_percent = trace.percent(lru::lru_hits(&trace.ids, trace.unique, size));
    let arc_percent = trace.percent(arc::arc_hits(&trace.ids, trace.unique, size));
    let lirs_percent = trace.percent(lirs::lirs_hits(&trace.ids, trace.unique, size));
    let opt_percent = trace.percent(belady::belady_hits(&trace.ids, trace.unique, size));
    let policies = options
        .policies
        .iter()
        .map(|&policy| {
            let hits = replay::store_hits(&trace.keys, size, policy, options.shards).map_err(
                |source| TraceError::Replay {
                    trace: name,
                    size,
                    source,
                },
            )?;
            let hit_percent = trace.percent(hits);
            Ok(PolicyScore {
                policy: policy.to_string(),
                hit_percent,
                of_opt: table::ratio_of_opt(hit_percent, opt_percent),
            })
        })
        .collect::<Result<Vec<_>, TraceError>>()?;
    Ok(TraceRow {
        trace: name,
        size,
        requests: trace.keys.len(),
        lru_percent,
        arc_percent,
        lirs_percent,
        opt_percent,
        policies,
        published_w_tinylfu: catalog::published(name, size, PublishedPolicy::WTinyLfu)
            .map(Into::into),
        published_arc: catalog::published(name, size, PublishedPolicy::Arc).map(Into::into),
    })
}

/// A decoded trace ready for the simulators.
#[derive(Debug)]
pub struct LoadedTrace {
    pub spec: &'static TraceSpec,
    /// The original keys, in request order.
    pub keys: Vec<u64>,
    /// The same requests as dense ids `0..unique`.
    pub ids: Vec<u32>,
    pub unique: usize,
}

impl LoadedTrace {
    /// Decodes `spec`'s file from `traces_dir`.
    pub fn load(traces_dir: &Path, spec: &'static TraceSpec) -> Result<Self, DecodeError> {
        let keys =
            formats::decode_trace(&traces_dir.join(spec.file), spec.compression, spec.encoding)?;
        let (ids, unique) = formats::dense_ids(&keys);
        Ok(Self {
            spec,
            keys,
            ids,
            unique,
        })
    }

    /// Hit ratio in percent of a count of hits over this trace's requests.
    pub fn percent(&self, hits: u64) -> f64 {
        if self.keys.is_empty() {
            return 0.0;
        }
        100.0 * hits as f64 / self.keys.len() as f64
    }
}

/// Where the traces live: `ROOST_TRACES_DIR` if set, else `../shared/traces` from the
/// current directory, else `../shared/traces` from the repository this binary was
/// built in. The first candidate that is a directory wins.
pub fn default_traces_dir(env_value: Option<&str>) -> PathBuf {
    if let Some(dir) = env_value.filter(|dir| !dir.is_empty()) {
        return PathBuf::from(dir);
    }
    let from_cwd = PathBuf::from("../shared/traces");
    if from_cwd.is_dir() {
        return from_cwd;
    }
    // CARGO_MANIFEST_DIR is crates/roost-bench; the repository root is two levels up.
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/traces")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn traces_dir() -> PathBuf {
        default_traces_dir(std::env::var("ROOST_TRACES_DIR").ok().as_deref())
    }

    fn load(name: &str) -> LoadedTrace {
        LoadedTrace::load(&traces_dir(), catalog::find_trace(name).unwrap()).unwrap()
    }

    /// Rounds to the README's two decimals.
    fn two_decimals(percent: f64) -> f64 {
        (percent * 100.0).round() / 100.0
    }

    /// Options replaying one trace through the store's strict LRU, on one shard.
    fn lru_options(trace: &str) -> TraceOptions {
        TraceOptions {
            traces_dir: traces_dir(),
            traces: vec![catalog::find_trace(trace).unwrap()],
            policies: vec![PolicyKind::Lru],
            shards: NonZeroUsize::MIN,
        }
    }

    #[test]
    fn run_reports_rows_with_published_figures_and_averages() {
        let options = lru_options("glimpse");
        let mut streamed = 0;
        let report = run_traces(&options, |_| streamed += 1).unwrap();
        assert_eq!((streamed, report.rows.len()), (8, 8));
        let at_2000 = &report.rows[7];
        assert_eq!(
            (at_2000.size, two_decimals(at_2000.opt_percent)),
            (2000, 57.96)
        );
        assert_eq!(
            at_2000.published_w_tinylfu.as_ref().map(|p| p.hit_percent),
            Some(57.5)
        );
        // The store's strict LRU must score what the exact simulator scores.
        assert_eq!(two_decimals(at_2000.policies[0].hit_percent), 57.41);
        assert!(report.averages[0].mean_of_opt > 0.0 && report.averages[0].mean_of_opt < 1.0);
    }

    #[test]
    fn every_trace_decodes_to_the_readme_counts() {
        for spec in catalog::TRACES {
            let trace = LoadedTrace::load(&traces_dir(), spec).unwrap();
            assert_eq!(trace.keys.len(), spec.requests, "{} requests", spec.name);
            assert_eq!(trace.unique, spec.unique, "{} unique keys", spec.name);
        }
    }

    #[test]
    fn lru_reproduces_readme_exact_figures() {
        let oltp = load("oltp");
        assert_eq!(
            two_decimals(oltp.percent(lru::lru_hits(&oltp.ids, oltp.unique, 1000))),
            32.83
        );
        let sprite = load("sprite");
        assert_eq!(
            two_decimals(sprite.percent(lru::lru_hits(&sprite.ids, sprite.unique, 100))),
            21.58
        );
        let glimpse = load("glimpse");
        let expected = [(250, 0.91), (1000, 11.21), (2000, 57.41)];
        for (size, percent) in expected {
            let hits = lru::lru_hits(&glimpse.ids, glimpse.unique, size);
            assert_eq!(
                two_decimals(glimpse.percent(hits)),
                percent,
                "glimpse {size}"
            );
        }
    }

    #[test]
    fn belady_reproduces_readme_exact_figures() {
        let sprite = load("sprite");
        for (size, percent) in [(100, 50.80), (1000, 93.24)] {
            let hits = belady::belady_hits(&sprite.ids, sprite.unique, size);
            assert_eq!(two_decimals(sprite.percent(hits)), percent, "sprite {size}");
        }
        let multi2 = load("multi2");
        let hits = belady::belady_hits(&multi2.ids, multi2.unique, 600);
        assert_eq!(two_decimals(multi2.percent(hits)), 55.51);
        let glimpse = load("glimpse");
        let hits = belady::belady_hits(&glimpse.ids, glimpse.unique, 250);
        assert_eq!(two_decimals(glimpse.percent(hits)), 17.64);
    }

    #[test]
    fn scarab_at_100k_matches_published_lru_arc_lirs_and_opt() {
        let scarab = load("scarab");
        let percent = |hits: u64| scarab.percent(hits);
        let (ids, unique) = (&scarab.ids, scarab.unique);
        assert_eq!(
            two_decimals(percent(lru::lru_hits(ids, unique, 100_000))),
            75.91
        );
        assert_eq!(
            two_decimals(percent(belady::belady_hits(ids, unique, 100_000))),
            79.25
        );
        // Caffeine issue #106 prints ARC 76.09 and LIRS 74.30 (its simulator's own
        // implementations: an integer ARC target, a bounded LIRS stack).
        let arc = percent(arc::arc_hits(ids, unique, 100_000));
        assert!((arc - 76.09).abs() < 0.02, "ARC {arc:.3}");
        let lirs = percent(lirs::lirs_hits(ids, unique, 100_000));
        assert!((lirs - 74.30).abs() < 0.05, "LIRS {lirs:.3}");
    }

    #[test]
    fn no_reference_simulator_beats_the_optimum_of_its_size() {
        // A simulator that kept more than `capacity` keys could score more than Bélády.
        // A repeatable mix of a hot set (ids 0..10) and a wider one (0..100).
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let ids: Vec<u32> = (0..20_000)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let modulus = if state % 3 == 0 { 100 } else { 10 };
                ((state >> 8) % modulus) as u32
            })
            .collect();
        type Simulator = fn(&[u32], usize, usize) -> u64;
        let simulators: [(&str, Simulator); 3] = [
            ("lru", lru::lru_hits),
            ("arc", arc::arc_hits),
            ("lirs", lirs::lirs_hits),
        ];
        for (name, simulate) in simulators {
            for capacity in [1, 2, 5, 10, 40] {
                let optimum = belady::belady_hits(&ids, 100, capacity);
                let hits = simulate(&ids, 100, capacity);
                assert!(hits <= optimum, "{name} at {capacity}: {hits} > {optimum}");
                assert!(hits > 0, "{name} at {capacity}");
            }
            assert_eq!(simulate(&[0, 0, 0], 1, 0), 0, "{name} with no room");
        }
    }

    #[test]
    fn arc_reproduces_the_arc_papers_oltp_figures() {
        let oltp = load("oltp");
        let arc = |size| two_decimals(oltp.percent(arc::arc_hits(&oltp.ids, oltp.unique, size)));
        assert_eq!(arc(2000), 46.08);
        assert_eq!(arc(5000), 55.25);
        // Recalled as 38.93 (the README asks for a re-check against the paper).
        assert!((arc(1000) - 38.93).abs() < 0.05, "{}", arc(1000));
    }

    #[test]
    fn the_report_carries_arc_lirs_and_the_best_per_row() {
        let report = run_traces(&lru_options("loop"), |_| {}).unwrap();
        // loop is a pure cycle: LRU and ARC score nothing below its 1,011 keys, LIRS
        // keeps a fixed set and comes within a few percent of OPT.
        for row in &report.rows {
            assert_eq!(
                (row.lru_percent, row.arc_percent),
                (0.0, 0.0),
                "{}",
                row.size
            );
            assert!(row.lirs_percent > 0.95 * row.opt_percent, "{row:?}");
        }
        let lirs = &report.reference_averages[2];
        assert_eq!(lirs.policy, "lirs");
        assert!((report.best_per_row_mean_of_opt - lirs.mean_of_opt).abs() < 1e-12);
    }
}
