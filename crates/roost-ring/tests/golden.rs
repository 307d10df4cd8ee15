//! Golden placement: the owners and replica order of 50 fixed keys on a fixed 5-node
//! ring, written out literally.
//!
//! CHANGING ANY EXPECTED VALUE HERE IS A BREAKING CHANGE FOR EVERY DEPLOYED CLUSTER:
//! after an upgrade, every node would look for keys where the old version never put
//! them, so the cache empties and Redis-backed keys are orphaned. If this test fails,
//! the hash function, the point scheme, the tie-break or the lookup changed by accident;
//! fix the code, not the table. A deliberate change needs a migration plan first.

use roost_ring::{key_hash, Node, Ring};

/// Mixed names and weights so that the pinned values also cover weighting.
fn golden_ring() -> Ring {
    Ring::new(vec![
        Node::new("shard-0", 100),
        Node::new("shard-1", 100),
        Node::new("shard-2", 100),
        Node::new("redis://127.0.0.1:7003", 100),
        Node::new("redis://127.0.0.1:7004", 200),
    ])
    .expect("valid golden nodes")
}

/// Key, then the first three successors: owner, first replica, second replica.
#[rustfmt::skip]
const GOLDEN: &[(&[u8], [&str; 3])] = &[
    (b"user:0", ["redis://127.0.0.1:7003", "shard-0", "redis://127.0.0.1:7004"]),
    (b"user:1", ["shard-2", "redis://127.0.0.1:7004", "shard-1"]),
    (b"user:2", ["redis://127.0.0.1:7004", "shard-0", "redis://127.0.0.1:7003"]),
    (b"user:3", ["redis://127.0.0.1:7004", "redis://127.0.0.1:7003", "shard-2"]),
    (b"user:4", ["shard-0", "shard-1", "redis://127.0.0.1:7003"]),
    (b"user:5", ["shard-1", "redis://127.0.0.1:7004", "redis://127.0.0.1:7003"]),
    (b"user:6", ["redis://127.0.0.1:7004", "shard-1", "redis://127.0.0.1:7003"]),
    (b"user:7", ["shard-0", "shard-1", "shard-2"]),
    (b"user:8", ["shard-0", "redis://127.0.0.1:7004", "shard-2"]),
    (b"user:9", ["shard-2", "shard-0", "redis://127.0.0.1:7004"]),
    (b"user:10", ["redis://127.0.0.1:7003", "shard-2", "shard-1"]),
    (b"user:11", ["redis://127.0.0.1:7004", "redis://127.0.0.1:7003", "shard-2"]),
    (b"user:12", ["shard-1", "redis://127.0.0.1:7004", "redis://127.0.0.1:7003"]),
    (b"user:13", ["shard-0", "redis://127.0.0.1:7003", "shard-2"]),
    (b"user:14", ["shard-0", "shard-2", "redis://127.0.0.1:7004"]),
    (b"user:15", ["redis://127.0.0.1:7004", "redis://127.0.0.1:7003", "shard-2"]),
    (b"user:16", ["shard-0", "redis://127.0.0.1:7003", "redis://127.0.0.1:7004"]),
    (b"user:17", ["redis://127.0.0.1:7004", "shard-1", "redis://127.0.0.1:7003"]),
    (b"user:18", ["redis://127.0.0.1:7004", "shard-0", "shard-1"]),
    (b"user:19", ["shard-0", "shard-1", "redis://127.0.0.1:7004"]),
    (b"user:20", ["redis://127.0.0.1:7004", "shard-0", "shard-2"]),
    (b"user:21", ["shard-1", "redis://127.0.0.1:7004", "redis://127.0.0.1:7003"]),
    (b"user:22", ["redis://127.0.0.1:7003", "shard-0", "redis://127.0.0.1:7004"]),
    (b"user:23", ["redis://127.0.0.1:7004", "shard-1", "redis://127.0.0.1:7003"]),
    (b"user:24", ["redis://127.0.0.1:7003", "redis://127.0.0.1:7004", "shard-2"]),
    (b"user:25", ["redis://127.0.0.1:7003", "redis://127.0.0.1:7004", "shard-0"]),
    (b"user:26", ["shard-2", "shard-0", "redis://127.0.0.1:7003"]),
    (b"user:27", ["shard-2", "redis://127.0.0.1:7004", "shard-1"]),
    (b"user:28", ["redis://127.0.0.1:7004", "redis://127.0.0.1:7003", "shard-0"]),
    (b"user:29", ["shard-1", "redis://127.0.0.1:7004", "redis://127.0.0.1:7003"]),
    (b"", ["shard-2", "shard-1", "shard-0"]),
    (b"a", ["shard-2", "shard-0", "shard-1"]),
    (b"session:8f14e45f", ["redis://127.0.0.1:7004", "shard-0", "shard-1"]),
    (b"product/42/price", ["shard-1", "shard-2", "shard-0"]),
    (b"hot-key", ["shard-0", "redis://127.0.0.1:7003", "shard-1"]),
    (b"\xf0\x9f\xa6\x80", ["redis://127.0.0.1:7003", "shard-2", "shard-0"]),
    (b"key with spaces", ["redis://127.0.0.1:7004", "shard-0", "shard-2"]),
    (b"cache:warm:0", ["redis://127.0.0.1:7004", "shard-1", "redis://127.0.0.1:7003"]),
    (b"cache:warm:1", ["redis://127.0.0.1:7004", "shard-1", "redis://127.0.0.1:7003"]),
    (b"\x00\x00\x00\x00", ["shard-1", "redis://127.0.0.1:7003", "redis://127.0.0.1:7004"]),
    (b"\x00\x00\x00\x01", ["redis://127.0.0.1:7004", "shard-2", "redis://127.0.0.1:7003"]),
    (b"\x00\x00\x00\x02", ["redis://127.0.0.1:7003", "redis://127.0.0.1:7004", "shard-2"]),
    (b"\x00\x00\x00\x03", ["redis://127.0.0.1:7003", "redis://127.0.0.1:7004", "shard-0"]),
    (b"\x00\x00\x00\x04", ["shard-2", "redis://127.0.0.1:7004", "shard-1"]),
    (b"\x00\x00\x00\x05", ["redis://127.0.0.1:7004", "shard-2", "shard-1"]),
    (b"\x00\x00\x00\x06", ["redis://127.0.0.1:7003", "shard-0", "shard-2"]),
    (b"\x00\x00\x00\x07", ["redis://127.0.0.1:7004", "redis://127.0.0.1:7003", "shard-2"]),
    (b"\x00\x00\x00\x08", ["redis://127.0.0.1:7004", "shard-1", "redis://127.0.0.1:7003"]),
    (b"\x00\x00\x00\x09", ["redis://127.0.0.1:7003", "shard-0", "shard-2"]),
];

fn first_three<'r>(ring: &'r Ring, key: &[u8]) -> Vec<&'r str> {
    ring.successors(key)
        .take(3)
        .map(|i| ring.nodes()[i].id.as_str())
        .collect()
}

#[test]
fn pinned_keys_keep_their_owners_and_replicas() {
    assert_eq!(
        GOLDEN.len(),
        49,
        "49 table rows plus the long key below: 50 pinned keys"
    );
    let ring = golden_ring();
    for (key, expected) in GOLDEN {
        let owner = ring.node_for(key).map(|node| node.id.as_str());
        assert_eq!(
            owner,
            Some(expected[0]),
            "owner of {:?}",
            String::from_utf8_lossy(key)
        );
        assert_eq!(
            first_three(&ring, key),
            expected,
            "successors of {:?}",
            String::from_utf8_lossy(key)
        );
    }
    let long_key = "x".repeat(300);
    assert_eq!(
        first_three(&ring, long_key.as_bytes()),
        [
            "redis://127.0.0.1:7004",
            "redis://127.0.0.1:7003",
            "shard-0"
        ]
    );
}

#[test]
fn pinned_keys_ignore_node_order() {
    let mut nodes = golden_ring().nodes().to_vec();
    nodes.reverse();
    let reversed = Ring::new(nodes).expect("valid golden nodes");
    for (key, expected) in GOLDEN {
        assert_eq!(first_three(&reversed, key), expected);
    }
}

#[test]
fn key_hash_is_xxh3_64() {
    // The XXH3 specification's value for the empty input, and one ordinary key.
    assert_eq!(key_hash(b""), 0x2d06_8005_38d3_94c2);
    assert_eq!(key_hash(b"user:1"), 0x3b57_7afd_7fed_9501);
}
