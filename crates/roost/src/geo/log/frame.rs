//! One record's bytes in a segment file:
//! `[len u32][crc32 u32][version u64][append_ms u64][payload: len bytes]`, all
//! little-endian. The CRC covers everything after itself (version, append
//! time and payload), so a flipped bit anywhere in a record but its length is
//! caught; a flipped length is caught by the CRC of the bytes it then frames,
//! or by running past the end of the file. The Seq is not stored: it is the
//! segment's base (its file name) plus the record's index in the segment.

/// Bytes before the payload.
pub const HEADER_BYTES: usize = 24;

/// The largest payload a record can frame (its length is a u32).
pub const MAX_PAYLOAD_BYTES: usize = u32::MAX as usize;

/// A record's header, as read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub len: u32,
    pub crc: u32,
    pub version: u64,
    pub append_ms: u64,
}

impl Header {
    pub fn decode(bytes: &[u8; HEADER_BYTES]) -> Header {
        Header {
            len: u32::from_le_bytes(word(bytes, 0)),
            crc: u32::from_le_bytes(word(bytes, 4)),
            version: u64::from_le_bytes(long(bytes, 8)),
            append_ms: u64::from_le_bytes(long(bytes, 16)),
        }
    }

    /// Whether `payload` is the one this header was written for.
    pub fn checks(&self, payload: &[u8]) -> bool {
        checksum(self.version, self.append_ms, payload) == self.crc
    }

    /// The record's whole size in the file.
    pub fn frame_bytes(&self) -> u64 {
        HEADER_BYTES as u64 + u64::from(self.len)
    }
}

/// Appends one record to `out` and answers its header. The caller checked
/// that `payload` fits (`MAX_PAYLOAD_BYTES`).
pub fn encode(out: &mut Vec<u8>, version: u64, append_ms: u64, payload: &[u8]) -> Header {
    let header = Header {
        len: u32::try_from(payload.len()).unwrap_or(u32::MAX),
        crc: checksum(version, append_ms, payload),
        version,
        append_ms,
    };
    out.extend_from_slice(&header.len.to_le_bytes());
    out.extend_from_slice(&header.crc.to_le_bytes());
    out.extend_from_slice(&version.to_le_bytes());
    out.extend_from_slice(&append_ms.to_le_bytes());
    out.extend_from_slice(payload);
    header
}

fn checksum(version: u64, append_ms: u64, payload: &[u8]) -> u32 {
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(&version.to_le_bytes());
    hasher.update(&append_ms.to_le_bytes());
    hasher.update(payload);
    hasher.finalize()
}

fn word(bytes: &[u8; HEADER_BYTES], at: usize) -> [u8; 4] {
    let mut out = [0; 4];
    out.copy_from_slice(&bytes[at..at + 4]);
    out
}

fn long(bytes: &[u8; HEADER_BYTES], at: usize) -> [u8; 8] {
    let mut out = [0; 8];
    out.copy_from_slice(&bytes[at..at + 8]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_decodes_to_what_was_encoded() {
        let mut out = Vec::new();
        let written = encode(&mut out, 7, 1_000, b"payload");
        let mut head = [0; HEADER_BYTES];
        head.copy_from_slice(&out[..HEADER_BYTES]);
        let header = Header::decode(&head);
        assert_eq!(header, written);
        assert_eq!(header.len, 7);
        assert_eq!(header.version, 7);
        assert_eq!(header.append_ms, 1_000);
        assert_eq!(header.frame_bytes(), out.len() as u64);
        assert!(header.checks(&out[HEADER_BYTES..]));
        assert!(!header.checks(b"payloaD"));
    }

    #[test]
    fn a_zero_filled_header_does_not_check() {
        // What a crash can leave past the last fsync on some file systems.
        let header = Header::decode(&[0; HEADER_BYTES]);
        assert!(!header.checks(&[]));
    }
}
