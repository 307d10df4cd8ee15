//! The request path's side of the predictor: lock-free rings of observed
//! reads (key and time) that request threads write into and `learn` drains.
//!
//! The same seqlock rings as hot-key tracking (`hot/ring.rs`): a thread
//! takes a ticket with one `fetch_add` on its stripe's head, claims the
//! ticket's slot (dropping the observation if another writer is filling it
//! or a newer ticket has it) and writes the key's first [`KEY_CAPTURE`]
//! bytes, its length and the time under a sequence number; the reader skips
//! a slot that a writer is still filling or has already reused, and counts
//! it lost. An overrun ring keeps its latest
//! [`SLOTS`] observations.
//!
//! Must not: block, allocate, or read anything but atomics on the write side.

use std::sync::atomic::{fence, AtomicU64, Ordering};

use crate::hot::stripe;

/// Keys longer than this are not observed: a prediction must name a whole key.
pub use crate::hot::KEY_CAPTURE;
use crate::hot::{claim, KeyWords};
/// Rings: threads are spread over them so the heads are rarely shared. As
/// many as hot-key tracking has, whose per-thread stripe (`hot/sampling.rs`)
/// they use.
pub const STRIPES: usize = crate::hot::STRIPES;
/// Slots per ring (a power of two): with sampling near
/// [`super::TARGET_OBSERVATIONS_PER_SEC`] and `learn` every 200 ms, a drain
/// finds far fewer than this.
pub const SLOTS: usize = 4096;

/// One observed read as `learn` gets it.
#[derive(Debug, Clone, Copy)]
pub struct Observation {
    pub at_ms: u64,
    len: usize,
    key: [u8; KEY_CAPTURE],
}

impl Observation {
    pub fn key(&self) -> &[u8] {
        &self.key[..self.len.min(KEY_CAPTURE)]
    }
}

#[derive(Debug, Default)]
struct Slot {
    /// `2 * ticket + 1` while its writer fills it, `2 * ticket + 2` once written.
    seq: AtomicU64,
    at_ms: AtomicU64,
    len: AtomicU64,
    key: KeyWords,
}

/// A ring's head on a cache line pair of its own, so stripes do not share one.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Head(AtomicU64);

#[derive(Debug)]
pub struct Rings {
    heads: Box<[Head]>,
    slots: Box<[Slot]>,
}

impl Rings {
    pub fn new() -> Rings {
        Rings {
            heads: (0..STRIPES).map(|_| Head::default()).collect(),
            slots: (0..STRIPES * SLOTS).map(|_| Slot::default()).collect(),
        }
    }

    /// Bytes the rings hold (fixed at construction).
    pub fn memory_bytes() -> usize {
        STRIPES * (std::mem::size_of::<Head>() + SLOTS * std::mem::size_of::<Slot>())
    }

    /// Writes one observation into the calling thread's ring. `key` is cut
    /// to [`KEY_CAPTURE`] bytes (the caller skips longer keys).
    pub fn push(&self, key: &[u8], at_ms: u64) {
        let stripe = stripe();
        let ticket = self.heads[stripe].0.fetch_add(1, Ordering::Relaxed);
        let slot = &self.slots[stripe * SLOTS + (ticket as usize & (SLOTS - 1))];
        if !claim(&slot.seq, ticket) {
            return;
        }
        slot.at_ms.store(at_ms, Ordering::Relaxed);
        let kept = &key[..key.len().min(KEY_CAPTURE)];
        slot.len.store(kept.len() as u64, Ordering::Relaxed);
        slot.key.store(kept);
        slot.seq.store(2 * ticket + 2, Ordering::Release);
    }

    /// Appends every observation written since `cursors` to `into` and moves
    /// the cursors past them; returns how many were lost (overwritten before
    /// this drain, or still being written). Only `learn` calls this.
    pub fn drain(&self, cursors: &mut [u64; STRIPES], into: &mut Vec<Observation>) -> u64 {
        let mut lost = 0;
        for (stripe, cursor) in cursors.iter_mut().enumerate() {
            let head = self.heads[stripe].0.load(Ordering::Acquire);
            let from = (*cursor).max(head.saturating_sub(SLOTS as u64));
            lost += from - *cursor;
            for ticket in from..head {
                let slot = &self.slots[stripe * SLOTS + (ticket as usize & (SLOTS - 1))];
                match read(slot, ticket) {
                    Some(observation) => into.push(observation),
                    None => lost += 1,
                }
            }
            *cursor = head;
        }
        lost
    }
}

/// The observation written under `ticket`, if the slot still holds it whole.
fn read(slot: &Slot, ticket: u64) -> Option<Observation> {
    let written = 2 * ticket + 2;
    if slot.seq.load(Ordering::Acquire) != written {
        return None;
    }
    let at_ms = slot.at_ms.load(Ordering::Relaxed);
    let len = slot.len.load(Ordering::Relaxed) as usize;
    let key = slot.key.load();
    fence(Ordering::Acquire);
    if slot.seq.load(Ordering::Relaxed) != written {
        return None;
    }
    Some(Observation { at_ms, len, key })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn observations_come_out_once_with_key_and_time() {
        let rings = Rings::new();
        let mut cursors = [0; STRIPES];
        rings.push(b"user:1", 10);
        rings.push(b"feed:1", 12);
        let mut out = Vec::new();
        assert_eq!(rings.drain(&mut cursors, &mut out), 0);
        let seen: Vec<_> = out.iter().map(|o| (o.key().to_vec(), o.at_ms)).collect();
        assert_eq!(
            seen,
            vec![(b"user:1".to_vec(), 10), (b"feed:1".to_vec(), 12)]
        );
        out.clear();
        assert_eq!(rings.drain(&mut cursors, &mut out), 0);
        assert!(out.is_empty());
    }

    #[test]
    fn an_overrun_ring_keeps_the_latest_and_counts_the_rest() {
        let rings = Rings::new();
        let mut cursors = [0; STRIPES];
        for i in 0..(SLOTS as u64 + 10) {
            rings.push(b"k", i);
        }
        let mut out = Vec::new();
        assert_eq!(rings.drain(&mut cursors, &mut out), 10);
        assert_eq!(out.len(), SLOTS);
        assert_eq!(out[0].at_ms, 10);
    }

    #[test]
    fn concurrent_writers_never_hand_over_a_torn_observation() {
        let rings = std::sync::Arc::new(Rings::new());
        let writers: Vec<_> = (0..4u64)
            .map(|t| {
                let rings = rings.clone();
                std::thread::spawn(move || {
                    for i in 0..50_000u64 {
                        let b = (t * 50 + i % 50) as u8;
                        rings.push(&[b; 40], u64::from(b));
                    }
                })
            })
            .collect();
        let mut cursors = [0; STRIPES];
        let (mut read, mut lost) = (0, 0);
        let mut out = Vec::new();
        while !writers.iter().all(|w| w.is_finished()) {
            lost += rings.drain(&mut cursors, &mut out);
            for o in out.drain(..) {
                read += 1;
                assert!(o.key().iter().all(|&b| u64::from(b) == o.at_ms), "torn");
            }
        }
        for w in writers {
            w.join().unwrap();
        }
        lost += rings.drain(&mut cursors, &mut out);
        assert_eq!(read + out.len() as u64 + lost, 200_000);
    }
}
