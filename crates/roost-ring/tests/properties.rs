//! Properties that must hold for any node names: minimal disruption when one node is
//! added or removed, owners always in range, successors a permutation that starts
//! with the owner, and placement independent of the order nodes were given in.

use std::collections::BTreeSet;
use std::sync::OnceLock;

use proptest::prelude::*;
use proptest::sample::Index;
use roost_ring::{key_hash, Node, NodeId, Ring, DEFAULT_WEIGHT};

const KEY_COUNT: usize = 100_000;

/// The hashes of 100k distinct keys, computed once for all cases.
fn sample_key_hashes() -> &'static [u64] {
    static HASHES: OnceLock<Vec<u64>> = OnceLock::new();
    HASHES.get_or_init(|| {
        (0..KEY_COUNT)
            .map(|i| key_hash(format!("key:{i}").as_bytes()))
            .collect()
    })
}

/// Distinct node names shaped like ids and addresses, in a deterministic order.
fn node_names(count: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<String>> {
    prop::collection::btree_set("[a-z0-9:/._-]{1,24}", count)
        .prop_map(|set: BTreeSet<String>| set.into_iter().collect())
}

fn default_weight_ring(names: &[String]) -> Ring {
    Ring::new(
        names
            .iter()
            .map(|n| Node::new(n.as_str(), DEFAULT_WEIGHT))
            .collect(),
    )
    .expect("distinct non-empty names")
}

fn owner_id(ring: &Ring, hash: u64) -> Option<&NodeId> {
    ring.locate_hash(hash).map(|index| &ring.nodes()[index].id)
}

proptest! {
    // Each case builds rings of up to 68k points and places 100k keys twice: a few
    // dozen cases keep the debug-build run to seconds while still varying N and names.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn adding_a_node_moves_keys_only_to_it(names in node_names(3..=17)) {
        let (added, base_names) = names.split_last().expect("at least three names");
        let base = default_weight_ring(base_names);
        let grown = base.with_node(Node::new(added.as_str(), DEFAULT_WEIGHT)).expect("new name");
        let added = NodeId::from(added.as_str());
        let mut moved = 0usize;
        for &hash in sample_key_hashes() {
            let after = owner_id(&grown, hash);
            if owner_id(&base, hash) != after {
                prop_assert_eq!(after, Some(&added), "a key moved between two old nodes");
                moved += 1;
            }
        }
        let n = base.len() as f64;
        prop_assert!(moved as f64 <= 1.1 / n * KEY_COUNT as f64, "{} of {} keys moved joining {} nodes", moved, KEY_COUNT, n);
        prop_assert!(moved > 0, "the new node took no keys");
    }

    #[test]
    fn removing_a_node_moves_only_its_keys(names in node_names(2..=16), pick in any::<Index>()) {
        let base = default_weight_ring(&names);
        let removed = base.nodes()[pick.index(base.len())].id.clone();
        let shrunk = base.without_node(&removed).expect("on the ring");
        let mut moved = 0usize;
        for &hash in sample_key_hashes() {
            let before = owner_id(&base, hash);
            if before != owner_id(&shrunk, hash) {
                prop_assert_eq!(before, Some(&removed), "a key of a remaining node moved");
                moved += 1;
            }
        }
        let n = base.len() as f64;
        prop_assert!(moved as f64 <= 1.1 / n * KEY_COUNT as f64, "{} of {} keys moved leaving {} nodes", moved, KEY_COUNT, n);
        prop_assert!(moved > 0, "the removed node owned no keys");
    }
}

/// Names with small weights: rings of up to 70 nodes (past the 64-node inline set of
/// `successors`) that stay cheap to build.
fn weighted_nodes(count: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<Node>> {
    node_names(count)
        .prop_flat_map(|names| {
            let weights = prop::collection::vec(1..=8u32, names.len());
            (Just(names), weights)
        })
        .prop_map(|(names, weights)| {
            names
                .into_iter()
                .zip(weights)
                .map(|(n, w)| Node::new(n, w))
                .collect()
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn locate_is_always_in_range(nodes in weighted_nodes(1..=70), keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..32)) {
        let ring = Ring::new(nodes).expect("valid nodes");
        for key in &keys {
            let owner = ring.locate(key).expect("non-empty ring");
            prop_assert!(owner < ring.len());
            prop_assert_eq!(ring.node_for(key), Some(&ring.nodes()[owner]));
        }
    }

    #[test]
    fn successors_visit_every_node_once_starting_with_the_owner(nodes in weighted_nodes(1..=70), keys in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 1..16)) {
        let ring = Ring::new(nodes).expect("valid nodes");
        for key in &keys {
            let order: Vec<usize> = ring.successors(key).collect();
            prop_assert_eq!(order.first().copied(), ring.locate(key));
            let mut sorted = order.clone();
            sorted.sort_unstable();
            prop_assert_eq!(sorted, (0..ring.len()).collect::<Vec<_>>(), "not a permutation: {:?}", order);
            prop_assert_eq!(ring.successors(key).len(), ring.len());
        }
    }

    #[test]
    fn placement_ignores_input_order(nodes in weighted_nodes(1..=24), shuffled_seed in any::<u64>()) {
        let ring = Ring::new(nodes.clone()).expect("valid nodes");
        let mut reordered_nodes = nodes;
        shuffle(&mut reordered_nodes, shuffled_seed);
        let reordered = Ring::new(reordered_nodes).expect("valid nodes");
        let ids = |ring: &Ring, order: Vec<usize>| -> Vec<NodeId> { order.into_iter().map(|i| ring.nodes()[i].id.clone()).collect() };
        for &hash in &sample_key_hashes()[..2_000] {
            prop_assert_eq!(owner_id(&ring, hash), owner_id(&reordered, hash));
        }
        for &hash in &sample_key_hashes()[..50] {
            let a = ids(&ring, ring.successors_of_hash(hash).collect());
            let b = ids(&reordered, reordered.successors_of_hash(hash).collect());
            prop_assert_eq!(a, b);
        }
        prop_assert_eq!(ring.moved_fraction(&reordered), 0.0);
    }
}

/// A deterministic Fisher-Yates shuffle driven by a seed (keeps proptest shrinking simple).
fn shuffle<T>(items: &mut [T], seed: u64) {
    let mut state = seed | 1;
    for i in (1..items.len()).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        items.swap(i, (state % (i as u64 + 1)) as usize);
    }
}
