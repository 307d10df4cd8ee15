//! One direction of a proxied connection: a reader that stamps each chunk with
//! when it is due (read time + the one-way delay) into a bounded queue, and a
//! writer that sends each chunk on the other socket once it is due. The queue is
//! what bounds the bytes in flight: when it is full the reader stops reading, the
//! sender's TCP window fills, and the sender slows down, as over a real link.
//! While the proxy is blackholed both ends swallow what they hold instead.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::ProxyState;

/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 16 * 1024;
/// Chunks queued per direction: at most 4 MiB in flight each way, enough for
/// 40 MB/s behind a 100 ms delay.
const QUEUE_CHUNKS: usize = 256;

/// Which way bytes flow: `Up` from the client to the target, `Down` back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

/// Copies `from` to `to` with the proxy's delay until `from` ends (then shuts `to`'s
/// write side, after what was queued), or either socket fails. Sets `lost_bytes`
/// when a blackhole swallowed anything.
pub async fn pipe(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    state: &Arc<ProxyState>,
    direction: Direction,
    lost_bytes: &Arc<AtomicBool>,
) -> std::io::Result<()> {
    // None marks the end of the stream, so it is delivered after the data before it.
    let (queue, mut queued) = mpsc::channel::<Option<(Instant, Bytes)>>(QUEUE_CHUNKS);
    let reader = async {
        let mut buf = BytesMut::with_capacity(READ_CHUNK);
        loop {
            buf.reserve(READ_CHUNK);
            let n = from.read_buf(&mut buf).await?;
            if n == 0 {
                let _ = queue.send(None).await;
                return Ok::<(), std::io::Error>(());
            }
            let chunk = buf.split().freeze();
            if state.is_blackholed() {
                lost_bytes.store(true, Ordering::SeqCst);
                state.count(direction, n, false);
                continue;
            }
            let due = Instant::now() + state.delay();
            if queue.send(Some((due, chunk))).await.is_err() {
                return Ok(());
            }
        }
    };
    let writer = async {
        while let Some(item) = queued.recv().await {
            let Some((due, chunk)) = item else {
                to.shutdown().await?;
                return Ok(());
            };
            if due > Instant::now() {
                tokio::time::sleep_until(due).await;
            }
            // A partition also loses what was on the wire when it began.
            if state.is_blackholed() {
                lost_bytes.store(true, Ordering::SeqCst);
                state.count(direction, chunk.len(), false);
                continue;
            }
            to.write_all(&chunk).await?;
            state.count(direction, chunk.len(), true);
        }
        Ok(())
    };
    tokio::try_join!(reader, writer).map(|_| ())
}

/// Reads and counts as swallowed everything `from` sends, until it ends or fails.
pub async fn swallow(mut from: OwnedReadHalf, state: &Arc<ProxyState>, direction: Direction) {
    let mut buf = vec![0u8; READ_CHUNK];
    while let Ok(n) = from.read(&mut buf).await {
        if n == 0 {
            return;
        }
        state.count(direction, n, false);
    }
}
