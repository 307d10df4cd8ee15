//! The Redis test harness itself (tests/support/redis.rs): a `RedisServer` starts,
//! answers, dies on `kill`, comes back empty on `restart`; a `RedisCluster` reaches
//! `cluster_state:ok`, knows which node serves a key, and survives losing a master.

#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::net::{Ipv4Addr, TcpStream};
use std::panic::{self, AssertUnwindSafe};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::redis::{RedisCluster, RedisServer};

fn refuses_connections(port: u16) -> bool {
    TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err()
}

#[test]
fn server_starts_answers_dies_on_kill_and_restarts_empty() {
    let started = Instant::now();
    let mut server = RedisServer::start();
    assert_eq!(server.cli(&["PING"]), "PONG");
    assert_eq!(server.url(), format!("redis://127.0.0.1:{}", server.port()));

    assert_eq!(server.cli(&["SET", "greeting", "hello world"]), "OK");
    assert_eq!(server.get("greeting").as_deref(), Some("hello world"));
    assert!(server.exists("greeting"));
    assert!(!server.exists("absent"));
    assert_eq!(server.get("absent"), None);
    assert_eq!(server.dbsize(), 1);

    let port = server.port();
    server.kill();
    assert!(!server.is_running());
    assert!(
        refuses_connections(port),
        "port {port} still accepts after kill"
    );

    server.restart();
    assert_eq!(server.port(), port, "restart keeps the port");
    assert_eq!(server.cli(&["PING"]), "PONG");
    assert_eq!(server.dbsize(), 0, "restart starts with no data");
    assert_eq!(server.get("greeting"), None);
    eprintln!("server lifecycle took {:?}", started.elapsed());
}

#[test]
fn restart_of_a_running_server_drops_its_data() {
    let mut server = RedisServer::start();
    server.cli(&["SET", "k", "v"]);
    server.restart();
    assert!(!server.exists("k"));
    assert_eq!(server.cli(&["PING"]), "PONG");
}

#[test]
fn extra_arguments_reach_the_server_and_drop_frees_the_port() {
    let server = RedisServer::start_with(&["--maxmemory", "1mb"]);
    assert_eq!(
        server.cli(&["CONFIG", "GET", "maxmemory"]),
        "maxmemory\n1048576"
    );
    let port = server.port();
    drop(server);
    assert!(
        refuses_connections(port),
        "port {port} still accepts after drop"
    );
}

#[test]
fn two_servers_get_different_ports_and_separate_data() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    assert_ne!(a.port(), b.port());
    a.cli(&["SET", "only-a", "1"]);
    assert!(a.exists("only-a"));
    assert!(!b.exists("only-a"));
}

#[test]
#[should_panic(expected = "found its port taken 5 times")]
fn start_gives_up_after_bounded_attempts_on_taken_ports() {
    let occupant = RedisServer::start();
    let port = occupant.port().to_string();
    // the later --port wins, so every attempt collides with the occupant
    let _ = RedisServer::start_with(&["--port", &port]);
}

/// A redis-server the harness does not own, listening on `port` until dropped.
struct Stranger {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Stranger {
    fn start(port: u16) -> Stranger {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("/usr/bin/redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let until = Instant::now() + Duration::from_secs(10);
        while refuses_connections(port) {
            assert!(
                Instant::now() < until,
                "the stranger never listened on {port}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        Stranger { child, _dir: dir }
    }
}

impl Drop for Stranger {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn restart_does_not_mistake_a_stranger_on_its_port_for_its_server() {
    let mut server = RedisServer::start();
    server.kill();
    let _stranger = Stranger::start(server.port());
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| server.restart()));
    let message = outcome.expect_err("restart took the stranger's PONG for its own server");
    let message = message.downcast_ref::<String>().unwrap();
    assert!(message.contains("restart on port"), "{message}");
    assert!(message.contains("already in use"), "{message}");
}

#[test]
#[should_panic(expected = "Bad directive or wrong number of arguments")]
fn a_server_that_cannot_start_panics_with_its_log() {
    let _ = RedisServer::start_with(&["--no-such-directive", "1"]);
}

/// Runs `commands` (one per line) through a single redis-cli connection to `server`,
/// so `WAIT` counts the replicas that acknowledged the writes before it.
fn session(server: &RedisServer, commands: &str) -> String {
    let mut child = Command::new("/usr/bin/redis-cli")
        .args(["-p", &server.port().to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(commands.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn cluster_serves_keys_from_their_master_and_fails_over_when_it_dies() {
    let started = Instant::now();
    let mut cluster = RedisCluster::start(3, 1);
    let formed = started.elapsed();
    assert_eq!(cluster.seed_urls().len(), 6);
    assert!(cluster
        .node(0)
        .cli(&["CLUSTER", "INFO"])
        .contains("cluster_state:ok"));

    for key in ["alpha", "bravo", "charlie", "delta"] {
        assert_eq!(cluster.node(0).cli(&["-c", "SET", key, "v1"]), "OK");
        let master = cluster.master_for_key(key);
        assert!(master < 3, "masters are nodes 0..3, {key} is on {master}");
        assert!(
            cluster.node(master).exists(key),
            "{key} missing on its master {master}"
        );
        let redirect = format!(" 127.0.0.1:{}", cluster.node(master).port());
        for other in (0..3).filter(|&m| m != master) {
            let reply = cluster.node(other).cli(&["GET", key]);
            assert!(
                reply.starts_with("MOVED") && reply.ends_with(&redirect),
                "master {other} answered {reply:?} for {key}, expected a MOVED to node {master}"
            );
        }
    }

    let key = "alpha";
    let master = cluster.master_for_key(key);
    let acked = session(
        cluster.node(master),
        &format!("SET {key} v2\nWAIT 1 1000\n"),
    );
    assert_eq!(acked, "OK\n1\n", "the replica acknowledged the write");

    let killed_at = Instant::now();
    cluster.kill(master);
    cluster.wait_for_failover(master, Duration::from_secs(20));
    let failover = killed_at.elapsed();

    let promoted = cluster.master_for_key(key);
    assert_ne!(promoted, master, "the dead master still owns {key}");
    assert!(
        promoted >= 3,
        "a former replica (3..6) took over, not node {promoted}"
    );
    assert_eq!(cluster.node(promoted).get(key).as_deref(), Some("v2"));
    let asked = (0..3).find(|&m| m != master).unwrap();
    assert_eq!(cluster.node(asked).cli(&["-c", "GET", key]), "v2");
    assert_eq!(cluster.node(asked).cli(&["-c", "SET", key, "v3"]), "OK");
    assert_eq!(cluster.node(promoted).get(key).as_deref(), Some("v3"));
    eprintln!(
        "cluster formed in {formed:?}, failed over in {failover:?}, total {:?}",
        started.elapsed()
    );
}
