//! Measures the heap bytes a hash field, list element, set member and
//! sorted-set member cost beyond their own bytes, with a counting global
//! allocator: the evidence behind `HASH_FIELD_OVERHEAD_BYTES`,
//! `LIST_ELEMENT_OVERHEAD_BYTES`, `SET_MEMBER_OVERHEAD_BYTES`,
//! `ZSET_MEMBER_OVERHEAD_BYTES` and `Kind::base_overhead`. The allocator
//! counts requested sizes; the constants add glibc's 16 bytes per allocation. Each size is
//! measured at several element counts, so the tables' and buffers' growth is
//! seen at its fullest and emptiest points; the worst is what is charged.
//! `cargo run --release -p roost-store --example collection_overhead`

use std::alloc::System;
use std::sync::Arc;

use bytes::Bytes;
use roost_store::collection::{
    HASH_FIELD_OVERHEAD_BYTES, LIST_ELEMENT_OVERHEAD_BYTES, SET_MEMBER_OVERHEAD_BYTES,
    ZSET_MEMBER_OVERHEAD_BYTES,
};
use roost_store::{Collection, Kind, ManualClock, PolicyKind, Shard};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const COUNTS: [usize; 8] = [600, 900, 1_024, 1_100, 1_536, 1_800, 2_048, 2_100];

fn element(i: usize, len: usize) -> Vec<u8> {
    let mut bytes = format!("{i:0len$}").into_bytes();
    bytes.truncate(len);
    bytes
}

/// Live heap bytes per element beyond the element bytes, for `count`
/// elements of `len` bytes (a hash field and its value are each `len`).
fn per_element(kind: Kind, count: usize, len: usize) -> f64 {
    let region = Region::new(GLOBAL);
    let mut collection = Collection::new(kind);
    for i in 0..count {
        let e = element(i, len);
        match &mut collection {
            Collection::Hash(h) => {
                h.insert(&e, &e);
            }
            Collection::List(l) => l.push_back(&e),
            Collection::Set(s) => {
                s.insert(&e);
            }
            Collection::SortedSet(z) => {
                z.insert(&e, i as f64);
            }
        }
    }
    let stats = region.change();
    let live = stats.bytes_allocated as f64 - stats.bytes_deallocated as f64;
    let payload = match kind {
        Kind::Hash => 2 * len,
        _ => len,
    } as f64;
    std::hint::black_box(&collection);
    live / count as f64 - payload
}

/// Heap bytes a one-element collection costs in a shard beyond a one-byte
/// string under the same key: the handle, the cell and the empty structure.
fn base(kind: Kind) -> i64 {
    let live = |collection: bool| {
        let shard = Shard::new(
            PolicyKind::default(),
            1 << 30,
            Arc::new(ManualClock::new(0)),
        );
        let region = Region::new(GLOBAL);
        let key = Bytes::from_static(b"key");
        if collection {
            shard
                .update_collection(key, kind, 1 << 20, |c| match c {
                    Collection::Hash(h) => {
                        h.insert(b"f", b"v");
                    }
                    Collection::List(l) => l.push_back(b"v"),
                    Collection::Set(s) => {
                        s.insert(b"v");
                    }
                    Collection::SortedSet(z) => {
                        z.insert(b"v", 1.0);
                    }
                })
                .expect("invariant: one element fits");
        } else {
            shard
                .set(key, Bytes::from_static(b"v"), None)
                .expect("invariant: one byte fits");
        }
        let stats = region.change();
        std::hint::black_box(&shard);
        stats.bytes_allocated as i64 - stats.bytes_deallocated as i64
    };
    live(true) - live(false)
}

fn main() {
    let charged = [
        (Kind::Hash, HASH_FIELD_OVERHEAD_BYTES),
        (Kind::List, LIST_ELEMENT_OVERHEAD_BYTES),
        (Kind::Set, SET_MEMBER_OVERHEAD_BYTES),
        (Kind::SortedSet, ZSET_MEMBER_OVERHEAD_BYTES),
    ];
    println!("| type | element bytes | overhead per element, min..max over {COUNTS:?} | charged | base (1 element) |");
    println!("|---|---|---|---|---|");
    for (kind, charge) in charged {
        for len in [8, 16] {
            let points: Vec<f64> = COUNTS.iter().map(|&n| per_element(kind, n, len)).collect();
            let min = points.iter().copied().fold(f64::INFINITY, f64::min);
            let max = points.iter().copied().fold(0.0, f64::max);
            println!(
                "| {} | {len} | {min:.1}..{max:.1} | {charge} | {} (charged {} + one element) |",
                kind.name(),
                base(kind),
                kind.base_overhead(),
            );
        }
    }
}
