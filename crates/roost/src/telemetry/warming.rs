//! Metrics of warming (`crate::warming`): prefetches used and wasted, and
//! background fetches the `ROOST_ORIGIN_MAX_RPS` budget refused. Requests
//! warming sent are `roost_origin_requests_total{reason}` (`origin.rs`).

use prometheus::core::Collector;
use prometheus::IntCounter;

#[derive(Debug)]
pub struct WarmingMetrics {
    /// Prefetched keys a client read before they expired or were evicted.
    pub prefetches_used: IntCounter,
    /// Prefetched keys that expired or were evicted unread.
    pub prefetches_wasted: IntCounter,
    /// Background fetches skipped for want of a budget token.
    pub budget_denied: IntCounter,
}

impl WarmingMetrics {
    pub fn new() -> WarmingMetrics {
        let counter =
            |name: &str, help: &str| IntCounter::new(name, help).expect("invariant: valid metric");
        WarmingMetrics {
            prefetches_used: counter(
                "roost_warming_prefetches_used_total",
                "prefetched keys a client read before they expired or were evicted",
            ),
            prefetches_wasted: counter(
                "roost_warming_prefetches_wasted_total",
                "prefetched keys that expired or were evicted before any client read them",
            ),
            budget_denied: counter(
                "roost_warming_budget_denied_total",
                "background origin fetches (refresh, prefetch, warmup) skipped: no ROOST_ORIGIN_MAX_RPS token",
            ),
        }
    }

    pub fn collectors(&self) -> Vec<Box<dyn Collector>> {
        vec![
            Box::new(self.prefetches_used.clone()),
            Box::new(self.prefetches_wasted.clone()),
            Box::new(self.budget_denied.clone()),
        ]
    }
}

impl Default for WarmingMetrics {
    fn default() -> Self {
        WarmingMetrics::new()
    }
}
