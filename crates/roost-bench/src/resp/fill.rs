//! `roost-bench fill --target resp://…`: preloads `<prefix>0 .. <prefix>(keys-1)` with
//! pipelined `SET`s, `batch` per write, `connections` connections at once.
//!
//! Same contract as the REST fill: every reply must be `+OK`, and the first failure
//! stops the fill, since a partial preload would make every figure after it wrong.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use indicatif::ProgressBar;
use rand::rngs::SmallRng;
use rand::SeedableRng;

use super::connection::{error_text, RespConnection};
use super::scan::Reply;
use crate::fill::{finish_fill, progress_bar, FillError, FillOptions, FillReport};
use crate::load::target::TargetError;
use crate::load::workload::{random_text, KeyFormat};

/// Loads every key once over RESP.
pub async fn run_resp_fill(address: &str, options: &FillOptions) -> Result<FillReport, FillError> {
    if options.batch == 0 || options.connections == 0 {
        return Err(FillError::ZeroSized);
    }
    let value: Arc<[u8]> = random_text(&mut SmallRng::seed_from_u64(1), options.value_size)
        .into_bytes()
        .into();
    let next_batch = Arc::new(AtomicU64::new(0));
    let bar = progress_bar(options);
    let started = Instant::now();
    let mut workers = Vec::with_capacity(options.connections);
    for _ in 0..options.connections {
        let connection = RespConnection::connect(address)
            .await
            .map_err(FillError::Connect)?;
        let worker = RespFillWorker {
            connection,
            keys: options.key_format(),
            total: options.keys,
            batch: options.batch as u64,
            value: Arc::clone(&value),
            next_batch: Arc::clone(&next_batch),
            bar: bar.clone(),
        };
        workers.push(tokio::spawn(worker.run()));
    }
    finish_fill(workers, &bar, options.keys, started).await
}

struct RespFillWorker {
    connection: RespConnection,
    keys: KeyFormat,
    total: u64,
    batch: u64,
    value: Arc<[u8]>,
    next_batch: Arc<AtomicU64>,
    bar: ProgressBar,
}

impl RespFillWorker {
    async fn run(mut self) -> Result<(), FillError> {
        loop {
            let first = self
                .next_batch
                .fetch_add(1, Ordering::Relaxed)
                .saturating_mul(self.batch);
            if first >= self.total {
                return Ok(());
            }
            let end = (first + self.batch).min(self.total);
            if let Err(source) = self.set_range(first, end).await {
                // Stop the other workers too: no batch after a failure is worth sending.
                self.next_batch
                    .store(u64::MAX / self.batch, Ordering::Relaxed);
                return Err(FillError::Batch { first, end, source });
            }
            self.bar.inc(end - first);
        }
    }

    async fn set_range(&mut self, first: u64, end: u64) -> Result<(), TargetError> {
        for index in first..end {
            self.connection
                .queue_set(&self.keys, index, &self.value, None);
        }
        self.connection.send().await?;
        let mut refusal = None;
        self.connection
            .receive((end - first) as usize, |reply, raw, _| {
                if reply != Reply::Status && refusal.is_none() {
                    refusal = Some(match reply {
                        Reply::Error => TargetError::Server(error_text(raw)),
                        other => TargetError::Protocol(format!("{other:?} to SET")),
                    });
                }
            })
            .await?;
        refusal.map_or(Ok(()), Err)
    }
}
