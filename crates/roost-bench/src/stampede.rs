//! `roost-bench stampede`: N clients, each on its own RESP connection (spread
//! round-robin over the gateways given), GET one missing key at the same
//! instant; repeated for `rounds` fresh keys. Reports, per round, how many
//! requests the origin served for it (from `roost-bench origin`'s
//! `/__stats`), how many clients got the value, and their latency.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use roost_resp::Frame;
use serde::Serialize;
use tokio::sync::Barrier;

use crate::resp::connection::RespConnection;

#[derive(Debug, Clone)]
pub struct StampedeOptions {
    /// `host:port` of each gateway's RESP port.
    pub gateways: Vec<String>,
    /// `http://host:port` of `roost-bench origin`.
    pub origin: String,
    pub clients: usize,
    pub rounds: usize,
    /// Keys are `<prefix>:<round>`: fresh for every run.
    pub key_prefix: String,
}

#[derive(Debug, Serialize)]
pub struct RoundReport {
    pub key: String,
    pub origin_requests: u64,
    pub values: usize,
    pub errors: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// One error text, if any client got one.
    pub first_error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct StampedeReport {
    pub gateways: usize,
    pub clients: usize,
    pub rounds: Vec<RoundReport>,
}

impl StampedeReport {
    pub fn render(&self) -> String {
        let mut text = format!(
            "{} clients over {} gateway(s)\nround  origin requests  values  errors  p50 ms  p99 ms  max ms\n",
            self.clients, self.gateways
        );
        for (i, r) in self.rounds.iter().enumerate() {
            text.push_str(&format!(
                "{:>5}  {:>15}  {:>6}  {:>6}  {:>6.1}  {:>6.1}  {:>6.1}\n",
                i + 1,
                r.origin_requests,
                r.values,
                r.errors,
                r.p50_ms,
                r.p99_ms,
                r.max_ms
            ));
            if let Some(error) = &r.first_error {
                text.push_str(&format!("       first error: {error}\n"));
            }
        }
        text
    }
}

pub async fn run_stampede(options: &StampedeOptions) -> anyhow::Result<StampedeReport> {
    anyhow::ensure!(!options.gateways.is_empty(), "give at least one --gateway");
    let mut rounds = Vec::with_capacity(options.rounds);
    for round in 0..options.rounds {
        let key = format!("{}:{round}", options.key_prefix);
        let before = origin_requests(&options.origin).await?;
        let (latencies, errors) = one_round(options, &key).await?;
        let after = origin_requests(&options.origin).await?;
        let mut histogram = Histogram::<u64>::new(3)?;
        for micros in &latencies {
            histogram.record(*micros)?;
        }
        let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1000.0;
        rounds.push(RoundReport {
            key,
            origin_requests: after - before,
            values: latencies.len(),
            errors: errors.len(),
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            max_ms: histogram.max() as f64 / 1000.0,
            first_error: errors.into_iter().next(),
        });
    }
    Ok(StampedeReport {
        gateways: options.gateways.len(),
        clients: options.clients,
        rounds,
    })
}

/// Connects every client, then all send `GET key` at once; the latency in µs
/// of each value, and the errors.
async fn one_round(
    options: &StampedeOptions,
    key: &str,
) -> anyhow::Result<(Vec<u64>, Vec<String>)> {
    let mut connections = Vec::with_capacity(options.clients);
    for i in 0..options.clients {
        let gateway = &options.gateways[i % options.gateways.len()];
        connections.push(RespConnection::connect(gateway).await?);
    }
    let barrier = Arc::new(Barrier::new(options.clients));
    let clients: Vec<_> = connections
        .into_iter()
        .map(|mut connection| {
            let (barrier, key) = (barrier.clone(), key.to_owned());
            tokio::spawn(async move {
                barrier.wait().await;
                let start = Instant::now();
                let reply = connection.command(&[b"GET", key.as_bytes()]).await;
                let micros = start.elapsed().as_micros() as u64;
                match reply {
                    Ok(Frame::Bulk(_)) => Ok(micros),
                    Ok(Frame::Error(text)) => Err(String::from_utf8_lossy(&text).into_owned()),
                    Ok(other) => Err(format!("unexpected reply {other:?}")),
                    Err(err) => Err(err.to_string()),
                }
            })
        })
        .collect();
    let (mut latencies, mut errors) = (Vec::new(), Vec::new());
    for client in clients {
        match client.await? {
            Ok(micros) => latencies.push(micros.max(1)),
            Err(error) => errors.push(error),
        }
    }
    Ok((latencies, errors))
}

/// The origin's request count from its `/__stats`.
async fn origin_requests(origin: &str) -> anyhow::Result<u64> {
    let client: Client<_, Empty<bytes::Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let uri: hyper::Uri = format!("{origin}/__stats").parse()?;
    let response = tokio::time::timeout(Duration::from_secs(5), client.get(uri)).await??;
    let body = response.into_body().collect().await?.to_bytes();
    let stats: serde_json::Value = serde_json::from_slice(&body)?;
    stats["requests"]
        .as_u64()
        .ok_or_else(|| anyhow::anyhow!("origin stats without a request count: {stats}"))
}
