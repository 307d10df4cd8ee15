//! Decodes the key-only trace files in `shared/traces` into a sequence of keys.
//!
//! Owns the three on-disk formats (LIRS text, big-endian int32, big-endian int64) and
//! their compression (gzip or xz). It knows nothing about caches or hit ratios.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;
use xz2::read::XzDecoder;

/// How a trace file is compressed on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    Gzip,
    Xz,
}

/// How the decompressed bytes encode one request per key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyEncoding {
    /// One decimal key per line; empty lines and lines holding `*` are skipped.
    LirsText,
    /// Java `DataInputStream.readInt`: big-endian signed 32-bit.
    Int32BigEndian,
    /// Java `DataInputStream.readLong`: big-endian signed 64-bit.
    Int64BigEndian,
}

/// A decoding failure, naming the file it happened in.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("cannot read trace {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("trace {path} line {line}: {text:?} is not a decimal key")]
    BadLine {
        path: PathBuf,
        line: usize,
        text: String,
    },
    #[error("trace {path} ends with {trailing} bytes, not a whole {width}-byte key")]
    Truncated {
        path: PathBuf,
        trailing: usize,
        width: usize,
    },
}

/// Reads the whole trace at `path` into keys, in request order.
///
/// Signed keys are reinterpreted as `u64` bit patterns (sign-extended), which keeps
/// distinct keys distinct; only identity matters for replay.
pub fn decode_trace(
    path: &Path,
    compression: Compression,
    encoding: KeyEncoding,
) -> Result<Vec<u64>, DecodeError> {
    let io_error = |source| DecodeError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_error)?;
    let reader: Box<dyn Read> = match compression {
        Compression::Gzip => Box::new(GzDecoder::new(BufReader::new(file))),
        Compression::Xz => Box::new(XzDecoder::new(BufReader::new(file))),
    };
    let mut reader = BufReader::with_capacity(1 << 16, reader);
    match encoding {
        KeyEncoding::LirsText => decode_lirs(&mut reader, path),
        KeyEncoding::Int32BigEndian => decode_fixed::<4>(&mut reader, path, |bytes| {
            i64::from(i32::from_be_bytes(bytes)) as u64
        }),
        KeyEncoding::Int64BigEndian => {
            decode_fixed::<8>(&mut reader, path, |bytes| i64::from_be_bytes(bytes) as u64)
        }
    }
}

fn decode_lirs(reader: &mut impl BufRead, path: &Path) -> Result<Vec<u64>, DecodeError> {
    let mut keys = Vec::new();
    for (index, line) in reader.lines().enumerate() {
        let line = line.map_err(|source| DecodeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let text = line.trim();
        if text.is_empty() || text == "*" {
            continue;
        }
        let key: i64 = text.parse().map_err(|_| DecodeError::BadLine {
            path: path.to_path_buf(),
            line: index + 1,
            text: text.to_owned(),
        })?;
        keys.push(key as u64);
    }
    Ok(keys)
}

fn decode_fixed<const WIDTH: usize>(
    reader: &mut impl Read,
    path: &Path,
    to_key: impl Fn([u8; WIDTH]) -> u64,
) -> Result<Vec<u64>, DecodeError> {
    let mut bytes = Vec::new();
    reader
        .read_to_end(&mut bytes)
        .map_err(|source| DecodeError::Io {
            path: path.to_path_buf(),
            source,
        })?;
    let chunks = bytes.chunks_exact(WIDTH);
    if !chunks.remainder().is_empty() {
        return Err(DecodeError::Truncated {
            path: path.to_path_buf(),
            trailing: chunks.remainder().len(),
            width: WIDTH,
        });
    }
    Ok(chunks
        .map(|chunk| {
            let mut key = [0u8; WIDTH];
            key.copy_from_slice(chunk);
            to_key(key)
        })
        .collect())
}

/// Maps keys to dense ids `0..unique` in order of first appearance, so simulators can
/// index plain vectors instead of hashing on every request.
pub fn dense_ids(keys: &[u64]) -> (Vec<u32>, usize) {
    let mut ids = std::collections::HashMap::with_capacity(keys.len() / 4);
    let dense = keys
        .iter()
        .map(|key| {
            let next = ids.len() as u32;
            *ids.entry(*key).or_insert(next)
        })
        .collect();
    (dense, ids.len())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    fn write_temp(name: &str, bytes: &[u8]) -> PathBuf {
        let path = std::env::temp_dir().join(format!("roost-bench-{}-{name}", std::process::id()));
        std::fs::write(&path, bytes).unwrap();
        path
    }

    #[test]
    fn lirs_text_skips_blank_and_star_lines() {
        let path = write_temp("lirs.gz", &gzip(b"5\n\n*\n 7 \n5\n-1\n"));
        let keys = decode_trace(&path, Compression::Gzip, KeyEncoding::LirsText).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(keys, vec![5, 7, 5, u64::MAX]);
    }

    #[test]
    fn lirs_text_rejects_garbage_with_line_number() {
        let path = write_temp("bad.gz", &gzip(b"1\nabc\n"));
        let error = decode_trace(&path, Compression::Gzip, KeyEncoding::LirsText).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert!(
            matches!(error, DecodeError::BadLine { line: 2, .. }),
            "{error}"
        );
    }

    #[test]
    fn int32_is_big_endian_and_signed() {
        let raw = [0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe];
        let path = write_temp("i32.gz", &gzip(&raw));
        let keys = decode_trace(&path, Compression::Gzip, KeyEncoding::Int32BigEndian).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(keys, vec![0x0102, (-2i64) as u64]);
    }

    #[test]
    fn truncated_fixed_width_is_an_error() {
        let path = write_temp("short.gz", &gzip(&[0, 0, 0, 1, 9]));
        let error = decode_trace(&path, Compression::Gzip, KeyEncoding::Int32BigEndian);
        std::fs::remove_file(&path).unwrap();
        assert!(matches!(
            error,
            Err(DecodeError::Truncated { trailing: 1, .. })
        ));
    }

    #[test]
    fn dense_ids_follow_first_appearance() {
        let (ids, unique) = dense_ids(&[40, 7, 40, 9, 7]);
        assert_eq!(ids, vec![0, 1, 0, 2, 1]);
        assert_eq!(unique, 3);
    }
}
