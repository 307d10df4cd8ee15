//! The write path in a region: every client change is read back and logged
//! before it is answered, other regions' changes apply only when newer, and a
//! resync drops what is older than a version.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use roost_store::{Clock, Entry, ManualClock, Version, Versioning};

use super::*;
use crate::backend::RetimeCondition;
use crate::cache::{test_cache_versioned, ChangeSink, SetCondition};
use crate::error::ErrorKind;

/// Stamps count up from this, so a version below it is "another region's, older".
const FIRST_STAMP: u64 = 1_000_000;
const TOMBSTONE_TTL_MS: u64 = 3_600_000;

/// Keeps every batch it is handed; fails them all while `failing`, and
/// never answers while `stalled` (a log whose queue is full).
#[derive(Debug, Default)]
struct RecordingSink {
    batches: Mutex<Vec<Vec<SetEntry>>>,
    detached: Mutex<Vec<Vec<SetEntry>>>,
    failing: AtomicBool,
    stalled: AtomicBool,
}

impl ChangeSink for RecordingSink {
    fn record(
        &self,
        entries: Vec<SetEntry>,
    ) -> Pin<Box<dyn Future<Output = Result<(), CacheError>> + Send + '_>> {
        Box::pin(async move {
            if self.stalled.load(Ordering::SeqCst) {
                std::future::pending::<()>().await;
            }
            if self.failing.load(Ordering::SeqCst) {
                return Err(CacheError::NoNode);
            }
            self.batches.lock().push(entries);
            Ok(())
        })
    }

    fn record_detached(&self, entries: Vec<SetEntry>) {
        self.detached.lock().push(entries);
    }
}

impl RecordingSink {
    /// The batches recorded since the last call.
    fn take(&self) -> Vec<Vec<SetEntry>> {
        std::mem::take(&mut *self.batches.lock())
    }

    /// The batches recorded detached since the last call.
    fn take_detached(&self) -> Vec<Vec<SetEntry>> {
        std::mem::take(&mut *self.detached.lock())
    }
}

fn region() -> (Cache, Arc<RecordingSink>, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(1_000));
    let next = Arc::new(AtomicU64::new(FIRST_STAMP));
    let versioning = Versioning {
        stamp: Arc::new(move || Version::new(next.fetch_add(1, Ordering::SeqCst)).unwrap()),
        tombstone_ttl_ms: TOMBSTONE_TTL_MS,
    };
    let sink = Arc::new(RecordingSink::default());
    let cache =
        test_cache_versioned(clock.clone(), Some(versioning)).with_change_sink(sink.clone());
    (cache, sink, clock)
}

fn b(text: &str) -> Bytes {
    Bytes::copy_from_slice(text.as_bytes())
}

fn item(key: &str, value: &str) -> Item {
    Item {
        key: b(key),
        value: b(value),
        expiry: Expiry::Never,
    }
}

fn v(n: u64) -> Version {
    Version::new(n).unwrap()
}

/// One batch recorded for `change`: its keys, and each entry's value (`None`
/// for a tombstone), checking each carries this region's fresh version.
async fn logged(
    cache: &Cache,
    sink: &RecordingSink,
    change: Change,
) -> Vec<(String, Option<String>)> {
    cache.apply(Write::client(change.clone())).await.unwrap();
    let mut batches = sink.take();
    assert_eq!(batches.len(), 1, "{change:?}: one batch per write");
    let batch = batches.remove(0);
    batch
        .into_iter()
        .map(|(key, entry)| {
            assert!(entry.version() >= v(FIRST_STAMP), "{change:?}: {entry:?}");
            let value =
                (!entry.is_tombstone()).then(|| String::from_utf8(entry.value.to_vec()).unwrap());
            (String::from_utf8(key.to_vec()).unwrap(), value)
        })
        .collect()
}

fn pairs(expected: &[(&str, Option<&str>)]) -> Vec<(String, Option<String>)> {
    expected
        .iter()
        .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
        .collect()
}

#[tokio::test]
async fn every_client_change_records_what_it_left_with_its_version() {
    let (cache, sink, _clock) = region();
    let put = Change::Put {
        key: b("a"),
        value: b("1"),
        expiry: Expiry::Never,
    };
    assert_eq!(logged(&cache, &sink, put).await, pairs(&[("a", Some("1"))]));
    let set = Change::Set {
        key: b("a"),
        value: b("2"),
        options: SetOptions {
            condition: SetCondition::IfPresent,
            expiry: Expiry::After(Duration::from_secs(60)),
            keep_ttl: false,
            returns_previous: false,
        },
    };
    assert_eq!(logged(&cache, &sink, set).await, pairs(&[("a", Some("2"))]));
    let each = Change::PutEach(vec![item("b", "1"), item("c", "1")]);
    assert_eq!(
        logged(&cache, &sink, each).await,
        pairs(&[("b", Some("1")), ("c", Some("1"))])
    );
    let mset = Change::Mset(vec![item("d", "1"), item("e", "1"), item("d", "2")]);
    assert_eq!(
        logged(&cache, &sink, mset).await,
        pairs(&[("d", Some("2")), ("e", Some("1"))]),
        "each key once, as it ended"
    );
    let msetnx = Change::MsetNx(vec![item("f", "1"), item("g", "1")]);
    assert_eq!(
        logged(&cache, &sink, msetnx).await,
        pairs(&[("f", Some("1")), ("g", Some("1"))])
    );
    let incr = Change::IncrBy {
        key: b("n"),
        delta: 5,
    };
    assert_eq!(
        logged(&cache, &sink, incr).await,
        pairs(&[("n", Some("5"))])
    );
    let append = Change::Append {
        key: b("n"),
        suffix: b("0"),
    };
    assert_eq!(
        logged(&cache, &sink, append).await,
        pairs(&[("n", Some("50"))])
    );
    let retime = Change::Retime {
        key: b("n"),
        expiry: Expiry::After(Duration::from_secs(90)),
    };
    assert_eq!(
        logged(&cache, &sink, retime).await,
        pairs(&[("n", Some("50"))])
    );
    let persist = Change::Persist(b("n"));
    assert_eq!(
        logged(&cache, &sink, persist).await,
        pairs(&[("n", Some("50"))])
    );
    let later = Change::ExpireAt {
        key: b("b"),
        at: 1_000_000,
        condition: RetimeCondition::Always,
    };
    assert_eq!(
        logged(&cache, &sink, later).await,
        pairs(&[("b", Some("1"))])
    );
    let past = Change::ExpireAt {
        key: b("c"),
        at: 500,
        condition: RetimeCondition::Always,
    };
    assert_eq!(logged(&cache, &sink, past).await, pairs(&[("c", None)]));
    let take = Change::Take(b("d"));
    assert_eq!(logged(&cache, &sink, take).await, pairs(&[("d", None)]));
    let delete = Change::Delete(b("e"));
    assert_eq!(logged(&cache, &sink, delete).await, pairs(&[("e", None)]));
    let many = Change::DeleteMany(vec![b("f"), b("g")]);
    assert_eq!(
        logged(&cache, &sink, many).await,
        pairs(&[("f", None), ("g", None)])
    );
}

#[tokio::test]
async fn a_recorded_entry_is_the_stored_one_and_later_writes_are_newer() {
    let (cache, sink, _clock) = region();
    cache.put(b("k"), b("1"), Expiry::At(5_000)).await.unwrap();
    cache.put(b("k"), b("2"), Expiry::Never).await.unwrap();
    let batches = sink.take();
    let (first, second) = (&batches[0][0].1, &batches[1][0].1);
    assert_eq!(first.expires_at, Some(5_000), "the deadline travels");
    assert!(second.version() > first.version());
    let stored = cache.backend().peek_entries(&[b("k")]).unwrap();
    assert_eq!(stored[0].as_ref(), Some(second));
}

#[tokio::test]
async fn a_delete_of_an_absent_key_records_a_tombstone_and_answers_false() {
    let (cache, sink, clock) = region();
    assert!(!cache.delete(b"never").await.unwrap());
    let batches = sink.take();
    let (key, tombstone) = &batches[0][0];
    assert_eq!(key, &b("never"));
    assert!(tombstone.is_tombstone());
    assert_eq!(tombstone.version(), v(FIRST_STAMP));
    assert_eq!(
        tombstone.expires_at,
        Some(clock.now_millis() + TOMBSTONE_TTL_MS)
    );
    assert_eq!(cache.get(b"never").await.unwrap(), None);
}

#[tokio::test]
async fn a_change_that_leaves_nothing_records_nothing() {
    let (cache, sink, _clock) = region();
    let persist = cache.apply(Write::client(Change::Persist(b("absent"))));
    assert!(!persist.await.unwrap().into_done());
    assert!(sink.take().is_empty(), "nothing held, nothing to record");
}

#[tokio::test]
async fn a_sink_failure_fails_the_write_but_it_stays_applied() {
    let (cache, sink, _clock) = region();
    sink.failing.store(true, Ordering::SeqCst);
    let err = cache.put(b("k"), b("v"), Expiry::Never).await.unwrap_err();
    assert!(matches!(err, CacheError::NotLogged { .. }), "{err:?}");
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.code(), "not_logged");
    assert!(err.public_message().contains("applied in this region"));
    assert!(err.chain().contains("no healthy node"), "the cause is kept");
    assert_eq!(
        cache.metrics().requests(Op::Set),
        (0, 1),
        "counted as a failed request"
    );
    sink.failing.store(false, Ordering::SeqCst);
    assert_eq!(cache.get(b"k").await.unwrap().unwrap().value, b("v"));
    let each = cache.put_many(vec![(b("a"), b("1"), Expiry::Never)]);
    assert!(each.await.iter().all(Result::is_ok));
    sink.failing.store(true, Ordering::SeqCst);
    let each = cache.put_many(vec![(b("a"), b("2"), Expiry::Never)]).await;
    assert!(matches!(each[..], [Err(CacheError::NotLogged { .. })]));
}

#[tokio::test]
async fn a_failed_write_records_nothing() {
    let (cache, sink, _clock) = region();
    assert!(cache.put(b(""), b("v"), Expiry::Never).await.is_err());
    cache.put(b("text"), b("abc"), Expiry::Never).await.unwrap();
    sink.take();
    let incr = Change::IncrBy {
        key: b("text"),
        delta: 1,
    };
    assert!(cache.apply(Write::client(incr)).await.is_err());
    let mset = Change::Mset(vec![item("ok", "1"), item(&"x".repeat(65), "1")]);
    assert!(cache.apply(Write::client(mset)).await.is_err());
    assert!(sink.take().is_empty());
    assert!(sink.take_detached().is_empty());
}

/// A request dropped while its record waits for room in the log (its
/// client left, or its deadline passed) still gets its applied write logged:
/// the write stays here, so the other regions must get it too.
#[tokio::test]
async fn a_request_dropped_before_its_record_is_logged_records_it_detached() {
    let (cache, sink, _clock) = region();
    sink.stalled.store(true, Ordering::SeqCst);
    let put = cache.put(b("k"), b("v"), Expiry::Never);
    let gave_up = tokio::time::timeout(Duration::from_millis(20), put).await;
    assert!(gave_up.is_err(), "the stalled log never answers");
    assert!(sink.take().is_empty());
    let detached = sink.take_detached();
    assert_eq!(detached.len(), 1, "{detached:?}");
    let [(key, entry)] = &detached[0][..] else {
        panic!("one entry: {detached:?}");
    };
    assert_eq!((key, &entry.value), (&b("k"), &b("v")));
    assert!(entry.version() >= v(FIRST_STAMP), "this region's version");
    assert_eq!(cache.get(b"k").await.unwrap().unwrap().value, b("v"));

    let del = cache.apply(Write::client(Change::Delete(b("k"))));
    assert!(tokio::time::timeout(Duration::from_millis(20), del)
        .await
        .is_err());
    let detached = sink.take_detached();
    assert!(
        matches!(&detached[..], [batch] if batch.len() == 1 && batch[0].1.is_tombstone()),
        "the delete's tombstone: {detached:?}"
    );
}

/// Answered writes, failed or logged, leave nothing to record detached.
#[tokio::test]
async fn an_answered_write_records_nothing_detached() {
    let (cache, sink, _clock) = region();
    cache.put(b("k"), b("v"), Expiry::Never).await.unwrap();
    sink.failing.store(true, Ordering::SeqCst);
    assert!(cache.put(b("k"), b("w"), Expiry::Never).await.is_err());
    assert_eq!(sink.take().len(), 1);
    assert!(sink.take_detached().is_empty());
}

#[tokio::test]
async fn only_client_changes_are_recorded() {
    let (cache, sink, _clock) = region();
    let remote = vec![(b("r"), Entry::versioned(b("v"), None, v(5)))];
    let replicate = Write {
        change: Change::Replicate(remote),
        origin: Origin::Region,
    };
    cache.apply(replicate).await.unwrap();
    let fill = Write {
        change: Change::Fill {
            key: b("f"),
            value: b("v"),
            expiry: Expiry::Never,
            lease: None,
            replace: false,
            since: None,
        },
        origin: Origin::ReadThrough,
    };
    cache.apply(fill).await.unwrap();
    let warmed = Write {
        change: Change::Put {
            key: b("w"),
            value: b("v"),
            expiry: Expiry::Never,
        },
        origin: Origin::Warming,
    };
    cache.apply(warmed).await.unwrap();
    let restore = Change::Restore(vec![(b("s"), Entry::new(b("v"), None))]);
    cache
        .apply(Write {
            change: restore,
            origin: Origin::Repair,
        })
        .await
        .unwrap();
    let drop = Write {
        change: Change::DropOlder(v(1)),
        origin: Origin::Region,
    };
    cache.apply(drop).await.unwrap();
    cache.flush().await.unwrap();
    assert!(
        sink.take().is_empty(),
        "flush is local; the rest is not a client's"
    );
}

#[tokio::test]
async fn replicate_applies_what_is_newer_and_counts_the_rest() {
    let (cache, sink, _clock) = region();
    cache
        .put(b("local"), b("mine"), Expiry::Never)
        .await
        .unwrap();
    let replicate = |entries: Vec<SetEntry>| Write {
        change: Change::Replicate(entries),
        origin: Origin::Region,
    };
    let done = cache
        .apply(replicate(vec![
            (b("new"), Entry::versioned(b("theirs"), None, v(10))),
            (b("local"), Entry::versioned(b("theirs"), None, v(10))),
            (b("gone"), Entry::tombstone(v(11), Some(9_000_000))),
            (b(&"x".repeat(65)), Entry::versioned(b("v"), None, v(12))),
            (
                b("big"),
                Entry::versioned(vec![0; 1_025].into(), None, v(13)),
            ),
        ]))
        .await
        .unwrap()
        .into_replicated();
    let expected = Replicated {
        applied: 2,
        older: 1,
        forgotten: 0,
        refused: 2,
    };
    assert_eq!(done, expected);
    let hit = cache.get(b"new").await.unwrap().unwrap();
    assert_eq!((hit.value, hit.version), (b("theirs"), Some(v(10))));
    assert_eq!(cache.get(b"local").await.unwrap().unwrap().value, b("mine"));
    assert_eq!(cache.get(b"gone").await.unwrap(), None);
    // A late value does not bring back the delete; a repeat is a no-op.
    let again = cache
        .apply(replicate(vec![
            (b("gone"), Entry::versioned(b("late"), None, v(9))),
            (b("new"), Entry::versioned(b("theirs"), None, v(10))),
        ]))
        .await
        .unwrap()
        .into_replicated();
    assert_eq!((again.applied, again.older), (0, 2));
    assert_eq!(cache.get(b"gone").await.unwrap(), None);
    // A local write after the remote one is newer, and is what the log gets.
    sink.take();
    cache.put(b("new"), b("mine"), Expiry::Never).await.unwrap();
    let batches = sink.take();
    assert!(batches[0][0].1.version() > v(10));
}

#[tokio::test]
async fn drop_older_removes_values_and_tombstones_below_the_version() {
    let (cache, _sink, _clock) = region();
    let entries = vec![
        (b("a"), Entry::versioned(b("v"), None, v(10))),
        (b("b"), Entry::tombstone(v(20), Some(9_000_000))),
        (b("c"), Entry::versioned(b("v"), None, v(30))),
    ];
    let replicate = Write {
        change: Change::Replicate(entries),
        origin: Origin::Region,
    };
    cache.apply(replicate).await.unwrap();
    let drop = Write {
        change: Change::DropOlder(v(30)),
        origin: Origin::Region,
    };
    assert_eq!(cache.apply(drop).await.unwrap().into_count(), 2);
    let held = cache
        .backend()
        .peek_entries(&[b("a"), b("b"), b("c")])
        .unwrap();
    assert_eq!(held[0], None);
    assert_eq!(held[1], None);
    assert_eq!(held[2].as_ref().map(Entry::version), Some(v(30)));
}

#[tokio::test]
async fn reads_show_the_version_only_in_a_region() {
    let (cache, _sink, _clock) = region();
    assert!(cache.versioned());
    cache.put(b("k"), b("v"), Expiry::Never).await.unwrap();
    let hit = cache.get(b"k").await.unwrap().unwrap();
    assert_eq!(hit.version, Some(v(FIRST_STAMP)));
    let plain = crate::cache::test_cache(Arc::new(ManualClock::new(1_000)));
    assert!(!plain.versioned());
    plain.put(b("k"), b("v"), Expiry::Never).await.unwrap();
    assert_eq!(plain.get(b"k").await.unwrap().unwrap().version, None);
}

#[tokio::test]
async fn a_written_value_gone_before_its_read_back_is_logged_as_a_fresh_tombstone() {
    let (cache, sink, _clock) = region();
    // "gone" was never stored here: as if another write evicted it, or it
    // expired, between the write and the read-back.
    let read = cache.read_back(&[b("gone")], true, None).await.unwrap();
    assert_eq!(read.len(), 1);
    let (key, entry) = &read[0];
    assert_eq!(key, &b("gone"));
    assert!(entry.is_tombstone());
    assert!(entry.version() >= v(FIRST_STAMP));
    // A change that stored no value (an XX SET on an absent key) records nothing.
    assert!(cache
        .read_back(&[b("gone")], false, None)
        .await
        .unwrap()
        .is_empty());
    let options = SetOptions {
        condition: SetCondition::IfPresent,
        expiry: Expiry::Never,
        keep_ttl: false,
        returns_previous: false,
    };
    let outcome = cache.set_with(b("absent"), b("v"), options).await.unwrap();
    assert!(!outcome.written);
    assert!(
        sink.take().is_empty(),
        "a SET XX that wrote nothing logs nothing"
    );
}
