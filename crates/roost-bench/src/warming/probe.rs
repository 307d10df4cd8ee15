//! What the warming bench reads over HTTP besides its RESP traffic: the stand-in
//! origin's request counts (`/__stats`), Roost's `GET /api/cache/warming` and the
//! `roost_origin_requests_total{reason=…}` samples of `/metrics`.
//!
//! Each probe is optional in the report: an endpoint that is missing (an older
//! binary without warming) gives `None`, never an error, so the same bench runs
//! against the binary before and after the warming features.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Serialize;

/// How long one probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// The origin's counters at one moment.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct OriginCounts {
    pub requests: u64,
    pub by_prefix: BTreeMap<String, u64>,
}

impl OriginCounts {
    /// What was served between `earlier` and `self`.
    pub fn since(&self, earlier: &OriginCounts) -> OriginCounts {
        let by_prefix = self
            .by_prefix
            .iter()
            .map(|(prefix, count)| {
                let before = earlier.by_prefix.get(prefix).copied().unwrap_or(0);
                (prefix.clone(), count.saturating_sub(before))
            })
            .filter(|(_, count)| *count > 0)
            .collect();
        OriginCounts {
            requests: self.requests.saturating_sub(earlier.requests),
            by_prefix,
        }
    }
}

/// GET `url`: the status and body.
async fn get(url: &str) -> anyhow::Result<(u16, Bytes)> {
    let client: Client<_, Empty<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = url.parse()?;
    let response = tokio::time::timeout(PROBE_TIMEOUT, client.get(uri)).await??;
    let status = response.status().as_u16();
    let body = tokio::time::timeout(PROBE_TIMEOUT, response.into_body().collect())
        .await??
        .to_bytes();
    Ok((status, body))
}

/// `roost-bench origin`'s counters from its `/__stats` (`by_prefix` empty from an
/// origin that does not count by prefix).
pub async fn origin_counts(origin: &str) -> anyhow::Result<OriginCounts> {
    let (status, body) = get(&format!("{}/__stats", origin.trim_end_matches('/'))).await?;
    anyhow::ensure!(status == 200, "origin stats answered {status}");
    parse_origin_counts(&body)
}

pub fn parse_origin_counts(body: &[u8]) -> anyhow::Result<OriginCounts> {
    let stats: serde_json::Value = serde_json::from_slice(body)?;
    let requests = stats["requests"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("origin stats without a request count: {stats}"))?;
    let by_prefix = stats["by_prefix"]
        .as_object()
        .map(|counts| {
            counts
                .iter()
                .filter_map(|(prefix, count)| Some((prefix.clone(), count.as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    Ok(OriginCounts {
        requests,
        by_prefix,
    })
}

/// Roost's `GET /api/cache/warming`, or `None` when it does not answer 200 JSON.
pub async fn warming_status(api: &str) -> Option<serde_json::Value> {
    let (status, body) = get(&format!("{}/api/cache/warming", api.trim_end_matches('/')))
        .await
        .ok()?;
    (status == 200)
        .then(|| serde_json::from_slice(&body).ok())
        .flatten()
}

/// `roost_origin_requests_total` by its `reason` label from Roost's `/metrics`, or
/// `None` when the server has no such metric.
pub async fn origin_requests_by_reason(api: &str) -> Option<BTreeMap<String, f64>> {
    let (status, body) = get(&format!("{}/metrics", api.trim_end_matches('/')))
        .await
        .ok()?;
    (status == 200)
        .then(|| parse_reasons(&String::from_utf8_lossy(&body)))
        .flatten()
}

/// The `roost_origin_requests_total{…reason="X"…} N` samples of a Prometheus text
/// page, summed by reason.
pub fn parse_reasons(page: &str) -> Option<BTreeMap<String, f64>> {
    let mut reasons = BTreeMap::new();
    for line in page.lines() {
        let Some(rest) = line.strip_prefix("roost_origin_requests_total{") else {
            continue;
        };
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        let Some(reason) = labels
            .split(',')
            .find_map(|label| label.trim().strip_prefix("reason=\""))
            .and_then(|quoted| quoted.strip_suffix('"'))
        else {
            continue;
        };
        let Ok(value) = value.trim().parse::<f64>() else {
            continue;
        };
        *reasons.entry(reason.to_owned()).or_insert(0.0) += value;
    }
    (!reasons.is_empty()).then_some(reasons)
}

/// Per-reason growth from `before` to `after` (a reason missing before counts from 0).
pub fn reasons_since(
    after: &BTreeMap<String, f64>,
    before: Option<&BTreeMap<String, f64>>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(reason, value)| {
            let earlier = before.and_then(|b| b.get(reason)).copied().unwrap_or(0.0);
            (reason.clone(), value - earlier)
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn reasons_are_summed_across_other_labels() {
        let page = "# HELP roost_origin_requests_total x\n\
            roost_origin_requests_total{reason=\"miss\",door=\"resp\"} 10\n\
            roost_origin_requests_total{door=\"rest\",reason=\"miss\"} 5\n\
            roost_origin_requests_total{reason=\"refresh\"} 3\n\
            roost_origin_fetches_total 18\n";
        let reasons = parse_reasons(page).expect("reasons");
        assert_eq!(reasons["miss"], 15.0);
        assert_eq!(reasons["refresh"], 3.0);
        assert_eq!(parse_reasons("roost_origin_fetches_total 18\n"), None);
    }

    #[test]
    fn origin_counts_subtract_by_prefix() {
        let before = parse_origin_counts(br#"{"requests":3,"by_prefix":{"user":3}}"#).unwrap();
        let after =
            parse_origin_counts(br#"{"requests":10,"by_prefix":{"user":5,"feed":5}}"#).unwrap();
        let delta = after.since(&before);
        assert_eq!(delta.requests, 7);
        assert_eq!(delta.by_prefix["user"], 2);
        assert_eq!(delta.by_prefix["feed"], 5);
        let old = parse_origin_counts(br#"{"requests":4}"#).unwrap();
        assert!(old.by_prefix.is_empty());
    }
}
