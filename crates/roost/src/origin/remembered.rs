//! What the gateway remembers beside the backend, both bounded: origin 404s
//! (negative entries, for `ROOST_ORIGIN_NEGATIVE_TTL`) and copies of values it
//! loaded (for `ROOST_ORIGIN_STALE_IF_ERROR` past their expiry, to answer
//! when the origin fails). Neither is in the backend, so no front door can
//! read a negative entry as a value, and no client sees a stale copy unless
//! the origin just failed. A client write of a key forgets both.
//!
//! When full, expired entries are swept (at most once a second); if the map
//! is still full the new entry is not remembered — the cost is one more
//! origin fetch, never memory.

use std::collections::HashMap;

use bytes::Bytes;
use parking_lot::Mutex;
use roost_store::UnixMillis;

/// Bytes the negative entries hold at most: keys, and [`ENTRY_OVERHEAD`]
/// each — a count alone would let 100,000 64 KiB keys hold gigabytes.
pub const NEGATIVE_BYTES: usize = 16 << 20;
/// Bytes of keys and values the stale copies hold at most.
pub const STALE_BYTES: usize = 64 << 20;
const SWEEP_EVERY_MS: u64 = 1000;
/// What an entry costs beside its key and value: the map slot, the `Bytes`
/// handles and the deadline, rounded up.
const ENTRY_OVERHEAD: usize = 64;

/// A bounded map from key to an entry usable until a deadline.
#[derive(Debug)]
struct Bounded<V> {
    entries: HashMap<Bytes, (V, UnixMillis)>,
    /// What the entries weigh, in bytes.
    weight: usize,
    next_sweep: UnixMillis,
}

impl<V> Bounded<V> {
    fn new() -> Bounded<V> {
        Bounded {
            entries: HashMap::new(),
            weight: 0,
            next_sweep: 0,
        }
    }

    fn insert(
        &mut self,
        key: Bytes,
        entry: (V, UnixMillis),
        now: UnixMillis,
        cap: usize,
        weigh: impl Fn(&Bytes, &V) -> usize,
    ) {
        self.remove(&key, &weigh);
        let heavy = weigh(&key, &entry.0);
        if self.weight + heavy > cap && now >= self.next_sweep {
            self.next_sweep = now + SWEEP_EVERY_MS;
            self.entries.retain(|_, (_, until)| *until > now);
            self.weight = self.entries.iter().map(|(k, (v, _))| weigh(k, v)).sum();
        }
        if self.weight + heavy <= cap {
            self.weight += heavy;
            self.entries.insert(key, entry);
        }
    }

    fn remove(&mut self, key: &[u8], weigh: impl Fn(&Bytes, &V) -> usize) {
        if let Some((key, (value, _))) = self.entries.remove_entry(key) {
            self.weight -= weigh(&key, &value);
        }
    }
}

/// Origin 404s, remembered as misses.
#[derive(Debug)]
pub struct Negative {
    ttl_ms: u64,
    map: Mutex<Bounded<()>>,
}

impl Negative {
    pub fn new(ttl_ms: u64) -> Negative {
        Negative {
            ttl_ms,
            map: Mutex::new(Bounded::new()),
        }
    }

    pub fn remember(&self, key: &[u8], now: UnixMillis) {
        if self.ttl_ms > 0 {
            let entry = ((), now + self.ttl_ms);
            let key = Bytes::copy_from_slice(key);
            self.map
                .lock()
                .insert(key, entry, now, NEGATIVE_BYTES, weigh_negative);
        }
    }

    /// Whether the origin said 404 for `key` within the negative TTL.
    pub fn contains(&self, key: &[u8], now: UnixMillis) -> bool {
        let mut map = self.map.lock();
        match map.entries.get(key) {
            Some((_, until)) if *until > now => true,
            Some(_) => {
                map.remove(key, weigh_negative);
                false
            }
            None => false,
        }
    }

    pub fn forget(&self, key: &[u8]) {
        self.map.lock().remove(key, weigh_negative);
    }

    pub fn clear(&self) {
        *self.map.lock() = Bounded::new();
    }
}

/// Copies of loaded values, usable until their expiry plus the stale window.
#[derive(Debug)]
pub struct Stale {
    window_ms: u64,
    map: Mutex<Bounded<Bytes>>,
}

fn weigh(key: &Bytes, value: &Bytes) -> usize {
    key.len() + value.len() + ENTRY_OVERHEAD
}

fn weigh_negative(key: &Bytes, _: &()) -> usize {
    key.len() + ENTRY_OVERHEAD
}

impl Stale {
    pub fn new(window_ms: u64) -> Stale {
        Stale {
            window_ms,
            map: Mutex::new(Bounded::new()),
        }
    }

    /// Keeps `value`, which expires at `expires_at` (never: not kept — the
    /// backend keeps it until a client removes it).
    pub fn remember(
        &self,
        key: &[u8],
        value: &Bytes,
        expires_at: Option<UnixMillis>,
        now: UnixMillis,
    ) {
        let (true, Some(at)) = (self.window_ms > 0, expires_at) else {
            return;
        };
        let entry = (value.clone(), at + self.window_ms);
        let key = Bytes::copy_from_slice(key);
        self.map.lock().insert(key, entry, now, STALE_BYTES, weigh);
    }

    /// The copy of `key`, if still within its stale window.
    pub fn recall(&self, key: &[u8], now: UnixMillis) -> Option<Bytes> {
        let map = self.map.lock();
        let (value, until) = map.entries.get(key)?;
        (*until > now).then(|| value.clone())
    }

    pub fn forget(&self, key: &[u8]) {
        self.map.lock().remove(key, weigh);
    }

    pub fn clear(&self) {
        *self.map.lock() = Bounded::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn negative_entries_expire_and_are_bounded() {
        let negative = Negative::new(1000);
        negative.remember(b"k", 0);
        assert!(negative.contains(b"k", 999));
        assert!(!negative.contains(b"k", 1000));
        let key = |i: usize| format!("{i:0>1024}");
        let each = 1024 + ENTRY_OVERHEAD;
        for i in 0..NEGATIVE_BYTES / each + 10 {
            negative.remember(key(i).as_bytes(), 5000);
        }
        assert_eq!(
            negative.map.lock().entries.len(),
            NEGATIVE_BYTES / each,
            "bounded by bytes: long keys make fewer entries"
        );
        assert!(negative.map.lock().weight <= NEGATIVE_BYTES);
        negative.remember(b"later", 7000);
        assert!(
            negative.contains(b"later", 7001),
            "expired entries swept to make room"
        );
    }

    #[test]
    fn stale_copies_live_for_the_window_past_expiry() {
        let stale = Stale::new(2000);
        let value = Bytes::from_static(b"v");
        stale.remember(b"k", &value, Some(1000), 0);
        stale.remember(b"forever", &value, None, 0);
        assert_eq!(stale.recall(b"k", 2999), Some(value));
        assert_eq!(stale.recall(b"k", 3000), None);
        assert_eq!(stale.recall(b"forever", 0), None);
        stale.forget(b"k");
        assert_eq!(stale.map.lock().weight, 0);
    }
}
