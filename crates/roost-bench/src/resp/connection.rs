//! `RespConnection`: one pipelined RESP connection with reused read and write buffers.
//!
//! Commands are queued into the write buffer (`queue_*`), sent in one write (`send`),
//! and their replies read back in order (`receive`), each classified by `scan_reply`
//! without building a frame. After the first batch has sized the buffers, a batch
//! allocates nothing. `command` is the slow, general path (one command, a full
//! `Frame`) for setup calls such as `DBSIZE` or `FLUSHALL`.

use std::time::Instant;

use bytes::{Buf, BytesMut};
use roost_resp::{parse_frame, write_array_header, write_bulk, write_command, Frame, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::scan::{scan_reply, Reply};
use crate::load::target::TargetError;
use crate::load::workload::KeyFormat;

/// Bytes asked of the socket per read; a batch of 64 replies of 100-byte values fits.
const READ_CHUNK: usize = 64 * 1024;

/// A connection to a RESP server (redis-server, Roost's RESP port, nutcracker).
pub struct RespConnection {
    stream: TcpStream,
    read_buf: BytesMut,
    write_buf: BytesMut,
    key: Vec<u8>,
}

impl RespConnection {
    /// Connects to `address` (`host:port`) with Nagle off.
    pub async fn connect(address: &str) -> Result<Self, TargetError> {
        let stream = TcpStream::connect(address).await.map_err(|error| {
            TargetError::Transport(format!("cannot connect to {address}: {error}"))
        })?;
        Self::from_stream(stream)
    }

    /// Wraps a connected stream, e.g. one connected on another thread's runtime.
    pub fn from_stream(stream: TcpStream) -> Result<Self, TargetError> {
        stream.set_nodelay(true).map_err(transport)?;
        Ok(Self {
            stream,
            read_buf: BytesMut::with_capacity(READ_CHUNK),
            write_buf: BytesMut::with_capacity(READ_CHUNK),
            key: Vec::with_capacity(64),
        })
    }

    /// Queues `GET <key>`.
    pub fn queue_get(&mut self, keys: &KeyFormat, index: u64) {
        keys.write_key(index, &mut self.key);
        write_command(&mut self.write_buf, &[b"GET", &self.key]);
    }

    /// Queues `SET <key> <value>`, with `EX <ttl>` when given.
    pub fn queue_set(&mut self, keys: &KeyFormat, index: u64, value: &[u8], ttl: Option<u64>) {
        keys.write_key(index, &mut self.key);
        match ttl {
            Some(seconds) => {
                let mut text = itoa::Buffer::new();
                let seconds = text.format(seconds).as_bytes();
                write_command(
                    &mut self.write_buf,
                    &[b"SET", &self.key, value, b"EX", seconds],
                );
            }
            None => write_command(&mut self.write_buf, &[b"SET", &self.key, value]),
        }
    }

    /// Queues `DEL <key>`.
    pub fn queue_delete(&mut self, keys: &KeyFormat, index: u64) {
        keys.write_key(index, &mut self.key);
        write_command(&mut self.write_buf, &[b"DEL", &self.key]);
    }

    /// Queues `MGET` of `count` keys drawn by `next_index`.
    pub fn queue_mget(
        &mut self,
        keys: &KeyFormat,
        count: usize,
        mut next_index: impl FnMut() -> u64,
    ) {
        write_array_header(&mut self.write_buf, count + 1);
        write_bulk(&mut self.write_buf, b"MGET");
        for _ in 0..count {
            keys.write_key(next_index(), &mut self.key);
            write_bulk(&mut self.write_buf, &self.key);
        }
    }

    /// Queues any command.
    pub fn queue_command(&mut self, args: &[&[u8]]) {
        write_command(&mut self.write_buf, args);
    }

    /// Writes every queued command in one go.
    pub async fn send(&mut self) -> Result<(), TargetError> {
        self.stream
            .write_all(&self.write_buf)
            .await
            .map_err(transport)?;
        self.write_buf.clear();
        Ok(())
    }

    /// Reads exactly `count` replies, in order. `on_reply` gets each reply's kind, its
    /// raw bytes, and when the read that completed it returned.
    pub async fn receive(
        &mut self,
        count: usize,
        mut on_reply: impl FnMut(Reply, &[u8], Instant),
    ) -> Result<(), TargetError> {
        let mut received = 0;
        let mut arrived = Instant::now();
        loop {
            while received < count {
                let scanned = scan_reply(&self.read_buf)
                    .map_err(|error| TargetError::Protocol(error.to_string()))?;
                let Some((reply, len)) = scanned else {
                    break;
                };
                on_reply(reply, &self.read_buf[..len], arrived);
                self.read_buf.advance(len);
                received += 1;
            }
            if received == count {
                return Ok(());
            }
            self.fill_read_buf().await?;
            arrived = Instant::now();
        }
    }

    /// Sends one command and reads its whole reply as a `Frame`.
    pub async fn command(&mut self, args: &[&[u8]]) -> Result<Frame, TargetError> {
        self.queue_command(args);
        self.send().await?;
        loop {
            let parsed = parse_frame(&mut self.read_buf, &Limits::default())
                .map_err(|error| TargetError::Protocol(error.to_string()))?;
            if let Some(frame) = parsed {
                return Ok(frame);
            }
            self.fill_read_buf().await?;
        }
    }

    async fn fill_read_buf(&mut self) -> Result<(), TargetError> {
        self.read_buf.reserve(READ_CHUNK);
        let read = self
            .stream
            .read_buf(&mut self.read_buf)
            .await
            .map_err(transport)?;
        if read == 0 {
            return Err(TargetError::Transport(
                "server closed the connection".into(),
            ));
        }
        Ok(())
    }
}

/// The text of an error reply's raw bytes (`-ERR …\r\n` → `ERR …`).
pub fn error_text(raw: &[u8]) -> String {
    let text = raw.strip_prefix(b"-").unwrap_or(raw);
    let text = text.strip_suffix(b"\r\n").unwrap_or(text);
    String::from_utf8_lossy(text).into_owned()
}

fn transport(error: std::io::Error) -> TargetError {
    TargetError::Transport(error.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_drops_the_marker_and_line_end() {
        assert_eq!(
            error_text(b"-ERR unknown command\r\n"),
            "ERR unknown command"
        );
        assert_eq!(error_text(b"plain"), "plain");
    }
}
