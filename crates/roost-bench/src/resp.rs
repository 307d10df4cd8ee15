//! The RESP side of roost-bench: talks the Redis protocol to any RESP server at
//! `host:port` — redis-server, Roost's RESP port, nutcracker.
//!
//! Submodules: `scan` classifies replies without allocating, `connection` queues
//! pipelined commands into reused buffers and reads replies back, `engine` is the
//! thread-per-runtime load generator, `fill` preloads keys with pipelined SETs,
//! `durability` checks that acknowledged writes survive a fault.
//! Commands are encoded with `roost_resp`; this module owns all the socket I/O.

pub mod connection;
pub mod durability;
pub mod engine;
pub mod fill;
pub mod scan;
