//! `ScenarioReport`: what one scenario run measured, as JSON (bench/warming.sh reads
//! it) and as a few lines of text.

use std::collections::BTreeMap;

use serde::Serialize;

use super::probe::OriginCounts;
use super::reads::ReadOptions;
use super::scenario::Scenario;
use super::tally::{ReadSummary, ReadTally};

#[derive(Debug, Clone, Serialize)]
pub struct ScenarioReport {
    pub scenario: &'static str,
    pub parameters: serde_json::Value,
    /// Visits made in the measured window, per second.
    pub visits_per_second: f64,
    /// Per class of reads (`hot`; `user` and `feed`; `random`).
    pub reads: BTreeMap<String, ReadSummary>,
    /// Requests the origin served during the measured window, by key prefix too.
    pub origin: Option<OriginCounts>,
    pub origin_requests_per_second: Option<f64>,
    /// Growth of Roost's `roost_origin_requests_total` by reason over the window;
    /// `None` from a server without that metric.
    pub origin_requests_by_reason: Option<BTreeMap<String, f64>>,
    /// `prefetch.precision` and `prefetch.coverage` of `/api/cache/warming` at the end.
    pub prefetch_precision: Option<f64>,
    pub prefetch_coverage: Option<f64>,
    /// `/api/cache/warming` at the end, whole; `None` from a server without it.
    pub warming: Option<serde_json::Value>,
}

impl ScenarioReport {
    pub fn new(
        scenario: &Scenario,
        options: &ReadOptions,
        visits: u64,
        classes: &[ReadTally],
        origin: Option<OriginCounts>,
        origin_requests_by_reason: Option<BTreeMap<String, f64>>,
        warming: Option<serde_json::Value>,
    ) -> Self {
        let seconds = options.duration.as_secs_f64().max(f64::EPSILON);
        let mut parameters = serde_json::json!({
            "rate": options.rate,
            "connections": options.connections,
            "warmup_s": options.warmup.as_secs_f64(),
            "duration_s": options.duration.as_secs_f64(),
            "wait_threshold_ms": options.wait_threshold.as_secs_f64() * 1000.0,
        });
        match scenario {
            Scenario::Refresh { keys } => parameters["keys"] = (*keys).into(),
            Scenario::Sessions { users, think } => {
                parameters["users"] = (*users).into();
                parameters["think_ms"] = (think.as_secs_f64() * 1000.0).into();
                parameters["revisit_s"] = (*users as f64 / options.rate).into();
            }
            Scenario::Uniform { keyspace } => parameters["keyspace"] = (*keyspace).into(),
        }
        let prefetch = |field: &str| {
            warming
                .as_ref()
                .and_then(|status| status["prefetch"][field].as_f64())
        };
        Self {
            scenario: scenario.name(),
            parameters,
            visits_per_second: visits as f64 / seconds,
            reads: scenario
                .classes()
                .iter()
                .zip(classes)
                .map(|(name, tally)| ((*name).to_owned(), tally.summary()))
                .collect(),
            origin_requests_per_second: origin.as_ref().map(|o| o.requests as f64 / seconds),
            origin,
            origin_requests_by_reason,
            prefetch_precision: prefetch("precision"),
            prefetch_coverage: prefetch("coverage"),
            warming,
        }
    }

    pub fn render(&self) -> String {
        let mut text = format!(
            "{}: {:.0} visits/s\nreads   count    waited  share    nil  errors  p50 ms  p99 ms  max ms\n",
            self.scenario, self.visits_per_second
        );
        for (name, r) in &self.reads {
            text.push_str(&format!(
                "{:<6} {:>6}  {:>8}  {:>5}  {:>5}  {:>6}  {:>6.2}  {:>6.2}  {:>6.1}\n",
                name,
                r.reads,
                r.waited,
                r.waited_share
                    .map_or("-".to_owned(), |s| format!("{:.3}", s)),
                r.nil,
                r.errors,
                r.p50_ms,
                r.p99_ms,
                r.max_ms
            ));
            if let Some(error) = &r.first_error {
                text.push_str(&format!("       first error: {error}\n"));
            }
        }
        if let Some(origin) = &self.origin {
            text.push_str(&format!(
                "origin requests: {} ({:.1}/s) {:?}\n",
                origin.requests,
                self.origin_requests_per_second.unwrap_or(0.0),
                origin.by_prefix
            ));
        }
        if let Some(reasons) = &self.origin_requests_by_reason {
            text.push_str(&format!(
                "roost_origin_requests_total by reason: {reasons:?}\n"
            ));
        }
        if self.warming.is_some() {
            let show = |v: Option<f64>| v.map_or("-".to_owned(), |v| format!("{v:.3}"));
            text.push_str(&format!(
                "prefetch precision {} coverage {}\n",
                show(self.prefetch_precision),
                show(self.prefetch_coverage)
            ));
        }
        text
    }
}
