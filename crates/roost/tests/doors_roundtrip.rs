//! Any value stored through any door reads back, byte for byte, through every
//! door: REST (as JSON, UTF-8 text or base64) and RESP write it; REST GET,
//! REST mget, RESP GET and RESP MGET read it. Values are random bytes, text
//! with control characters, JSON of every shape and JSON nested far past
//! serde_json's own recursion limit.

#![allow(clippy::unwrap_used)]

mod support;

use base64::Engine;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use roost_resp::Frame;
use serde::Deserialize;
use serde_json::value::RawValue;
use support::TestServer;

#[derive(Debug, Clone, Copy)]
enum Door {
    RestJson,
    RestText,
    RestBase64,
    Resp,
}

/// A JSON document as text, of any shape.
fn json_text() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("null".to_owned()),
        any::<bool>().prop_map(|b| b.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::to_string(&f).unwrap()),
        ".*".prop_map(|s| serde_json::to_string(&s).unwrap()),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec(("[a-z\\\\\"]{0,8}", inner), 0..6).prop_map(|fields| {
                let fields: Vec<String> = fields
                    .into_iter()
                    .map(|(k, v)| format!("{}: {v}", serde_json::to_string(&k).unwrap()))
                    .collect();
                format!("{{ {} }}", fields.join(" ,"))
            }),
        ]
    })
}

fn value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        "\\PC{0,64}".prop_map(String::into_bytes),
        "[\\x00-\\x1f\"\\\\ ]{0,64}".prop_map(String::into_bytes),
        json_text().prop_map(String::into_bytes),
        (100usize..1500)
            .prop_map(|depth| format!("{}0{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()),
        json_text().prop_map(|t| format!("  {t}\n").into_bytes()),
    ]
}

fn doors_for(value: &[u8]) -> Vec<Door> {
    let mut doors = vec![Door::Resp, Door::RestBase64];
    if let Ok(text) = std::str::from_utf8(value) {
        doors.push(Door::RestText);
        let bare = text.trim() == text && !text.is_empty();
        if bare && serde_json::from_str::<&RawValue>(text).is_ok() {
            doors.push(Door::RestJson);
        }
    }
    doors
}

/// One answer's fields, each kept as raw JSON (a `null` value stays `null`).
type Found = std::collections::HashMap<String, Box<RawValue>>;

#[derive(Deserialize)]
struct Mget {
    results: Vec<Found>,
}

/// The stored bytes a REST answer stands for.
fn bytes_of(found: &Found) -> Vec<u8> {
    let raw = found["value"].get();
    let encoding = found
        .get("encoding")
        .map(|e| serde_json::from_str::<String>(e.get()).unwrap());
    match encoding.as_deref() {
        None => raw.as_bytes().to_vec(),
        Some("utf8") => serde_json::from_str::<String>(raw).unwrap().into_bytes(),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(serde_json::from_str::<String>(raw).unwrap())
            .unwrap(),
        Some(other) => panic!("unknown encoding {other}"),
    }
}

async fn write(s: &TestServer, resp: &mut support::resp::RespClient, door: Door, value: &[u8]) {
    let body = match door {
        Door::Resp => {
            resp.send(&[b"SET", b"v", value]).await;
            assert_eq!(resp.reply().await, b"+OK\r\n");
            return;
        }
        Door::RestJson => format!(
            "{{\"key\":\"v\",\"value\":{}}}",
            std::str::from_utf8(value).unwrap()
        ),
        Door::RestText => serde_json::json!({
            "key": "v",
            "value": std::str::from_utf8(value).unwrap(),
            "encoding": "utf8"
        })
        .to_string(),
        Door::RestBase64 => serde_json::json!({
            "key": "v",
            "value": base64::engine::general_purpose::STANDARD.encode(value),
            "encoding": "base64"
        })
        .to_string(),
    };
    let (status, reply) = s
        .post_raw("/api/cache", "application/json", body.into_bytes())
        .await;
    assert_eq!(status, 200, "{door:?}: {reply}");
}

async fn read_everywhere(
    s: &TestServer,
    resp: &mut support::resp::RespClient,
) -> Vec<(&'static str, Vec<u8>)> {
    let text = s
        .client
        .get(s.url("/api/cache/v"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let get: Found = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let text = s
        .client
        .post(s.url("/api/cache/mget"))
        .json(&serde_json::json!({"keys": ["v", "absent"]}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mget: Mget = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let Frame::Bulk(resp_get) = resp.frame(&[b"GET", b"v"]).await else {
        panic!("GET did not answer a bulk string")
    };
    let Frame::Array(resp_mget) = resp.frame(&[b"MGET", b"v", b"absent"]).await else {
        panic!("MGET did not answer an array")
    };
    let Frame::Bulk(first) = &resp_mget[0] else {
        panic!("MGET's first entry is not a bulk string")
    };
    vec![
        ("REST GET", bytes_of(&get)),
        ("REST mget", bytes_of(&mget.results[0])),
        ("RESP GET", resp_get.to_vec()),
        ("RESP MGET", first.to_vec()),
    ]
}

#[test]
fn any_value_stored_through_any_door_reads_back_through_every_door() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s = rt.block_on(TestServer::builder().start());
    let resp = tokio::sync::Mutex::new(rt.block_on(s.resp()));
    let mut runner = TestRunner::new(Config {
        cases: 300,
        failure_persistence: None,
        ..Config::default()
    });
    let case = value().prop_flat_map(|v| {
        let doors = doors_for(&v);
        (Just(v), prop::sample::select(doors))
    });
    runner
        .run(&case, |(value, door)| {
            let read = rt.block_on(async {
                let mut resp = resp.lock().await;
                write(&s, &mut resp, door, &value).await;
                read_everywhere(&s, &mut resp).await
            });
            for (how, bytes) in read {
                prop_assert_eq!(
                    &bytes,
                    &value,
                    "written through {:?}, read through {}",
                    door,
                    how
                );
            }
            Ok(())
        })
        .unwrap();
    rt.block_on(s.shutdown());
}
