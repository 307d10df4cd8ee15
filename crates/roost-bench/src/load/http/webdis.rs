//! webdis as a load target: every command is a path, `/<COMMAND>/<arg>/<arg>`, and the
//! reply is `{"<COMMAND>": <redis reply as JSON>}` — a string or null for GET,
//! `[true,"OK"]` for SET, an integer for DEL, an array for MGET.
//!
//! Arguments are percent-encoded path segments, as webdis decodes them.

use hyper::{Method, StatusCode};
use serde_json::Value;

use super::{expect_ok, parse, path_segment, HttpTarget};
use crate::load::target::{Outcome, TargetError};
use crate::load::workload::Operation;

impl HttpTarget {
    /// Sends `operation` as a webdis command path and reads its JSON reply.
    pub(super) async fn webdis_execute(
        &self,
        operation: &Operation,
    ) -> Result<Outcome, TargetError> {
        let (command, path) = webdis_path(operation);
        let (status, body) = self.send(Method::GET, &path, None).await?;
        if status != StatusCode::OK {
            expect_ok(status, &body)?;
        }
        let mut reply: Value = parse(&body)?;
        let answer = reply
            .get_mut(command)
            .map(Value::take)
            .ok_or_else(|| TargetError::Protocol(format!("webdis reply has no {command}")))?;
        webdis_outcome(operation, answer)
    }
}

/// The command name and request path of `operation`.
fn webdis_path(operation: &Operation) -> (&'static str, String) {
    match operation {
        Operation::Get { key } => ("GET", format!("/GET/{}", path_segment(key))),
        Operation::Set {
            key,
            value,
            ttl_seconds,
        } => {
            let mut path = format!("/SET/{}/{}", path_segment(key), path_segment(value));
            if let Some(seconds) = ttl_seconds {
                path += &format!("/EX/{seconds}");
            }
            ("SET", path)
        }
        Operation::MGet { keys } => {
            let mut path = String::from("/MGET");
            for key in keys {
                path += &format!("/{}", path_segment(key));
            }
            ("MGET", path)
        }
        Operation::Delete { key } => ("DEL", format!("/DEL/{}", path_segment(key))),
    }
}

/// What webdis's JSON answer means for `operation`.
fn webdis_outcome(operation: &Operation, answer: Value) -> Result<Outcome, TargetError> {
    let unexpected =
        |answer: &Value| TargetError::Protocol(format!("unexpected webdis reply {answer}"));
    match (operation, &answer) {
        (Operation::Get { .. }, Value::String(_)) => Ok(Outcome::Get { hit: true }),
        (Operation::Get { .. }, Value::Null) => Ok(Outcome::Get { hit: false }),
        (Operation::Set { .. }, Value::Array(parts))
            if parts.first() == Some(&Value::Bool(true)) =>
        {
            Ok(Outcome::Set)
        }
        (Operation::Delete { .. }, Value::Number(removed)) => Ok(Outcome::Delete {
            existed: removed.as_u64().is_some_and(|n| n > 0),
        }),
        (Operation::MGet { keys }, Value::Array(values)) if values.len() == keys.len() => {
            let hits = values.iter().filter(|value| value.is_string()).count();
            Ok(Outcome::MGet {
                hits,
                misses: keys.len() - hits,
            })
        }
        _ => Err(unexpected(&answer)),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;

    fn get(key: &str) -> Operation {
        Operation::Get { key: key.into() }
    }

    #[test]
    fn commands_become_encoded_paths() {
        assert_eq!(webdis_path(&get("key:1")), ("GET", "/GET/key%3A1".into()));
        let set = Operation::Set {
            key: "a b".into(),
            value: Arc::from("v/1"),
            ttl_seconds: Some(30),
        };
        assert_eq!(webdis_path(&set), ("SET", "/SET/a%20b/v%2F1/EX/30".into()));
        let mget = Operation::MGet {
            keys: vec!["x".into(), "y".into()],
        };
        assert_eq!(webdis_path(&mget), ("MGET", "/MGET/x/y".into()));
    }

    #[test]
    fn answers_map_to_outcomes() {
        assert_eq!(
            webdis_outcome(&get("k"), json!("value")),
            Ok(Outcome::Get { hit: true })
        );
        assert_eq!(
            webdis_outcome(&get("k"), Value::Null),
            Ok(Outcome::Get { hit: false })
        );
        let set = Operation::Set {
            key: "k".into(),
            value: Arc::from("v"),
            ttl_seconds: None,
        };
        assert_eq!(webdis_outcome(&set, json!([true, "OK"])), Ok(Outcome::Set));
        assert!(webdis_outcome(&set, json!([false, "ERR"])).is_err());
        let mget = Operation::MGet {
            keys: vec!["a".into(), "b".into(), "c".into()],
        };
        assert_eq!(
            webdis_outcome(&mget, json!(["1", null, "3"])),
            Ok(Outcome::MGet { hits: 2, misses: 1 })
        );
        assert!(webdis_outcome(&mget, json!(["1"])).is_err());
    }
}
