//! Roost: a distributed caching tier.
//!
//! # Layout
//!
//! - [`config`] — the settings catalogue, layered loading and validation.
//! - [`cache`] — the cache service: the one meaning of every operation, the one
//!   write path and read hook.
//! - [`backend`] — where entries live and which node holds a key: the embedded
//!   `roost-store` shards, or a fleet of Redis nodes or a Redis Cluster.
//! - [`api`] — front doors (REST, RESP, the live stream, the dashboard) and the
//!   HTTP listeners they are served on.
//! - [`hot`] — hot-key tracking: a sampled, decayed streaming top-k fed by
//!   the Cache's taps, and the hot set the near cache admits from.
//! - [`app`] — the shared state every door and task is handed.
//! - [`auth`] — credentials and roles, the same for every door.
//! - [`net`] — what every listener shares: plain or TLS streams, accepting under
//!   descriptor pressure, write deadlines, the budget for replies to slow clients.
//! - [`origin`] — read-through from an origin on a miss: the HTTP client,
//!   single-flight, negative entries and stale copies.
//! - [`warming`] — refresh-ahead of hot keys, prefetch of predicted reads and
//!   the warm-up of lost hot keys, within the `ROOST_ORIGIN_MAX_RPS` budget.
//! - [`integer`] — Redis's strict integer text, shared by INCR and RESP arguments.
//! - [`snapshot`] — warm restart of the embedded store: the snapshot format,
//!   its atomic write every `WARMING_INTERVAL` and on shutdown, the load at start.
//! - [`stats`] — the stats overview and the refresh of store-derived metrics.
//! - [`telemetry`] — logging, the metric catalogue, the per-second history.
//! - [`tasks`] — the registry that owns, names, cancels and awaits every
//!   background task and surfaces its failure.
//! - [`server`] — start-up and graceful shutdown.
//! - [`cli`] — the `roost` command line.
//! - [`warming`] — keeping the hit ratio: refresh-ahead, preloading from a
//!   model of what is read next.
//!
//! Requests flow front door → [`cache::Cache`] → [`backend::Backend`], which
//! places the key on its node; nothing else routes keys or touches the store.

pub mod api;
pub mod app;
pub mod auth;
pub mod backend;
pub mod cache;
pub mod cli;
pub mod config;
pub mod error;
pub mod geo;
pub mod hot;
pub mod integer;
pub mod net;
pub mod origin;
pub mod server;
pub mod snapshot;
pub mod stats;
pub mod tasks;
pub mod telemetry;
pub mod warming;
