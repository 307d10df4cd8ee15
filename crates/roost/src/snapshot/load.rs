//! Loading a snapshot at start-up, while the server already serves: block by
//! block in file order (hottest first), each block one `Change::Restore`
//! through `Cache::apply` (insert only where the key holds no live value and
//! no client wrote the key since start-up, so a client's set, delete or
//! expiry wins; expired entries skipped). A block is read and checked whole
//! before any of its entries is restored, so a damaged entry is never stored;
//! the load stops at the first damaged or missing block and keeps what came
//! before it. A client flush during the load (or more client-written keys
//! than the [`LoadFence`] records) stops the load too.
//!
//! The file is read on the blocking pool (`Tasks::run_blocking`), never on a
//! runtime worker: the reader decodes and checks each block there and hands
//! it over through a channel of [`READ_AHEAD`] blocks to the restore loop
//! here, which yields between blocks so requests keep being served. When the
//! restore loop ends early (shutdown, a client flush), the channel closes and
//! the reader stops at its next block.

use std::fs::File;
use std::io::{self, BufReader};
use std::path::Path;

use roost_store::AbsentInserts;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::format::{FormatError, SnapshotReader};
use crate::backend::{SetEntry, Stored};
use crate::cache::{Cache, Change, LoadFence, Origin, Write};
use crate::tasks::Tasks;

/// Blocks decoded ahead of the restore loop.
const READ_AHEAD: usize = 2;

/// How a load ended.
#[derive(Debug)]
pub enum LoadEnd {
    /// No file: nothing to load.
    Missing,
    /// A file this build must not read at all (not a snapshot, another
    /// version, a damaged header).
    Refused(FormatError),
    /// Read to its footer, every block good.
    Complete,
    /// Stopped at a damaged or missing block; the blocks before it were restored.
    Partial(String),
    /// Stopped by shutdown before the end.
    Stopped,
    /// Stopped by a client write the load cannot honour block by block (a
    /// flush, or too many written keys); the blocks before it were restored.
    Interrupted(String),
    /// An I/O error before anything could be read.
    Failed(io::Error),
}

/// What a load restored and how it ended.
#[derive(Debug)]
pub struct Loaded {
    pub end: LoadEnd,
    pub counts: AbsentInserts,
}

/// What the reader hands the restore loop.
enum Read {
    Block(Vec<SetEntry>),
    /// The reader's last word: how the file ended (never `Complete` early).
    End(LoadEnd),
}

/// Restores the snapshot at `path` into `cache`; `progress` sees each
/// block's counts as they land (for the status and metrics). `fence` holds
/// the keys clients wrote meanwhile (the cache filters each block with it).
pub async fn load(
    path: &Path,
    cache: &Cache,
    fence: &LoadFence,
    stop: &CancellationToken,
    progress: impl FnMut(AbsentInserts),
) -> Loaded {
    let (blocks, from_reader) = mpsc::channel(READ_AHEAD);
    let path = path.to_path_buf();
    let reader = Tasks::run_blocking(move || read_blocks(&path, &blocks));
    let restorer = restore(from_reader, cache, fence, stop, progress);
    // The restore loop drops its receiver when it ends, so the reader ends too.
    let (read, loaded) = tokio::join!(reader, restorer);
    if let Err(e) = read {
        tracing::warn!(error = %e, "the snapshot reader did not finish");
    }
    loaded
}

/// The restore loop: each block the reader sends, in order.
async fn restore(
    mut blocks: mpsc::Receiver<Read>,
    cache: &Cache,
    fence: &LoadFence,
    stop: &CancellationToken,
    mut progress: impl FnMut(AbsentInserts),
) -> Loaded {
    let mut counts = AbsentInserts::default();
    loop {
        if let Some(why) = fence.broken() {
            let end = LoadEnd::Interrupted(why);
            return Loaded { end, counts };
        }
        let next = tokio::select! {
            biased;
            () = stop.cancelled() => None,
            next = blocks.recv() => Some(next),
        };
        let entries = match next {
            None => {
                let end = LoadEnd::Stopped;
                return Loaded { end, counts };
            }
            Some(Some(Read::Block(entries))) => entries,
            Some(Some(Read::End(end))) => return Loaded { end, counts },
            Some(None) => {
                let end = LoadEnd::Partial("the snapshot reader stopped".to_owned());
                return Loaded { end, counts };
            }
        };
        let write = Write {
            change: Change::Restore(entries),
            origin: Origin::Warming,
        };
        match cache.apply(write).await {
            Ok(applied) => {
                let batch = applied.into_restored();
                counts.add(batch);
                progress(batch);
            }
            Err(e) => {
                let end = LoadEnd::Partial(format!("restoring a block: {e}"));
                return Loaded { end, counts };
            }
        }
        tokio::task::yield_now().await;
    }
}

/// The reader, on the blocking pool: opens the file and sends each checked
/// block, then how the file ended; stops when the restore loop is gone.
fn read_blocks(path: &Path, blocks: &mpsc::Sender<Read>) {
    let mut reader = match open(path) {
        Ok(reader) => reader,
        Err(end) => {
            let _ = blocks.blocking_send(Read::End(end));
            return;
        }
    };
    loop {
        let read = match reader.next_block() {
            Ok(Some(block)) => Read::Block(
                block
                    .into_iter()
                    .map(|e| (e.key, Stored::new(e.value, e.expires_at)))
                    .collect(),
            ),
            Ok(None) => Read::End(LoadEnd::Complete),
            Err(e) => Read::End(LoadEnd::Partial(e.to_string())),
        };
        let last = matches!(read, Read::End(_));
        if blocks.blocking_send(read).is_err() || last {
            return;
        }
    }
}

fn open(path: &Path) -> Result<SnapshotReader<BufReader<File>>, LoadEnd> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(LoadEnd::Missing),
        Err(e) => return Err(LoadEnd::Failed(e)),
    };
    let len = file.metadata().map_err(LoadEnd::Failed)?.len();
    SnapshotReader::new(BufReader::with_capacity(256 * 1024, file), len).map_err(|e| match e {
        FormatError::Io(e) => LoadEnd::Failed(e),
        refused => LoadEnd::Refused(refused),
    })
}
