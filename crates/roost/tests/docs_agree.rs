//! The docs must say what the code does: the configuration table in
//! docs/configuration.md is exactly the settings catalogue, and
//! docs/metrics.md names every metric `/metrics` exports.

#![allow(clippy::unwrap_used)]

mod support;

use roost::config::SETTINGS;
use support::TestServer;

fn doc(name: &str) -> String {
    let path = format!("{}/../../docs/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The table as it must appear between the markers in docs/configuration.md.
fn expected_table() -> String {
    let mut table = String::from(
        "| `roost.toml` key | environment | flag | default | meaning |\n|---|---|---|---|---|\n",
    );
    for s in SETTINGS {
        let default = if s.default.is_empty() {
            "(unset)".to_string()
        } else {
            format!("`{}`", s.default)
        };
        table.push_str(&format!(
            "| `{}` | `{}` | `--{}` | {} | {} |\n",
            s.key,
            s.env,
            s.flag(),
            default,
            s.help
        ));
    }
    table
}

#[test]
fn configuration_doc_lists_every_key_with_its_default() {
    let text = doc("configuration.md");
    let start = text
        .find("<!-- settings:begin -->\n")
        .expect("begin marker")
        + 24;
    let end = text.find("<!-- settings:end -->").expect("end marker");
    let expected = expected_table();
    assert!(
        text[start..end] == expected,
        "docs/configuration.md is out of date; replace the table with:\n{expected}"
    );
}

#[tokio::test]
async fn metrics_doc_names_every_exported_metric() {
    // With a data dir, so the snapshot metrics are exported too.
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::builder()
        .env("ROOST_DATA_DIR", dir.path().to_str().unwrap())
        .start()
        .await;
    s.post("/api/cache", serde_json::json!({"key": "k", "value": 1}))
        .await;
    let text = s.metrics_text().await;
    let documented = doc("metrics.md");
    let mut names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    names.sort_unstable();
    assert!(names.len() >= 14, "{names:?}");
    for name in names {
        assert!(
            documented.contains(&format!("`{name}`")),
            "docs/metrics.md does not document {name}"
        );
    }
    s.shutdown().await;
}
