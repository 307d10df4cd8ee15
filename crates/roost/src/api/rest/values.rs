//! How values cross the REST boundary. Over REST a value is any JSON value and
//! is stored as its JSON text, so RESP clients read the JSON document. Raw
//! bytes can be written with `"encoding": "utf8"` (a string stored as its UTF-8
//! bytes) or `"base64"`. On read, stored bytes that are exactly one JSON
//! document (no whitespace around it) come back as that JSON value, unchanged
//! and never re-parsed into a tree (so no nesting depth can fail); other UTF-8
//! comes back as a string with `"encoding":"utf8"`, anything else as base64
//! with `"encoding":"base64"`.

use base64::Engine;
use bytes::Bytes;
use serde::Serialize;
use serde_json::value::RawValue;

use super::error::ApiError;

/// The value of a read, ready to serialize.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ValueOut<'a> {
    Json(&'a RawValue),
    Text(&'a str),
    Base64(String),
}

impl<'a> ValueOut<'a> {
    pub fn from_stored(bytes: &'a [u8]) -> ValueOut<'a> {
        // Only bytes that are exactly one JSON document come back as JSON: a
        // document with whitespace around it would lose the whitespace.
        if let Ok(raw) = serde_json::from_slice::<&RawValue>(bytes) {
            if raw.get().len() == bytes.len() {
                return ValueOut::Json(raw);
            }
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => ValueOut::Text(text),
            Err(_) => ValueOut::Base64(base64::engine::general_purpose::STANDARD.encode(bytes)),
        }
    }

    /// The `encoding` field to send beside the value, if any.
    pub fn encoding(&self) -> Option<&'static str> {
        match self {
            ValueOut::Json(_) => None,
            ValueOut::Text(_) => Some("utf8"),
            ValueOut::Base64(_) => Some("base64"),
        }
    }
}

/// Turns a written value into the bytes to store.
pub fn value_in(value: &RawValue, encoding: Option<&str>) -> Result<Bytes, ApiError> {
    let as_string = || {
        serde_json::from_str::<String>(value.get()).map_err(|_| {
            ApiError::bad_request(
                "invalid_value",
                "a value with an encoding must be a JSON string",
            )
        })
    };
    match encoding {
        None | Some("json") => Ok(Bytes::copy_from_slice(value.get().trim().as_bytes())),
        Some("utf8") => Ok(Bytes::from(as_string()?)),
        Some("base64") => base64::engine::general_purpose::STANDARD
            .decode(as_string()?)
            .map(Bytes::from)
            .map_err(|e| ApiError::bad_request("invalid_value", format!("invalid base64: {e}"))),
        Some(other) => Err(ApiError::bad_request(
            "invalid_encoding",
            format!("unknown encoding {other:?}: expected json, utf8 or base64"),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_owned()).unwrap()
    }

    #[test]
    fn json_values_round_trip_as_json() {
        for text in ["{\"a\":[1,2]}", "\"123\"", "123", "null", "true", "\"hé\""] {
            let stored = value_in(&raw(text), None).unwrap();
            let out = ValueOut::from_stored(&stored);
            assert_eq!(out.encoding(), None);
            assert_eq!(serde_json::to_string(&out).unwrap(), text);
        }
    }

    #[test]
    fn json_with_whitespace_around_it_comes_back_as_text_to_keep_every_byte() {
        for stored in [&b"  null\n"[..], b"1 ", b"\t{}"] {
            let out = ValueOut::from_stored(stored);
            assert_eq!(out.encoding(), Some("utf8"), "{stored:?}");
        }
    }

    #[test]
    fn raw_bytes_come_back_as_text_or_base64() {
        let stored = value_in(&raw("\"hello world\""), Some("utf8")).unwrap();
        assert_eq!(&stored[..], b"hello world");
        let out = ValueOut::from_stored(&stored);
        assert_eq!(out.encoding(), Some("utf8"));
        let stored = value_in(&raw("\"AP8=\""), Some("base64")).unwrap();
        assert_eq!(&stored[..], &[0x00, 0xff]);
        let out = ValueOut::from_stored(&stored);
        assert_eq!(out.encoding(), Some("base64"));
        assert_eq!(serde_json::to_string(&out).unwrap(), "\"AP8=\"");
    }

    #[test]
    fn bad_encodings_are_clear_errors() {
        assert!(value_in(&raw("12"), Some("utf8")).is_err());
        assert!(value_in(&raw("\"!!\""), Some("base64")).is_err());
        assert!(value_in(&raw("\"x\""), Some("rot13")).is_err());
    }
}
