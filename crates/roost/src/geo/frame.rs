//! The frames of the replication stream (`GET /api/geo/log`), written by
//! `serve.rs` and read by `link.rs`. Big-endian:
//!
//! ```text
//! frame     = len u32 | type u8 | body        (len counts type and body)
//! batch     = type 1, body = { seq u64 | record_len u32 | record }*
//! heartbeat = type 2, body = hlc_now u64 | last_seq u64
//! gap       = type 3, body = first u64 | trimmed_through u64
//! ```
//!
//! A record is `record.rs`'s encoding, as the log holds it. The reader
//! refuses a frame longer than its limit before buffering it, so a broken or
//! hostile peer cannot make it hold more than one frame's worth of bytes.

use bytes::{Buf, BufMut, Bytes, BytesMut};

use super::log::Seq;

const BATCH: u8 = 1;
const HEARTBEAT: u8 = 2;
const GAP: u8 = 3;

/// One frame of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Records in log order, each with its sequence number.
    Batch(Vec<(Seq, Bytes)>),
    /// The peer is alive: its clock and its newest durable sequence number.
    Heartbeat { hlc: u64, last: Seq },
    /// The asked position fell out of the peer's retention: the stream goes
    /// on from `first`; versions up to `trimmed_through` may have been missed.
    Gap { first: Seq, trimmed_through: u64 },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {len} bytes is over the {max}-byte limit")]
    TooLong { len: usize, max: usize },
    #[error("empty frame (no type byte)")]
    Empty,
    #[error("frame type {0} is unknown")]
    UnknownType(u8),
    #[error("{what} frame body of {len} bytes is malformed")]
    Malformed { what: &'static str, len: usize },
}

impl Frame {
    pub fn encode(&self) -> Bytes {
        let mut body = BytesMut::new();
        let kind = match self {
            Frame::Batch(items) => {
                for (seq, record) in items {
                    body.put_u64(*seq);
                    body.put_u32(u32::try_from(record.len()).unwrap_or(u32::MAX));
                    body.put_slice(record);
                }
                BATCH
            }
            Frame::Heartbeat { hlc, last } => {
                body.put_u64(*hlc);
                body.put_u64(*last);
                HEARTBEAT
            }
            Frame::Gap {
                first,
                trimmed_through,
            } => {
                body.put_u64(*first);
                body.put_u64(*trimmed_through);
                GAP
            }
        };
        let mut out = BytesMut::with_capacity(5 + body.len());
        out.put_u32(u32::try_from(body.len() + 1).unwrap_or(u32::MAX));
        out.put_u8(kind);
        out.put_slice(&body);
        out.freeze()
    }

    /// The frame whose type and body are `payload` (after the length).
    fn decode(mut payload: Bytes) -> Result<Frame, FrameError> {
        if payload.is_empty() {
            return Err(FrameError::Empty);
        }
        let kind = payload.get_u8();
        let len = payload.len();
        let pair = |what: &'static str, mut body: Bytes| {
            if body.len() != 16 {
                return Err(FrameError::Malformed { what, len });
            }
            Ok((body.get_u64(), body.get_u64()))
        };
        match kind {
            BATCH => {
                let mut items = Vec::new();
                while !payload.is_empty() {
                    if payload.len() < 12 {
                        return Err(FrameError::Malformed { what: "batch", len });
                    }
                    let seq = payload.get_u64();
                    let record_len = payload.get_u32() as usize;
                    if payload.len() < record_len {
                        return Err(FrameError::Malformed { what: "batch", len });
                    }
                    items.push((seq, payload.split_to(record_len)));
                }
                Ok(Frame::Batch(items))
            }
            HEARTBEAT => {
                let (hlc, last) = pair("heartbeat", payload)?;
                Ok(Frame::Heartbeat { hlc, last })
            }
            GAP => {
                let (first, trimmed_through) = pair("gap", payload)?;
                Ok(Frame::Gap {
                    first,
                    trimmed_through,
                })
            }
            other => Err(FrameError::UnknownType(other)),
        }
    }
}

/// Reassembles frames from the chunks a response body arrives in.
#[derive(Debug)]
pub struct FrameReader {
    buf: BytesMut,
    max_frame: usize,
}

impl FrameReader {
    /// A reader that refuses frames longer than `max_frame` bytes.
    pub fn new(max_frame: usize) -> FrameReader {
        FrameReader {
            buf: BytesMut::new(),
            max_frame,
        }
    }

    pub fn push(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
    }

    /// The next complete frame, `None` until one has fully arrived.
    pub fn next_frame(&mut self) -> Result<Option<Frame>, FrameError> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([self.buf[0], self.buf[1], self.buf[2], self.buf[3]]) as usize;
        if len > self.max_frame {
            return Err(FrameError::TooLong {
                len,
                max: self.max_frame,
            });
        }
        if self.buf.len() < 4 + len {
            self.buf.reserve(4 + len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(4);
        Frame::decode(self.buf.split_to(len).freeze()).map(Some)
    }

    /// Bytes received but not yet a whole frame.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn frames() -> Vec<Frame> {
        vec![
            Frame::Batch(vec![
                (1, Bytes::from_static(b"first record")),
                (2, Bytes::new()),
                (3, Bytes::from_static(b"third")),
            ]),
            Frame::Heartbeat {
                hlc: 0xdead_beef,
                last: 3,
            },
            Frame::Gap {
                first: 40,
                trimmed_through: 12345,
            },
            Frame::Batch(Vec::new()),
        ]
    }

    #[test]
    fn frames_round_trip_whatever_the_chunking() {
        let wire: Vec<u8> = frames().iter().flat_map(|f| f.encode().to_vec()).collect();
        for chunk in [1, 2, 3, 7, wire.len()] {
            let mut reader = FrameReader::new(1 << 20);
            let mut got = Vec::new();
            for piece in wire.chunks(chunk) {
                reader.push(piece);
                while let Some(frame) = reader.next_frame().unwrap() {
                    got.push(frame);
                }
            }
            assert_eq!(got, frames(), "chunks of {chunk}");
            assert_eq!(reader.buffered(), 0);
        }
    }

    #[test]
    fn the_heartbeat_layout_is_the_documented_one() {
        let wire = Frame::Heartbeat { hlc: 7, last: 9 }.encode();
        assert_eq!(&wire[..4], &17u32.to_be_bytes());
        assert_eq!(wire[4], 2);
        assert_eq!(&wire[5..13], &7u64.to_be_bytes());
        assert_eq!(&wire[13..], &9u64.to_be_bytes());
    }

    #[test]
    fn a_frame_over_the_limit_is_refused_before_it_is_buffered() {
        let mut reader = FrameReader::new(100);
        reader.push(&1_000_000u32.to_be_bytes());
        assert_eq!(
            reader.next_frame().unwrap_err(),
            FrameError::TooLong {
                len: 1_000_000,
                max: 100
            }
        );
        assert!(reader.buffered() < 100);
    }

    #[test]
    fn malformed_bodies_are_named() {
        for (payload, expected) in [
            (vec![0, 0, 0, 0], "empty frame"),
            (vec![0, 0, 0, 1, 9], "type 9"),
            (vec![0, 0, 0, 3, 2, 0, 0], "heartbeat"),
            (vec![0, 0, 0, 5, 1, 0, 0, 0, 0], "batch"),
            (
                [
                    vec![0, 0, 0, 13, 1],
                    1u64.to_be_bytes().to_vec(),
                    9u32.to_be_bytes().to_vec(),
                ]
                .concat(),
                "batch",
            ),
        ] {
            let mut reader = FrameReader::new(100);
            reader.push(&payload);
            let err = reader.next_frame().unwrap_err();
            assert!(err.to_string().contains(expected), "{expected}: {err}");
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut reader = FrameReader::new(128);
            reader.push(&bytes);
            while let Ok(Some(_)) = reader.next_frame() {}
        }
    }
}
