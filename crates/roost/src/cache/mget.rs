//! Multi-get, in slices: an mget of a thousand 1 MiB values is read a slice at a
//! time, so a front door writes each slice out before the next is read and
//! never holds the whole answer. A slice aims at [`SLICE_TARGET_BYTES`] of
//! values: it grows while values are small (a thousand small keys are one or
//! two backend calls) and shrinks when they are large.
//!
//! Slices are read one after another, so an mget is not a snapshot across
//! slices — as it is not across nodes in front of Redis either — and when a
//! later slice fails the keys before it have already been answered; the
//! front doors answer that slice's keys with the error.
//!
//! With an origin, a slice's misses are loaded from it concurrently
//! (`read_through.rs`); a key the origin fails fails its slice.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use super::{Cache, CacheHit, Found, Origin};
use crate::error::CacheError;
use crate::origin::Loaded;
use crate::telemetry::{Metrics, Op};

/// Bytes of values a slice aims at.
pub const SLICE_TARGET_BYTES: usize = 1 << 20;
const FIRST_SLICE_KEYS: usize = 16;
const MIN_SLICE_KEYS: usize = 1;
const MAX_SLICE_KEYS: usize = 1024;

/// Where an mget has got to. Holds no borrow of the cache or the keys, so a
/// streamed HTTP body can own it beside them. Counted as one `mget` request
/// when dropped.
#[derive(Debug)]
pub struct MgetCursor {
    total: usize,
    next: usize,
    slice_keys: usize,
    started: Instant,
    ok: bool,
    metrics: Arc<Metrics>,
}

/// One slice of answers: which keys, and their values or the slice's error.
pub type MgetSlice = (
    std::ops::Range<usize>,
    Result<Vec<Option<CacheHit>>, CacheError>,
);

impl Cache {
    /// Starts an mget of `keys`: checks the count and every key first, so a bad
    /// request fails before anything is read.
    pub fn mget_cursor(&self, keys: &[Bytes]) -> Result<MgetCursor, CacheError> {
        let checked = self.check_keys(keys);
        if let Err(err) = &checked {
            self.metrics
                .record(Op::Mget, false, std::time::Duration::ZERO);
            return Err(err.clone());
        }
        Ok(MgetCursor {
            total: keys.len(),
            next: 0,
            slice_keys: FIRST_SLICE_KEYS,
            started: Instant::now(),
            ok: true,
            metrics: self.metrics.clone(),
        })
    }

    /// Reads the next slice of `keys` (the same keys the cursor was made for).
    pub async fn mget_next(&self, cursor: &mut MgetCursor, keys: &[Bytes]) -> Option<MgetSlice> {
        let range = cursor.next..(cursor.next + cursor.slice_keys).min(cursor.total);
        if range.is_empty() {
            return None;
        }
        cursor.next = range.end;
        let found = self.lookup_many(&keys[range.clone()]).await;
        match &found {
            Ok(hits) => {
                let bytes: usize = hits.iter().flatten().map(|h| h.value.len()).sum();
                cursor.resize(hits.len(), bytes);
            }
            Err(_) => cursor.ok = false,
        }
        Some((range, found))
    }

    /// Reads several keys at once, answers in key order; a node's failure fails
    /// the whole call.
    async fn lookup_many(&self, keys: &[Bytes]) -> Result<Vec<Option<CacheHit>>, CacheError> {
        let keys: Vec<&[u8]> = keys.iter().map(|key| &key[..]).collect();
        let found = self.backend.get_many(&keys, true).await;
        let mut hits = Vec::with_capacity(keys.len());
        for (key, stored) in keys.iter().zip(found) {
            let stored = stored?;
            self.looked_up(key, Found::of(stored.as_ref()), Origin::Client);
            hits.push(Ok(stored.map(|s| self.hit_of(key, s))));
        }
        if let Some(origin) = &self.origin {
            // A key the origin fails fails the slice, as a node's failure does.
            self.load_misses(origin, &keys, &mut hits, |key, loaded| match loaded {
                Loaded::Value { value, ttl } => Some(CacheHit {
                    value,
                    ttl,
                    node: self.owner(key),
                    version: None,
                }),
                Loaded::Missing => None,
            })
            .await;
        }
        hits.into_iter().collect()
    }
}

impl MgetCursor {
    /// Keys the mget asked for.
    pub fn len(&self) -> usize {
        self.total
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// Sizes the next slice from the last: `keys` held `bytes` of values.
    fn resize(&mut self, keys: usize, bytes: usize) {
        let per_key = bytes / keys.max(1);
        self.slice_keys =
            (SLICE_TARGET_BYTES / per_key.max(1)).clamp(MIN_SLICE_KEYS, MAX_SLICE_KEYS);
    }
}

impl Drop for MgetCursor {
    fn drop(&mut self) {
        if self.next > 0 {
            self.metrics
                .record(Op::Mget, self.ok, self.started.elapsed());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cursor() -> MgetCursor {
        MgetCursor {
            total: 5000,
            next: 0,
            slice_keys: FIRST_SLICE_KEYS,
            started: Instant::now(),
            ok: true,
            metrics: Arc::default(),
        }
    }

    #[test]
    fn slices_grow_for_small_values_and_shrink_for_large_ones() {
        let mut c = cursor();
        c.resize(64, 64 * 100);
        assert_eq!(c.slice_keys, MAX_SLICE_KEYS);
        c.resize(64, 64 << 20);
        assert_eq!(c.slice_keys, MIN_SLICE_KEYS, "one 1 MiB value per slice");
        c.resize(64, 64 * 64 * 1024);
        assert_eq!(c.slice_keys, 16);
        c.resize(10, 0);
        assert_eq!(c.slice_keys, MAX_SLICE_KEYS, "misses cost nothing to hold");
    }
}
