//! Measures the real heap bytes one entry costs in a shard, per policy, with a
//! counting global allocator: the evidence behind `ENTRY_OVERHEAD_BYTES` and
//! `EXPIRY_OVERHEAD_BYTES`. 100k entries of 16-byte keys and 100-byte values, built
//! the way the server builds them (one exact-size allocation each), each read once
//! (a read clones the value, which moves a `Bytes` to its shared representation).
//! `cargo run --release -p roost-store --example entry_overhead`

use std::alloc::System;
use std::sync::Arc;

use bytes::Bytes;
use roost_store::{
    entry_weight, ManualClock, PolicyKind, Shard, ENTRY_OVERHEAD_BYTES, EXPIRY_OVERHEAD_BYTES,
};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const ENTRIES: u64 = 100_000;
const KEY_LEN: usize = 16;
const VALUE_LEN: usize = 100;

fn key(i: u64) -> Bytes {
    Bytes::copy_from_slice(format!("key-{i:012}").as_bytes())
}

/// Per resident entry, minus key and value bytes, after inserting `inserts` distinct
/// keys (each read back once) into a shard sized for `ENTRIES` entries: the live heap
/// bytes counted by the allocator, and the growth of the resident set size.
fn overhead_per_entry(policy: PolicyKind, inserts: u64, with_deadline: bool) -> (f64, f64) {
    let value = vec![b'v'; VALUE_LEN];
    let rss_before = rss_bytes();
    let region = Region::new(GLOBAL);
    // Size the shard by the real cost so exactly ENTRIES entries fit at the end.
    let per_entry = entry_weight(KEY_LEN, VALUE_LEN)
        + if with_deadline {
            EXPIRY_OVERHEAD_BYTES
        } else {
            0
        };
    let shard = Shard::new(policy, ENTRIES * per_entry, Arc::new(ManualClock::new(0)));
    let deadline = with_deadline.then_some(u64::MAX);
    for i in 0..inserts {
        shard
            .set(key(i), Bytes::copy_from_slice(&value), deadline)
            .expect("invariant: the shard fits one entry");
        std::hint::black_box(shard.get(&key(i)));
    }
    let stats = region.change();
    // stats_alloc already folds realloc growth into bytes_allocated/deallocated.
    let live = stats.bytes_allocated as f64 - stats.bytes_deallocated as f64;
    let resident = shard.len() as f64;
    let rss = rss_bytes().saturating_sub(rss_before) as f64;
    drop(shard);
    let payload = (KEY_LEN + VALUE_LEN) as f64;
    (live / resident - payload, rss / resident - payload)
}

/// Resident set size from `/proc/self/statm` (Linux), in bytes; 0 elsewhere.
fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|field| field.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn main() {
    assert_eq!(key(0).len(), KEY_LEN);
    println!(
        "charged now: {ENTRY_OVERHEAD_BYTES} bytes/entry, +{EXPIRY_OVERHEAD_BYTES} with a deadline"
    );
    // The first run starts on a fresh heap, so its resident-set growth is what the OS
    // really gave (malloc headers and rounding included); later runs reuse freed pages.
    let (counted, rss) = overhead_per_entry(PolicyKind::default(), 3 * ENTRIES, false);
    println!(
        "default policy, churn 3x, no ttl: allocator-counted overhead {counted:.1} bytes/entry, \
         rss-measured {rss:.1} bytes/entry"
    );
    println!("| policy | fill, no ttl | churn 3x, no ttl | fill, ttl | churn 3x, ttl |");
    println!("|---|---|---|---|---|");
    for policy in PolicyKind::ALL {
        let (fill, _) = overhead_per_entry(policy, ENTRIES, false);
        let (churn, _) = overhead_per_entry(policy, 3 * ENTRIES, false);
        let (fill_ttl, _) = overhead_per_entry(policy, ENTRIES, true);
        let (churn_ttl, _) = overhead_per_entry(policy, 3 * ENTRIES, true);
        println!("| {policy} | {fill:.1} | {churn:.1} | {fill_ttl:.1} | {churn_ttl:.1} |");
    }
}
