//! roost-bench: Roost's load generator and trace replayer (client side only).
//!
//! # Layout
//! - `trace`: replays `shared/traces` through exact LRU, exact Bélády and the store.
pub mod trace;
