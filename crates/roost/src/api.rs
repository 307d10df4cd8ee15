//! Front doors: each translates its wire format into calls on the one
//! [`Cache`](crate::cache::Cache) service and back, and holds no cache logic:
//! [`rest`] (JSON over HTTP) and [`resp`] (the Redis protocol).

pub mod resp;
pub mod rest;
