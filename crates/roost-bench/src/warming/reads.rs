//! The driver of the read-through scenarios: visits on a fixed open-loop schedule
//! (visit `v` is due at `start + v / rate`) spread over `connections` RESP
//! connections; a warm-up that is not tallied, then the measured window, with the
//! origin's counters and Roost's `/metrics` read at its start and end.
//!
//! A connection that breaks is reconnected at its next read (the error is tallied),
//! so one server hiccup does not end a run.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use tokio::time::Instant;

use super::probe::{self, OriginCounts};
use super::report::ScenarioReport;
use super::scenario::Scenario;
use super::tally::ReadTally;
use super::{get, GetOutcome};
use crate::resp::connection::RespConnection;

/// How the scenario's visits are driven and measured.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// `host:port` of Roost's RESP port.
    pub resp: String,
    /// Roost's HTTP base URL, for `/api/cache/warming` and `/metrics`.
    pub api: Option<String>,
    /// `roost-bench origin`'s base URL, for `/__stats`.
    pub origin: Option<String>,
    pub connections: usize,
    /// Visits per second, over all connections.
    pub rate: f64,
    pub warmup: Duration,
    pub duration: Duration,
    /// A read this slow or slower waited on the origin.
    pub wait_threshold: Duration,
    /// Longest wait for one reply before it counts as an error.
    pub timeout: Duration,
    pub seed: u64,
}

/// When the first visit is due, when tallying starts, when visits stop.
#[derive(Debug, Clone, Copy)]
struct Schedule {
    start: Instant,
    measure_from: Instant,
    end: Instant,
    rate: f64,
}

impl Schedule {
    fn due(&self, visit: u64) -> Instant {
        self.start + Duration::from_secs_f64(visit as f64 / self.rate)
    }
}

/// What one connection saw in the measured window.
struct WorkerTally {
    visits: u64,
    classes: Vec<ReadTally>,
}

/// Runs `scenario`: warm-up, then the measured window; the report of the window.
pub async fn run_reads(
    scenario: Scenario,
    options: &ReadOptions,
) -> anyhow::Result<ScenarioReport> {
    anyhow::ensure!(options.rate > 0.0, "--rate must be above 0");
    // Fail fast, with the address, when nothing listens there.
    RespConnection::connect(&options.resp)
        .await
        .with_context(|| format!("cannot reach {}", options.resp))?;
    let start = Instant::now() + Duration::from_millis(50);
    let schedule = Schedule {
        start,
        measure_from: start + options.warmup,
        end: start + options.warmup + options.duration,
        rate: options.rate,
    };
    let scenario = Arc::new(scenario);
    let next_visit = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..options.connections.max(1))
        .map(|i| {
            let (scenario, next_visit) = (scenario.clone(), next_visit.clone());
            let options = options.clone();
            tokio::spawn(async move {
                let seed = options.seed.wrapping_add(i as u64);
                worker(&scenario, &options, schedule, &next_visit, seed).await
            })
        })
        .collect();
    tokio::time::sleep_until(schedule.measure_from).await;
    let before = Probes::read(options).await;
    let mut visits = 0;
    let mut classes = vec![ReadTally::default(); scenario.classes().len()];
    for joined in workers {
        let tally = joined.await.context("a client task panicked")?;
        visits += tally.visits;
        for (total, part) in classes.iter_mut().zip(&tally.classes) {
            total.merge(part);
        }
    }
    let after = Probes::read(options).await;
    let warming = match &options.api {
        Some(api) => probe::warming_status(api).await,
        None => None,
    };
    Ok(ScenarioReport::new(
        &scenario,
        options,
        visits,
        &classes,
        after.origin_since(&before),
        after.reasons_since(&before),
        warming,
    ))
}

async fn worker(
    scenario: &Scenario,
    options: &ReadOptions,
    schedule: Schedule,
    next_visit: &AtomicU64,
    seed: u64,
) -> WorkerTally {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut tally = WorkerTally {
        visits: 0,
        classes: vec![ReadTally::default(); scenario.classes().len()],
    };
    // Warm-up reads go to a tally that is thrown away.
    let mut warmup = tally.classes.clone();
    let mut connection: Option<RespConnection> = None;
    loop {
        let visit = next_visit.fetch_add(1, Ordering::Relaxed);
        let due = schedule.due(visit);
        if due >= schedule.end {
            return tally;
        }
        tokio::time::sleep_until(due).await;
        let measured = due >= schedule.measure_from;
        let classes = if measured {
            tally.visits += 1;
            &mut tally.classes
        } else {
            &mut warmup
        };
        for step in scenario.steps(visit, &mut rng) {
            let class = &mut classes[step.class];
            let started = Instant::now();
            match get(&mut connection, &options.resp, &step.key, options.timeout).await {
                GetOutcome::Value => class.read(started.elapsed(), true, options.wait_threshold),
                GetOutcome::Nil => class.read(started.elapsed(), false, options.wait_threshold),
                GetOutcome::Failed(error) => class.error(|| error),
            }
            if !step.pause_after.is_zero() {
                tokio::time::sleep(step.pause_after).await;
            }
        }
    }
}

/// The HTTP counters read at the start and the end of the measured window.
struct Probes {
    origin: Option<OriginCounts>,
    reasons: Option<std::collections::BTreeMap<String, f64>>,
}

impl Probes {
    async fn read(options: &ReadOptions) -> Probes {
        let origin = match &options.origin {
            Some(origin) => probe::origin_counts(origin).await.ok(),
            None => None,
        };
        let reasons = match &options.api {
            Some(api) => probe::origin_requests_by_reason(api).await,
            None => None,
        };
        Probes { origin, reasons }
    }

    fn origin_since(&self, before: &Probes) -> Option<OriginCounts> {
        Some(self.origin.as_ref()?.since(before.origin.as_ref()?))
    }

    fn reasons_since(&self, before: &Probes) -> Option<std::collections::BTreeMap<String, f64>> {
        Some(probe::reasons_since(
            self.reasons.as_ref()?,
            before.reasons.as_ref(),
        ))
    }
}
