//! Weighted consistent hashing over node ids: which node owns a key, which nodes hold
//! its replicas, and how much of the key space a change of membership would move.
//!
//! Pure: no I/O, no clock, no randomness, no async. The router of the server wraps a
//! [`Ring`] in an `Arc` and swaps it atomically when membership changes.
//!
//! # Algorithm
//!
//! Ketama-style. Hashes are 64-bit `xxh3_64` values, read as points on a circle of
//! 2^64 positions. Each node places `weight × 40` points ([`POINTS_PER_WEIGHT_UNIT`]);
//! point `i` of node `id` is at `xxh3_64(id as UTF-8 ‖ i as 8 little-endian bytes)`. A key is
//! at `xxh3_64(key)` and is owned by the first point at or after it, clockwise,
//! wrapping past 2^64 − 1 to the first point. Points are sorted by hash, equal hashes
//! by node id. Lookup reads a small index over the top bits of the hash and binary
//! searches the few points in that bucket: no allocation, near O(1).
//!
//! [`Ring::successors`] keeps walking clockwise and yields each further node the first
//! time it is met, which gives a key's replica set and its failover order.
//!
//! # Why virtual nodes
//!
//! With one point per node, a node's share of the circle is the arc before its point,
//! which varies wildly (one node can own half the keys). With `v` points per node the
//! share is a sum of `v` arcs and its relative spread shrinks like `1/sqrt(v)`; at
//! 4,000 points per default node every node is within a few percent of its fair share
//! (the tests hold every ring of 1 to 16 nodes to ±10%). Many points also mean that a
//! node that leaves hands its keys to all the others, not to a single neighbour, and
//! a node that joins takes keys from all of them. Weight is simply more points.
//!
//! # Invariants
//!
//! - **Pure placement.** The owner of a key is a function of the key and the set of
//!   (node id, weight) pairs only: not of the order nodes were given in, nor of the
//!   process, platform or time.
//! - **Stable placement.** The hash functions, the point scheme and the tie-break are
//!   fixed; a golden test pins the owners of 50 keys. Changing any of them moves keys
//!   on every deployed cluster and is a breaking change.
//! - **Minimal disruption.** Adding a node moves only keys that the new node now owns;
//!   removing one moves only the keys it owned. [`Ring::moved_fraction`] says how many.
//! - **Validated membership.** Ids are non-empty and unique, weights are non-zero, and
//!   the total point count is bounded by [`MAX_POINTS`].
//!
//! # Example
//!
//! ```
//! use roost_ring::{Node, NodeId, Ring, DEFAULT_WEIGHT};
//!
//! let ring = Ring::new(vec![
//!     Node::new("shard-0", DEFAULT_WEIGHT),
//!     Node::new("shard-1", DEFAULT_WEIGHT),
//!     Node::new("shard-2", 2 * DEFAULT_WEIGHT),
//! ])?;
//! let owner = ring.locate(b"user:42").expect("a non-empty ring owns every key");
//! let replicas: Vec<usize> = ring.successors(b"user:42").take(2).collect();
//! assert_eq!(replicas[0], owner);
//!
//! let bigger = ring.with_node(Node::new("shard-3", DEFAULT_WEIGHT))?;
//! let moved = ring.moved_fraction(&bigger);
//! let new_share = bigger.shares()[3];
//! assert!((moved - new_share).abs() < 1e-9); // only the new node's keys moved
//! assert!(bigger.without_node(&NodeId::from("shard-9")).is_err());
//! # Ok::<(), roost_ring::RingError>(())
//! ```
//!
//! # Layout
//!
//! - `node`: [`NodeId`], [`Node`], [`DEFAULT_WEIGHT`].
//! - `ring`: [`Ring`]: validation, lookup, shares, membership changes, diffs.
//! - `points`: the sorted point table and its bucket index.
//! - `successors`: the [`Successors`] iterator.
//! - `error`: [`RingError`].

mod error;
mod node;
mod points;
mod ring;
mod successors;

pub use error::RingError;
pub use node::{Node, NodeId, DEFAULT_WEIGHT};
pub use ring::{hash_tag, key_hash, Ring, MAX_POINTS, POINTS_PER_WEIGHT_UNIT};
pub use successors::Successors;
