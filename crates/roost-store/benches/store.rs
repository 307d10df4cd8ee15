//! Hot-path costs of the store: get (hit and miss) and set (overwrite) on a
//! 1-shard and a 4-shard store holding 100k entries of 16-byte keys and 100-byte
//! values, for the default policy, plus get-hit and set for the other policies on
//! one shard. Keys, values and shard choices are built outside the timed closures.
//! `cargo bench -p roost-store --bench store`

use std::hint::black_box;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use roost_store::{entry_weight, ManualClock, PolicyKind, Store, StoreConfig};

const ENTRIES: usize = 100_000;
const VALUE_LEN: usize = 100;

/// 16-byte keys; the shard of key `i` is `i % shards` (stand-in for the router).
fn keys(prefix: &str) -> Vec<Bytes> {
    (0..ENTRIES)
        .map(|i| Bytes::from(format!("{prefix}{i:012}")))
        .collect()
}

fn filled_store(shards: usize, policy: PolicyKind, keys: &[Bytes], value: &Bytes) -> Store {
    let config = StoreConfig {
        shards: NonZeroUsize::new(shards).expect("bench shard counts are non-zero"),
        // Room for every entry with slack, so the timed loops never evict.
        max_memory_bytes: 2 * (ENTRIES as u64) * entry_weight(16, VALUE_LEN),
        policy,
    };
    let store = Store::new(config, Arc::new(ManualClock::new(0)));
    for (i, key) in keys.iter().enumerate() {
        store.shards()[i % shards]
            .set(key.clone(), value.clone(), None)
            .expect("bench entries fit");
    }
    assert_eq!(store.len(), ENTRIES as u64);
    store
}

fn bench_policy(c: &mut Criterion, policy: PolicyKind, shard_counts: &[usize], with_miss: bool) {
    let present = keys("key-");
    let absent = keys("nop-");
    let value = Bytes::from(vec![b'v'; VALUE_LEN]);
    for &shards in shard_counts {
        let store = filled_store(shards, policy, &present, &value);
        let mut group = c.benchmark_group(format!("{policy}/{shards}-shard"));
        group.throughput(Throughput::Elements(1));
        let mut i = 0usize;
        group.bench_function("get_hit", |b| {
            b.iter(|| {
                i = (i + 1) % ENTRIES;
                black_box(store.shards()[i % shards].get(&present[i]))
            })
        });
        if with_miss {
            group.bench_function("get_miss", |b| {
                b.iter(|| {
                    i = (i + 1) % ENTRIES;
                    black_box(store.shards()[i % shards].get(&absent[i]))
                })
            });
        }
        group.bench_function("set_overwrite", |b| {
            b.iter(|| {
                i = (i + 1) % ENTRIES;
                store.shards()[i % shards]
                    .set(present[i].clone(), value.clone(), None)
                    .expect("bench entries fit")
            })
        });
        group.finish();
    }
}

fn store_benches(c: &mut Criterion) {
    bench_policy(c, PolicyKind::default(), &[1, 4], true);
    for policy in PolicyKind::ALL {
        if policy != PolicyKind::default() {
            bench_policy(c, policy, &[1], false);
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);
    targets = store_benches
}
criterion_main!(benches);
