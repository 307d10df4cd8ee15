//! Warm restart of the embedded store (`ROOST_DATA_DIR`): a real server
//! writes its snapshot and a second one loads it; damaged files are skipped
//! or loaded up to their last good block and never crash or serve a damaged
//! entry; a client write during the load wins, a client delete is not
//! undone and a client flush stops the load; `/readyz` waits with
//! `ROOST_READY_AFTER_WARM`; a directory that cannot be written stops the
//! start with a clear error; and the `roost` binary keeps its keys across a
//! SIGTERM restart and, from the last periodic snapshot, across `kill -9`.

#![allow(clippy::unwrap_used)]

mod support;

use std::fs;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use roost::snapshot::{LoadState, SnapshotStatus, SnapshotWriter, FILE_NAME};
use serde_json::json;
use support::process::{roost, serve};
use support::{eventually, TestServer};

fn server_in(dir: &Path) -> support::TestServerBuilder {
    TestServer::builder().env("ROOST_DATA_DIR", dir.to_str().unwrap())
}

fn status(server: &TestServer) -> SnapshotStatus {
    let running = server.running.as_ref().unwrap();
    running.state().snapshots.as_ref().unwrap().status()
}

/// Waits until the start-up load has ended; its status.
async fn loaded(server: &TestServer) -> roost::snapshot::LastLoad {
    eventually(Duration::from_secs(20), "the snapshot load to end", || {
        let state = status(server).last_load.map(|l| l.state);
        async move { state.is_some_and(|s| s != LoadState::Loading) }
    })
    .await;
    status(server).last_load.unwrap()
}

async fn write_now(server: &TestServer) -> roost::snapshot::Written {
    let state = server.running.as_ref().unwrap().state().clone();
    let snapshots = state.snapshots.clone().unwrap();
    snapshots.write_now(&state).await.unwrap()
}

/// A snapshot file of `count` entries `key:<i>` = `value:<i>` (the last one
/// `last` = `from-snapshot`), written directly in the format.
fn write_file(dir: &Path, count: usize) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let path = dir.join(FILE_NAME);
    let file = BufWriter::new(fs::File::create(&path).unwrap());
    let mut writer = SnapshotWriter::new(file, 1).unwrap();
    for i in 0..count {
        let (key, value) = (format!("key:{i}"), format!("value:{i}"));
        writer.push(key.as_bytes(), value.as_bytes(), None).unwrap();
    }
    writer.push(b"last", b"from-snapshot", None).unwrap();
    writer.finish().unwrap();
    path
}

async fn get(server: &TestServer, key: &str) -> Option<serde_json::Value> {
    let (code, body) = server.get(&format!("/api/cache/{key}")).await;
    (code == 200).then(|| body["value"].clone())
}

#[tokio::test]
async fn entries_and_deadlines_survive_a_graceful_restart() {
    let dir = tempfile::tempdir().unwrap();
    let first = server_in(dir.path()).start().await;
    assert_eq!(loaded(&first).await.state, LoadState::Skipped);
    for i in 0..500 {
        let body = json!({"key": format!("k{i}"), "value": i});
        assert_eq!(first.post("/api/cache", body).await.0, 200);
    }
    let body = json!({"key": "expiring", "value": "soon", "ttl": 300});
    first.post("/api/cache", body).await;
    first.shutdown().await;
    assert!(dir.path().join(FILE_NAME).exists());
    assert!(!dir.path().join(format!("{FILE_NAME}.tmp")).exists());

    let second = server_in(dir.path()).start().await;
    let load = loaded(&second).await;
    assert_eq!(load.state, LoadState::Done, "{load:?}");
    assert_eq!((load.entries, load.skipped, load.error), (501, 0, None));
    for i in [0, 250, 499] {
        assert_eq!(get(&second, &format!("k{i}")).await, Some(json!(i)));
    }
    let (_, body) = second.get("/api/cache/expiring").await;
    let ttl = body["ttl"].as_u64().unwrap();
    assert!((298..=300).contains(&ttl), "the deadline is kept: {ttl}");
    let metrics = second.metrics_text().await;
    assert_eq!(
        support::metric(
            &metrics,
            "roost_snapshot_load_entries_total{outcome=\"restored\"}"
        ),
        501.0
    );
    second.shutdown().await;
}

#[tokio::test]
async fn a_truncated_file_loads_up_to_its_last_good_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), 20_000);
    let len = fs::metadata(&path).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2).unwrap();
    drop(file);

    let server = server_in(dir.path()).start().await;
    let load = loaded(&server).await;
    assert_eq!(load.state, LoadState::Done);
    assert!(
        load.error.as_deref().unwrap().contains("truncated"),
        "{load:?}"
    );
    assert!(load.entries > 5_000 && load.entries < 20_000, "{load:?}");
    // Hottest first means file order: the loaded ones are a prefix.
    assert_eq!(get(&server, "key:0").await, Some(json!("value:0")));
    assert_eq!(get(&server, "last").await, None);
    every_value_is_intact(&server, 20_000).await;
    let metrics = server.metrics_text().await;
    assert_eq!(
        support::metric(&metrics, "roost_snapshot_failures_total{stage=\"load\"}"),
        1.0
    );
    server.shutdown().await;
}

/// Every `key:<i>` present holds exactly `value:<i>`.
async fn every_value_is_intact(server: &TestServer, count: usize) {
    let mut resp = server.resp().await;
    for i in (0..count).step_by(97) {
        let reply = resp.cmd(&["GET", &format!("key:{i}")]).await;
        let value = format!("value:{i}");
        let intact = format!("${}\r\n{value}\r\n", value.len());
        assert!(reply == "$-1\r\n" || reply == intact, "key:{i} = {reply:?}");
    }
}

#[tokio::test]
async fn a_flipped_byte_stops_the_load_at_the_damaged_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), 20_000);
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    fs::write(&path, bytes).unwrap();

    let server = server_in(dir.path()).start().await;
    let load = loaded(&server).await;
    assert_eq!(load.state, LoadState::Done);
    assert!(
        load.error.as_deref().unwrap().contains("damaged"),
        "{load:?}"
    );
    assert!(load.entries < 20_000, "{load:?}");
    assert_eq!(get(&server, "last").await, None);
    every_value_is_intact(&server, 20_000).await;
    server.shutdown().await;
}

#[tokio::test]
async fn another_version_or_garbage_is_skipped_and_the_server_starts_cold() {
    let dir = tempfile::tempdir().unwrap();
    let path = write_file(dir.path(), 100);
    let mut bytes = fs::read(&path).unwrap();
    bytes[8..12].copy_from_slice(&99u32.to_le_bytes());
    let crc = crc32(&bytes[..20]);
    bytes[20..24].copy_from_slice(&crc.to_le_bytes());
    fs::write(&path, &bytes).unwrap();

    let server = server_in(dir.path()).start().await;
    let load = loaded(&server).await;
    assert_eq!(load.state, LoadState::Skipped);
    assert!(
        load.error.as_deref().unwrap().contains("version 99"),
        "{load:?}"
    );
    assert_eq!(load.entries, 0);
    assert_eq!(get(&server, "key:1").await, None);
    let (code, _) = server.get("/readyz").await;
    assert_eq!(code, 200);
    let events = server.running.as_ref().unwrap().state().events.recent(50);
    assert!(
        events
            .iter()
            .any(|e| e.kind == roost::telemetry::EventKind::Warming
                && e.message.contains("snapshot not loaded")),
        "{events:?}"
    );
    server.shutdown().await;

    fs::write(&path, b"not a snapshot at all, just some text").unwrap();
    let server = server_in(dir.path()).start().await;
    let load = loaded(&server).await;
    assert_eq!(load.state, LoadState::Skipped);
    assert!(load.error.unwrap().contains("not a roost snapshot"));
    server.shutdown().await;
}

/// CRC-32 (IEEE), bitwise: the tests forge a header without the crate's helper.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[tokio::test]
async fn a_full_store_is_snapshotted_while_writes_continue() {
    let dir = tempfile::tempdir().unwrap();
    let server = server_in(dir.path())
        .env("ROOST_MAX_MEMORY", "1MiB")
        .start()
        .await;
    loaded(&server).await;
    let addr = server.resp_addr;
    let writer = tokio::spawn(async move {
        let mut resp = support::resp::RespClient::connect(addr).await;
        for round in 0..40 {
            let commands: Vec<Vec<String>> = (0..500)
                .map(|i| {
                    let key = format!("w:{}", (round * 500 + i) % 7_000);
                    vec!["SET".into(), key.clone(), format!("{key}={round}")]
                })
                .collect();
            resp.pipeline(&commands).await;
        }
    });
    let mut written = Vec::new();
    while !writer.is_finished() {
        written.push(write_now(&server).await);
    }
    writer.await.unwrap();
    written.push(write_now(&server).await);
    let stats = server.stats().await;
    assert!(
        stats["evictions"].as_u64().unwrap() > 0,
        "the store was full"
    );
    assert!(
        written.len() >= 2,
        "snapshots were written during the writes"
    );
    for w in &written {
        assert!(w.bytes <= 1 << 20, "{w:?}");
    }
    assert!(written.last().unwrap().entries > 1_000, "{written:?}");
    server.shutdown().await;

    let again = server_in(dir.path())
        .env("ROOST_MAX_MEMORY", "1MiB")
        .start()
        .await;
    let load = loaded(&again).await;
    assert_eq!(load.state, LoadState::Done, "{load:?}");
    assert!(load.entries > 100, "{load:?}");
    let mut resp = again.resp().await;
    let mut found = 0u64;
    for i in 0..7_000 {
        let key = format!("w:{i}");
        let reply = resp.cmd(&["GET", &key]).await;
        if reply != "$-1\r\n" {
            found += 1;
            assert!(reply.contains(&format!("{key}=")), "{key} = {reply:?}");
        }
    }
    // Restored into a store of the same size and placement, they fit again
    // (the policy may still refuse a few on admission).
    assert!(found * 10 >= load.entries * 9, "{found} of {load:?}");
    again.shutdown().await;
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_written_stops_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    fs::write(&file, b"x").unwrap();
    let layers = roost::config::Layers::defaults().with_env(&std::collections::HashMap::from([
        ("ROOST_HTTP_ADDR".to_string(), "127.0.0.1:0".to_string()),
        ("ROOST_RESP_ADDR".to_string(), "127.0.0.1:0".to_string()),
        (
            "ROOST_DASHBOARD_ADDR".to_string(),
            "127.0.0.1:0".to_string(),
        ),
        (
            "ROOST_DATA_DIR".to_string(),
            file.join("snapshots").to_str().unwrap().to_string(),
        ),
    ]));
    let config = roost::config::Config::from_layers(&layers).unwrap();
    let error = roost::server::start(config).await.unwrap_err();
    let text = format!("{error:#}");
    assert!(
        text.contains("ROOST_DATA_DIR") && text.contains("a-file/snapshots"),
        "{text}"
    );

    // The binary says so on stderr and exits 2 before listening.
    let out = roost()
        .env("ROOST_DATA_DIR", file.join("snapshots"))
        .args([
            "serve",
            "--http-addr",
            "127.0.0.1:0",
            "--resp-addr",
            "127.0.0.1:0",
        ])
        .args(["--dashboard-addr", "127.0.0.1:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("ROOST_DATA_DIR")
            && stderr.contains("cannot create the snapshot directory"),
        "{stderr}"
    );
}

#[tokio::test]
async fn readyz_waits_for_the_load_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), 300_000);
    let server = server_in(dir.path())
        .env("ROOST_READY_AFTER_WARM", "true")
        .start()
        .await;
    let (code, body) = server.get("/readyz").await;
    assert_eq!(code, 503, "{body}");
    assert!(body.to_string().contains("loading the snapshot"), "{body}");
    // It already serves meanwhile.
    assert_eq!(server.get("/healthz").await.0, 200);
    let load = loaded(&server).await;
    assert_eq!(load.entries, 300_001);
    assert_eq!(server.get("/readyz").await.0, 200);
    server.shutdown().await;

    let server = server_in(dir.path()).start().await;
    assert_eq!(
        server.get("/readyz").await.0,
        200,
        "ready at once by default"
    );
    loaded(&server).await;
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_write_during_the_load_is_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), 300_000);
    let server = server_in(dir.path()).start().await;
    let body = json!({"key": "last", "value": "from-client"});
    assert_eq!(server.post("/api/cache", body).await.0, 200);
    assert_eq!(
        status(&server).last_load.unwrap().state,
        LoadState::Loading,
        "the write came before the load reached the key"
    );
    let load = loaded(&server).await;
    assert_eq!(load.skipped, 1, "{load:?}");
    assert_eq!(get(&server, "last").await, Some(json!("from-client")));
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_delete_during_the_load_is_not_undone() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), 300_000);
    let server = server_in(dir.path()).start().await;
    // `last` is in the file's last block: the load has not stored it yet.
    server.delete("/api/cache/last").await;
    assert_eq!(
        status(&server).last_load.unwrap().state,
        LoadState::Loading,
        "the delete came before the load reached the key"
    );
    let load = loaded(&server).await;
    assert_eq!(load.error, None, "{load:?}");
    assert_eq!((load.entries, load.skipped), (300_000, 1), "{load:?}");
    assert_eq!(
        get(&server, "last").await,
        None,
        "the deleted key came back"
    );
    assert_eq!(
        get(&server, "key:299999").await,
        Some(json!("value:299999"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn a_client_flush_during_the_load_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), 300_000);
    let server = server_in(dir.path()).start().await;
    // The load stops at its next block: its error shows the flush came first.
    assert_eq!(server.delete("/api/cache/flush/all").await.0, 200);
    let body = json!({"key": "after", "value": "from-client"});
    assert_eq!(server.post("/api/cache", body).await.0, 200);
    let load = loaded(&server).await;
    assert_eq!(load.state, LoadState::Done);
    let error = load.error.clone().unwrap_or_default();
    assert!(error.contains("flushed"), "{load:?}");
    assert!(load.entries < 300_001, "{load:?}");
    // Nothing from before the flush is back: neither an early nor a late block.
    assert_eq!(get(&server, "key:0").await, None);
    assert_eq!(get(&server, "last").await, None);
    assert_eq!(get(&server, "after").await, Some(json!("from-client")));
    let events = server.running.as_ref().unwrap().state().events.recent(50);
    assert!(
        events
            .iter()
            .any(|e| e.kind == roost::telemetry::EventKind::Warming
                && e.message
                    .contains("snapshot load stopped by a client write")),
        "{events:?}"
    );
    server.shutdown().await;
}

#[tokio::test]
async fn warming_off_writes_and_loads_nothing() {
    let dir = tempfile::tempdir().unwrap();
    write_file(dir.path(), 10);
    let server = server_in(dir.path())
        .env("ROOST_WARMING", "off")
        .start()
        .await;
    assert!(server.running.as_ref().unwrap().state().snapshots.is_none());
    assert_eq!(get(&server, "key:1").await, None);
    server.shutdown().await;
}

/// The binary with a data dir and snapshots every `interval_ms`, on port 0.
fn roost_in(dir: &Path, interval_ms: u64) -> support::process::Server {
    let mut command = roost();
    command
        .env("ROOST_DATA_DIR", dir)
        .env("WARMING_INTERVAL", interval_ms.to_string());
    serve(command, &["--shutdown-grace", "0"])
}

async fn set_keys(server: &support::process::Server, count: usize) {
    let mut resp = support::resp::RespClient::connect(server.resp).await;
    let commands: Vec<Vec<String>> = (0..count)
        .map(|i| vec!["SET".into(), format!("p:{i}"), format!("v{i}")])
        .collect();
    for reply in resp.pipeline(&commands).await {
        assert_eq!(reply, "+OK\r\n");
    }
}

async fn keys_present(server: &support::process::Server, count: usize) -> usize {
    let mut resp = support::resp::RespClient::connect(server.resp).await;
    let commands: Vec<Vec<String>> = (0..count)
        .map(|i| vec!["GET".into(), format!("p:{i}")])
        .collect();
    let replies = resp.pipeline(&commands).await;
    replies
        .iter()
        .enumerate()
        .filter(|(i, r)| **r == format!("${}\r\nv{i}\r\n", format!("v{i}").len()))
        .count()
}

/// The "snapshot written" log lines so far (not the event's own line).
fn snapshots_written(server: &support::process::Server) -> usize {
    let lines = server.log_lines("snapshot written");
    lines
        .iter()
        .filter(|l| l["fields"]["message"] == "snapshot written")
        .count()
}

async fn wait_loaded(server: &support::process::Server) {
    let done = || !server.log_lines("snapshot loaded").is_empty();
    eventually(
        Duration::from_secs(20),
        "the binary to load its snapshot",
        || {
            let d = done();
            async move { d }
        },
    )
    .await;
}

#[tokio::test]
async fn the_binary_keeps_its_keys_across_sigterm_and_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    // No periodic snapshot in this one's lifetime: only the final one on
    // SIGTERM can carry its keys over.
    let mut first = roost_in(dir.path(), 3_600_000);
    set_keys(&first, 2_000).await;
    first.signal("TERM");
    assert_eq!(first.wait_exit(), 0);
    assert_eq!(snapshots_written(&first), 1, "the final one only");

    let mut second = roost_in(dir.path(), 300);
    wait_loaded(&second).await;
    assert_eq!(keys_present(&second, 2_000).await, 2_000, "after SIGTERM");
    // New keys, then a periodic snapshot (every 300 ms) and a kill -9: no
    // final snapshot, so only the periodic one can bring them back.
    set_keys(&second, 3_000).await;
    let written = snapshots_written(&second);
    eventually(Duration::from_secs(10), "a periodic snapshot", || {
        let more = snapshots_written(&second) >= written + 2;
        async move { more }
    })
    .await;
    second.signal("KILL");
    second.wait_exit();

    let third = roost_in(dir.path(), 300);
    wait_loaded(&third).await;
    assert_eq!(keys_present(&third, 3_000).await, 3_000, "after kill -9");
    drop(third);
}

#[tokio::test]
async fn the_hottest_keys_go_first_and_the_budget_is_kept() {
    use roost::hot::HotSet;
    let dir = tempfile::tempdir().unwrap();
    let server = server_in(dir.path())
        .env("ROOST_SNAPSHOT_MAX_BYTES", "8KiB")
        .start()
        .await;
    loaded(&server).await;
    let mut resp = server.resp().await;
    let cold: Vec<Vec<String>> = (0..2_000)
        .map(|i| vec!["SET".into(), format!("cold:{i}"), "c".into()])
        .collect();
    resp.pipeline(&cold).await;
    let hot_keys: Vec<String> = (0..5).map(|i| format!("hot:{i}")).collect();
    for key in &hot_keys {
        resp.cmd(&["SET", key, "h"]).await;
    }
    let state = server.running.as_ref().unwrap().state().clone();
    eventually(
        Duration::from_secs(10),
        "the hot keys to be tracked",
        || {
            let reads: Vec<Vec<String>> = (0..2_000)
                .map(|i| vec!["GET".into(), hot_keys[i % 5].clone()])
                .collect();
            let state = state.clone();
            let hot_keys = hot_keys.clone();
            let addr = server.resp_addr;
            async move {
                let mut resp = support::resp::RespClient::connect(addr).await;
                resp.pipeline(&reads).await;
                let hottest = state.hot.hottest(5);
                hot_keys
                    .iter()
                    .all(|k| hottest.iter().any(|h| h == k.as_bytes()))
            }
        },
    )
    .await;
    let written = write_now(&server).await;
    // 8 KiB of entry weight (key + value + 192 each): about 40 entries.
    assert!(written.entries < 50, "{written:?}");
    let file = fs::read(dir.path().join(FILE_NAME)).unwrap();
    let mut reader = roost::snapshot::SnapshotReader::new(&file[..], file.len() as u64).unwrap();
    let first: Vec<String> = reader.next_block().unwrap().unwrap()[..5]
        .iter()
        .map(|e| String::from_utf8(e.key.to_vec()).unwrap())
        .collect();
    for key in &hot_keys {
        assert!(first.contains(key), "{key} not among the first: {first:?}");
    }
    server.shutdown().await;
}

#[tokio::test]
async fn in_front_of_redis_nothing_is_written() {
    let redis = support::redis::RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("snapshots");
    let server = support::fleet::fleet_builder(&[&redis], &[])
        .env("ROOST_DATA_DIR", data_dir.to_str().unwrap())
        .start()
        .await;
    assert!(server.running.as_ref().unwrap().state().snapshots.is_none());
    assert_eq!(
        server
            .post("/api/cache", json!({"key": "k", "value": 1}))
            .await
            .0,
        200
    );
    server.shutdown().await;
    assert!(
        !data_dir.exists(),
        "Redis persists itself: no directory, no file"
    );
}
