//! The Cache against a reference model: random sequences of get, set (with and
//! without TTLs), delete, expire, incr, mget, mset and clock steps are run on
//! the real Cache and on a plain map, and every answer must agree. On the
//! embedded store the clock is injected, so TTLs expire exactly when the model
//! says; in front of a real redis-server, Redis keeps its own time, so TTLs are
//! long and expiry is exercised with deadlines already past (which remove the
//! key at once on both). proptest shrinks a failing sequence to a minimal one.

#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use roost::backend::RetimeCondition;
use roost::cache::{Cache, Expiry, Item};
use roost_store::ManualClock;
use support::fleet::fleet_builder;
use support::redis::RedisServer;
use support::TestServer;

const KEYS: &[&str] = &["a", "b", "c", "d", "{x}e"];

#[derive(Debug, Clone)]
enum Op {
    Get(usize),
    /// Set with a TTL in milliseconds, or none.
    Set(usize, Vec<u8>, Option<u64>),
    Delete(usize),
    /// Give the key a deadline this many milliseconds from now (negative: past).
    Expire(usize, i64),
    Incr(usize, i64),
    Mget(Vec<usize>),
    Mset(Vec<(usize, Vec<u8>)>),
    /// Move the injected clock (embedded store only).
    Advance(u64),
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        (-1000i64..1000).prop_map(|n| n.to_string().into_bytes()),
        prop_oneof![Just(i64::MAX), Just(i64::MIN), Just(i64::MAX - 1)]
            .prop_map(|n| n.to_string().into_bytes()),
        "[a-z][a-z0-9 ]{0,6}".prop_map(String::into_bytes),
        prop::collection::vec(any::<u8>(), 1..8),
    ]
}

fn op(with_clock: bool) -> impl Strategy<Value = Op> {
    let key = 0..KEYS.len();
    // Few distinct times, so deadlines land exactly on the clock often (the
    // boundary where off-by-one expiry bugs live).
    let times = || prop::sample::select(vec![1u64, 10, 100, 1000]);
    let ttl = if with_clock {
        prop::option::of(times()).boxed()
    } else {
        prop::option::of(Just(3_600_000u64)).boxed()
    };
    let expire = if with_clock {
        prop::sample::select(vec![-100i64, -1, 0, 1, 10, 100, 1000]).boxed()
    } else {
        prop_oneof![Just(-1_000i64), Just(3_600_000i64)].boxed()
    };
    let advance = if with_clock {
        prop::sample::select(vec![0u64, 1, 9, 10, 11, 90, 100, 1000]).boxed()
    } else {
        Just(0u64).boxed()
    };
    prop_oneof![
        key.clone().prop_map(Op::Get),
        (key.clone(), value(), ttl).prop_map(|(k, v, t)| Op::Set(k, v, t)),
        key.clone().prop_map(Op::Delete),
        (key.clone(), expire).prop_map(|(k, at)| Op::Expire(k, at)),
        (
            key.clone(),
            prop_oneof![-5i64..5, Just(i64::MAX), Just(i64::MIN)]
        )
            .prop_map(|(k, d)| Op::Incr(k, d)),
        prop::collection::vec(key.clone(), 1..5).prop_map(Op::Mget),
        prop::collection::vec((key, value()), 1..4).prop_map(Op::Mset),
        advance.prop_map(Op::Advance),
    ]
}

/// The reference: a map of key to value and deadline, and a clock.
#[derive(Debug, Default)]
struct Model {
    now: u64,
    entries: HashMap<usize, (Vec<u8>, Option<u64>)>,
}

impl Model {
    fn live(&mut self, key: usize) -> Option<&(Vec<u8>, Option<u64>)> {
        let now = self.now;
        if self
            .entries
            .get(&key)
            .is_some_and(|(_, at)| at.is_some_and(|at| at <= now))
        {
            self.entries.remove(&key);
        }
        self.entries.get(&key)
    }

    fn get(&mut self, key: usize) -> Option<Vec<u8>> {
        self.live(key).map(|(v, _)| v.clone())
    }
}

/// What an operation answered, in a form both sides can give.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Value(Option<Vec<u8>>),
    Values(Vec<Option<Vec<u8>>>),
    Flag(bool),
    Number(Result<i64, String>),
    Done,
}

fn apply_model(model: &mut Model, op: &Op) -> Answer {
    match op {
        Op::Get(k) => Answer::Value(model.get(*k)),
        Op::Set(k, v, ttl) => {
            let at = ttl.map(|t| model.now + t);
            model.entries.insert(*k, (v.clone(), at));
            Answer::Done
        }
        Op::Delete(k) => {
            let existed = model.live(*k).is_some();
            model.entries.remove(k);
            Answer::Flag(existed)
        }
        Op::Expire(k, after) => {
            if model.live(*k).is_none() {
                return Answer::Flag(false);
            }
            let at = model.now as i64 + after;
            if at <= model.now as i64 {
                model.entries.remove(k);
            } else if let Some(entry) = model.entries.get_mut(k) {
                entry.1 = Some(at as u64);
            }
            Answer::Flag(true)
        }
        Op::Incr(k, delta) => {
            let (current, at) = match model.live(*k) {
                None => (0, None),
                Some((v, at)) => match std::str::from_utf8(v)
                    .ok()
                    .and_then(|t| t.parse::<i64>().ok())
                {
                    Some(n) => (n, *at),
                    None => return Answer::Number(Err("not an integer".into())),
                },
            };
            match current.checked_add(*delta) {
                None => Answer::Number(Err("overflow".into())),
                Some(n) => {
                    model.entries.insert(*k, (n.to_string().into_bytes(), at));
                    Answer::Number(Ok(n))
                }
            }
        }
        Op::Mget(keys) => Answer::Values(keys.iter().map(|k| model.get(*k)).collect()),
        Op::Mset(pairs) => {
            for (k, v) in pairs {
                model.entries.insert(*k, (v.clone(), None));
            }
            Answer::Done
        }
        Op::Advance(ms) => {
            model.now += ms;
            Answer::Done
        }
    }
}

fn key(k: usize) -> Bytes {
    Bytes::from_static(KEYS[k].as_bytes())
}

async fn apply_cache(cache: &Cache, clock: Option<&ManualClock>, op: &Op) -> Answer {
    match op {
        Op::Get(k) => Answer::Value(cache.get_value(&key(*k)).await.unwrap().map(|v| v.to_vec())),
        Op::Set(k, v, ttl) => {
            let expiry = match ttl {
                Some(ms) => Expiry::After(Duration::from_millis(*ms)),
                None => Expiry::Never,
            };
            cache
                .put(key(*k), Bytes::from(v.clone()), expiry)
                .await
                .unwrap();
            Answer::Done
        }
        Op::Delete(k) => Answer::Flag(cache.delete(&key(*k)).await.unwrap()),
        Op::Expire(k, after) => {
            let at = cache.deadline_in(*after).unwrap();
            Answer::Flag(
                cache
                    .expire_at(key(*k), at, RetimeCondition::Always)
                    .await
                    .unwrap(),
            )
        }
        Op::Incr(k, delta) => {
            // Both backends answer with Redis's text: the embedded store's own
            // error, or Redis's reply relayed (with its `ERR` code).
            Answer::Number(cache.incr_by(key(*k), *delta).await.map_err(|e| {
                match e.to_string().trim_start_matches("ERR ") {
                    "value is not an integer or out of range" => "not an integer".to_owned(),
                    "increment or decrement would overflow" => "overflow".to_owned(),
                    other => other.to_owned(),
                }
            }))
        }
        Op::Mget(keys) => {
            let keys: Vec<Bytes> = keys.iter().map(|k| key(*k)).collect();
            let mut cursor = cache.mget_cursor(&keys).unwrap();
            let mut values = Vec::new();
            while let Some((_, found)) = cache.mget_next(&mut cursor, &keys).await {
                values.extend(
                    found
                        .unwrap()
                        .into_iter()
                        .map(|h| h.map(|h| h.value.to_vec())),
                );
            }
            Answer::Values(values)
        }
        Op::Mset(pairs) => {
            let writes = pairs
                .iter()
                .map(|(k, v)| Item {
                    key: key(*k),
                    value: Bytes::from(v.clone()),
                    expiry: Expiry::Never,
                })
                .collect();
            cache.mset(writes).await.unwrap();
            Answer::Done
        }
        Op::Advance(ms) => {
            if let Some(clock) = clock {
                clock.advance(Duration::from_millis(*ms));
            }
            Answer::Done
        }
    }
}

/// Runs `cases` random sequences against `cache`, flushing between them.
fn check_against_model(
    rt: &tokio::runtime::Runtime,
    cache: &Cache,
    clock: Option<&ManualClock>,
    cases: u32,
) {
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let with_clock = clock.is_some();
    runner
        .run(&prop::collection::vec(op(with_clock), 1..40), |ops| {
            rt.block_on(cache.flush()).unwrap();
            let mut model = Model::default();
            for (i, op) in ops.iter().enumerate() {
                let expected = apply_model(&mut model, op);
                let got = rt.block_on(apply_cache(cache, clock, op));
                prop_assert_eq!(got, expected, "step {} {:?} of {:?}", i, op, ops);
            }
            Ok(())
        })
        .unwrap();
}

#[test]
fn the_embedded_store_behaves_like_the_model_with_an_injected_clock() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let clock = ManualClock::new(1_000_000);
    let s = rt.block_on(TestServer::builder().clock(clock.clone()).start());
    let cache = &s.running.as_ref().unwrap().state().cache;
    check_against_model(&rt, cache, Some(&clock), 400);
    rt.block_on(s.shutdown());
}

#[test]
fn a_redis_fleet_behaves_like_the_model() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let nodes = [RedisServer::start(), RedisServer::start()];
    let s = rt.block_on(fleet_builder(&[&nodes[0], &nodes[1]], &[("ROOST_REPLICAS", "2")]).start());
    let cache = &s.running.as_ref().unwrap().state().cache;
    check_against_model(&rt, cache, None, 60);
    rt.block_on(s.shutdown());
}
