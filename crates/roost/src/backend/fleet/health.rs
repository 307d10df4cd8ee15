//! Health of one Redis node: the hysteresis that decides when it leaves and
//! rejoins rotation, and what the last probe saw.
//!
//! Every request outcome (passive) and every PING probe (active) feeds one
//! counter pair. `eject_after` consecutive failures take an `Up` node `Down`;
//! while `Down`, probes back off (interval × 2^k, at most [`MAX_BACKOFF_FACTOR`]
//! intervals) and `readmit_after` consecutive successful probes make it ready
//! to rejoin — the fleet invalidates what the node missed before it flips the
//! state back to `Up` (see `journal.rs`). State changes are compare-and-swaps,
//! so exactly one caller sees each transition and records its event.

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use roost_store::UnixMillis;

/// The longest wait between probes of a down node, in health intervals.
pub const MAX_BACKOFF_FACTOR: u32 = 10;

/// Where a node stands in rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    /// Serving its share of keys.
    Up,
    /// Ejected: its keys are served by the next replica (or the gutter).
    Down,
}

impl HealthState {
    fn from_u8(raw: u8) -> HealthState {
        if raw == 0 {
            HealthState::Up
        } else {
            HealthState::Down
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            HealthState::Up => 0,
            HealthState::Down => 1,
        }
    }
}

/// What a recorded outcome changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    None,
    /// The node just went down; the caller records the event.
    Ejected,
    /// A down node passed enough probes; the caller invalidates its missed
    /// writes and then calls [`Health::readmit`].
    ReadyToReadmit,
}

/// The thresholds, from configuration.
#[derive(Debug, Clone, Copy)]
pub struct Hysteresis {
    pub eject_after: u32,
    pub readmit_after: u32,
    pub interval: Duration,
}

/// What the last probe found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeRecord {
    pub at_ms: UnixMillis,
    pub ok: bool,
    pub latency_us: u64,
    pub error: Option<String>,
}

#[derive(Debug, Default)]
pub struct Health {
    state: AtomicU8,
    failures: AtomicU32,
    successes: AtomicU32,
    /// Consecutive failed probes while down: the backoff exponent.
    backoff_step: AtomicU32,
    next_probe_at: AtomicU64,
    changed_at: AtomicU64,
    last_probe: Mutex<ProbeRecord>,
}

impl Health {
    pub fn state(&self) -> HealthState {
        HealthState::from_u8(self.state.load(Ordering::Acquire))
    }

    pub fn is_up(&self) -> bool {
        self.state() == HealthState::Up
    }

    /// When the state last changed (unix ms; 0 when it never has).
    pub fn changed_at(&self) -> UnixMillis {
        self.changed_at.load(Ordering::Relaxed)
    }

    /// A request or probe failed.
    pub fn record_failure(&self, rules: &Hysteresis, now: UnixMillis) -> Transition {
        self.successes.store(0, Ordering::Relaxed);
        let failures = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if failures >= rules.eject_after && self.swap_state(HealthState::Up, HealthState::Down, now)
        {
            self.backoff_step.store(0, Ordering::Relaxed);
            self.schedule_probe(rules, now);
            return Transition::Ejected;
        }
        Transition::None
    }

    /// A request succeeded on this node. Resets the failure run of an up node;
    /// only probes bring a down node back.
    pub fn record_request_success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 && self.is_up() {
            self.failures.store(0, Ordering::Relaxed);
        }
    }

    /// The outcome of one probe; schedules the next one.
    pub fn record_probe(
        &self,
        rules: &Hysteresis,
        now: UnixMillis,
        record: ProbeRecord,
    ) -> Transition {
        let ok = record.ok;
        *self.last_probe.lock() = record;
        if !ok {
            let transition = self.record_failure(rules, now);
            if !self.is_up() {
                self.backoff_step.fetch_add(1, Ordering::Relaxed);
                self.schedule_probe(rules, now);
            }
            return transition;
        }
        self.failures.store(0, Ordering::Relaxed);
        self.backoff_step.store(0, Ordering::Relaxed);
        self.schedule_probe(rules, now);
        let successes = self.successes.fetch_add(1, Ordering::AcqRel) + 1;
        if !self.is_up() && successes >= rules.readmit_after {
            return Transition::ReadyToReadmit;
        }
        Transition::None
    }

    /// Puts a down node back in rotation; `true` for the one caller that did.
    pub fn readmit(&self, now: UnixMillis) -> bool {
        self.failures.store(0, Ordering::Relaxed);
        self.swap_state(HealthState::Down, HealthState::Up, now)
    }

    /// Whether a probe is due now (up nodes every interval, down nodes on backoff).
    pub fn probe_due(&self, now: UnixMillis) -> bool {
        now >= self.next_probe_at.load(Ordering::Relaxed)
    }

    pub fn last_probe(&self) -> ProbeRecord {
        self.last_probe.lock().clone()
    }

    fn schedule_probe(&self, rules: &Hysteresis, now: UnixMillis) {
        let factor = if self.is_up() {
            1
        } else {
            let step = self.backoff_step.load(Ordering::Relaxed).min(8);
            (1u32 << step).min(MAX_BACKOFF_FACTOR)
        };
        let wait = rules.interval.as_millis() as u64 * u64::from(factor);
        // Probes run on a tick of one interval; due "a hair early" keeps an up
        // node on every tick instead of every other one.
        let slack = rules.interval.as_millis() as u64 / 4;
        self.next_probe_at
            .store(now + wait.saturating_sub(slack), Ordering::Relaxed);
    }

    fn swap_state(&self, from: HealthState, to: HealthState, now: UnixMillis) -> bool {
        let swapped = self
            .state
            .compare_exchange(
                from.as_u8(),
                to.as_u8(),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .is_ok();
        if swapped {
            self.changed_at.store(now, Ordering::Relaxed);
            self.successes.store(0, Ordering::Relaxed);
        }
        swapped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: Hysteresis = Hysteresis {
        eject_after: 3,
        readmit_after: 2,
        interval: Duration::from_millis(100),
    };

    fn probe(ok: bool) -> ProbeRecord {
        ProbeRecord {
            ok,
            ..ProbeRecord::default()
        }
    }

    #[test]
    fn ejects_only_after_enough_consecutive_failures() {
        let health = Health::default();
        assert_eq!(health.record_failure(&RULES, 1), Transition::None);
        assert_eq!(health.record_failure(&RULES, 2), Transition::None);
        health.record_request_success();
        assert_eq!(health.record_failure(&RULES, 3), Transition::None);
        assert_eq!(health.record_failure(&RULES, 4), Transition::None);
        assert_eq!(health.record_failure(&RULES, 5), Transition::Ejected);
        assert_eq!(health.state(), HealthState::Down);
        assert_eq!(health.changed_at(), 5);
        assert_eq!(health.record_failure(&RULES, 6), Transition::None, "once");
    }

    #[test]
    fn a_down_node_needs_consecutive_probe_successes_to_come_back() {
        let health = Health::default();
        for now in 0..3 {
            health.record_failure(&RULES, now);
        }
        health.record_request_success();
        assert_eq!(health.state(), HealthState::Down, "requests do not readmit");
        assert_eq!(
            health.record_probe(&RULES, 10, probe(true)),
            Transition::None
        );
        assert_eq!(
            health.record_probe(&RULES, 20, probe(false)),
            Transition::None
        );
        assert_eq!(
            health.record_probe(&RULES, 30, probe(true)),
            Transition::None
        );
        assert_eq!(
            health.record_probe(&RULES, 40, probe(true)),
            Transition::ReadyToReadmit
        );
        assert!(health.readmit(41));
        assert!(!health.readmit(42), "only one caller readmits");
        assert!(health.is_up());
    }

    #[test]
    fn probes_of_a_down_node_back_off_up_to_the_cap() {
        let health = Health::default();
        for now in 0..3 {
            health.record_failure(&RULES, now);
        }
        let mut now = 1_000;
        let mut waits = Vec::new();
        for _ in 0..6 {
            health.record_probe(&RULES, now, probe(false));
            let next = health.next_probe_at.load(Ordering::Relaxed);
            waits.push(next - now);
            now = next;
        }
        assert_eq!(waits, [175, 375, 775, 975, 975, 975]);
        assert!(!health.probe_due(now - 1));
        assert!(health.probe_due(now));
        health.record_probe(&RULES, now, probe(true));
        assert_eq!(health.next_probe_at.load(Ordering::Relaxed) - now, 75);
    }
}
