//! Replays the shared key-only traces through one shard per policy and prints
//! hit-ratio tables (markdown), the evidence behind `PolicyKind::default()`:
//! first every trace at its README sizes, each point beside Bélády's optimum (OPT),
//! with the mean hit % and the mean ratio to OPT per policy; then glimpse and OLTP at
//! 250..2000 beside the published W-TinyLFU figures.
//! `cargo run --release -p roost-store --example replay [-- POLICIES [TRACES]]`, where
//! POLICIES and TRACES are comma-separated names (default: all). ROOST_TRACES_DIR
//! overrides where the traces are read from.

#[path = "../tests/support/traces.rs"]
mod traces;

use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use roost_store::PolicyKind;
use traces::{hit_percent, load_keys, traces_dir, TRACES};

/// Caffeine wiki charts (read off, ±1 point), sizes 250..=2000 step 250.
const PUBLISHED_WTINYLFU: &[(&str, [f64; 8])] = &[
    ("gli", [15.5, 33.5, 43.5, 50.5, 52.0, 53.5, 55.5, 57.5]),
    ("oltp", [24.5, 33.0, 38.0, 39.5, 42.5, 43.5, 45.0, 46.0]),
];

fn main() -> std::io::Result<()> {
    let started = Instant::now();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let policies: Vec<PolicyKind> = match args.first() {
        Some(list) => list
            .split(',')
            .map(|name| name.parse().map_err(std::io::Error::other))
            .collect::<Result<_, _>>()?,
        None => PolicyKind::ALL.to_vec(),
    };
    let wanted = |name: &str| {
        args.get(1)
            .is_none_or(|list| list.split(',').any(|t| t == name))
    };
    let dir = traces_dir();
    let mut header = String::from("| trace | size |");
    for policy in &policies {
        header.push_str(&format!(" {policy} % |"));
    }
    println!("{header} OPT % |");
    println!("|---|---|{}---|", "---|".repeat(policies.len()));
    let mut hit_sums = vec![0.0f64; policies.len()];
    let mut ratio_sums = vec![0.0f64; policies.len()];
    let mut rows = 0u32;
    for spec in TRACES.iter().filter(|spec| wanted(spec.name)) {
        let keys = load_keys(&dir, spec)?;
        for &size in spec.sizes {
            let opt = optimal_percent(&keys, size);
            let mut row = format!("| {} | {size} |", spec.name);
            for (i, &policy) in policies.iter().enumerate() {
                let hit = hit_percent(policy, &keys, size);
                hit_sums[i] += hit;
                ratio_sums[i] += if opt > 0.0 { hit / opt } else { 1.0 };
                row.push_str(&format!(" {hit:.2} |"));
            }
            println!("{row} {opt:.2} |");
            rows += 1;
        }
    }
    let mut mean = String::from("| **mean hit %** | |");
    let mut ratio = String::from("| **mean hit / OPT** | |");
    for (hit_sum, ratio_sum) in hit_sums.iter().zip(&ratio_sums) {
        mean.push_str(&format!(" **{:.2}** |", hit_sum / f64::from(rows)));
        ratio.push_str(&format!(" **{:.3}** |", ratio_sum / f64::from(rows)));
    }
    println!("{mean} |\n{ratio} |");
    published_comparison(&dir, &policies, &wanted)?;
    eprintln!("replayed in {:.1?}", started.elapsed());
    Ok(())
}

/// glimpse and OLTP at 250..=2000 beside the published W-TinyLFU figures.
fn published_comparison(
    dir: &std::path::Path,
    policies: &[PolicyKind],
    wanted: &dyn Fn(&str) -> bool,
) -> std::io::Result<()> {
    println!("\n| trace | size | W-TinyLFU (published) % |{}", {
        let names: Vec<String> = policies.iter().map(|p| format!(" {p} % |")).collect();
        names.concat()
    });
    println!("|---|---|---|{}", "---|".repeat(policies.len()));
    for (name, published) in PUBLISHED_WTINYLFU.iter().filter(|(name, _)| wanted(name)) {
        let spec = TRACES
            .iter()
            .find(|spec| spec.name == *name)
            .expect("every published trace is listed");
        let keys = load_keys(dir, spec)?;
        for (step, figure) in published.iter().enumerate() {
            let size = 250 * (step as u64 + 1);
            let mut row = format!("| {name} | {size} | {figure:.1} |");
            for &policy in policies {
                row.push_str(&format!(" {:.2} |", hit_percent(policy, &keys, size)));
            }
            println!("{row}");
        }
    }
    Ok(())
}

/// Bélády's optimum in percent: on a miss the key is always inserted and, when full,
/// the resident key needed farthest in the future leaves (as the traces' README).
fn optimal_percent(keys: &[u64], size: u64) -> f64 {
    let capacity = usize::try_from(size).unwrap_or(usize::MAX);
    let mut next_use = vec![usize::MAX; keys.len()];
    let mut seen_at: HashMap<u64, usize> = HashMap::new();
    for (at, key) in keys.iter().enumerate().rev() {
        // Never reused keys get distinct far-future times, so heap entries stay unique.
        next_use[at] = seen_at.insert(*key, at).unwrap_or(keys.len() + at);
    }
    // A resident key's newest heap entry is always its live one and lies in the future;
    // older entries of resident keys are in the past, so the maximum is always live.
    let mut resident: HashMap<u64, ()> = HashMap::with_capacity(capacity + 1);
    let mut heap: BinaryHeap<(usize, u64)> = BinaryHeap::new();
    let mut hits = 0u64;
    for (at, key) in keys.iter().enumerate() {
        if resident.contains_key(key) {
            hits += 1;
        } else {
            if resident.len() == capacity {
                if let Some((_, victim)) = heap.pop() {
                    resident.remove(&victim);
                }
            }
            resident.insert(*key, ());
        }
        heap.push((next_use[at], *key));
    }
    100.0 * hits as f64 / keys.len().max(1) as f64
}
