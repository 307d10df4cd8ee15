//! Parsers that turn one raw layer value into a typed value, or an error that
//! names the key, its value, its origin and what was expected.

use std::net::SocketAddr;

use bytesize::ByteSize;

use super::{ConfigError, Layers};

pub(super) fn addr(layers: &Layers, key: &str) -> Result<SocketAddr, ConfigError> {
    let raw = layers.get(key).unwrap_or_default();
    raw.parse().map_err(|_| {
        layers.invalid(
            key,
            "expected IP:port such as 127.0.0.1:8000 or [::1]:8000".into(),
        )
    })
}

pub(super) fn bounded_u64(
    layers: &Layers,
    key: &str,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let raw = layers.get(key).unwrap_or_default();
    let value: u64 = raw
        .parse()
        .map_err(|_| layers.invalid(key, "expected a non-negative integer".into()))?;
    in_range(layers, key, value, min, max)
}

pub(super) fn bool_flag(layers: &Layers, key: &str) -> Result<bool, ConfigError> {
    match layers.get(key).unwrap_or("false") {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(layers.invalid(key, "expected true or false".into())),
    }
}

pub(super) fn byte_size(
    layers: &Layers,
    key: &str,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    let raw = layers.get(key).unwrap_or_default();
    let value = raw.parse::<ByteSize>().map_err(|_| {
        layers.invalid(
            key,
            "expected a size such as 1048576, 512KiB, 256MiB or 2GiB".into(),
        )
    })?;
    in_range(layers, key, value.as_u64(), min, max)
}

fn in_range(
    layers: &Layers,
    key: &str,
    value: u64,
    min: u64,
    max: u64,
) -> Result<u64, ConfigError> {
    if value < min {
        return Err(layers.invalid(key, format!("must be at least {min}")));
    }
    if value > max {
        return Err(layers.invalid(key, format!("must be at most {max}")));
    }
    Ok(value)
}

pub(super) fn redis_urls(layers: &Layers, key: &str) -> Result<Vec<String>, ConfigError> {
    let raw = layers.get(key).unwrap_or_default();
    let mut urls = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let rest = part
            .strip_prefix("redis://")
            .or_else(|| part.strip_prefix("rediss://"));
        let host_port = rest.map(|r| r.rsplit('@').next().unwrap_or(r));
        let valid = host_port.is_some_and(|hp| {
            hp.rsplit_once(':').is_some_and(|(host, port)| {
                !host.is_empty() && port.trim_end_matches('/').parse::<u16>().is_ok()
            })
        });
        if !valid {
            return Err(layers.invalid(
                key,
                format!(
                    "{:?} is not a node URL like redis://host:port or rediss://user:pass@host:port",
                    super::layers::redact_password(part)
                ),
            ));
        }
        urls.push(part.to_owned());
    }
    if urls.is_empty() {
        return Err(layers.invalid(key, "no node URLs given".into()));
    }
    Ok(urls)
}
