//! A seeded Zipf sampler, shared by tests/hot_keys.rs and
//! examples/hot_keys_precision.rs (which includes this file by path), so the
//! test and the precision figures in docs/benchmarks.md draw the same streams.

/// A seeded Zipf(s) sampler over ranks 0..n (rank 0 the most popular).
pub struct Zipf {
    cdf: Vec<f64>,
    state: u64,
}

impl Zipf {
    pub fn new(n: usize, s: f64, seed: u64) -> Zipf {
        let mut cdf: Vec<f64> = (1..=n).map(|k| 1.0 / (k as f64).powf(s)).collect();
        let mut sum = 0.0;
        for w in &mut cdf {
            sum += *w;
            *w = sum;
        }
        cdf.iter_mut().for_each(|w| *w /= sum);
        Zipf {
            cdf,
            state: seed | 1,
        }
    }

    pub fn next(&mut self) -> usize {
        let mut x = self.state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.state = x;
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        self.cdf.partition_point(|&c| c < u).min(self.cdf.len() - 1)
    }
}
