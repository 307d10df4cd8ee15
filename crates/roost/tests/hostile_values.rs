//! Values a client can store that once broke a door: whatever bytes are stored
//! through one door read back through every door, and no value can make a
//! request fail for the other keys it is read beside.

#![allow(clippy::unwrap_used)]

mod support;

use roost_resp::Frame;
use serde_json::json;
use support::TestServer;

/// JSON nested `depth` levels deep: `[[[…1…]]]`.
fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

#[tokio::test]
async fn deeply_nested_json_reads_back_through_rest_get_and_mget() {
    let s = TestServer::builder().start().await;
    let deep = nested(1000);
    let mut c = s.resp().await;
    c.cmd(&["SET", "deep:resp", &deep]).await;
    let body = format!("{{\"key\":\"deep:rest\",\"value\":{deep}}}");
    let (status, _) = s
        .post_raw("/api/cache", "application/json", body.into_bytes())
        .await;
    assert_eq!(status, 200, "a deep JSON value is stored as written");
    s.post("/api/cache", json!({"key": "plain", "value": 7}))
        .await;

    for key in ["deep:resp", "deep:rest"] {
        let text = s
            .client
            .get(s.url(&format!("/api/cache/{key}")))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            text.contains(&deep),
            "GET {key} returns the value as stored"
        );
    }
    let response = s
        .client
        .post(s.url("/api/cache/mget"))
        .json(&json!({"keys": ["deep:resp", "plain", "deep:rest", "missing"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.unwrap();
    assert_eq!(text.matches(&deep).count(), 2, "both deep values come back");
    // serde_json's Value refuses this depth, so check the other entries by text.
    assert!(
        text.contains(r#"{"key":"plain","hit":true,"value":7"#),
        "{}",
        &text[text.len() - 200..]
    );
    assert!(text.contains(r#"{"key":"missing","hit":false}"#));
    assert_eq!(
        c.frame(&[b"GET", b"deep:rest"]).await,
        Frame::bulk(deep.as_bytes())
    );
    s.shutdown().await;
}
