//! The registry of background tasks: every task the running server starts —
//! the listeners, the expiry sweep, the metrics history and feed, the fleet's
//! prober, key mover and refills, and those to come (warming cycle, snapshots,
//! region links) — is spawned here under a name, shares one cancellation
//! token, and is awaited on shutdown. A task that returns an error or panics is
//! logged with its name, recorded as an event the dashboard shows, and counted
//! in `roost_task_failures_total{task}`; the server goes on.
//!
//! A task receives the registry's token and must return soon after it is
//! cancelled. Shutdown cancels, waits up to a deadline, then aborts what is left
//! and names it.

use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use parking_lot::{Mutex, MutexGuard};
use tokio::task::{Id, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::telemetry::{EventKind, Events, Metrics};

/// A handle on the registry; clones share it.
#[derive(Debug, Clone)]
pub struct Tasks {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    cancel: CancellationToken,
    running: Mutex<Running>,
    events: Arc<Events>,
    metrics: Arc<Metrics>,
}

/// The tasks not yet joined, and each one's name by task id (to name the
/// ones shutdown has to abort).
#[derive(Debug, Default)]
struct Running {
    set: JoinSet<()>,
    names: HashMap<Id, &'static str>,
}

impl Running {
    /// Forgets the tasks that have finished, so a registry of short tasks
    /// stays small.
    fn reap(&mut self) {
        while let Some(ended) = self.set.try_join_next_with_id() {
            let id = ended.map_or_else(|error| error.id(), |(id, ())| id);
            self.names.remove(&id);
        }
    }
}

impl Tasks {
    pub fn new(events: Arc<Events>, metrics: Arc<Metrics>) -> Tasks {
        Tasks {
            inner: Arc::new(Inner {
                cancel: CancellationToken::new(),
                running: Mutex::new(Running::default()),
                events,
                metrics,
            }),
        }
    }

    /// The token every task watches; cancelled when shutdown begins.
    pub fn token(&self) -> CancellationToken {
        self.inner.cancel.clone()
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Starts `task` under `name`; it gets the shutdown token. Once shutdown
    /// has begun nothing new starts (the task is dropped unstarted): the check
    /// and the start happen under the lock shutdown takes the tasks under.
    pub fn spawn<F, Fut>(&self, name: &'static str, task: F)
    where
        F: FnOnce(CancellationToken) -> Fut,
        Fut: Future<Output = anyhow::Result<()>> + Send + 'static,
    {
        let mut running = self.running();
        if self.is_stopping() {
            tracing::debug!(task = name, "not started: shutting down");
            return;
        }
        let run = task(self.token());
        let inner = self.inner.clone();
        let watched = async move {
            match AssertUnwindSafe(run).catch_unwind().await {
                Ok(Ok(())) => tracing::debug!(task = name, "background task ended"),
                Ok(Err(error)) => inner.failed(name, &format!("{error:#}")),
                Err(panic) => inner.failed(name, &panic_text(panic.as_ref())),
            }
        };
        running.reap();
        let id = running.set.spawn(watched).id();
        running.names.insert(id, name);
    }

    /// Tasks not yet finished.
    pub fn len(&self) -> usize {
        let mut running = self.running();
        running.reap();
        running.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Cancels every task and waits up to `timeout` for all of them; then
    /// aborts what is left and names it in the log. Returns the names of the
    /// tasks it aborted.
    pub async fn shutdown(&self, timeout: Duration) -> Vec<&'static str> {
        let Running { mut set, names } = {
            let mut running = self.running();
            self.inner.cancel.cancel();
            std::mem::take(&mut *running)
        };
        let drained =
            tokio::time::timeout(timeout, async { while set.join_next().await.is_some() {} }).await;
        let mut aborted = Vec::new();
        if drained.is_err() {
            set.abort_all();
            while let Some(ended) = set.join_next_with_id().await {
                if let Err(error) = ended {
                    aborted.extend(names.get(&error.id()).copied());
                }
            }
            tracing::warn!(
                ?timeout,
                ?aborted,
                "background tasks did not end in time; aborted"
            );
        }
        aborted
    }

    /// Runs blocking work (a snapshot's file I/O) on tokio's blocking pool
    /// and waits for it, so no runtime worker stalls on the disk. The caller
    /// is a task of this registry or shutdown itself: the work always has an
    /// owner that awaits it.
    pub async fn run_blocking<T: Send + 'static>(
        work: impl FnOnce() -> T + Send + 'static,
    ) -> anyhow::Result<T> {
        tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| anyhow::anyhow!("blocking work did not finish: {e}"))
    }

    fn running(&self) -> MutexGuard<'_, Running> {
        self.inner.running.lock()
    }
}

impl Inner {
    fn failed(&self, name: &'static str, why: &str) {
        tracing::error!(task = name, error = why, "background task failed");
        self.metrics.task_failed(name);
        self.events.record(
            EventKind::TaskFailed,
            format!("background task {name} failed: {why}"),
        );
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    let text = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message");
    format!("panicked: {text}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};

    use super::*;

    fn registry() -> (Tasks, Arc<Events>, Arc<Metrics>) {
        let events = Arc::new(Events::default());
        let metrics = Arc::new(Metrics::new());
        (Tasks::new(events.clone(), metrics.clone()), events, metrics)
    }

    #[tokio::test]
    async fn shutdown_cancels_and_awaits_every_task() {
        let (tasks, _, _) = registry();
        let ended = Arc::new(AtomicBool::new(false));
        let seen = ended.clone();
        tasks.spawn("waiter", |stop| async move {
            stop.cancelled().await;
            tokio::time::sleep(Duration::from_millis(20)).await;
            seen.store(true, Ordering::SeqCst);
            Ok(())
        });
        assert_eq!(tasks.len(), 1);
        tasks.shutdown(Duration::from_secs(5)).await;
        assert!(
            ended.load(Ordering::SeqCst),
            "shutdown returned before the task ended"
        );
        assert!(tasks.is_empty());
        tasks.spawn("late", |_| async { Ok(()) });
        assert!(tasks.is_empty(), "nothing starts after shutdown");
    }

    #[tokio::test]
    async fn a_failing_or_panicking_task_is_logged_counted_and_shown() {
        let (tasks, events, metrics) = registry();
        tasks.spawn("broken", |_| async { anyhow::bail!("disk on fire") });
        tasks.spawn("buggy", |_| async { panic!("index out of range") });
        tasks.shutdown(Duration::from_secs(5)).await;
        assert_eq!(metrics.task_failures("broken"), 1);
        assert_eq!(metrics.task_failures("buggy"), 1);
        let messages: Vec<String> = events.recent(100).into_iter().map(|e| e.message).collect();
        assert!(
            messages
                .iter()
                .any(|m| m.contains("broken failed: disk on fire")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("buggy failed: panicked: index out of range")),
            "{messages:?}"
        );
    }

    #[tokio::test]
    async fn a_task_that_ignores_cancellation_is_aborted_at_the_deadline() {
        let (tasks, _, _) = registry();
        tasks.spawn("stubborn", |_| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok(())
        });
        tasks.spawn("prompt", |stop| async move {
            stop.cancelled().await;
            Ok(())
        });
        let aborted = tasks.shutdown(Duration::from_millis(50)).await;
        assert_eq!(
            aborted,
            ["stubborn"],
            "the aborted task is named, the prompt one is not"
        );
        assert!(tasks.is_empty());
    }
}
