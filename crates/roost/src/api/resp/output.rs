//! A connection's replies on their way to the socket.
//!
//! Small replies are encoded into one buffer, as before. A large value (GET,
//! MGET, GETDEL…) is not copied: its bulk header goes into the buffer and the
//! value itself is queued as the shared [`Bytes`] the store holds, so a reply
//! of a thousand 1 MiB values costs a thousand reference counts, not a GiB of
//! copies. [`Output::len`] counts both, so the limits on what a connection may
//! hold unwritten (`writer.rs`) see the whole reply either way.
//!
//! Nothing here does I/O; `writer.rs` takes the parts out in order.

use std::collections::VecDeque;
use std::io::IoSlice;
use std::ops::{Deref, DerefMut};

use bytes::{Buf, Bytes, BytesMut};
use roost_resp::write_bulk_header;

/// Values at least this long are queued by reference instead of copied.
const SHARE_AT: usize = 16 * 1024;
/// Most parts handed to one vectored write.
const MAX_SLICES: usize = 64;

/// Replies not yet written: queued parts, then the buffer being encoded into.
/// Dereferences to that buffer, so every `roost_resp::write_*` encoder writes
/// straight into it.
#[derive(Debug, Default)]
pub struct Output {
    queued: VecDeque<Bytes>,
    queued_len: usize,
    buf: BytesMut,
}

impl Output {
    pub fn with_capacity(capacity: usize) -> Output {
        Output {
            buf: BytesMut::with_capacity(capacity),
            ..Output::default()
        }
    }

    /// Bytes of replies held, copied or shared.
    pub fn len(&self) -> usize {
        self.queued_len + self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends a bulk string reply holding `value`; shares it when it is large.
    pub fn bulk(&mut self, value: &Bytes) {
        if value.len() < SHARE_AT {
            roost_resp::write_bulk(&mut self.buf, value);
            return;
        }
        write_bulk_header(&mut self.buf, value.len());
        self.seal();
        self.push(value.clone());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// Appends everything `other` holds, in order.
    pub fn append(&mut self, mut other: Output) {
        if other.queued.is_empty() {
            self.buf.extend_from_slice(&other.buf);
            return;
        }
        self.seal();
        for part in other.queued.drain(..) {
            self.push(part);
        }
        self.buf = other.buf;
    }

    /// Everything held, when it is one contiguous buffer (nothing queued): the
    /// common case, written without building a slice list.
    pub fn contiguous(&self) -> Option<&[u8]> {
        self.queued.is_empty().then_some(&self.buf[..])
    }

    /// The next parts to write, oldest first.
    pub fn slices(&self) -> Vec<IoSlice<'_>> {
        self.queued
            .iter()
            .map(|part| IoSlice::new(part))
            .chain(std::iter::once(IoSlice::new(&self.buf)))
            .filter(|slice| !slice.is_empty())
            .take(MAX_SLICES)
            .collect()
    }

    /// Drops the first `n` bytes, which were written.
    pub fn advance(&mut self, mut n: usize) {
        while n > 0 {
            let Some(front) = self.queued.front_mut() else {
                self.buf.advance(n);
                return;
            };
            let taken = n.min(front.len());
            front.advance(taken);
            self.queued_len -= taken;
            n -= taken;
            if front.is_empty() {
                self.queued.pop_front();
            }
        }
    }

    /// Empties the output; a buffer that grew past `keep` bytes is given back.
    pub fn clear(&mut self, keep: usize) {
        self.queued.clear();
        self.queued_len = 0;
        self.buf.clear();
        if self.buf.capacity() > keep {
            self.buf = BytesMut::with_capacity(keep.min(16 * 1024));
        }
    }

    /// Moves what the buffer holds to the queue, so a shared part can follow it.
    fn seal(&mut self) {
        if !self.buf.is_empty() {
            let encoded = self.buf.split().freeze();
            self.push(encoded);
        }
    }

    fn push(&mut self, part: Bytes) {
        self.queued_len += part.len();
        self.queued.push_back(part);
    }
}

impl Deref for Output {
    type Target = BytesMut;

    fn deref(&self) -> &BytesMut {
        &self.buf
    }
}

impl DerefMut for Output {
    fn deref_mut(&mut self) -> &mut BytesMut {
        &mut self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a socket would receive: every part, in order.
    fn drain(out: &mut Output, chunk: usize) -> Vec<u8> {
        let mut wire = Vec::new();
        while !out.is_empty() {
            let mut room = chunk;
            for slice in out.slices() {
                let n = slice.len().min(room);
                wire.extend_from_slice(&slice[..n]);
                room -= n;
            }
            out.advance(chunk.min(out.len()));
        }
        wire
    }

    #[test]
    fn large_values_are_shared_and_the_wire_is_what_copying_would_send() {
        let big = Bytes::from(vec![b'x'; SHARE_AT + 3]);
        let mut out = Output::default();
        roost_resp::write_array_header(&mut out, 3);
        out.bulk(&Bytes::from_static(b"small"));
        out.bulk(&big);
        out.bulk(&big);
        assert_eq!(out.queued.len(), 4, "header run, value, header, value");
        assert_eq!(out.queued[1].as_ptr(), big.as_ptr(), "not copied");

        let mut copied = BytesMut::new();
        roost_resp::write_array_header(&mut copied, 3);
        for value in [&b"small"[..], &big, &big] {
            roost_resp::write_bulk(&mut copied, value);
        }
        assert_eq!(out.len(), copied.len());
        for chunk in [1, 7, 4096, usize::MAX] {
            let mut again = Output::default();
            roost_resp::write_array_header(&mut again, 3);
            again.bulk(&Bytes::from_static(b"small"));
            again.bulk(&big);
            again.bulk(&big);
            assert_eq!(
                drain(&mut again, chunk),
                copied,
                "written {chunk} at a time"
            );
        }
    }

    #[test]
    fn appending_keeps_order_and_length() {
        let big = Bytes::from(vec![b'y'; SHARE_AT]);
        let mut first = Output::default();
        first.extend_from_slice(b"+OK\r\n");
        let mut second = Output::default();
        second.bulk(&big);
        second.extend_from_slice(b":1\r\n");
        let total = first.len() + second.len();
        first.append(second);
        assert_eq!(first.len(), total);
        let wire = drain(&mut first, 1000);
        assert!(wire.starts_with(b"+OK\r\n$16384\r\nyyy"));
        assert!(wire.ends_with(b"yy\r\n:1\r\n"));
    }
}
