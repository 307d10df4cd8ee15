//! The EXPIRE family answers as a real redis-server does, byte for byte, on
//! the embedded store and in front of a Redis fleet: `LT`/`GT` with `XX`
//! (a key without a TTL has none to compare), TTLs past 30 days (Redis
//! accepts them; the REST door keeps its own 30-day ceiling), a deadline past
//! what signed 64-bit milliseconds hold (Redis's error), and the option
//! errors.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use support::fleet::start_fleet;
use support::redis::RedisServer;
use support::resp::RespClient;
use support::TestServer;

/// Every command with its reply from each server; the TTLs asked for are
/// whole seconds far from a rounding edge, so the clocks of the three
/// servers need not agree to the millisecond. `forty_days_on` is one
/// absolute deadline shared by every run: computed per run, it differed
/// between runs whenever a second ticked over in between.
async fn replies(addr: SocketAddr, forty_days_on: &str) -> Vec<String> {
    let too_far = (i64::MAX / 1000 - 1).to_string();
    let script: Vec<Vec<&str>> = vec![
        vec!["SET", "k", "v"],
        vec!["EXPIRE", "k", "200", "LT", "XX"],
        vec!["EXPIRE", "k", "200", "XX", "GT"],
        vec!["TTL", "k"],
        vec!["EXPIRE", "k", "200", "LT"],
        vec!["EXPIRE", "k", "300", "LT", "XX"],
        vec!["EXPIRE", "k", "100", "XX", "LT"],
        vec!["TTL", "k"],
        vec!["EXPIRE", "k", "500", "GT", "XX"],
        vec!["TTL", "k"],
        vec!["EXPIRE", "k", "31536000"],
        vec!["TTL", "k"],
        vec!["PEXPIRE", "k", "315360000000", "GT"],
        vec!["TTL", "k"],
        vec!["SET", "s", "v", "EX", "94608000"],
        vec!["TTL", "s"],
        vec!["EXPIREAT", "s", forty_days_on],
        vec!["EXPIREAT", "s", forty_days_on, "NX"],
        vec!["EXPIRE", "k", &too_far],
        vec!["EXPIRE", "k", "10", "NX", "XX"],
        vec!["EXPIRE", "k", "10", "GT", "LT"],
        vec!["EXPIRE", "absent", "10", "LT", "XX"],
        vec!["EXPIRE", "s", "-1"],
        vec!["EXISTS", "s"],
    ];
    let mut client = RespClient::connect(addr).await;
    let mut out = Vec::new();
    for command in &script {
        let reply = client.cmd(command).await;
        out.push(format!("{} -> {reply:?}", command.join(" ")));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_expire_family_answers_as_redis_does() {
    let now_s = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let forty_days_on = (now_s + 40 * 24 * 3600).to_string();
    let redis = RedisServer::start();
    let addr: SocketAddr = format!("127.0.0.1:{}", redis.port()).parse().unwrap();
    let expected = replies(addr, &forty_days_on).await;

    let embedded = TestServer::builder().start().await;
    assert_eq!(
        replies(embedded.resp_addr, &forty_days_on).await,
        expected,
        "embedded store"
    );
    embedded.shutdown().await;

    let node = RedisServer::start();
    let fleet = start_fleet(&[&node], &[]).await;
    assert_eq!(
        replies(fleet.resp_addr, &forty_days_on).await,
        expected,
        "a Redis fleet"
    );
    fleet.shutdown().await;
}
