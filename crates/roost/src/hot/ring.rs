//! The request path's side of hot-key tracking: a lock-free ring of sampled
//! keys per stripe that request threads write into and the fold task drains.
//!
//! A request thread takes a ticket with one `fetch_add` on its stripe's head
//! and writes the key's hash, length, sampling weight and first
//! [`KEY_CAPTURE`] bytes into the ticket's slot under a sequence number (a
//! seqlock): no lock, no allocation, no waiting. A ring that wraps while a
//! writer is still filling a slot gives the same slot to a second ticket, so
//! a writer first claims the slot ([`claim`]: a compare-and-swap to its odd
//! sequence number, only from an even one below it) and drops its sample if
//! another writer is filling the slot or a newer ticket has it — two writers
//! never interleave their words in one slot. The reader checks the sequence
//! number before and after copying a slot and skips a slot that a writer is
//! still filling or has already reused; a sample lost either way only makes
//! the sketch see a little less traffic, and the loss is counted.
//!
//! Must not: block, allocate, or read anything but atomics on the write side.

use std::sync::atomic::{fence, AtomicU64, Ordering};

/// Bytes of a key kept with a sample (and in the top-k table). Longer keys
/// are tracked by the hash of the whole key and shown by this prefix.
pub const KEY_CAPTURE: usize = 64;
const KEY_WORDS: usize = KEY_CAPTURE / 8;

/// A key's first [`KEY_CAPTURE`] bytes as atomic words: what a seqlock slot
/// holds, written and read word by word under the slot's sequence number (the
/// caller's fences order it). Shared by the hot-key rings and the predictor's.
#[derive(Debug, Default)]
pub(crate) struct KeyWords([AtomicU64; KEY_WORDS]);

impl KeyWords {
    /// Stores `key`'s first [`KEY_CAPTURE`] bytes (the rest of the words keep
    /// what they held; readers use only the length they were given).
    pub(crate) fn store(&self, key: &[u8]) {
        let kept = &key[..key.len().min(KEY_CAPTURE)];
        for (word, chunk) in self.0.iter().zip(kept.chunks(8)) {
            let mut bytes = [0u8; 8];
            bytes[..chunk.len()].copy_from_slice(chunk);
            word.store(u64::from_le_bytes(bytes), Ordering::Relaxed);
        }
    }

    pub(crate) fn load(&self) -> [u8; KEY_CAPTURE] {
        let mut key = [0u8; KEY_CAPTURE];
        for (chunk, word) in key.chunks_mut(8).zip(&self.0) {
            chunk.copy_from_slice(&word.load(Ordering::Relaxed).to_le_bytes());
        }
        key
    }
}
/// Claims `seq`'s slot for the writer of `ticket`: `true` when it may write
/// its words, then publish `2 * ticket + 2`. `false` — the sample is dropped,
/// and the reader counts it lost — when another writer is filling the slot
/// (an odd number) or a newer ticket already took it. One compare-and-swap;
/// never waits. Shared by the hot-key rings and the predictor's.
pub(crate) fn claim(seq: &AtomicU64, ticket: u64) -> bool {
    let filling = 2 * ticket + 1;
    let current = seq.load(Ordering::Relaxed);
    if current & 1 == 1 || current >= filling {
        return false;
    }
    if seq
        .compare_exchange(current, filling, Ordering::Relaxed, Ordering::Relaxed)
        .is_err()
    {
        return false;
    }
    fence(Ordering::Release);
    true
}

/// Rings: threads are spread over them so the heads are rarely shared.
pub const STRIPES: usize = 4;
/// Slots per ring (a power of two). With sampling held near
/// [`super::TARGET_SAMPLES_PER_SEC`] a fold drains far fewer than this.
pub const SLOTS: usize = 4096;

/// One sample as the fold task reads it.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    pub hash: u64,
    /// The whole key's length; only `min(len, KEY_CAPTURE)` bytes are kept.
    pub len: usize,
    /// The sample stands for `1 << shift` requests.
    pub shift: u32,
    pub key: [u8; KEY_CAPTURE],
}

impl Sample {
    pub fn key(&self) -> &[u8] {
        &self.key[..self.len.min(KEY_CAPTURE)]
    }
}

#[derive(Debug, Default)]
struct Slot {
    /// `2 * ticket + 1` while its writer fills it, `2 * ticket + 2` once written.
    seq: AtomicU64,
    hash: AtomicU64,
    /// Key length in the low 32 bits, sampling shift above.
    meta: AtomicU64,
    key: KeyWords,
}

/// A ring's head on a cache line pair of its own, so stripes do not share one.
#[derive(Debug, Default)]
#[repr(align(128))]
struct Head(AtomicU64);

/// What one drain saw.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Samples read and handed on.
    pub read: u64,
    /// Samples written but lost: overwritten before the fold came, or still
    /// being written when it looked.
    pub lost: u64,
    /// Of those, the ones still being written (or torn): their keys are
    /// unknown and no read sample stands for them.
    pub torn: u64,
}

#[derive(Debug)]
pub struct Rings {
    heads: Box<[Head]>,
    slots: Box<[Slot]>,
}

impl Default for Rings {
    fn default() -> Self {
        Rings::new()
    }
}

impl Rings {
    pub fn new() -> Rings {
        Rings {
            heads: (0..STRIPES).map(|_| Head::default()).collect(),
            slots: (0..STRIPES * SLOTS).map(|_| Slot::default()).collect(),
        }
    }

    /// Bytes the rings hold (fixed at construction).
    pub fn memory_bytes(&self) -> usize {
        STRIPES * (std::mem::size_of::<Head>() + SLOTS * std::mem::size_of::<Slot>())
    }

    /// Writes one sample into ring `stripe`.
    pub fn push(&self, stripe: usize, hash: u64, key: &[u8], shift: u32) {
        let stripe = stripe % STRIPES;
        let ticket = self.heads[stripe].0.fetch_add(1, Ordering::Relaxed);
        let slot = &self.slots[stripe * SLOTS + (ticket as usize & (SLOTS - 1))];
        if !claim(&slot.seq, ticket) {
            return;
        }
        slot.hash.store(hash, Ordering::Relaxed);
        let len = u32::try_from(key.len()).unwrap_or(u32::MAX);
        slot.meta
            .store(u64::from(len) | (u64::from(shift) << 32), Ordering::Relaxed);
        slot.key.store(key);
        slot.seq.store(2 * ticket + 2, Ordering::Release);
    }

    /// Hands every sample written since `cursors` (one per stripe) to `each`
    /// and moves the cursors past them. Only the fold task calls this.
    ///
    /// `each` also gets how many written samples the one it reads stands for:
    /// 1, or more when the ring was overrun and kept only its latest `SLOTS`
    /// (the same stream, so they stand for the lost ones too).
    pub fn drain(
        &self,
        cursors: &mut [u64; STRIPES],
        mut each: impl FnMut(&Sample, f64),
    ) -> Drained {
        let mut drained = Drained::default();
        for (stripe, cursor) in cursors.iter_mut().enumerate() {
            let head = self.heads[stripe].0.load(Ordering::Acquire);
            let from = (*cursor).max(head.saturating_sub(SLOTS as u64));
            drained.lost += from - *cursor;
            let stands_for = (head - *cursor) as f64 / (head - from).max(1) as f64;
            for ticket in from..head {
                let slot = &self.slots[stripe * SLOTS + (ticket as usize & (SLOTS - 1))];
                match read(slot, ticket) {
                    Some(sample) => {
                        drained.read += 1;
                        each(&sample, stands_for);
                    }
                    None => {
                        drained.lost += 1;
                        drained.torn += 1;
                    }
                }
            }
            *cursor = head;
        }
        drained
    }
}

/// The sample written under `ticket`, if the slot still holds it whole.
fn read(slot: &Slot, ticket: u64) -> Option<Sample> {
    let written = 2 * ticket + 2;
    if slot.seq.load(Ordering::Acquire) != written {
        return None;
    }
    let hash = slot.hash.load(Ordering::Relaxed);
    let meta = slot.meta.load(Ordering::Relaxed);
    let key = slot.key.load();
    fence(Ordering::Acquire);
    if slot.seq.load(Ordering::Relaxed) != written {
        return None;
    }
    Some(Sample {
        hash,
        len: (meta & u64::from(u32::MAX)) as usize,
        shift: (meta >> 32) as u32,
        key,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn samples_come_out_once_in_order_with_their_key() {
        let rings = Rings::new();
        let mut cursors = [0; STRIPES];
        rings.push(0, 1, b"alpha", 0);
        rings.push(1, 2, b"beta", 3);
        let long = vec![b'x'; 100];
        rings.push(0, 3, &long, 0);
        let mut seen = Vec::new();
        let drained = rings.drain(&mut cursors, |s, n| {
            assert_eq!(n, 1.0);
            seen.push((s.hash, s.key().to_vec(), s.len, s.shift))
        });
        assert_eq!(
            drained,
            Drained {
                read: 3,
                ..Drained::default()
            }
        );
        assert_eq!(seen[0], (1, b"alpha".to_vec(), 5, 0));
        assert_eq!(seen[1], (3, vec![b'x'; KEY_CAPTURE], 100, 0));
        assert_eq!(seen[2], (2, b"beta".to_vec(), 4, 3));
        let again = rings.drain(&mut cursors, |_, _| panic!("drained twice"));
        assert_eq!(again, Drained::default());
    }

    #[test]
    fn an_overrun_ring_loses_the_oldest_and_counts_them() {
        let rings = Rings::new();
        let mut cursors = [0; STRIPES];
        for i in 0..(SLOTS as u64 + 10) {
            rings.push(2, i, b"k", 0);
        }
        let mut first = None;
        let mut weight = 0.0;
        let drained = rings.drain(&mut cursors, |s, n| {
            first.get_or_insert(s.hash);
            weight += n;
        });
        let expected = Drained {
            read: SLOTS as u64,
            lost: 10,
            torn: 0,
        };
        assert_eq!(drained, expected);
        assert!((weight - (SLOTS + 10) as f64).abs() < 1e-6, "{weight}");
        assert_eq!(first, Some(10));
    }

    /// A writer overtaken on its slot by a newer ticket (the ring wrapped
    /// while it was preempted) writes nothing: the newer sample stays whole.
    #[test]
    fn a_writer_overtaken_on_its_slot_writes_nothing() {
        let rings = Rings::new();
        let slot = &rings.slots[0];
        assert!(claim(&slot.seq, 0), "a fresh slot");
        assert!(!claim(&slot.seq, SLOTS as u64), "being filled: dropped");
        slot.seq.store(2, Ordering::Release);
        assert!(claim(&slot.seq, SLOTS as u64), "the next lap's ticket");
        slot.seq.store(2 * SLOTS as u64 + 2, Ordering::Release);
        assert!(!claim(&slot.seq, 0), "the old ticket came back too late");
        assert!(!claim(&slot.seq, SLOTS as u64), "a ticket writes once");
    }

    #[test]
    fn concurrent_writers_never_hand_over_a_torn_sample() {
        let rings = std::sync::Arc::new(Rings::new());
        let writers: Vec<_> = (0..4)
            .map(|t| {
                let rings = rings.clone();
                std::thread::spawn(move || {
                    for i in 0..50_000u64 {
                        let key = [(t * 50 + i % 50) as u8; 40];
                        rings.push(0, u64::from(key[0]), &key, 0);
                    }
                })
            })
            .collect();
        let mut cursors = [0; STRIPES];
        let mut total = Drained::default();
        while !writers.iter().all(|w| w.is_finished()) {
            let d = rings.drain(&mut cursors, |s, _| {
                assert!(
                    s.key().iter().all(|&b| u64::from(b) == s.hash),
                    "torn sample"
                );
            });
            total.read += d.read;
            total.lost += d.lost;
        }
        for w in writers {
            w.join().unwrap();
        }
        let d = rings.drain(&mut cursors, |_, _| {});
        assert_eq!(total.read + total.lost + d.read + d.lost, 200_000);
    }
}
