//! Front doors: each translates its wire format into calls on the one
//! [`Cache`](crate::cache::Cache) service and back, and holds no cache logic:
//! [`rest`] (JSON over HTTP) and [`resp`] (the Redis protocol). [`ws`] streams
//! metrics to the live dashboard and [`dashboard`] serves its files; neither
//! calls the Cache. [`http`] serves the HTTP ones (REST, stream, dashboard) with
//! the listeners' limits and TLS.

pub mod dashboard;
pub mod http;
pub mod resp;
pub mod rest;
pub mod ws;
