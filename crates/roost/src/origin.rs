//! Origin read-through: what a GET or MGET miss does when `ROOST_ORIGIN_URL`
//! is set. The Cache's read paths call [`Cache::load`](crate::cache::Cache)
//! on a client miss; this module holds what that needs and owns no cache
//! logic itself.
//!
//! One file per concern:
//! - `url.rs`: the fetch URL of a key (the template, the key percent-encoded);
//! - `connector.rs`: reaching the origin (TCP, and rustls for `https://`);
//! - `http.rs`: the HTTP client (keep-alive pool, timeout, body cap) and how
//!   an answer is classified (value, 404, failure);
//! - `freshness.rs`: the TTL an answer may be stored with (`Cache-Control`);
//! - `flight.rs`: single-flight, one fetch per key in this gateway, with the
//!   bound on concurrent fetches;
//! - `remembered.rs`: the bounded negative entries (404s) and stale copies.
//!
//! Leases across gateways are backend operations (`backend/lease.rs`), used by
//! `cache/read_through.rs`. docs/warming.md explains the whole design.

mod connector;
mod flight;
mod freshness;
mod http;
mod remembered;
mod url;

pub use connector::Connector;
pub use flight::{Flight, Flights, Joined, Outcome, Purpose, Start};
pub use freshness::Freshness;
pub use http::{failed, Answer, OriginClient};
pub use remembered::{Negative, Stale, NEGATIVE_BYTES, STALE_BYTES};
pub use url::fetch_url;

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;

use crate::config::OriginSettings;
use crate::tasks::Tasks;

/// What a miss loaded from the origin answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// The value, and the TTL it was stored with (`Some(0)`: not stored —
    /// `no-store`, a stale copy, a fill a client write overtook, or a fill
    /// that found the key present or its lease gone).
    Value { value: Bytes, ttl: Option<Duration> },
    /// The origin has no such key (404), now or within the negative TTL.
    Missing,
}

impl Loaded {
    pub fn into_value(self) -> Option<Bytes> {
        match self {
            Loaded::Value { value, .. } => Some(value),
            Loaded::Missing => None,
        }
    }
}

/// Everything read-through needs, built once from the settings.
#[derive(Debug)]
pub struct ReadThrough {
    client: OriginClient,
    flights: Flights,
    negative: Negative,
    stale: Stale,
    /// Where fetches run, so a client that goes away cancels nothing.
    tasks: Tasks,
    /// This gateway's lease tokens: a random prefix and a counter.
    token_prefix: u64,
    next_token: AtomicU64,
}

impl ReadThrough {
    pub fn new(
        settings: OriginSettings,
        max_value_bytes: usize,
        tasks: Tasks,
    ) -> anyhow::Result<ReadThrough> {
        let negative = settings.negative_ttl.unwrap_or_default().as_millis() as u64;
        let stale = settings.stale_if_error.unwrap_or_default().as_millis() as u64;
        let mut prefix = [0u8; 8];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut prefix)
            .map_err(|_| anyhow::anyhow!("no randomness for lease tokens"))?;
        Ok(ReadThrough {
            flights: Flights::new(settings.max_concurrency),
            client: OriginClient::new(settings, max_value_bytes)?,
            negative: Negative::new(negative),
            stale: Stale::new(stale),
            tasks,
            token_prefix: u64::from_le_bytes(prefix),
            next_token: AtomicU64::new(1),
        })
    }

    pub fn settings(&self) -> &OriginSettings {
        self.client.settings()
    }

    pub fn client(&self) -> &OriginClient {
        &self.client
    }

    pub fn flights(&self) -> &Flights {
        &self.flights
    }

    pub fn negative(&self) -> &Negative {
        &self.negative
    }

    pub fn stale(&self) -> &Stale {
        &self.stale
    }

    pub fn tasks(&self) -> &Tasks {
        &self.tasks
    }

    /// A lease token no other fetch, in this gateway or another, uses.
    pub fn lease_token(&self) -> String {
        let n = self.next_token.fetch_add(1, Ordering::Relaxed);
        format!("{:016x}-{n:x}", self.token_prefix)
    }

    /// How long a miss waits for its flight: a wait on another gateway's
    /// lease and a fetch of its own, each bounded by `ROOST_ORIGIN_TIMEOUT`,
    /// plus a second for the backend calls around them. The fetch task ends
    /// within this on its own; the bound only guarantees no waiter outlives it.
    pub fn wait_bound(&self) -> Duration {
        self.settings().timeout * 2 + Duration::from_secs(1)
    }
}
