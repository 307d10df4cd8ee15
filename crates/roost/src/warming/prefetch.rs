//! What became of each prefetch: the keys warming fetched because the
//! predictor named them, each with its rule and the time by which a client
//! should have read it (its deadline, or [`UNUSED_AFTER`] for a key that
//! never expires). A client hit on one is a use (`feedback(rule, true)`); its
//! time passing, or a client miss on it (it was evicted), is a waste
//! (`feedback(rule, false)`), so the model learns to stay quiet.
//!
//! Bounded: at most [`MAX_TRACKED`] keys, in [`STRIPES`] maps by key hash, so
//! the hit path's check takes one stripe's lock and only when something is
//! tracked at all. A prefetch that finds the map full is fetched but not
//! followed (counted neither used nor wasted).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use roost_store::UnixMillis;

use super::predict::RuleId;

/// Keys followed at once.
pub const MAX_TRACKED: usize = 16_384;
/// How long a prefetched key without a deadline may wait for its read.
pub const UNUSED_AFTER: u64 = 60_000;
const STRIPES: usize = 16;

#[derive(Debug)]
pub struct Prefetched {
    stripes: Vec<Mutex<HashMap<Bytes, (RuleId, UnixMillis)>>>,
    len: AtomicUsize,
}

/// A followed prefetch that ended, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    pub rule: RuleId,
    pub used: bool,
}

impl Default for Prefetched {
    fn default() -> Self {
        Prefetched {
            stripes: (0..STRIPES).map(|_| Mutex::new(HashMap::new())).collect(),
            len: AtomicUsize::new(0),
        }
    }
}

impl Prefetched {
    fn stripe(&self, key: &[u8]) -> &Mutex<HashMap<Bytes, (RuleId, UnixMillis)>> {
        &self.stripes[crate::hot::key_hash(key) as usize % STRIPES]
    }

    /// Follows `key`, stored by a prefetch for `rule`, until `until`.
    pub fn insert(&self, key: Bytes, rule: RuleId, until: UnixMillis) -> bool {
        if self.len.load(Ordering::Relaxed) >= MAX_TRACKED {
            return false;
        }
        if self
            .stripe(&key)
            .lock()
            .insert(key, (rule, until))
            .is_none()
        {
            self.len.fetch_add(1, Ordering::Relaxed);
        }
        true
    }

    pub fn contains(&self, key: &[u8]) -> bool {
        self.len.load(Ordering::Relaxed) > 0 && self.stripe(key).lock().contains_key(key)
    }

    /// A client read `key` (a hit: used; a miss: it was evicted, wasted).
    pub fn read(&self, key: &[u8], hit: bool) -> Option<Ended> {
        if self.len.load(Ordering::Relaxed) == 0 {
            return None;
        }
        let (rule, _) = self.stripe(key).lock().remove(key)?;
        self.len.fetch_sub(1, Ordering::Relaxed);
        Some(Ended { rule, used: hit })
    }

    /// The followed keys whose time passed by `now`: wasted.
    pub fn sweep(&self, now: UnixMillis) -> Vec<RuleId> {
        let mut wasted = Vec::new();
        for stripe in &self.stripes {
            stripe.lock().retain(|_, (rule, until)| {
                let keep = *until > now;
                if !keep {
                    wasted.push(*rule);
                }
                keep
            });
        }
        self.len.fetch_sub(wasted.len(), Ordering::Relaxed);
        wasted
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_is_a_use_a_miss_or_the_deadline_a_waste_and_the_map_is_bounded() {
        let followed = Prefetched::default();
        let rule = RuleId(7);
        assert!(followed.insert(Bytes::from("a"), rule, 100));
        assert!(followed.insert(Bytes::from("b"), rule, 100));
        assert!(followed.insert(Bytes::from("c"), rule, 200));
        assert_eq!(followed.read(b"a", true), Some(Ended { rule, used: true }));
        assert_eq!(followed.read(b"a", true), None, "counted once");
        assert_eq!(
            followed.read(b"b", false),
            Some(Ended { rule, used: false })
        );
        assert_eq!(followed.sweep(150), Vec::<RuleId>::new());
        assert_eq!(followed.sweep(200), vec![rule]);
        assert_eq!(followed.len.load(Ordering::Relaxed), 0);
        for i in 0..MAX_TRACKED + 5 {
            followed.insert(Bytes::from(i.to_string()), rule, 1000);
        }
        assert_eq!(followed.len.load(Ordering::Relaxed), MAX_TRACKED);
    }
}
