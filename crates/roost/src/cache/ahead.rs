//! Warming's origin fetches ahead of demand: a refresh of a hot key before
//! its deadline, a predicted next read, a hot key the backend lost. Each is a
//! flight in the same single-flight map as client misses (`read_through.rs`),
//! so a client miss on a key being fetched ahead joins that fetch instead of
//! starting a second one; and each goes through the same lease, fill lock and
//! [`Cache::apply`] (as [`Origin::Warming`](super::Origin)), so client writes
//! win exactly as they do over a miss's fill.
//!
//! What a background fetch must not do, and how it is kept from it:
//! - delay a client miss: it starts only while more than half of
//!   `ROOST_ORIGIN_MAX_CONCURRENCY` is free ([`Flights::has_background_room`]),
//!   and never waits for a slot;
//! - exceed `ROOST_ORIGIN_MAX_RPS`: the caller's token is taken just before
//!   the flight starts, after the cheap reasons to skip (no token, no fetch);
//! - undo a client write: a refresh stores over the present value only under
//!   the flight's fill lock, only while the key's deadline is still the one
//!   the refresh was planned for, and (on a fleet) only while its lease holds.
//!
//! [`Flights::has_background_room`]: crate::origin::Flights::has_background_room

use std::time::Duration;

use bytes::Bytes;
use roost_store::UnixMillis;

use super::read_through::FlightDone;
use super::Cache;
use crate::origin::{Joined, Loaded, Purpose, Start};

/// A deadline read back within this of the one a refresh was planned for is
/// the same entry: a Redis deadline is rebuilt from PTTL and the clock, so it
/// may differ by a few milliseconds; a client write moves it by its TTL.
const DEADLINE_SLACK_MS: u64 = 20;

/// How a fetch ahead ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AheadOutcome {
    /// Fetched and stored, with this TTL (`None`: never expires); `joined`
    /// when a client's miss of the key waited for this fetch.
    Stored { ttl: Option<Duration>, joined: bool },
    /// Fetched, not stored: `no-store`, 404, or a client write came first.
    NotStored,
    /// The origin failed or was at its concurrency bound.
    Failed,
    /// Skipped, not fetched: the key is present (prefetch, warm-up), already
    /// in flight, remembered as a 404, or there is no origin.
    Skipped,
    /// Skipped: more than half the origin's slots are busy (kept for clients).
    Reserved,
    /// Skipped: no budget token.
    Denied,
}

impl Cache {
    /// Fetches `key` for warming's `purpose` (not [`Purpose::Miss`]) as a
    /// flight, unless there is a reason to skip; `take_token` is asked for a
    /// budget token only when the fetch would otherwise start. Runs the whole
    /// fetch: the caller runs it as a task.
    pub async fn fetch_ahead(
        &self,
        key: Bytes,
        purpose: Purpose,
        take_token: impl FnOnce() -> bool,
    ) -> AheadOutcome {
        let Some(origin) = self.origin.clone() else {
            return AheadOutcome::Skipped;
        };
        if origin.negative().contains(&key, self.backend.now_millis()) {
            return AheadOutcome::Skipped;
        }
        if let Purpose::Refresh { seen } = purpose {
            // Already refreshed (a hit that saw the old deadline queued this
            // after the last refresh ended), or written by a client.
            if self.deadline_moved(&key, seen).await {
                return AheadOutcome::Skipped;
            }
        } else {
            // The backend look first: a present key costs no token. Not a
            // client lookup: no read hook, no near cache.
            match self.backend.get_past_near(&key).await {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return AheadOutcome::Skipped,
            }
        }
        if !origin.flights().has_background_room() {
            return AheadOutcome::Reserved;
        }
        // Already being fetched (a client's miss, another warming fetch):
        // no token spent on a flight that would only be joined.
        if origin.flights().is_flying(&key) {
            return AheadOutcome::Skipped;
        }
        if !take_token() {
            return AheadOutcome::Denied;
        }
        let Start { flight, answer } = match origin.flights().join(&key, purpose) {
            Joined::Waiting(_) => return AheadOutcome::Skipped,
            Joined::Started(start) => start,
        };
        let done = FlightDone {
            origin,
            key,
            flight,
        };
        let outcome = self
            .fetch_and_fill(&done.origin, &done.key, &done.flight)
            .await;
        let flight = done.flight.clone();
        let stored = match &outcome {
            Ok(Loaded::Value { ttl, .. }) if *ttl != Some(Duration::ZERO) => Some(*ttl),
            _ => None,
        };
        // Answered before the flight is forgotten, as a miss's fetch does: a
        // client miss that joined this flight gets the value.
        let failed = outcome.is_err();
        let _ = answer.send(outcome);
        drop(done);
        match stored {
            // Never sent: another gateway's fill or a value that landed
            // meanwhile, or no origin slot free.
            _ if !flight.asked() => AheadOutcome::Skipped,
            // A stale copy answered a failure: nothing was stored.
            _ if failed || flight.failed() => AheadOutcome::Failed,
            Some(ttl) => AheadOutcome::Stored {
                ttl,
                joined: flight.joined(),
            },
            None => AheadOutcome::NotStored,
        }
    }

    /// Whether `key`'s deadline is no longer `seen` (a client write since);
    /// an absent key has not moved (it expired: the refresh may store).
    pub(super) async fn deadline_moved(&self, key: &[u8], seen: UnixMillis) -> bool {
        match self.backend.peek(key).await {
            Ok(Some(stored)) => match stored.expires_at {
                Some(at) => at.abs_diff(seen) > DEADLINE_SLACK_MS,
                None => true,
            },
            Ok(None) => false,
            // Unsure: do not store over it.
            Err(_) => true,
        }
    }
}
