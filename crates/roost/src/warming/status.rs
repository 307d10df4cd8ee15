//! What `GET /api/cache/warming` answers: warming's state, its budget, and
//! what refresh-ahead, prefetch and warm-up did, as counters since start and
//! rates over the last second (folded by the warming task, so a request
//! only reads atomics). The `snapshot` and `node_warmups` fields are filled
//! in by the handler from warm restart (`crate::snapshot`) and the fleet's
//! new-node warm-ups: `null` without `ROOST_DATA_DIR`, `[]` without a fleet.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// A counter's rate per second over the last fold (the warming task folds
/// once a second), readable by any request without locking.
#[derive(Debug, Default)]
pub struct Rate {
    /// The counter's total at the last fold.
    last: AtomicU64,
    /// Per second over the last fold, as f64 bits.
    per_sec: AtomicU64,
}

impl Rate {
    /// The counter now stands at `total`, `secs` after the last fold.
    pub fn fold(&self, total: u64, secs: f64) {
        let last = self.last.swap(total, Ordering::Relaxed);
        let rate = total.saturating_sub(last) as f64 / secs.max(1e-3);
        self.per_sec.store(rate.to_bits(), Ordering::Relaxed);
    }

    pub fn per_sec(&self) -> f64 {
        f64::from_bits(self.per_sec.load(Ordering::Relaxed))
    }
}

/// Counters of one kind of background fetch.
#[derive(Debug, Default)]
pub struct Tally {
    pub issued: AtomicU64,
    pub stored: AtomicU64,
    pub failed: AtomicU64,
    pub skipped: AtomicU64,
    /// Issued per second.
    issued_rate: Rate,
}

impl Tally {
    pub fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// Turns the issued count since the last fold into a rate over `secs`.
    pub fn fold(&self, secs: f64) {
        self.issued_rate.fold(Tally::get(&self.issued), secs);
    }

    pub fn per_sec(&self) -> f64 {
        self.issued_rate.per_sec()
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WarmingStatus {
    pub enabled: bool,
    pub interval_ms: u64,
    /// Whether an origin is configured (`ROOST_ORIGIN_URL`): without one there
    /// is nothing to refresh, prefetch or warm up from.
    pub origin: bool,
    pub budget: BudgetStatus,
    pub refresh: FetchStatus,
    pub prefetch: PrefetchStatus,
    pub warmup: WarmupStatus,
    /// Warm restart's last snapshot and load; `None` without `ROOST_DATA_DIR`.
    pub snapshot: Option<crate::snapshot::SnapshotStatus>,
    /// The fleet's latest new-node warm-ups (empty on the embedded store).
    pub node_warmups: Vec<crate::backend::fleet::WarmupStatus>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BudgetStatus {
    pub max_rps: u32,
    pub used_per_sec: f64,
    pub denied_total: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FetchStatus {
    pub issued_total: u64,
    pub stored_total: u64,
    pub failed_total: u64,
    pub skipped_total: u64,
    pub per_sec: f64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrefetchStatus {
    pub issued_total: u64,
    pub used_total: u64,
    pub wasted_total: u64,
    pub per_sec: f64,
    /// used / issued; `null` before any prefetch.
    pub precision: Option<f64>,
    /// used / (used + client misses of keys a rule predicts); `null` before any.
    pub coverage: Option<f64>,
    pub successor_rules: usize,
    pub pattern_rules: usize,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct WarmupStatus {
    pub issued_total: u64,
}

impl FetchStatus {
    pub fn of(tally: &Tally) -> FetchStatus {
        FetchStatus {
            issued_total: Tally::get(&tally.issued),
            stored_total: Tally::get(&tally.stored),
            failed_total: Tally::get(&tally.failed),
            skipped_total: Tally::get(&tally.skipped),
            per_sec: tally.per_sec(),
        }
    }
}

/// `part / whole`, `None` when `whole` is 0.
pub fn ratio(part: u64, whole: u64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}
