//! `roost-bench trace`: replays the key-only traces in `shared/traces` and compares the
//! store's eviction policy against exact LRU, exact Bélády (OPT) and published figures.
//!
//! Submodules: `formats` decodes files, `catalog` lists traces and published numbers,
//! `lru` and `belady` are the exact reference simulators, `replay` drives the real
//! `roost-store`, and `table` prints and serialises the results.

pub mod belady;
pub mod catalog;
pub mod formats;
pub mod lru;

use std::path::{Path, PathBuf};

use catalog::TraceSpec;
use formats::DecodeError;

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
    fn scarab_at_100k_matches_lru_and_opt() {
        let scarab = load("scarab");
        let lru = lru::lru_hits(&scarab.ids, scarab.unique, 100_000);
        let opt = belady::belady_hits(&scarab.ids, scarab.unique, 100_000);
        assert_eq!(two_decimals(scarab.percent(lru)), 75.91);
        assert_eq!(two_decimals(scarab.percent(opt)), 79.25);
    }
}
