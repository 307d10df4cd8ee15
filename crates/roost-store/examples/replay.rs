//! Replays the shared key-only traces through one shard per policy and prints a
//! hit-ratio table (markdown), the evidence behind `PolicyKind::default()`.
//! `cargo run --release -p roost-store --example replay` (ROOST_TRACES_DIR overrides
//! where the traces are read from). Prints the mean hit % per policy last.

#[path = "../tests/support/traces.rs"]
mod traces;

use std::time::Instant;

use roost_store::PolicyKind;
use traces::{hit_percent, load_keys, traces_dir, TRACES};

fn main() -> std::io::Result<()> {
    let started = Instant::now();
    let dir = traces_dir();
    let mut header = String::from("| trace | size |");
    for policy in PolicyKind::ALL {
        header.push_str(&format!(" {policy} % |"));
    }
    println!("{header}");
    println!("|---|---|{}", "---|".repeat(PolicyKind::ALL.len()));
    let mut sums = [0.0f64; PolicyKind::ALL.len()];
    let mut rows = 0u32;
    for spec in TRACES {
        let keys = load_keys(&dir, spec)?;
        for &size in spec.sizes {
            let mut row = format!("| {} | {size} |", spec.name);
            for (i, policy) in PolicyKind::ALL.into_iter().enumerate() {
                let hit = hit_percent(policy, &keys, size);
                sums[i] += hit;
                row.push_str(&format!(" {hit:.2} |"));
            }
            println!("{row}");
            rows += 1;
        }
    }
    let mut mean = String::from("| **mean** | |");
    for sum in sums {
        mean.push_str(&format!(" **{:.2}** |", sum / f64::from(rows)));
    }
    println!("{mean}");
    eprintln!("replayed in {:.1?}", started.elapsed());
    Ok(())
}
