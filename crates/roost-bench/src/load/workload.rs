//! What a load run sends: the operation mix, the key distribution and the values.
//!
//! Pure and transport-free: it produces `Operation`s; a `Target` (HTTP today, RESP
//! and RESP) turns them into requests. Keys are `<prefix><index>` with the index drawn
//! from `0..keyspace` (zero-padded to `key_digits` when set, as redis-benchmark names
//! its keys), so `fill` with the same prefix preloads exactly these keys.
//!
//! The RESP engine draws kinds and indexes (`next_kind`, `next_index`) and encodes keys
//! into a reused buffer (`KeyFormat::write_key`), so its hot path allocates nothing.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use rand_distr::{Distribution, Zipf};

/// The operations a load run can issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OperationKind {
    Get,
    Set,
    MGet,
    Delete,
}

impl OperationKind {
    pub const ALL: [OperationKind; 4] = [Self::Get, Self::Set, Self::MGet, Self::Delete];

    pub fn name(self) -> &'static str {
        match self {
            Self::Get => "get",
            Self::Set => "set",
            Self::MGet => "mget",
            Self::Delete => "delete",
        }
    }

    /// Position in `ALL`, for per-kind arrays.
    pub fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for OperationKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a workload description was rejected.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WorkloadError {
    #[error("mix entry {0:?} is not <operation>=<weight>")]
    MixSyntax(String),
    #[error("unknown operation {0:?} in mix (expected get, set, mget or delete)")]
    UnknownOperation(String),
    #[error("operation {0} appears twice in mix")]
    DuplicateOperation(OperationKind),
    #[error("mix weights add up to zero")]
    EmptyMix,
    #[error("keyspace must be at least 1")]
    EmptyKeyspace,
    #[error("zipf exponent {0} must be a finite number >= 0")]
    BadZipfExponent(f64),
    #[error("ttl ratio {0} must be between 0 and 1")]
    BadTtlRatio(f64),
    #[error("mget must ask for at least one key")]
    EmptyMGet,
}

/// Relative weights of each operation, e.g. `get=70,set=20,mget=5,delete=5`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationMix {
    weights: [u32; 4],
}

impl OperationMix {
    pub fn weight(&self, kind: OperationKind) -> u32 {
        self.weights[kind.index()]
    }

    fn total(&self) -> u32 {
        self.weights.iter().sum()
    }

    /// Picks the kind whose cumulative weight covers `ticket` (in `0..total`).
    fn pick(&self, mut ticket: u32) -> OperationKind {
        for kind in OperationKind::ALL {
            let weight = self.weight(kind);
            if ticket < weight {
                return kind;
            }
            ticket -= weight;
        }
        OperationKind::Get
    }
}

impl Default for OperationMix {
    fn default() -> Self {
        Self {
            weights: [70, 20, 5, 5],
        }
    }
}

impl FromStr for OperationMix {
    type Err = WorkloadError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut weights = [0u32; 4];
        let mut seen = [false; 4];
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (name, weight) = entry
                .split_once('=')
                .ok_or_else(|| WorkloadError::MixSyntax(entry.to_owned()))?;
            let kind = OperationKind::ALL
                .into_iter()
                .find(|kind| kind.name().eq_ignore_ascii_case(name.trim()))
                .ok_or_else(|| WorkloadError::UnknownOperation(name.trim().to_owned()))?;
            let weight: u32 = weight
                .trim()
                .parse()
                .map_err(|_| WorkloadError::MixSyntax(entry.to_owned()))?;
            if std::mem::replace(&mut seen[kind.index()], true) {
                return Err(WorkloadError::DuplicateOperation(kind));
            }
            weights[kind.index()] = weight;
        }
        let mix = Self { weights };
        if mix.total() == 0 {
            return Err(WorkloadError::EmptyMix);
        }
        Ok(mix)
    }
}

impl fmt::Display for OperationMix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = OperationKind::ALL
            .iter()
            .filter(|kind| self.weight(**kind) > 0)
            .map(|kind| format!("{kind}={}", self.weight(*kind)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// How key indexes are drawn from the keyspace.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum KeyDistribution {
    /// Rank `r` (1-based) has probability proportional to `1 / r^exponent`; index 0 is hottest.
    Zipf {
        exponent: f64,
    },
    Uniform,
}

/// Everything that decides which operations a run sends.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkloadSpec {
    pub keyspace: u64,
    pub distribution: KeyDistribution,
    pub key_prefix: String,
    /// Zero-pad the index to this many digits (redis-benchmark uses 12); 0 pads nothing.
    pub key_digits: usize,
    pub value_size: usize,
    pub mix: OperationMix,
    pub mget_keys: usize,
    /// TTL in seconds given to the `ttl_ratio` share of sets; `None` means no TTL ever.
    pub ttl_seconds: Option<u64>,
    pub ttl_ratio: f64,
}

impl WorkloadSpec {
    /// Checks the ranges clap cannot express.
    pub fn validate(&self) -> Result<(), WorkloadError> {
        if self.keyspace == 0 {
            return Err(WorkloadError::EmptyKeyspace);
        }
        if let KeyDistribution::Zipf { exponent } = self.distribution {
            if !exponent.is_finite() || exponent < 0.0 {
                return Err(WorkloadError::BadZipfExponent(exponent));
            }
        }
        if !(0.0..=1.0).contains(&self.ttl_ratio) {
            return Err(WorkloadError::BadTtlRatio(self.ttl_ratio));
        }
        if self.mget_keys == 0 {
            return Err(WorkloadError::EmptyMGet);
        }
        if self.mix.total() == 0 {
            return Err(WorkloadError::EmptyMix);
        }
        Ok(())
    }

    /// How this workload names its keys.
    pub fn key_format(&self) -> KeyFormat {
        KeyFormat {
            prefix: self.key_prefix.clone(),
            digits: self.key_digits,
        }
    }

    /// The key for index `index`; shared with `fill` so both name keys alike.
    pub fn key(&self, index: u64) -> String {
        self.key_format().key(index)
    }
}

/// Key naming: `<prefix><index>`, the index zero-padded to `digits`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFormat {
    pub prefix: String,
    pub digits: usize,
}

impl KeyFormat {
    /// Replaces `out` with the key for `index`, reusing its allocation.
    pub fn write_key(&self, index: u64, out: &mut Vec<u8>) {
        out.clear();
        out.extend_from_slice(self.prefix.as_bytes());
        let mut digits = itoa::Buffer::new();
        let text = digits.format(index).as_bytes();
        out.resize(out.len() + self.digits.saturating_sub(text.len()), b'0');
        out.extend_from_slice(text);
    }

    /// The key for `index` as a `String`.
    pub fn key(&self, index: u64) -> String {
        let mut out = Vec::new();
        self.write_key(index, &mut out);
        String::from_utf8(out).expect("invariant: prefix is a String and digits are ASCII")
    }
}

/// One request to send, independent of the transport.
#[derive(Debug, Clone, PartialEq)]
pub enum Operation {
    Get {
        key: String,
    },
    Set {
        key: String,
        value: Arc<str>,
        ttl_seconds: Option<u64>,
    },
    MGet {
        keys: Vec<String>,
    },
    Delete {
        key: String,
    },
}

impl Operation {
    pub fn kind(&self) -> OperationKind {
        match self {
            Self::Get { .. } => OperationKind::Get,
            Self::Set { .. } => OperationKind::Set,
            Self::MGet { .. } => OperationKind::MGet,
            Self::Delete { .. } => OperationKind::Delete,
        }
    }
}

/// Draws operations for one connection; each connection owns its own generator so
/// no random state is shared between tasks.
pub struct OperationGenerator {
    spec: Arc<WorkloadSpec>,
    zipf: Option<Zipf<f64>>,
    value: Arc<str>,
    rng: SmallRng,
}

impl OperationGenerator {
    /// A generator whose sequence is fixed by `seed`. The spec must have passed `validate`.
    pub fn new(spec: Arc<WorkloadSpec>, seed: u64) -> Result<Self, WorkloadError> {
        spec.validate()?;
        let zipf = match spec.distribution {
            KeyDistribution::Uniform => None,
            KeyDistribution::Zipf { exponent } => Some(
                Zipf::new(spec.keyspace as f64, exponent)
                    .map_err(|_| WorkloadError::BadZipfExponent(exponent))?,
            ),
        };
        let mut rng = SmallRng::seed_from_u64(seed);
        let value = random_text(&mut rng, spec.value_size).into();
        Ok(Self {
            spec,
            zipf,
            value,
            rng,
        })
    }

    /// The workload this generator draws from.
    pub fn spec(&self) -> &WorkloadSpec {
        &self.spec
    }

    /// The value every set writes (`value_size` random letters, fixed per generator).
    pub fn value(&self) -> &str {
        &self.value
    }

    /// Draws the next operation kind by the mix weights.
    pub fn next_kind(&mut self) -> OperationKind {
        let ticket = self.rng.random_range(0..self.spec.mix.total());
        self.spec.mix.pick(ticket)
    }

    /// Draws whether the next set carries the TTL, and which.
    pub fn next_ttl(&mut self) -> Option<u64> {
        let with_ttl = self.rng.random_bool(self.spec.ttl_ratio);
        self.spec.ttl_seconds.filter(|_| with_ttl)
    }

    pub fn next_operation(&mut self) -> Operation {
        match self.next_kind() {
            OperationKind::Get => Operation::Get {
                key: self.next_key(),
            },
            OperationKind::Set => {
                let ttl_seconds = self.next_ttl();
                Operation::Set {
                    key: self.next_key(),
                    value: Arc::clone(&self.value),
                    ttl_seconds,
                }
            }
            OperationKind::MGet => Operation::MGet {
                keys: (0..self.spec.mget_keys).map(|_| self.next_key()).collect(),
            },
            OperationKind::Delete => Operation::Delete {
                key: self.next_key(),
            },
        }
    }

    /// Draws the next key index in `0..keyspace`.
    pub fn next_index(&mut self) -> u64 {
        match &self.zipf {
            // Zipf samples ranks 1..=keyspace as floats; rank 1 becomes index 0.
            Some(zipf) => (zipf.sample(&mut self.rng) as u64).clamp(1, self.spec.keyspace) - 1,
            None => self.rng.random_range(0..self.spec.keyspace),
        }
    }

    fn next_key(&mut self) -> String {
        let index = self.next_index();
        self.spec.key(index)
    }
}

/// `len` random ASCII letters and digits: JSON-safe without escaping.
pub fn random_text(rng: &mut SmallRng, len: usize) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn spec(distribution: KeyDistribution, mix: &str) -> Arc<WorkloadSpec> {
        Arc::new(WorkloadSpec {
            keyspace: 1000,
            distribution,
            key_prefix: "key:".into(),
            key_digits: 0,
            value_size: 32,
            mix: mix.parse().unwrap(),
            mget_keys: 4,
            ttl_seconds: Some(300),
            ttl_ratio: 0.5,
        })
    }

    fn counts(generator: &mut OperationGenerator, draws: usize) -> [usize; 4] {
        let mut counts = [0; 4];
        for _ in 0..draws {
            counts[generator.next_operation().kind().index()] += 1;
        }
        counts
    }

    #[test]
    fn mix_parses_and_rejects_bad_entries() {
        let mix: OperationMix = "get=70, set=20,mget=5,delete=5".parse().unwrap();
        assert_eq!(mix.weight(OperationKind::Set), 20);
        assert_eq!(mix.to_string(), "get=70,set=20,mget=5,delete=5");
        let partial: OperationMix = "get=1".parse().unwrap();
        assert_eq!(partial.weight(OperationKind::Delete), 0);
        assert_eq!(partial.to_string(), "get=1");
        assert!(matches!(
            "get".parse::<OperationMix>(),
            Err(WorkloadError::MixSyntax(_))
        ));
        assert!(matches!(
            "put=1".parse::<OperationMix>(),
            Err(WorkloadError::UnknownOperation(_))
        ));
        assert!(matches!(
            "get=0".parse::<OperationMix>(),
            Err(WorkloadError::EmptyMix)
        ));
        assert!(matches!(
            "get=1,get=2".parse::<OperationMix>(),
            Err(WorkloadError::DuplicateOperation(OperationKind::Get))
        ));
    }

    #[test]
    fn generated_mix_follows_weights() {
        let mut generator =
            OperationGenerator::new(spec(KeyDistribution::Uniform, "get=3,set=1"), 7).unwrap();
        let [gets, sets, mgets, deletes] = counts(&mut generator, 40_000);
        assert_eq!(mgets + deletes, 0);
        let share = gets as f64 / (gets + sets) as f64;
        assert!((0.73..0.77).contains(&share), "get share {share}");
    }

    #[test]
    fn zipf_concentrates_on_low_indexes_and_uniform_does_not() {
        let hot_share = |distribution| {
            let mut generator = OperationGenerator::new(spec(distribution, "get=1"), 11).unwrap();
            let hot = (0..20_000).filter(|_| generator.next_index() < 10).count();
            hot as f64 / 20_000.0
        };
        // Zipf(0.99) over 1000 keys puts ~39 % of draws on the 10 hottest; uniform ~1 %.
        let zipf = hot_share(KeyDistribution::Zipf { exponent: 0.99 });
        let uniform = hot_share(KeyDistribution::Uniform);
        assert!((0.33..0.45).contains(&zipf), "zipf hot share {zipf}");
        assert!(uniform < 0.02, "uniform hot share {uniform}");
    }

    #[test]
    fn sets_carry_ttl_at_the_requested_ratio_and_values_have_the_size() {
        let mut generator =
            OperationGenerator::new(spec(KeyDistribution::Uniform, "set=1"), 3).unwrap();
        let mut with_ttl = 0;
        for _ in 0..10_000 {
            let Operation::Set {
                key,
                value,
                ttl_seconds,
            } = generator.next_operation()
            else {
                panic!("only sets were asked for");
            };
            assert!(key.starts_with("key:"));
            assert_eq!(value.len(), 32);
            with_ttl += usize::from(ttl_seconds == Some(300));
        }
        assert!((4_500..5_500).contains(&with_ttl), "with ttl {with_ttl}");
    }

    #[test]
    fn mget_asks_for_the_configured_key_count() {
        let mut generator =
            OperationGenerator::new(spec(KeyDistribution::Uniform, "mget=1"), 5).unwrap();
        let Operation::MGet { keys } = generator.next_operation() else {
            panic!("only mgets were asked for");
        };
        assert_eq!(keys.len(), 4);
    }

    #[test]
    fn keys_are_zero_padded_to_the_requested_digits() {
        let padded = KeyFormat {
            prefix: "key:".into(),
            digits: 12,
        };
        assert_eq!(padded.key(42), "key:000000000042");
        let mut reused = b"leftover bytes".to_vec();
        padded.write_key(1_234_567_890_123, &mut reused);
        assert_eq!(reused, b"key:1234567890123");
        let plain = KeyFormat {
            prefix: "k".into(),
            digits: 0,
        };
        assert_eq!(plain.key(7), "k7");
    }

    #[test]
    fn invalid_specs_are_rejected() {
        let mut bad = (*spec(KeyDistribution::Uniform, "get=1")).clone();
        bad.ttl_ratio = 1.5;
        assert_eq!(bad.validate(), Err(WorkloadError::BadTtlRatio(1.5)));
        bad.ttl_ratio = 0.0;
        bad.keyspace = 0;
        assert_eq!(bad.validate(), Err(WorkloadError::EmptyKeyspace));
    }
}
