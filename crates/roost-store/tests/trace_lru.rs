//! Checks the weight arithmetic end to end: strict LRU replayed through a shard
//! sized for exactly `size` entries must reproduce the exact LRU hit ratios
//! published in the shared traces' README (small traces only, to stay fast).

mod support {
    pub mod traces;
}

use roost_store::PolicyKind;
use support::traces::{hit_percent, load_keys, traces_dir, TRACES};

/// (trace, size, README's exact LRU hit %)
const EXACT_LRU: &[(&str, u64, f64)] = &[
    ("gli", 500, 0.95),
    ("gli", 1000, 11.21),
    ("gli", 2000, 57.41),
    ("multi2", 600, 37.13),
    ("multi2", 1800, 48.49),
    ("sprite", 100, 21.58),
    ("sprite", 400, 70.77),
    ("sprite", 1000, 90.64),
    ("loop", 512, 0.00),
    ("web07", 300, 41.90),
    ("web12", 1200, 66.85),
];

#[test]
fn strict_lru_reproduces_the_published_figures() {
    let dir = traces_dir();
    for &(name, size, expected) in EXACT_LRU {
        let spec = TRACES
            .iter()
            .find(|spec| spec.name == name)
            .expect("every checked trace is listed");
        // Each checked point is also a row of the replay table behind the default policy.
        assert!(
            spec.sizes.contains(&size),
            "{name}@{size} not in the replay sizes"
        );
        let keys = load_keys(&dir, spec)
            .unwrap_or_else(|err| panic!("shared traces missing (set ROOST_TRACES_DIR): {err}"));
        let measured = hit_percent(PolicyKind::Lru, &keys, size);
        assert!(
            (measured - expected).abs() < 0.005 + 1e-9,
            "{name}@{size}: lru {measured:.4}% vs published {expected:.2}%"
        );
    }
}
