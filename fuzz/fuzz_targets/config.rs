//! Fuzz target: arbitrary configuration — a `roost.toml` text and environment
//! variables drawn from the catalogue with arbitrary values — through the
//! layer loader and validation. Checks that nothing panics, that an error
//! names a catalogue variable, and that no error ever quotes a secret (the
//! value of ROOST_API_TOKENS, ROOST_RESP_PASSWORD or ROOST_ADMIN_TOKEN).
//!
//! Input layout: the text up to the first NUL byte is the TOML file; the rest
//! is lines of `<setting index byte><value>`.

#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use roost::config::{Config, ConfigError, Layers, SETTINGS};

/// Marked so a leak is easy to see: every secret value is prefixed with it.
const SECRET: &str = "s3cr3t-";

/// `user:role:token,…` with every token part marked as a secret.
fn mark_tokens(value: &str) -> String {
    value
        .split(',')
        .map(|entry| match entry.splitn(3, ':').collect::<Vec<_>>()[..] {
            [user, role, token] => format!("{user}:{role}:{SECRET}{token}"),
            _ => entry.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

fuzz_target!(|data: &[u8]| {
    let (toml, env) = match data.iter().position(|&b| b == 0) {
        Some(at) => (&data[..at], &data[at + 1..]),
        None => (data, &[][..]),
    };
    let mut vars = HashMap::new();
    for line in env.split(|&b| b == b'\n') {
        let Some((&index, value)) = line.split_first() else {
            continue;
        };
        let setting = &SETTINGS[usize::from(index) % SETTINGS.len()];
        let value = String::from_utf8_lossy(value);
        let value = match setting.env {
            "ROOST_RESP_PASSWORD" | "ROOST_ADMIN_TOKEN" => format!("{SECRET}{value}"),
            "ROOST_API_TOKENS" => mark_tokens(&value),
            _ => value.into_owned(),
        };
        vars.insert(setting.env.to_owned(), value);
    }
    let layers = match Layers::defaults().with_toml(&String::from_utf8_lossy(toml), "fuzz.toml") {
        Ok(layers) => layers.with_env(&vars),
        Err(error) => {
            assert!(error.to_string().contains("fuzz.toml"));
            Layers::defaults().with_env(&vars)
        }
    };
    let _ = layers.describe();
    if let Err(error) = Config::from_layers(&layers) {
        let text = error.to_string();
        assert!(!text.contains(SECRET), "an error quoted a secret: {text}");
        if let ConfigError::Invalid { env, .. } = &error {
            assert!(SETTINGS.iter().any(|s| s.env == *env), "{env} is not a setting");
        }
    }
});
