//! Parsers that turn one raw layer value into a typed value, or an error that
//! names the key, its value, its origin and what was expected.

use std::net::SocketAddr;

use bytesize::ByteSize;

use super::{ConfigError, Layers};
use crate::backend::redis_link::NodeAddress;

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

/// The node URLs of `key`, each parsed once here into the address the
/// backend connects to; an error names the URL with its password redacted.
pub(super) fn redis_urls(layers: &Layers, key: &str) -> Result<Vec<NodeAddress>, ConfigError> {
    let raw = layers.get(key).unwrap_or_default();
    let mut nodes = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let address = NodeAddress::parse(part).map_err(|why| {
            let shown = super::layers::redact_password(part);
            layers.invalid(key, format!("{shown:?} is not a node URL: {why}"))
        })?;
        nodes.push(address);
    }
    if nodes.is_empty() {
        return Err(layers.invalid(key, "no node URLs given".into()));
    }
    Ok(nodes)
}
