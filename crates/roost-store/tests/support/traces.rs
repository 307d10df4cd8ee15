//! Reading the shared key-only cache traces (`ROOST_TRACES_DIR`, default
//! `../shared/traces` from the repository root) and replaying them through one
//! shard. Shared by the trace test and `examples/replay.rs`; it never copies a trace
//! into the repository.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use roost_store::{entry_weight, ManualClock, PolicyKind, Shard};

/// How a trace file encodes its keys once decompressed.
#[derive(Debug, Clone, Copy)]
pub enum KeyFormat {
    /// One decimal key per line; empty lines and `*` lines are skipped (LIRS).
    DecimalLines,
    /// Big-endian signed 32-bit integers.
    BigEndianI32,
    /// Big-endian signed 64-bit integers.
    BigEndianI64,
}

/// One trace and the cache sizes (in entries) to replay it at.
#[derive(Debug, Clone, Copy)]
pub struct TraceSpec {
    pub name: &'static str,
    pub file: &'static str,
    pub format: KeyFormat,
    pub sizes: &'static [u64],
}

/// Every trace in the shared folder, at the sizes its README uses.
pub const TRACES: &[TraceSpec] = &[
    TraceSpec {
        name: "gli",
        file: "gli.trace.gz",
        format: KeyFormat::DecimalLines,
        sizes: &[500, 1000, 2000],
    },
    TraceSpec {
        name: "multi2",
        file: "multi2.trace.gz",
        format: KeyFormat::DecimalLines,
        sizes: &[600, 1800, 3000],
    },
    TraceSpec {
        name: "sprite",
        file: "sprite.trace.gz",
        format: KeyFormat::DecimalLines,
        sizes: &[100, 400, 1000],
    },
    TraceSpec {
        name: "loop",
        file: "loop.trace.gz",
        format: KeyFormat::DecimalLines,
        sizes: &[256, 512, 1000],
    },
    TraceSpec {
        name: "oltp",
        file: "oltp.trc.bin.gz",
        format: KeyFormat::BigEndianI32,
        sizes: &[1000, 5000, 10000],
    },
    TraceSpec {
        name: "web07",
        file: "web07.trace.xz",
        format: KeyFormat::BigEndianI32,
        sizes: &[300, 1200, 3000],
    },
    TraceSpec {
        name: "web12",
        file: "web12.trace.xz",
        format: KeyFormat::BigEndianI32,
        sizes: &[300, 1200, 3000],
    },
    TraceSpec {
        name: "orm-busy",
        file: "orm-busy.trace.xz",
        format: KeyFormat::BigEndianI32,
        sizes: &[625, 2500, 10000],
    },
    TraceSpec {
        name: "scarab-recs",
        file: "scarab-recs.trace.xz",
        format: KeyFormat::BigEndianI64,
        sizes: &[25_000, 50_000, 100_000],
    },
];

/// `ROOST_TRACES_DIR` if set, else the first `shared/traces` above this crate.
pub fn traces_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("ROOST_TRACES_DIR") {
        return PathBuf::from(dir);
    }
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .map(|dir| dir.join("shared").join("traces"))
        .find(|candidate| candidate.is_dir())
        .unwrap_or_else(|| manifest_dir.join("../../../shared/traces"))
}

/// Decompresses and decodes every key of `spec`'s file in `dir`.
pub fn load_keys(dir: &Path, spec: &TraceSpec) -> io::Result<Vec<u64>> {
    let path = dir.join(spec.file);
    let file = File::open(&path)
        .map_err(|err| io::Error::new(err.kind(), format!("{}: {err}", path.display())))?;
    let reader: Box<dyn Read> = if spec.file.ends_with(".gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(xz2::read::XzDecoder::new(file))
    };
    let mut reader = BufReader::new(reader);
    match spec.format {
        KeyFormat::DecimalLines => decimal_lines(reader),
        KeyFormat::BigEndianI32 => fixed_width::<4>(&mut reader, |b| i32::from_be_bytes(b) as u64),
        KeyFormat::BigEndianI64 => fixed_width::<8>(&mut reader, |b| i64::from_be_bytes(b) as u64),
    }
}

fn decimal_lines(reader: impl BufRead) -> io::Result<Vec<u64>> {
    let mut keys = Vec::new();
    for line in reader.lines() {
        let line = line?;
        let line = line.trim();
        if line.is_empty() || line == "*" {
            continue;
        }
        let key = line.parse::<i64>().map_err(|err| {
            io::Error::new(io::ErrorKind::InvalidData, format!("{line:?}: {err}"))
        })?;
        keys.push(key as u64);
    }
    Ok(keys)
}

fn fixed_width<const N: usize>(
    reader: &mut impl Read,
    decode: impl Fn([u8; N]) -> u64,
) -> io::Result<Vec<u64>> {
    let mut all = Vec::new();
    reader.read_to_end(&mut all)?;
    Ok(all
        .chunks_exact(N)
        .map(|chunk| {
            let mut word = [0u8; N];
            word.copy_from_slice(chunk);
            decode(word)
        })
        .collect())
}

/// Hit ratio in percent of `keys` replayed through one shard of `policy` sized for
/// exactly `size` entries of 8-byte keys and empty values: get, and set on a miss.
pub fn hit_percent(policy: PolicyKind, keys: &[u64], size: u64) -> f64 {
    let shard = Shard::new(
        policy,
        size * entry_weight(8, 0),
        Arc::new(ManualClock::new(0)),
    );
    let mut hits = 0u64;
    for key in keys {
        let key = key.to_be_bytes();
        if shard.get(&key).is_some() {
            hits += 1;
        } else {
            shard
                .set(Bytes::copy_from_slice(&key), Bytes::new(), None)
                .expect("invariant: the shard holds `size` >= 1 entries of this weight");
        }
    }
    100.0 * hits as f64 / keys.len().max(1) as f64
}
