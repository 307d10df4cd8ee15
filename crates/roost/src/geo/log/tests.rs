//! The change log's tests: round trips, reads from anywhere, group commit,
//! recovery, retention and gaps, on real files in a temp directory with an
//! injected clock.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::future::join_all;
use roost_store::ManualClock;

use super::segment;
use super::*;

const T0: u64 = 1_700_000_000_000;
/// "record-00001": 12 bytes of payload, 36 in the file.
const RECORD_BYTES: u64 = 36;

fn payload(i: u64) -> Bytes {
    Bytes::from(format!("record-{i:05}"))
}

/// A log whose segments close after `per_segment` records, without the
/// in-memory tail (so every read goes to the files these tests examine).
fn open(
    dir: &Path,
    per_segment: u64,
    max_bytes: u64,
    max_age: Duration,
    clock: &Arc<ManualClock>,
) -> ChangeLog {
    open_with_tail(dir, per_segment, max_bytes, max_age, clock, 0)
}

fn open_with_tail(
    dir: &Path,
    per_segment: u64,
    max_bytes: u64,
    max_age: Duration,
    clock: &Arc<ManualClock>,
    tail_bytes: usize,
) -> ChangeLog {
    let limits = Limits {
        max_bytes,
        max_age,
        segment_bytes: per_segment * RECORD_BYTES,
        tail_bytes,
    };
    ChangeLog::open_with(dir, limits, clock.clone()).unwrap()
}

fn open_plain(dir: &Path, per_segment: u64) -> ChangeLog {
    open(
        dir,
        per_segment,
        u64::MAX,
        Duration::from_secs(86_400),
        &Arc::new(ManualClock::new(T0)),
    )
}

/// Appends records `range`, one append each (so one commit each), with
/// version `10 * i`.
async fn append_each(log: &ChangeLog, range: std::ops::RangeInclusive<u64>) {
    for i in range {
        assert_eq!(log.append(vec![(10 * i, payload(i))]).await.unwrap(), i);
    }
}

async fn records(
    log: &ChangeLog,
    from: Seq,
    max_records: usize,
    max_bytes: usize,
) -> Vec<(Seq, Bytes)> {
    match log.read(from, max_records, max_bytes).await.unwrap() {
        LogRead::Records(records) => records,
        gap => panic!("read from {from}: {gap:?}"),
    }
}

fn expected(range: std::ops::RangeInclusive<u64>) -> Vec<(Seq, Bytes)> {
    range.map(|i| (i, payload(i))).collect()
}

fn segment_paths(dir: &Path) -> Vec<std::path::PathBuf> {
    segment::list(dir)
        .unwrap()
        .into_iter()
        .map(|(_, path)| path)
        .collect()
}

fn flip_byte(path: &Path, at: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at as usize] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

#[tokio::test]
async fn appends_read_back_in_order_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_plain(dir.path(), 10);
    // A new log: nothing in it, and the empty active segment.
    let empty = LogStats {
        segments: 1,
        ..LogStats::default()
    };
    assert_eq!(log.stats(), empty);
    append_each(&log, 1..=25).await;
    let batch = (26..=30).map(|i| (10 * i, payload(i))).collect();
    assert_eq!(log.append(batch).await.unwrap(), 30);
    assert_eq!(log.append(Vec::new()).await.unwrap(), 30);
    assert_eq!(records(&log, 0, 100, usize::MAX).await, expected(1..=30));
    let stats = log.stats();
    assert_eq!((stats.first, stats.last, stats.appended), (1, 30, 30));
    assert_eq!(stats.bytes, 30 * RECORD_BYTES);
    assert_eq!(stats.segments, 3);
    let paths = segment_paths(dir.path());
    assert_eq!(paths.len(), 3);
    // Closed segments are cut back to their records; the active one is
    // zero-filled to the next prepared boundary, and cut back at close.
    let file_len = |path: &std::path::PathBuf| std::fs::metadata(path).unwrap().len();
    assert_eq!(file_len(&paths[0]), 10 * RECORD_BYTES);
    assert_eq!(file_len(&paths[1]), 10 * RECORD_BYTES);
    assert_eq!(file_len(&paths[2]), writer::PREPARE_BYTES);
    drop(log);
    let on_disk: u64 = paths.iter().map(file_len).sum();
    assert_eq!(on_disk, stats.bytes);

    let log = open_plain(dir.path(), 10);
    assert_eq!(records(&log, 1, 100, usize::MAX).await, expected(1..=30));
    assert_eq!((log.stats().first, log.stats().last), (1, 30));
    append_each(&log, 31..=31).await;
    assert_eq!(records(&log, 31, 100, usize::MAX).await, expected(31..=31));
}

#[tokio::test]
async fn reads_start_anywhere_and_keep_to_their_limits() {
    // From the files alone, and with the newest 100 records (12 bytes of
    // payload each) in memory too: the answers are the same.
    for tail_bytes in [0, 1_200] {
        reads_from_anywhere(tail_bytes).await;
    }
}

async fn reads_from_anywhere(tail_bytes: usize) {
    let dir = tempfile::tempdir().unwrap();
    // 150 records a segment: the sparse index (every 64th) matters.
    let clock = Arc::new(ManualClock::new(T0));
    let day = Duration::from_secs(86_400);
    let log = open_with_tail(dir.path(), 150, u64::MAX, day, &clock, tail_bytes);
    for start in (1..=400).step_by(10) {
        let batch = (start..start + 10).map(|i| (i, payload(i))).collect();
        log.append(batch).await.unwrap();
    }
    assert_eq!(log.stats().segments, 3);
    for from in [
        1, 2, 63, 64, 65, 66, 129, 130, 149, 150, 151, 152, 215, 300, 301, 396, 400,
    ] {
        let want = expected(from..=(from + 6).min(400));
        assert_eq!(
            records(&log, from, 7, usize::MAX).await,
            want,
            "from {from}"
        );
    }
    // Across two segment boundaries in one read.
    assert_eq!(
        records(&log, 140, 200, usize::MAX).await,
        expected(140..=339)
    );
    // About max_bytes of payload (12 each), but never nothing.
    assert_eq!(records(&log, 10, 100, 36).await, expected(10..=12));
    assert_eq!(records(&log, 10, 100, 40).await, expected(10..=12));
    assert_eq!(records(&log, 10, 100, 1).await, expected(10..=10));
    assert_eq!(records(&log, 10, 0, usize::MAX).await, Vec::new());
    // Past the end: nothing yet.
    assert_eq!(records(&log, 401, 10, usize::MAX).await, Vec::new());
    assert_eq!(records(&log, 5_000, 10, usize::MAX).await, Vec::new());
    // Within the tail, and the same limits there.
    assert_eq!(records(&log, 390, 100, 36).await, expected(390..=392));
    assert_eq!(records(&log, 395, 100, 1).await, expected(395..=395));
    assert_eq!(records(&log, 399, 0, usize::MAX).await, Vec::new());
    assert_eq!(
        records(&log, 290, 200, usize::MAX).await,
        expected(290..=400)
    );
}

#[tokio::test]
async fn reads_at_the_head_are_answered_from_memory_older_ones_from_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let day = Duration::from_secs(86_400);
    // The newest 10 records (12 bytes of payload each) in memory.
    let log = open_with_tail(dir.path(), 1_000, u64::MAX, day, &clock, 120);
    append_each(&log, 1..=30).await;
    // Damage on disk in a record the tail holds (25) and in one it does
    // not (15): only a read that goes to the file sees it.
    let path = segment_paths(dir.path()).remove(0);
    flip_byte(&path, 24 * RECORD_BYTES + 30);
    flip_byte(&path, 14 * RECORD_BYTES + 30);
    assert_eq!(records(&log, 21, 100, usize::MAX).await, expected(21..=30));
    let error = log.read(20, 100, usize::MAX).await.unwrap_err();
    assert!(error.to_string().contains("record 25"), "{error}");
    let error = log.read(11, 100, usize::MAX).await.unwrap_err();
    assert!(error.to_string().contains("record 15"), "{error}");
    // The tail follows the head.
    append_each(&log, 31..=35).await;
    assert_eq!(records(&log, 26, 100, usize::MAX).await, expected(26..=35));
    let error = log.read(25, 100, usize::MAX).await.unwrap_err();
    assert!(error.to_string().contains("record 25"), "{error}");
    // One commit larger than the tail: its newest records are kept.
    let batch = (36..=50).map(|i| (10 * i, payload(i))).collect();
    assert_eq!(log.append(batch).await.unwrap(), 50);
    flip_byte(&path, 44 * RECORD_BYTES + 30);
    assert_eq!(records(&log, 41, 100, usize::MAX).await, expected(41..=50));
    let error = log.read(40, 100, usize::MAX).await.unwrap_err();
    assert!(error.to_string().contains("record 45"), "{error}");
    // A record larger than the tail empties it; the next ones fill it again.
    let large = Bytes::from(vec![b'x'; 200]);
    assert_eq!(log.append(vec![(510, large.clone())]).await.unwrap(), 51);
    flip_byte(&path, 50 * RECORD_BYTES + 30);
    let error = log.read(51, 100, usize::MAX).await.unwrap_err();
    assert!(error.to_string().contains("record 51"), "{error}");
    append_each(&log, 52..=52).await;
    assert_eq!(records(&log, 52, 100, usize::MAX).await, expected(52..=52));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_share_fsyncs_and_keep_each_appenders_order() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_plain(dir.path(), 1_000);
    let appenders = 50u64;
    let each = 20u64;
    let log = &log;
    let seqs: Vec<Vec<Seq>> = join_all((0..appenders).map(|a| async move {
        let mut seqs = Vec::new();
        for i in 0..each {
            let record = Bytes::from(format!("{a}:{i}"));
            seqs.push(log.append(vec![(a, record)]).await.unwrap());
        }
        seqs
    }))
    .await;

    let total = appenders * each;
    let stats = log.stats();
    assert_eq!((stats.appended, stats.last), (total, total));
    assert!(
        stats.commits < stats.appended,
        "{stats:?}: no append shared an fsync"
    );
    let all = records(log, 0, usize::MAX, usize::MAX).await;
    assert_eq!(all.len() as u64, total);
    for (a, seqs) in seqs.iter().enumerate() {
        assert!(
            seqs.windows(2).all(|w| w[0] < w[1]),
            "appender {a}: {seqs:?}"
        );
        for (i, seq) in seqs.iter().enumerate() {
            assert_eq!(
                all[(*seq - 1) as usize],
                (*seq, Bytes::from(format!("{a}:{i}")))
            );
        }
    }
}

#[tokio::test]
async fn subscribers_see_every_commit() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_plain(dir.path(), 10);
    let mut durable = log.subscribe();
    assert_eq!(*durable.borrow_and_update(), 0);
    append_each(&log, 1..=3).await;
    durable.changed().await.unwrap();
    assert_eq!(*durable.borrow_and_update(), 3);
    drop(log);
    let log = open_plain(dir.path(), 10);
    assert_eq!(*log.subscribe().borrow(), 3);
}

/// A copy of `from`'s files as they are on disk while its log is open, as a
/// `kill -9` would leave them (every append was answered, so fsynced).
fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

#[tokio::test]
async fn commits_write_into_prepared_zeros_which_end_the_records_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_plain(dir.path(), 1_000);
    append_each(&log, 1..=1).await;
    let path = segment_paths(dir.path()).remove(0);
    // The first commit prepared a stretch; the next ones only overwrite it,
    // so the file's size (metadata a commit would otherwise flush) stays.
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        writer::PREPARE_BYTES
    );
    append_each(&log, 2..=20).await;
    assert_eq!(
        std::fs::metadata(&path).unwrap().len(),
        writer::PREPARE_BYTES
    );

    let crashed = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), crashed.path());
    let reopened = open_plain(crashed.path(), 1_000);
    let copy = segment_paths(crashed.path()).remove(0);
    assert_eq!(
        records(&reopened, 0, 100, usize::MAX).await,
        expected(1..=20)
    );
    // Nothing was cut: the zeros are not a torn record.
    assert_eq!(
        std::fs::metadata(&copy).unwrap().len(),
        writer::PREPARE_BYTES
    );
    append_each(&reopened, 21..=22).await;
    drop(reopened);
    assert_eq!(std::fs::metadata(&copy).unwrap().len(), 22 * RECORD_BYTES);
    let reopened = open_plain(crashed.path(), 1_000);
    assert_eq!(
        records(&reopened, 0, 100, usize::MAX).await,
        expected(1..=22)
    );
}

#[tokio::test]
async fn fewer_zeros_than_a_header_end_the_records_too() {
    // Records that end just short of a prepared boundary leave less than
    // a header's worth of zeros.
    let dir = tempfile::tempdir().unwrap();
    let path = ten_records(dir.path()).await;
    let end = 10 * RECORD_BYTES;
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(end + 10).unwrap();
    let log = open_plain(dir.path(), 100);
    assert_eq!(records(&log, 0, 100, usize::MAX).await, expected(1..=10));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), end + 10);
    append_each(&log, 11..=11).await;
    assert_eq!(records(&log, 11, 100, usize::MAX).await, expected(11..=11));
    drop(log);
    // And a byte that is not zero in them is a torn tail, cut.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(11 * RECORD_BYTES + 10).unwrap();
    std::os::unix::fs::FileExt::write_all_at(&file, b"x", 11 * RECORD_BYTES + 5).unwrap();
    let log = open_plain(dir.path(), 100);
    assert_eq!(records(&log, 0, 100, usize::MAX).await, expected(1..=11));
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 11 * RECORD_BYTES);
}

#[tokio::test]
async fn bytes_in_the_prepared_zeros_are_a_torn_tail_and_cut() {
    let end = 20 * RECORD_BYTES;
    // A torn batch that left its first header zero but later bytes written,
    // and one that left part of its first header.
    for at in [end + 100, end + 2] {
        let dir = tempfile::tempdir().unwrap();
        let log = open_plain(dir.path(), 1_000);
        append_each(&log, 1..=20).await;
        let crashed = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), crashed.path());
        drop(log);
        let path = segment_paths(crashed.path()).remove(0);
        let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&file, b"torn", at).unwrap();

        let reopened = open_plain(crashed.path(), 1_000);
        assert_eq!(
            records(&reopened, 0, 100, usize::MAX).await,
            expected(1..=20),
            "bytes at {at}"
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            end,
            "bytes at {at}"
        );
        append_each(&reopened, 21..=21).await;
        assert_eq!(
            records(&reopened, 21, 100, usize::MAX).await,
            expected(21..=21)
        );
    }
}

/// Ten records in one segment, then the log closed: the file to damage.
async fn ten_records(dir: &Path) -> std::path::PathBuf {
    let log = open_plain(dir, 100);
    append_each(&log, 1..=10).await;
    drop(log);
    segment_paths(dir).remove(0)
}

#[tokio::test]
async fn a_torn_tail_is_cut_and_the_log_goes_on() {
    // Cut inside the last payload, and inside the last header.
    for keep in [10 * RECORD_BYTES - 5, 9 * RECORD_BYTES + 10] {
        let dir = tempfile::tempdir().unwrap();
        let path = ten_records(dir.path()).await;
        std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(keep)
            .unwrap();

        let log = open_plain(dir.path(), 100);
        assert_eq!(log.stats().last, 9, "kept {keep} bytes");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 9 * RECORD_BYTES);
        assert_eq!(records(&log, 0, 100, usize::MAX).await, expected(1..=9));
        assert_eq!(
            log.append(vec![(1, Bytes::from_static(b"after"))])
                .await
                .unwrap(),
            10
        );
        let last = records(&log, 10, 100, usize::MAX).await;
        assert_eq!(last, vec![(10, Bytes::from_static(b"after"))]);
    }
}

#[tokio::test]
async fn a_flipped_byte_in_the_tail_is_cut() {
    // In the last record's payload, its version, and its length.
    let last = 9 * RECORD_BYTES;
    for at in [last + 30, last + 9, last] {
        let dir = tempfile::tempdir().unwrap();
        let path = ten_records(dir.path()).await;
        flip_byte(&path, at);

        let log = open_plain(dir.path(), 100);
        assert_eq!(log.stats().last, 9, "flipped byte {at}");
        assert_eq!(records(&log, 0, 100, usize::MAX).await, expected(1..=9));
        drop(log);
        // The cut is durable: nothing left to cut the second time.
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 9 * RECORD_BYTES);
    }
}

#[tokio::test]
async fn damage_found_after_open_is_an_error_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_plain(dir.path(), 100);
    append_each(&log, 1..=10).await;
    flip_byte(&segment_paths(dir.path())[0], 4 * RECORD_BYTES + 30);
    let error = log.read(3, 10, usize::MAX).await.unwrap_err();
    assert!(matches!(error, LogError::Corrupt { .. }), "{error:?}");
    assert!(error.to_string().contains("record 5"), "{error}");
    assert!(
        error.to_string().contains(&segment::file_name(1)),
        "{error}"
    );
}

#[tokio::test]
async fn a_damaged_older_segment_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_plain(dir.path(), 10);
    append_each(&log, 1..=25).await;
    drop(log);
    let older = segment_paths(dir.path())[1].clone();
    flip_byte(&older, 3 * RECORD_BYTES + 30);

    let error = ChangeLog::open(
        dir.path(),
        u64::MAX,
        Duration::from_secs(60),
        Arc::new(ManualClock::new(T0)),
    )
    .unwrap_err();
    assert!(matches!(error, LogError::Corrupt { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains(&older.display().to_string()), "{text}");
    assert!(text.contains("record 14"), "{text}");
    // Nothing was cut from it.
    assert_eq!(std::fs::metadata(&older).unwrap().len(), 10 * RECORD_BYTES);
}

#[tokio::test]
async fn a_missing_segment_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = open_plain(dir.path(), 10);
    append_each(&log, 1..=25).await;
    drop(log);
    let paths = segment_paths(dir.path());
    std::fs::remove_file(&paths[1]).unwrap();
    let error = ChangeLog::open(
        dir.path(),
        u64::MAX,
        Duration::from_secs(60),
        Arc::new(ManualClock::new(T0)),
    )
    .unwrap_err();
    assert!(
        error.to_string().contains(&segment::file_name(21)),
        "{error}"
    );
    assert!(error.to_string().contains("missing"), "{error}");

    std::fs::remove_file(&paths[0]).unwrap();
    let error = ChangeLog::open(
        dir.path(),
        u64::MAX,
        Duration::from_secs(60),
        Arc::new(ManualClock::new(T0)),
    )
    .unwrap_err();
    assert!(error.to_string().contains("missing"), "{error}");
}

#[tokio::test]
async fn an_unusable_directory_is_an_error_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("blocker");
    std::fs::write(&blocker, b"not a directory").unwrap();
    let wanted = blocker.join("geo").join("log");
    let error = ChangeLog::open(
        &wanted,
        1 << 30,
        Duration::from_secs(60),
        Arc::new(ManualClock::new(T0)),
    )
    .unwrap_err();
    assert!(matches!(error, LogError::Io { .. }), "{error:?}");
    assert!(
        error.to_string().contains(&wanted.display().to_string()),
        "{error}"
    );
}

#[tokio::test]
async fn retention_by_bytes_removes_whole_old_segments_never_the_active_one() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open(dir.path(), 10, 1_000, Duration::from_secs(86_400), &clock);
    append_each(&log, 1..=50).await;
    assert_eq!(log.stats().bytes, 50 * RECORD_BYTES);
    // 1,800 bytes in five segments of 360: three go to get under 1,000.
    assert_eq!(log.trim().unwrap(), 30);
    let stats = log.stats();
    assert_eq!((stats.first, stats.last, stats.segments), (31, 50, 2));
    assert_eq!(stats.bytes, 20 * RECORD_BYTES);
    assert_eq!(segment_paths(dir.path()).len(), 2);
    assert_eq!(records(&log, 0, 100, usize::MAX).await, expected(31..=50));
    assert_eq!(log.trim().unwrap(), 0);
    drop(log);

    // A budget of nothing still keeps the active segment.
    let log = open(dir.path(), 10, 0, Duration::from_secs(86_400), &clock);
    assert_eq!(log.trim().unwrap(), 10);
    assert_eq!((log.stats().first, log.stats().segments), (41, 1));
    assert_eq!(records(&log, 0, 100, usize::MAX).await, expected(41..=50));
}

#[tokio::test]
async fn retention_by_age_goes_by_a_segments_newest_record() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open(dir.path(), 10, u64::MAX, Duration::from_secs(60), &clock);
    append_each(&log, 1..=5).await;
    clock.advance(Duration::from_secs(50));
    append_each(&log, 6..=10).await; // segment 1's newest: T0 + 50 s
    clock.advance(Duration::from_secs(30));
    append_each(&log, 11..=20).await; // segment 2: T0 + 80 s
                                      // Segment 1's oldest record is 80 s old, but its newest only 30 s.
    assert_eq!(log.trim().unwrap(), 0);
    clock.advance(Duration::from_secs(30));
    append_each(&log, 21..=30).await; // segment 3 (active): T0 + 110 s

    // T0 + 111 s: segment 1's oldest record is 111 s old, its newest 61 s.
    clock.advance(Duration::from_secs(1));
    assert_eq!(log.trim().unwrap(), 10);
    assert_eq!(log.stats().first, 11);
    // T0 + 140 s: segment 2 is 60 s old, not older.
    clock.advance(Duration::from_secs(29));
    assert_eq!(log.trim().unwrap(), 0);
    clock.advance(Duration::from_secs(1));
    assert_eq!(log.trim().unwrap(), 10);
    // The active segment stays however old it gets.
    clock.advance(Duration::from_secs(100_000));
    assert_eq!(log.trim().unwrap(), 0);
    assert_eq!((log.stats().first, log.stats().segments), (21, 1));
}

#[tokio::test]
async fn a_gap_names_the_newest_trimmed_version_and_survives_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open(dir.path(), 10, 0, Duration::from_secs(86_400), &clock);
    assert_eq!(log.trimmed(), None, "nothing trimmed yet");
    // Versions are not in Seq order across shards: the largest removed one
    // counts, not the last.
    for i in 1..=30u64 {
        let version = match i {
            3 => 9_000,
            _ => i,
        };
        log.append(vec![(version, payload(i))]).await.unwrap();
    }
    log.append(vec![(31, payload(31))]).await.unwrap(); // segment 4 (active)
    assert_eq!(log.trim().unwrap(), 30);
    let gap = LogRead::Gap {
        first: 31,
        trimmed_through: 9_000,
    };
    for from in [1, 20, 30] {
        assert_eq!(
            log.read(from, 10, usize::MAX).await.unwrap(),
            gap,
            "from {from}"
        );
    }
    assert_eq!(records(&log, 31, 10, usize::MAX).await, expected(31..=31));
    assert_eq!(records(&log, 0, 10, usize::MAX).await, expected(31..=31));
    assert_eq!(log.trimmed(), Some(gap.clone()));
    drop(log);

    let log = open(dir.path(), 10, 0, Duration::from_secs(86_400), &clock);
    assert_eq!(log.read(5, 10, usize::MAX).await.unwrap(), gap);
    assert_eq!(log.trimmed(), Some(gap.clone()), "after a reopen");
    assert_eq!((log.stats().first, log.stats().last), (31, 31));
    // A later trim of smaller versions keeps the larger one.
    append_each(&log, 32..=45).await;
    assert_eq!(log.trim().unwrap(), 10);
    let later = LogRead::Gap {
        first: 41,
        trimmed_through: 9_000,
    };
    assert_eq!(log.read(35, 10, usize::MAX).await.unwrap(), later);
}

#[tokio::test]
async fn an_interrupted_trim_is_finished_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let log = open(dir.path(), 10, 0, Duration::from_secs(86_400), &clock);
    append_each(&log, 1..=25).await;
    let first = segment_paths(dir.path())[0].clone();
    let saved = std::fs::read(&first).unwrap();
    assert_eq!(log.trim().unwrap(), 20);
    drop(log);
    // As if the process died after writing trimmed.json, before deleting.
    std::fs::write(&first, saved).unwrap();

    let log = open(dir.path(), 10, 0, Duration::from_secs(86_400), &clock);
    assert!(!first.exists());
    assert_eq!(log.stats().first, 21);
    assert_eq!(records(&log, 0, 100, usize::MAX).await, expected(21..=25));
}

#[test]
fn segments_are_an_eighth_of_the_budget_within_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let clock: Arc<dyn roost_store::Clock> = Arc::new(ManualClock::new(T0));
    let day = Duration::from_secs(86_400);
    for (max_bytes, segment_bytes) in [
        (256 << 20, 32 << 20),
        (1 << 40, 64 << 20),
        (1 << 10, 1 << 20),
    ] {
        let log = ChangeLog::open(dir.path(), max_bytes, day, clock.clone()).unwrap();
        assert_eq!(
            log.limits.segment_bytes, segment_bytes,
            "budget {max_bytes}"
        );
    }
}
