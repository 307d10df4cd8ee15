//! The global budget for reply bytes waiting on slow clients.
//!
//! A reply the kernel takes at once costs nothing here. Only when a write to a
//! client would block does the connection hold what is left unwritten against
//! this budget, until the client reads it. When holding it would pass the
//! budget the connection gets a short grace to read, and is closed if it does
//! not (as Redis's `maxmemory-clients` evicts clients): a client that does not
//! read must not make the clients that do wait for memory, and what replies
//! to slow clients pin stays bounded whatever the number of them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use prometheus::IntGauge;

#[derive(Debug)]
pub struct OutputBudget {
    limit: usize,
    used: AtomicUsize,
    gauge: IntGauge,
}

impl OutputBudget {
    /// A budget of `limit` bytes, shown on `gauge`.
    pub fn new(limit: usize, gauge: IntGauge) -> Arc<OutputBudget> {
        Arc::new(OutputBudget {
            limit,
            used: AtomicUsize::new(0),
            gauge,
        })
    }

    pub fn limit(&self) -> usize {
        self.limit
    }

    pub fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// A holding of nothing yet, to [`Holding::resize`] as output waits.
    pub fn holding(self: &Arc<Self>) -> Holding {
        Holding {
            budget: self.clone(),
            bytes: 0,
        }
    }
}

/// Bytes one connection holds against the budget; given back on drop.
#[derive(Debug)]
pub struct Holding {
    budget: Arc<OutputBudget>,
    bytes: usize,
}

impl Holding {
    /// Holds `bytes` instead of what was held. Growing fails, changing
    /// nothing, when the budget cannot take the difference.
    pub fn resize(&mut self, bytes: usize) -> Result<(), BudgetExceeded> {
        if bytes == self.bytes {
            // The common case (nothing held, nothing to hold): no shared atomics.
            return Ok(());
        }
        let budget = &self.budget;
        if bytes > self.bytes {
            let more = bytes - self.bytes;
            budget
                .used
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                    used.checked_add(more)
                        .filter(|&total| total <= budget.limit)
                })
                .map_err(|used| BudgetExceeded {
                    wanted: bytes,
                    used,
                    limit: budget.limit,
                })?;
        } else {
            budget.used.fetch_sub(self.bytes - bytes, Ordering::AcqRel);
        }
        self.bytes = bytes;
        budget.gauge.set(budget.used() as i64);
        Ok(())
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        let _ = self.resize(0);
    }
}

/// Why a connection could not hold its unwritten output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{wanted} bytes of replies wait for this client and the {limit}-byte budget for all slow clients holds {used}")]
pub struct BudgetExceeded {
    pub wanted: usize,
    pub used: usize,
    pub limit: usize,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn budget(limit: usize) -> Arc<OutputBudget> {
        OutputBudget::new(limit, IntGauge::new("b", "b").unwrap())
    }

    #[test]
    fn holdings_share_the_limit_and_give_back_on_drop() {
        let budget = budget(100);
        let mut a = budget.holding();
        let mut b = budget.holding();
        a.resize(60).unwrap();
        let refused = b.resize(50).unwrap_err();
        assert_eq!((refused.used, refused.limit), (60, 100));
        assert_eq!(budget.used(), 60, "a refused holding takes nothing");
        b.resize(40).unwrap();
        a.resize(10).unwrap();
        assert_eq!(budget.used(), 50);
        drop(b);
        assert_eq!(budget.used(), 10);
        assert_eq!(budget.gauge.get(), 10);
        drop(a);
        assert_eq!(budget.used(), 0);
    }
}
