//! The dashboard listener (`ROOST_DASHBOARD_ADDR`) serves the same app as the
//! API port: the dashboard at `/` on both, and the API, `/metrics` and
//! `/ws/metrics` on the dashboard's origin, so the page needs no proxy.

#![allow(clippy::unwrap_used)]

mod support;

use futures_util::StreamExt;
use serde_json::json;
use support::TestServer;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn both_listeners_serve_the_dashboard_and_the_api() {
    let s = TestServer::builder().start().await;
    let dashboard = format!("http://{}", s.running.as_ref().unwrap().dashboard_addr());
    assert_ne!(dashboard, s.base);

    let mut pages = Vec::new();
    for base in [&s.base, &dashboard] {
        let r = s.client.get(format!("{base}/")).send().await.unwrap();
        let status = r.status().as_u16();
        let content_type = r.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(content_type.starts_with("text/html"), "{content_type}");
        let body = r.text().await.unwrap();
        assert!(
            (status == 200 && body.contains("id=\"root\""))
                || (status == 503 && body.contains("npm ci && npm run build")),
            "{status}: {body}"
        );
        pages.push(body);
    }
    assert_eq!(pages[0], pages[1]);

    // The dashboard's origin reaches the API and the metrics.
    let r = s
        .client
        .post(format!("{dashboard}/api/cache"))
        .json(&json!({"key": "k", "value": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (status, body) = s.get("/api/cache/k").await;
    assert_eq!((status, body["value"].clone()), (200, json!(1)));
    let metrics = s
        .client
        .get(format!("{dashboard}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("roost_ws_clients"));

    let url = format!("{}/ws/metrics", dashboard.replacen("http", "ws", 1));
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    match ws.next().await.unwrap().unwrap() {
        Message::Text(text) => assert!(text.as_str().starts_with("{\"type\":\"history\"")),
        other => panic!("expected the history frame, got {other:?}"),
    }

    // Unknown paths stay JSON API errors, not the dashboard.
    let (status, body) = s.get("/no/such/page").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("no_route"))
    );
    s.shutdown().await;
}
