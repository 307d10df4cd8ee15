//! The frequency sketch behind TinyLFU admission: a count-min sketch of 4-bit
//! counters (16 to a `u64` word, four counters per key in four different words) that
//! halves every counter after a sample period, so old popularity fades. Owns only
//! counting; it never decides admission. It grows with the resident entry count by
//! doubling, copying each word into both halves so no count is lost (a key's word
//! index is its hash masked by the table size, so after doubling it lands on the old
//! word or its copy).

/// Mixing constants, one per counter row (odd, from the golden ratio and friends).
const ROW_SEEDS: [u64; 4] = [
    0x9E37_79B9_7F4A_7C15,
    0xC2B2_AE3D_27D4_EB4F,
    0x1656_67B1_9E37_79F9,
    0x85EB_CA77_C2B2_AE63,
];

/// A 4-bit counter saturates here.
const MAX_COUNT: u64 = 15;

/// Additions per sample period, as a multiple of the table's words (≈ resident entries),
/// the period Caffeine's sketch uses.
const SAMPLE_FACTOR: u64 = 10;

/// The smallest table, in words.
const MIN_WORDS: usize = 16;

/// The largest table allocated up front (2 MiB); beyond it the table grows with use.
const MAX_INITIAL_WORDS: usize = 1 << 18;

/// A count-min sketch of access frequencies with periodic aging.
#[derive(Debug, Clone)]
pub(super) struct FrequencySketch {
    table: Vec<u64>,
    additions: u64,
}

impl FrequencySketch {
    /// A sketch with a word per expected entry (a power of two, at least 16 words).
    pub(super) fn with_capacity(expected_entries: u64) -> FrequencySketch {
        let words = usize::try_from(expected_entries)
            .unwrap_or(usize::MAX)
            .clamp(MIN_WORDS, MAX_INITIAL_WORDS)
            .next_power_of_two();
        FrequencySketch {
            table: vec![0; words],
            additions: 0,
        }
    }

    /// Grows the table (doubling, counts kept) until it has a word per resident entry.
    pub(super) fn ensure_capacity(&mut self, resident_entries: usize) {
        while self.table.len() < resident_entries {
            self.table.extend_from_within(..);
        }
    }

    /// The estimated number of recent accesses of `hash`, 0..=15.
    pub(super) fn frequency(&self, hash: u64) -> u8 {
        let mut least = MAX_COUNT;
        for seed in ROW_SEEDS {
            let (word, shift) = self.slot(hash, seed);
            least = least.min((self.table[word] >> shift) & MAX_COUNT);
        }
        least as u8
    }

    /// Counts one access of `hash`; ages every counter at the end of a sample period.
    pub(super) fn increment(&mut self, hash: u64) {
        let mut added = false;
        for seed in ROW_SEEDS {
            let (word, shift) = self.slot(hash, seed);
            if (self.table[word] >> shift) & MAX_COUNT < MAX_COUNT {
                self.table[word] += 1 << shift;
                added = true;
            }
        }
        if added {
            self.additions += 1;
            if self.additions >= SAMPLE_FACTOR * self.table.len() as u64 {
                self.halve();
            }
        }
    }

    /// Forgets everything (the table keeps its size).
    pub(super) fn clear(&mut self) {
        self.table.fill(0);
        self.additions = 0;
    }

    /// Heap bytes the table uses.
    #[cfg(test)]
    pub(super) fn heap_bytes(&self) -> usize {
        self.table.capacity() * std::mem::size_of::<u64>()
    }

    /// Halves every counter: clears each nibble's low bit, then shifts the word.
    fn halve(&mut self) {
        const HIGH_BITS_OF_NIBBLES: u64 = 0x7777_7777_7777_7777;
        for word in &mut self.table {
            *word = (*word >> 1) & HIGH_BITS_OF_NIBBLES;
        }
        self.additions /= 2;
    }

    /// The word index and bit shift of `hash`'s counter in the row of `seed`.
    fn slot(&self, hash: u64, seed: u64) -> (usize, u32) {
        let mixed = (hash ^ (hash >> 29)).wrapping_mul(seed);
        let word = (mixed >> 32) as usize & (self.table.len() - 1);
        let nibble = (mixed >> 28) & 15;
        (word, (nibble * 4) as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spread(i: u64) -> u64 {
        i.wrapping_mul(0xD6E8_FEB8_6659_FD93).rotate_left(31) ^ i
    }

    #[test]
    fn counts_saturate_at_fifteen_and_distinguish_keys() {
        let mut sketch = FrequencySketch::with_capacity(0);
        sketch.ensure_capacity(1_000);
        for _ in 0..20 {
            sketch.increment(spread(1));
        }
        for _ in 0..3 {
            sketch.increment(spread(2));
        }
        assert_eq!(sketch.frequency(spread(1)), 15);
        assert_eq!(sketch.frequency(spread(2)), 3);
        assert_eq!(sketch.frequency(spread(3)), 0);
    }

    #[test]
    fn a_sample_period_halves_old_counts() {
        let mut sketch = FrequencySketch::with_capacity(0);
        for _ in 0..8 {
            sketch.increment(spread(7));
        }
        assert_eq!(sketch.frequency(spread(7)), 8);
        // Distinct keys until the period (10 additions per word) ends once.
        let period = SAMPLE_FACTOR * MIN_WORDS as u64;
        for i in 100..100 + period {
            sketch.increment(spread(i));
        }
        assert!(sketch.frequency(spread(7)) <= 4, "aged to at most half");
        assert!(sketch.frequency(spread(7)) >= 3);
    }

    #[test]
    fn doubling_keeps_every_estimate() {
        let mut sketch = FrequencySketch::with_capacity(0);
        for i in 0..40 {
            for _ in 0..(i % 5) {
                sketch.increment(spread(i));
            }
        }
        let before: Vec<u8> = (0..40).map(|i| sketch.frequency(spread(i))).collect();
        sketch.ensure_capacity(1_000);
        assert_eq!(sketch.heap_bytes(), 1_024 * 8);
        let after: Vec<u8> = (0..40).map(|i| sketch.frequency(spread(i))).collect();
        assert_eq!(before, after);
    }
}
