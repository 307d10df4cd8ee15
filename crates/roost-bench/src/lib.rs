//! roost-bench: Roost's load generator and trace replayer (client side only).
//!
//! # Layout
//! - `trace`: replays `shared/traces` through the store and exact LRU, ARC, LIRS and Bélády.
//! - `load`: mixed traffic, closed or open loop, through a `Target` (HTTP: Roost's REST
//!   API or webdis), with coordinated-omission-corrected HDR latencies.
//! - `resp`: the pipelined RESP client, load engine and fill (redis-server, Roost's RESP
//!   port, nutcracker), and the `durability` check of acknowledged writes under faults.
//! - `fill`: bulk-loads keys with `mset` (REST) or pipelined SETs (RESP).
//! - `hostile`: clients that misbehave on purpose (non-readers, slowloris, garbage,
//!   idle sockets) for soaks and for measuring what they cost.
//! - `origin`: a stand-in origin (latency, status, max-age, value size, a request
//!   counter) for Roost's read-through; `stampede`: N clients' simultaneous GETs of
//!   one missing key over several gateways, counting the origin requests.
//! - `warming`: the cache-warming scenarios (refresh-ahead, preloading on structured
//!   and random keys) and the restart curve, for bench/warming.sh.
//! - `proxy`: a TCP proxy with one-way delay, blackhole, heal and reset, and byte
//!   counters: the WAN between local regions for the geo demo and bench/geo.sh.
//! - `endpoint`: `--target` as `resp://host:port` or `http://…`.
//!
//! **Invariant:** this crate never depends on the server crate `roost`; it talks to a
//! running server over the wire, exactly as any client would.
pub mod cli;
pub mod endpoint;
pub mod fill;
pub mod hostile;
pub mod load;
pub mod origin;
pub mod proxy;
pub mod resp;
pub mod stampede;
pub mod trace;
pub mod warming;
