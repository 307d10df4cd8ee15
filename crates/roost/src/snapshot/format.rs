//! The snapshot file format, encoding and decoding only (no file system, no
//! store). Little-endian throughout:
//!
//! ```text
//! header  "ROOSTSNP" | version u32 | created_at_ms u64 | crc32 of the 20 bytes before it
//! block   'B' | entries u32 | payload_len u32 | crc32 of (entries, payload_len, payload) | payload
//!         payload = entries x (key_len u32 | value_len u32 | deadline_ms u64 | key | value)
//! footer  'F' | entries u64 | blocks u64 | crc32 of (every block's crc32, entries, blocks)
//! ```
//!
//! A deadline is absolute unix milliseconds, 0 for none. Entries come in the
//! order they were written (hottest first). Every block carries its own
//! checksum, so a reader hands out whole good blocks and stops at the first
//! damaged or missing one: a damaged entry is never handed out. A length is
//! never trusted before it is checked against the bytes left in the file, so a
//! corrupt length cannot make the reader allocate more than the file holds.

use std::io::{self, Read, Write};

use bytes::Bytes;
use roost_store::UnixMillis;

/// The first eight bytes of every snapshot.
pub const MAGIC: &[u8; 8] = b"ROOSTSNP";
/// The format this build writes and the only one it reads.
pub const VERSION: u32 = 1;
/// A block is closed once its payload reaches this size: small enough that a
/// load yields often and a damaged block loses little, large enough that the
/// per-block overhead (13 bytes) and the per-batch write lock are negligible.
pub const BLOCK_TARGET_BYTES: usize = 64 * 1024;

const HEADER_LEN: u64 = 24;
const BLOCK_HEAD_LEN: u64 = 13;
const ENTRY_HEAD_LEN: usize = 16;
const BLOCK_TAG: u8 = b'B';
const FOOTER_TAG: u8 = b'F';

/// One entry as stored: key, value and absolute deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotEntry {
    pub key: Bytes,
    pub value: Bytes,
    pub expires_at: Option<UnixMillis>,
}

/// Why a snapshot (or the rest of it) cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum FormatError {
    #[error("not a roost snapshot (bad magic)")]
    NotASnapshot,
    #[error("snapshot format version {found}, this build reads version {VERSION}")]
    ForeignVersion { found: u32 },
    #[error("the snapshot header is damaged (checksum mismatch)")]
    DamagedHeader,
    #[error("block {block} is damaged ({why})")]
    DamagedBlock { block: u64, why: &'static str },
    #[error("the snapshot is truncated after {blocks} whole blocks (no footer)")]
    Truncated { blocks: u64 },
    #[error("the footer does not match the blocks read ({why})")]
    DamagedFooter { why: &'static str },
    #[error("reading the snapshot: {0}")]
    Io(#[from] io::Error),
}

/// Writes the header, then entries packed into checksummed blocks, then the
/// footer on [`SnapshotWriter::finish`].
#[derive(Debug)]
pub struct SnapshotWriter<W: Write> {
    out: W,
    block: Vec<u8>,
    block_entries: u32,
    entries: u64,
    blocks: u64,
    bytes: u64,
    footer_crc: crc32fast::Hasher,
}

impl<W: Write> SnapshotWriter<W> {
    /// Writes the header.
    pub fn new(mut out: W, created_at_ms: UnixMillis) -> io::Result<SnapshotWriter<W>> {
        let mut header = Vec::with_capacity(HEADER_LEN as usize);
        header.extend_from_slice(MAGIC);
        header.extend_from_slice(&VERSION.to_le_bytes());
        header.extend_from_slice(&created_at_ms.to_le_bytes());
        let crc = crc32fast::hash(&header);
        header.extend_from_slice(&crc.to_le_bytes());
        out.write_all(&header)?;
        Ok(SnapshotWriter {
            out,
            block: Vec::with_capacity(BLOCK_TARGET_BYTES + 1024),
            block_entries: 0,
            entries: 0,
            blocks: 0,
            bytes: HEADER_LEN,
            footer_crc: crc32fast::Hasher::new(),
        })
    }

    /// Appends one entry; false (and nothing written) when a length does not
    /// fit the format's 32 bits, which no entry within Roost's limits reaches.
    pub fn push(
        &mut self,
        key: &[u8],
        value: &[u8],
        expires_at: Option<UnixMillis>,
    ) -> io::Result<bool> {
        let (Ok(key_len), Ok(value_len)) = (u32::try_from(key.len()), u32::try_from(value.len()))
        else {
            return Ok(false);
        };
        self.block.extend_from_slice(&key_len.to_le_bytes());
        self.block.extend_from_slice(&value_len.to_le_bytes());
        self.block
            .extend_from_slice(&expires_at.unwrap_or(0).to_le_bytes());
        self.block.extend_from_slice(key);
        self.block.extend_from_slice(value);
        self.block_entries += 1;
        self.entries += 1;
        if self.block.len() >= BLOCK_TARGET_BYTES || self.block_entries == u32::MAX {
            self.close_block()?;
        }
        Ok(true)
    }

    /// Entries pushed so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Writes the last block and the footer; answers the entries and the
    /// file's total bytes, and hands back the output (to be synced).
    pub fn finish(mut self) -> io::Result<(u64, u64, W)> {
        self.close_block()?;
        let mut footer = Vec::with_capacity(21);
        footer.push(FOOTER_TAG);
        footer.extend_from_slice(&self.entries.to_le_bytes());
        footer.extend_from_slice(&self.blocks.to_le_bytes());
        self.footer_crc.update(&footer[1..]);
        footer.extend_from_slice(&self.footer_crc.finalize().to_le_bytes());
        self.out.write_all(&footer)?;
        self.out.flush()?;
        let bytes = self.bytes + footer.len() as u64;
        Ok((self.entries, bytes, self.out))
    }

    fn close_block(&mut self) -> io::Result<()> {
        if self.block_entries == 0 {
            return Ok(());
        }
        let payload_len = u32::try_from(self.block.len())
            .map_err(|_| io::Error::other("a snapshot block over 4 GiB"))?;
        let mut head = [0u8; BLOCK_HEAD_LEN as usize];
        head[0] = BLOCK_TAG;
        head[1..5].copy_from_slice(&self.block_entries.to_le_bytes());
        head[5..9].copy_from_slice(&payload_len.to_le_bytes());
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head[1..9]);
        crc.update(&self.block);
        let crc = crc.finalize();
        head[9..13].copy_from_slice(&crc.to_le_bytes());
        self.footer_crc.update(&crc.to_le_bytes());
        self.out.write_all(&head)?;
        self.out.write_all(&self.block)?;
        self.bytes += BLOCK_HEAD_LEN + self.block.len() as u64;
        self.blocks += 1;
        self.block.clear();
        self.block_entries = 0;
        Ok(())
    }
}

/// Reads a snapshot block by block, checking each before handing it out.
#[derive(Debug)]
pub struct SnapshotReader<R: Read> {
    input: R,
    /// Bytes of the file not read yet: the bound every length is checked against.
    left: u64,
    blocks: u64,
    entries: u64,
    footer_crc: crc32fast::Hasher,
    created_at_ms: UnixMillis,
}

impl<R: Read> SnapshotReader<R> {
    /// Reads and checks the header of a file of `len` bytes.
    pub fn new(mut input: R, len: u64) -> Result<SnapshotReader<R>, FormatError> {
        if len < HEADER_LEN {
            return Err(FormatError::NotASnapshot);
        }
        let mut header = [0u8; HEADER_LEN as usize];
        input.read_exact(&mut header)?;
        if &header[..8] != MAGIC {
            return Err(FormatError::NotASnapshot);
        }
        let crc = u32_at(&header, 20);
        if crc32fast::hash(&header[..20]) != crc {
            return Err(FormatError::DamagedHeader);
        }
        let version = u32_at(&header, 8);
        if version != VERSION {
            return Err(FormatError::ForeignVersion { found: version });
        }
        Ok(SnapshotReader {
            input,
            left: len - HEADER_LEN,
            blocks: 0,
            entries: 0,
            footer_crc: crc32fast::Hasher::new(),
            created_at_ms: u64_at(&header, 12),
        })
    }

    /// When the snapshot was written (unix ms).
    pub fn created_at_ms(&self) -> UnixMillis {
        self.created_at_ms
    }

    /// The next good block's entries; `Ok(None)` at a footer that matches
    /// every block read. An error ends the reading: the blocks before it were good.
    pub fn next_block(&mut self) -> Result<Option<Vec<SnapshotEntry>>, FormatError> {
        let truncated = FormatError::Truncated {
            blocks: self.blocks,
        };
        let mut tag = [0u8; 1];
        if self.left < 1 {
            return Err(truncated);
        }
        self.input.read_exact(&mut tag)?;
        self.left -= 1;
        match tag[0] {
            BLOCK_TAG => self.read_block().map(Some),
            FOOTER_TAG => self.read_footer().map(|()| None),
            _ => Err(FormatError::DamagedBlock {
                block: self.blocks,
                why: "unknown tag",
            }),
        }
    }

    fn read_block(&mut self) -> Result<Vec<SnapshotEntry>, FormatError> {
        let block = self.blocks;
        let mut head = [0u8; 12];
        self.take(&mut head)?;
        let (count, payload_len) = (u32_at(&head, 0), u32_at(&head, 4));
        if u64::from(payload_len) > self.left {
            return Err(FormatError::Truncated { blocks: block });
        }
        let mut payload = vec![0u8; payload_len as usize];
        self.take(&mut payload)?;
        let mut crc = crc32fast::Hasher::new();
        crc.update(&head[..8]);
        crc.update(&payload);
        let crc_read = u32_at(&head, 8);
        if crc.finalize() != crc_read {
            return Err(FormatError::DamagedBlock {
                block,
                why: "checksum mismatch",
            });
        }
        let entries = decode_payload(&payload, count).ok_or(FormatError::DamagedBlock {
            block,
            why: "entry lengths do not add up",
        })?;
        self.footer_crc.update(&crc_read.to_le_bytes());
        self.blocks += 1;
        self.entries += u64::from(count);
        Ok(entries)
    }

    fn read_footer(&mut self) -> Result<(), FormatError> {
        let mut footer = [0u8; 20];
        self.take(&mut footer)?;
        if u64_at(&footer, 0) != self.entries || u64_at(&footer, 8) != self.blocks {
            return Err(FormatError::DamagedFooter {
                why: "entry or block count",
            });
        }
        let mut crc = self.footer_crc.clone();
        crc.update(&footer[..16]);
        if crc.finalize() != u32_at(&footer, 16) {
            return Err(FormatError::DamagedFooter { why: "checksum" });
        }
        Ok(())
    }

    /// Reads exactly `buf.len()` bytes that the file is known to still hold.
    fn take(&mut self, buf: &mut [u8]) -> Result<(), FormatError> {
        if (buf.len() as u64) > self.left {
            return Err(FormatError::Truncated {
                blocks: self.blocks,
            });
        }
        match self.input.read_exact(buf) {
            Ok(()) => {
                self.left -= buf.len() as u64;
                Ok(())
            }
            // The file shrank while it was read.
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Err(FormatError::Truncated {
                blocks: self.blocks,
            }),
            Err(e) => Err(e.into()),
        }
    }
}

/// The entries of a checked payload; `None` when the lengths inside do not
/// add up to exactly `count` entries. Each key and value is copied out, so a
/// restored entry never keeps its whole block alive.
fn decode_payload(payload: &[u8], count: u32) -> Option<Vec<SnapshotEntry>> {
    let mut entries = Vec::with_capacity((count as usize).min(payload.len() / ENTRY_HEAD_LEN));
    let mut at = 0usize;
    for _ in 0..count {
        let head = payload.get(at..at + ENTRY_HEAD_LEN)?;
        let key_len = u32_at(head, 0) as usize;
        let value_len = u32_at(head, 4) as usize;
        let deadline = u64_at(head, 8);
        at += ENTRY_HEAD_LEN;
        let key = payload.get(at..at.checked_add(key_len)?)?;
        at += key_len;
        let value = payload.get(at..at.checked_add(value_len)?)?;
        at += value_len;
        entries.push(SnapshotEntry {
            key: Bytes::copy_from_slice(key),
            value: Bytes::copy_from_slice(value),
            expires_at: (deadline != 0).then_some(deadline),
        });
    }
    (at == payload.len()).then_some(entries)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut word = [0u8; 4];
    word.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(word)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut word = [0u8; 8];
    word.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn encoded(entries: usize, value_len: usize) -> Vec<u8> {
        let mut writer = SnapshotWriter::new(Vec::new(), 42).unwrap();
        for i in 0..entries {
            let key = format!("key:{i}");
            let deadline = (i % 2 == 0).then_some(1_000 + i as u64);
            assert!(writer
                .push(key.as_bytes(), &vec![b'v'; value_len], deadline)
                .unwrap());
        }
        let (count, bytes, out) = writer.finish().unwrap();
        assert_eq!(count, entries as u64);
        assert_eq!(bytes, out.len() as u64);
        out
    }

    /// Every entry until the first error (or the footer), and how it ended.
    fn read_all(file: &[u8]) -> (Vec<SnapshotEntry>, Result<(), FormatError>) {
        let mut reader = match SnapshotReader::new(file, file.len() as u64) {
            Ok(r) => r,
            Err(e) => return (Vec::new(), Err(e)),
        };
        let mut all = Vec::new();
        loop {
            match reader.next_block() {
                Ok(Some(block)) => all.extend(block),
                Ok(None) => return (all, Ok(())),
                Err(e) => return (all, Err(e)),
            }
        }
    }

    #[test]
    fn entries_round_trip_in_order_across_blocks() {
        let file = encoded(5_000, 100);
        let (entries, end) = read_all(&file);
        end.unwrap();
        assert_eq!(entries.len(), 5_000);
        assert_eq!(entries[7].key, Bytes::from("key:7"));
        assert_eq!(entries[7].expires_at, None);
        assert_eq!(entries[8].expires_at, Some(1_008));
        assert_eq!(entries[4_999].value.len(), 100);
        let reader = SnapshotReader::new(&file[..], file.len() as u64).unwrap();
        assert_eq!(reader.created_at_ms(), 42);
    }

    #[test]
    fn an_empty_snapshot_is_a_header_and_a_footer() {
        let file = encoded(0, 0);
        assert_eq!(file.len(), 24 + 21);
        let (entries, end) = read_all(&file);
        end.unwrap();
        assert!(entries.is_empty());
    }

    #[test]
    fn a_truncated_file_yields_its_whole_blocks_only() {
        let file = encoded(5_000, 100);
        for cut in [file.len() - 1, file.len() - 21, file.len() / 2, 30, 24] {
            let (entries, end) = read_all(&file[..cut]);
            assert!(
                matches!(end, Err(FormatError::Truncated { .. })),
                "cut at {cut}: {end:?}"
            );
            assert!(entries.len() < 5_000 || cut >= file.len() - 21);
            for (i, entry) in entries.iter().enumerate() {
                assert_eq!(entry.key, Bytes::from(format!("key:{i}")));
            }
        }
        assert!(matches!(
            read_all(&file[..10]).1,
            Err(FormatError::NotASnapshot)
        ));
    }

    #[test]
    fn any_flipped_byte_is_caught_and_no_damaged_entry_is_handed_out() {
        let file = encoded(300, 700);
        let good = read_all(&file).0;
        // Every byte of the file in turn (a stride keeps the test fast).
        for at in (0..file.len()).step_by(7) {
            let mut damaged = file.clone();
            damaged[at] ^= 0x10;
            let (entries, end) = read_all(&damaged);
            assert!(end.is_err(), "flip at {at} went unnoticed");
            assert_eq!(entries, good[..entries.len()], "flip at {at}");
        }
    }

    #[test]
    fn another_version_is_refused_by_name() {
        let mut file = encoded(10, 10);
        file[8..12].copy_from_slice(&2u32.to_le_bytes());
        let crc = crc32fast::hash(&file[..20]);
        file[20..24].copy_from_slice(&crc.to_le_bytes());
        let (entries, end) = read_all(&file);
        assert!(entries.is_empty());
        let err = end.unwrap_err();
        assert!(matches!(err, FormatError::ForeignVersion { found: 2 }));
        assert!(err.to_string().contains("version 2"), "{err}");
    }

    #[test]
    fn a_huge_length_is_not_trusted() {
        let mut file = encoded(10, 10);
        // The first block's payload length, claimed to be 4 GiB.
        file[24 + 5..24 + 9].copy_from_slice(&u32::MAX.to_le_bytes());
        let (entries, end) = read_all(&file);
        assert!(entries.is_empty());
        assert!(matches!(end, Err(FormatError::Truncated { blocks: 0 })));
    }
}
