//! roost-bench: Roost's load generator and trace replayer (client side only).
//!
//! # Layout
//! - `trace`: replays `shared/traces` through exact LRU, exact Bélády and the store.
//! - `load`: closed-loop mixed traffic through a `Target` (HTTP today), HDR latencies.
//! - `fill`: bulk-loads keys with `mset`.
//!
//! **Invariant:** this crate never depends on the server crate `roost`; it talks to a
//! running server over the wire, exactly as any client would.
pub mod cli;
pub mod fill;
pub mod load;
pub mod trace;
