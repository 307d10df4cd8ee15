//! How evenly the ring spreads keys: per-node balance at default weight for every ring
//! size from 1 to 16, proportionality to weight, and agreement of the analytic
//! `shares` and `moved_fraction` with counts over 100k real keys.

use roost_ring::{key_hash, Node, NodeId, Ring, DEFAULT_WEIGHT};

const KEY_COUNT: usize = 100_000;

/// The hashes of 100k distinct keys; hashing once keeps the debug-build tests fast.
fn sample_key_hashes() -> Vec<u64> {
    (0..KEY_COUNT)
        .map(|i| key_hash(format!("key:{i}").as_bytes()))
        .collect()
}

fn counts_per_node(ring: &Ring, hashes: &[u64]) -> Vec<usize> {
    let mut counts = vec![0; ring.len()];
    for &hash in hashes {
        counts[ring.locate_hash(hash).expect("non-empty ring")] += 1;
    }
    counts
}

/// The largest relative distance of any count from its expected value.
fn worst_deviation(counts: &[usize], expected: &[f64]) -> f64 {
    counts
        .iter()
        .zip(expected)
        .map(|(&count, &want)| (count as f64 - want).abs() / want)
        .fold(0.0, f64::max)
}

fn assert_balanced_for_sizes_1_to_16(name_of: impl Fn(usize) -> String) {
    let hashes = sample_key_hashes();
    for size in 1..=16 {
        let nodes = (0..size)
            .map(|i| Node::new(name_of(i), DEFAULT_WEIGHT))
            .collect();
        let ring = Ring::new(nodes).expect("valid nodes");
        let counts = counts_per_node(&ring, &hashes);
        let mean = KEY_COUNT as f64 / size as f64;
        let worst = worst_deviation(&counts, &vec![mean; size]);
        assert!(
            worst <= 0.10,
            "{size} nodes named like {}: worst {worst:.3}, counts {counts:?}",
            name_of(0)
        );
    }
}

#[test]
fn shard_names_are_balanced_within_ten_percent() {
    assert_balanced_for_sizes_1_to_16(|i| format!("shard-{i}"));
}

#[test]
fn redis_address_names_are_balanced_within_ten_percent() {
    assert_balanced_for_sizes_1_to_16(|i| format!("redis://127.0.0.1:{}", 7000 + i));
}

#[test]
fn keys_follow_weight() {
    let weights = [100, 200, 100, 200, 100, 100];
    let nodes = weights
        .iter()
        .enumerate()
        .map(|(i, &w)| Node::new(format!("shard-{i}"), w))
        .collect();
    let ring = Ring::new(nodes).expect("valid nodes");
    let counts = counts_per_node(&ring, &sample_key_hashes());

    let total_weight: u32 = weights.iter().sum();
    let expected: Vec<f64> = weights
        .iter()
        .map(|&w| KEY_COUNT as f64 * f64::from(w) / f64::from(total_weight))
        .collect();
    let worst = worst_deviation(&counts, &expected);
    assert!(worst <= 0.10, "worst {worst:.3}, counts {counts:?}");

    let mean_of = |weight: u32| {
        let picked: Vec<f64> = (0..weights.len())
            .filter(|&i| weights[i] == weight)
            .map(|i| counts[i] as f64)
            .collect();
        picked.iter().sum::<f64>() / picked.len() as f64
    };
    let ratio = mean_of(200) / mean_of(100);
    assert!(
        (ratio - 2.0).abs() <= 0.2,
        "double weight got {ratio:.3}x the keys"
    );
}

#[test]
fn shares_match_key_counts() {
    let nodes = (0..7)
        .map(|i| Node::new(format!("shard-{i}"), 50 + 30 * i))
        .collect();
    let ring = Ring::new(nodes).expect("valid nodes");
    let counts = counts_per_node(&ring, &sample_key_hashes());
    let shares = ring.shares();
    assert!((shares.iter().sum::<f64>() - 1.0).abs() < 1e-12);
    for (share, count) in shares.iter().zip(&counts) {
        let observed = *count as f64 / KEY_COUNT as f64;
        // 100k keys: the sampling error of a fraction is at most 0.0016 (one sigma).
        assert!(
            (share - observed).abs() < 0.006,
            "share {share:.4} vs observed {observed:.4}"
        );
    }
}

/// The fraction of `hashes` whose owner (by id) differs between the two rings.
fn observed_moved_fraction(before: &Ring, after: &Ring, hashes: &[u64]) -> f64 {
    let owner = |ring: &Ring, hash: u64| ring.locate_hash(hash).map(|i| ring.nodes()[i].id.clone());
    let moved = hashes
        .iter()
        .filter(|&&h| owner(before, h) != owner(after, h))
        .count();
    moved as f64 / hashes.len() as f64
}

#[test]
fn moved_fraction_matches_key_counts() {
    let hashes = sample_key_hashes();
    let base = Ring::new(
        (0..5)
            .map(|i| Node::new(format!("shard-{i}"), DEFAULT_WEIGHT))
            .collect(),
    )
    .expect("valid nodes");
    let added = base.with_node(Node::new("shard-5", 150)).expect("new id");
    let removed = base
        .without_node(&NodeId::from("shard-2"))
        .expect("on the ring");
    let reweighted = Ring::new(
        (0..5)
            .map(|i| {
                Node::new(
                    format!("shard-{i}"),
                    if i == 0 { 300 } else { DEFAULT_WEIGHT },
                )
            })
            .collect(),
    )
    .expect("valid nodes");
    let renamed = added
        .without_node(&NodeId::from("shard-1"))
        .expect("on the ring");

    for (what, after) in [
        ("add", &added),
        ("remove", &removed),
        ("reweight", &reweighted),
        ("rename", &renamed),
    ] {
        let predicted = base.moved_fraction(after);
        let observed = observed_moved_fraction(&base, after, &hashes);
        assert!(
            (predicted - observed).abs() < 0.006,
            "{what}: predicted {predicted:.4}, observed {observed:.4}"
        );
        assert!(
            predicted > 0.05,
            "{what}: a real change moves keys, got {predicted:.4}"
        );
    }
    // Adding moves exactly what the new node owns; removing exactly what the old one owned.
    assert!((base.moved_fraction(&added) - added.shares()[5]).abs() < 1e-9);
    assert!((base.moved_fraction(&removed) - base.shares()[2]).abs() < 1e-9);
}
