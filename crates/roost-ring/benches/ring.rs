//! Criterion benchmarks of the ring's hot paths on a 16-node ring of default weight:
//! `locate` (every request) and `successors` (replica sets and failover).
//! Keys and the ring are built outside the timed closures; throughput is keys per second.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use roost_ring::{Node, Ring, DEFAULT_WEIGHT};

const NODE_COUNT: usize = 16;
const KEY_COUNT: usize = 1024;

fn sixteen_node_ring() -> Ring {
    let nodes = (0..NODE_COUNT)
        .map(|i| Node::new(format!("shard-{i}"), DEFAULT_WEIGHT))
        .collect();
    Ring::new(nodes).expect("distinct non-empty ids with non-zero weight")
}

fn sample_keys() -> Vec<Vec<u8>> {
    (0..KEY_COUNT)
        .map(|i| format!("user:{i}:session").into_bytes())
        .collect()
}

fn ring_benches(c: &mut Criterion) {
    let ring = sixteen_node_ring();
    let keys = sample_keys();
    let mut group = c.benchmark_group("ring_16_nodes");
    group.throughput(Throughput::Elements(KEY_COUNT as u64));

    group.bench_function("locate", |b| {
        b.iter(|| {
            for key in &keys {
                black_box(ring.locate(black_box(key)));
            }
        })
    });
    group.bench_function("successors_take_3", |b| {
        b.iter(|| {
            for key in &keys {
                for index in ring.successors(black_box(key)).take(3) {
                    black_box(index);
                }
            }
        })
    });
    group.bench_function("successors_all_16", |b| {
        b.iter(|| {
            for key in &keys {
                for index in ring.successors(black_box(key)) {
                    black_box(index);
                }
            }
        })
    });
    group.finish();

    let nodes = ring.nodes().to_vec();
    c.bench_function("ring_16_nodes/build", |b| {
        b.iter(|| Ring::new(black_box(nodes.clone())))
    });
}

criterion_group! {
    name = benches;
    // Short runs: the machine is shared by several engineers and CI.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    targets = ring_benches
}
criterion_main!(benches);
