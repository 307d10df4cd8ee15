//! The webdis HTTP flavour against a real webdis in front of a real redis-server.
//!
//! webdis is a Debian package (`apt-get install webdis`). Where it is not installed the
//! test says so on stderr and checks nothing, rather than failing a machine that
//! cannot run it; compare.sh refuses to run without it.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;

use roost_bench::fill::FillOptions;
use roost_bench::load::http::{HttpFlavor, HttpTarget};
use roost_bench::load::workload::{KeyDistribution, WorkloadSpec};
use roost_bench::load::{run_load, LoadOptions, StopCondition};
use roost_bench::resp::fill::run_resp_fill;
use support::{installed, RedisServer, Webdis};

fn options(mix: &str, keyspace: u64, prefix: &str, requests: u64) -> LoadOptions {
    LoadOptions {
        connections: 4,
        pipeline: 1,
        threads: 1,
        rate: None,
        stop: StopCondition::Requests(requests),
        workload: Arc::new(WorkloadSpec {
            keyspace,
            distribution: KeyDistribution::Uniform,
            key_prefix: prefix.into(),
            key_digits: 0,
            value_size: 24,
            mix: mix.parse().unwrap(),
            mget_keys: 3,
            ttl_seconds: Some(600),
            ttl_ratio: 0.5,
        }),
        show_progress: false,
        seed: 9,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webdis_gets_hit_what_resp_preloaded_and_sets_land_in_redis() {
    if !installed("webdis") || !installed("redis-server") {
        eprintln!(
            "webdis or redis-server not installed (apt-get install webdis redis-server): not run"
        );
        return;
    }
    let redis = RedisServer::start();
    let webdis = Webdis::start(&redis);
    let fill = FillOptions {
        keys: 500,
        value_size: 24,
        batch: 50,
        prefix: "key:".into(),
        key_digits: 0,
        connections: 2,
        show_progress: false,
    };
    run_resp_fill(&redis.address(), &fill).await.unwrap();
    let target = Arc::new(HttpTarget::with_flavor(
        &webdis.base_url(),
        4,
        HttpFlavor::Webdis,
    ));

    let report = run_load(Arc::clone(&target), &options("get=1", 500, "key:", 1000))
        .await
        .unwrap();
    assert_eq!((report.total_ops, report.total_errors), (1000, 0));
    assert_eq!(report.get_hit_ratio, Some(1.0));
    assert!(report.header.target.ends_with("(webdis)"));

    let report = run_load(Arc::clone(&target), &options("get=1", 1000, "key:", 2000))
        .await
        .unwrap();
    let ratio = report.get_hit_ratio.unwrap();
    assert!((0.42..0.58).contains(&ratio), "hit ratio {ratio}");

    let mixed = options("set=2,mget=1,delete=1", 200, "w:", 400);
    let report = run_load(Arc::clone(&target), &mixed).await.unwrap();
    assert_eq!(
        (report.total_ops, report.total_errors),
        (400, 0),
        "{report:?}"
    );
    assert_eq!(redis.calls("set"), 500 + report.operations[0].count);
    assert!(redis.integer(&["DBSIZE"]) > 500);
}
