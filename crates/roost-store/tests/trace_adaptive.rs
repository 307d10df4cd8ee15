//! Pins the adaptive policy's hit ratios on small slices of the shared traces, so a
//! change that makes it worse fails here before the full replay is run: glimpse
//! (looping, frequency must win), sprite (recency-friendly) and the first part of
//! scarab-recs (frequency misleads: the policy must stay close to strict LRU). Floors
//! sit a little under what `examples/replay.rs` measured; the policy is deterministic.

mod support {
    pub mod traces;
}

use roost_store::PolicyKind;
use support::traces::{hit_percent, load_keys, traces_dir, TraceSpec, TRACES};

fn spec_of(name: &str) -> &'static TraceSpec {
    TRACES
        .iter()
        .find(|spec| spec.name == name)
        .expect("every checked trace is listed")
}

fn keys_of(spec: &TraceSpec) -> Vec<u64> {
    load_keys(&traces_dir(), spec)
        .unwrap_or_else(|err| panic!("shared traces missing (set ROOST_TRACES_DIR): {err}"))
}

#[test]
fn adaptive_keeps_its_measured_hit_ratios_on_glimpse_and_sprite() {
    // glimpse at its README sizes (500, 1000, 2000): measured adaptive % and strict LRU %.
    let gli = spec_of("gli");
    let measured_gli = [(33.38, 0.95), (49.78, 11.21), (57.96, 57.41)];
    let gli_keys = keys_of(gli);
    let mut checks: Vec<(&str, &[u64], u64, f64, f64)> = gli
        .sizes
        .iter()
        .zip(measured_gli)
        .map(|(&size, (measured, lru))| ("gli", gli_keys.as_slice(), size, measured, lru))
        .collect();
    let sprite_keys = keys_of(spec_of("sprite"));
    checks.push(("sprite", &sprite_keys, 200, 48.44, 39.88));
    for (name, keys, size, measured, lru) in checks {
        let adaptive = hit_percent(PolicyKind::Adaptive, keys, size);
        assert!(
            adaptive >= measured - 0.3,
            "{name}@{size}: adaptive {adaptive:.2}% fell below {measured:.2}%"
        );
        assert!(adaptive >= lru, "{name}@{size}: {adaptive:.2}% below lru");
    }
}

#[test]
fn adaptive_follows_lru_where_frequency_misleads() {
    let keys = keys_of(spec_of("scarab-recs"));
    let prefix = &keys[..SCARAB_PREFIX];
    let lru = hit_percent(PolicyKind::Lru, prefix, 5_000);
    let adaptive = hit_percent(PolicyKind::Adaptive, prefix, 5_000);
    assert!(
        adaptive >= lru - 1.0,
        "scarab prefix @5000: adaptive {adaptive:.2}% vs lru {lru:.2}%"
    );
    // Measured 45.63 % (lru 41.15 %); 45.99 % while entries were charged 176
    // bytes: adaptive sizes its sketch from the entry count the capacity implies.
    assert!(
        adaptive >= 45.4,
        "scarab prefix @5000: adaptive {adaptive:.2}%"
    );
}

/// The first requests of scarab-recs: enough for several epochs at 5000 entries.
const SCARAB_PREFIX: usize = 200_000;
