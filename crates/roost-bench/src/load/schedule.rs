//! Open-loop pacing: when each request of a connection was *meant* to be sent.
//!
//! A run at `rate` requests/s over `connections` connections gives every connection
//! its own fixed schedule, one request every `connections / rate` seconds, staggered by
//! `1 / rate` so the connections interleave evenly. Latency is measured from the
//! intended send time, not from the moment the request actually left: when the server
//! stalls, the requests that should have gone out meanwhile are late, and their
//! lateness is charged to the server. That is the coordinated-omission correction
//! (Gil Tene; wrk2 does the same). Pure arithmetic on `Instant`s: no I/O, no sleeping.

use std::time::{Duration, Instant};

/// The fixed send schedule of one connection.
#[derive(Debug, Clone)]
pub struct Schedule {
    first: Instant,
    interval_nanos: f64,
    /// Requests already handed out: the next one is number `taken`.
    taken: u64,
}

impl Schedule {
    /// Connection `index` of `connections` sharing `rate` requests/s, starting at `start`.
    /// `rate` must be positive and finite (the command line checks it).
    pub fn new(start: Instant, rate: f64, connections: usize, index: usize) -> Self {
        let overall_nanos = 1e9 / rate;
        Self {
            first: start + Duration::from_nanos((index as f64 * overall_nanos) as u64),
            interval_nanos: connections.max(1) as f64 * overall_nanos,
            taken: 0,
        }
    }

    /// When request number `n` of this connection is due.
    pub fn intended(&self, n: u64) -> Instant {
        self.first + Duration::from_nanos((n as f64 * self.interval_nanos) as u64)
    }

    /// When the next request not yet handed out is due.
    pub fn next_due(&self) -> Instant {
        self.intended(self.taken)
    }

    /// Hands out up to `max` requests whose intended time is at or before `now`,
    /// appending their intended times to `out`; returns how many.
    pub fn take_due(&mut self, now: Instant, max: usize, out: &mut Vec<Instant>) -> usize {
        let mut count = 0;
        while count < max {
            let due = self.next_due();
            if due > now {
                break;
            }
            out.push(due);
            self.taken += 1;
            count += 1;
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn connections_interleave_at_the_overall_rate() {
        let start = Instant::now();
        // 1000 requests/s over 4 connections: each sends every 4 ms, offset by 1 ms.
        let schedules: Vec<Schedule> = (0..4).map(|i| Schedule::new(start, 1000.0, 4, i)).collect();
        assert_eq!(schedules[0].intended(0), start);
        assert_eq!(schedules[1].intended(0), start + MS);
        assert_eq!(schedules[3].intended(2), start + 11 * MS);
        let mut all: Vec<Instant> = schedules
            .iter()
            .flat_map(|s| (0..250).map(|n| s.intended(n)))
            .collect();
        all.sort();
        for (n, when) in all.iter().enumerate() {
            assert_eq!(*when, start + n as u32 * MS, "request {n}");
        }
    }

    #[test]
    fn take_due_hands_out_only_past_requests_and_at_most_max() {
        let start = Instant::now();
        let mut schedule = Schedule::new(start, 1000.0, 1, 0);
        let mut out = Vec::new();
        assert_eq!(
            schedule.take_due(start + Duration::from_micros(2500), 16, &mut out),
            3
        );
        assert_eq!(out, vec![start, start + MS, start + 2 * MS]);
        assert_eq!(schedule.next_due(), start + 3 * MS);
        out.clear();
        assert_eq!(schedule.take_due(start + 100 * MS, 4, &mut out), 4);
        assert_eq!(out[0], start + 3 * MS);
        assert_eq!(schedule.next_due(), start + 7 * MS);
    }

    /// Simulates one connection at 1000 requests/s, one request in flight, against a
    /// server that answers in 10 µs except for one 100 ms stall. Measured from the
    /// intended send time, the stall shows in every request that should have gone out
    /// during it (~100); measured from the actual send time, in one.
    #[test]
    fn a_stall_is_charged_to_every_request_it_delayed() {
        let start = Instant::now();
        let mut schedule = Schedule::new(start, 1000.0, 1, 0);
        let mut clock = start;
        let (mut corrected, mut naive) = (Vec::new(), Vec::new());
        let mut intended = Vec::new();
        for n in 0..1000 {
            clock = clock.max(schedule.next_due());
            intended.clear();
            assert_eq!(schedule.take_due(clock, 1, &mut intended), 1);
            let sent = clock;
            let service = if n == 200 {
                100 * MS
            } else {
                Duration::from_micros(10)
            };
            clock += service;
            corrected.push(clock - intended[0]);
            naive.push(clock - sent);
        }
        let slow = |latencies: &[Duration]| latencies.iter().filter(|l| **l > 10 * MS).count();
        assert_eq!(slow(&naive), 1);
        assert!(
            (88..=92).contains(&slow(&corrected)),
            "{}",
            slow(&corrected)
        );
        // The request right after the stall waited ~99 ms for its turn.
        assert!(
            corrected[201] > 98 * MS && corrected[201] < 100 * MS,
            "{:?}",
            corrected[201]
        );
        // Once the backlog drains, latency is back to the service time.
        assert_eq!(corrected[999], Duration::from_micros(10));
    }
}
