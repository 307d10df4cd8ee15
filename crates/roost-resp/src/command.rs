//! `CommandParser`: the server side. Takes one client command at a time off the front
//! of a connection's read buffer, following Redis's `processMultibulkBuffer` and
//! `processInlineBuffer` (same limits, same error texts, same leniency).
//!
//! Zero copy: once a multibulk command is complete, each argument is split off the
//! buffer with `split_to(..).freeze()` (one reference-count increment, no copy) and the
//! framing between them is skipped. Nothing is consumed until a command is complete,
//! and a resumable cursor remembers how far the command at the front has been parsed,
//! so a command arriving in many reads costs O(new bytes) per call, never a re-scan.

use std::ops::Range;

use bytes::{Buf, Bytes, BytesMut};

use crate::inline::split_inline;
use crate::number::parse_decimal;
use crate::{Limits, ProtocolError};

/// Arguments whose capacity is reserved up front, whatever count a command declares:
/// a 10-byte `*1048576\r\n` must not make the parser allocate megabytes.
const MAX_RESERVED_ARGS: usize = 1024;

/// Incremental parser for client commands: multibulk arrays of bulk strings, or
/// inline lines. One per connection; it keeps where it got to in the command at the
/// front of the buffer between calls, so it must always be given the same buffer, with
/// new bytes only appended.
#[derive(Debug)]
pub struct CommandParser {
    limits: Limits,
    cursor: Cursor,
    /// Where each argument of the multibulk command being parsed lies in the buffer;
    /// kept between commands so steady-state parsing does not allocate for it.
    arg_ranges: Vec<Range<usize>>,
}

/// How far the command at the front of the buffer has been parsed.
#[derive(Debug, Default, Clone, Copy)]
struct Cursor {
    /// Offset of the first byte not yet parsed.
    pos: usize,
    /// How far the search for the end of the current line has got, so a line that
    /// arrives a byte at a time is scanned once.
    scanned: usize,
    /// Arguments of a multibulk command still to read; `None` before its count line.
    remaining: Option<usize>,
    /// Length of the bulk string whose `$` header is read but whose data is not all here.
    bulk_len: Option<usize>,
}

/// What one attempt at the front of the buffer came to.
enum Step {
    /// The command is incomplete; nothing was consumed.
    NeedMore,
    /// This many bytes held no command (an empty line, `*0`, `*-1`) and can go.
    Skip(usize),
    Command(Vec<Bytes>),
}

impl CommandParser {
    pub fn new(limits: Limits) -> Self {
        CommandParser {
            limits,
            cursor: Cursor::default(),
            arg_ranges: Vec::new(),
        }
    }

    /// Takes one complete command off the front of `buf`.
    ///
    /// - `Ok(Some(args))`: a command of at least one argument, its name first, now
    ///   consumed from `buf`.
    /// - `Ok(None)`: the command at the front is incomplete; its bytes stay in `buf`
    ///   (only empty lines and empty multibulks before it may have been dropped).
    ///   Call again once more bytes are appended.
    /// - `Err`: the input is malformed or over a limit; the connection should get
    ///   `-ERR <error>` and be closed. Errors come as soon as a declared length is
    ///   over its limit, without waiting for the bytes.
    pub fn parse(&mut self, buf: &mut BytesMut) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        if buf.len() < self.cursor.pos {
            // Not the buffer the cursor was built on; start this command over.
            self.reset();
        }
        // Every skip consumes at least one byte, so this ends within buf.len() rounds.
        loop {
            let Some(&first) = buf.first() else {
                return Ok(None);
            };
            let step = if first == b'*' {
                self.parse_multibulk(buf)
            } else {
                self.parse_inline(buf)
            };
            match step {
                Ok(Step::NeedMore) => return Ok(None),
                Ok(Step::Skip(len)) => {
                    self.reset();
                    buf.advance(len);
                }
                Ok(Step::Command(args)) => {
                    self.reset();
                    return Ok(Some(args));
                }
                Err(error) => {
                    self.reset();
                    return Err(error);
                }
            }
        }
    }

    fn reset(&mut self) {
        self.cursor = Cursor::default();
        self.arg_ranges.clear();
        if self.arg_ranges.capacity() > MAX_RESERVED_ARGS {
            // Do not keep a huge MSET's worth of ranges for the connection's lifetime.
            self.arg_ranges = Vec::new();
        }
    }

    /// An inline command: one line, split with Redis's quoting rules.
    fn parse_inline(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        let Some(newline) = self.find_line_end(buf, b'\n') else {
            if buf.len() > self.limits.max_inline_len {
                return Err(ProtocolError::TooBigInlineRequest);
            }
            return Ok(Step::NeedMore);
        };
        let line_end = match newline.checked_sub(1) {
            Some(before) if buf[before] == b'\r' => before,
            _ => newline,
        };
        let args = split_inline(&buf[..line_end])?;
        if args.is_empty() {
            return Ok(Step::Skip(newline + 1));
        }
        buf.advance(newline + 1);
        Ok(Step::Command(args))
    }

    /// A multibulk command: `*<count>\r\n` then `count` times `$<len>\r\n<bytes>\r\n`.
    fn parse_multibulk(&mut self, buf: &mut BytesMut) -> Result<Step, ProtocolError> {
        if self.cursor.remaining.is_none() {
            let Some(count) = self.read_count_line(buf)? else {
                return Ok(Step::NeedMore);
            };
            if count <= 0 {
                // Redis ignores empty and negative multibulks.
                return Ok(Step::Skip(self.cursor.pos));
            }
            let count =
                usize::try_from(count).map_err(|_| ProtocolError::InvalidMultibulkLength)?;
            self.cursor.remaining = Some(count);
            self.arg_ranges.reserve(count.min(MAX_RESERVED_ARGS));
        }
        while let Some(remaining @ 1..) = self.cursor.remaining {
            let len = match self.cursor.bulk_len {
                Some(len) => len,
                None => match self.read_bulk_header(buf)? {
                    Some(len) => len,
                    None => return Ok(Step::NeedMore),
                },
            };
            let start = self.cursor.pos;
            // `len` is at most max_bulk_len, so this cannot overflow on any real limit;
            // saturating keeps an absurd configured limit from wrapping.
            let end = start.saturating_add(len);
            if buf.len() < end.saturating_add(2) {
                return Ok(Step::NeedMore);
            }
            // Like Redis, the two bytes after the data are taken as CRLF unchecked.
            self.arg_ranges.push(start..end);
            self.cursor.pos = end + 2;
            self.cursor.scanned = self.cursor.pos;
            self.cursor.bulk_len = None;
            self.cursor.remaining = Some(remaining - 1);
        }
        // One split per argument, skipping the framing between them: a split costs one
        // reference-count increment, where slicing a split-off whole would cost more.
        let mut args = Vec::with_capacity(self.arg_ranges.len());
        let mut consumed = 0;
        for range in &self.arg_ranges {
            buf.advance(range.start - consumed);
            args.push(buf.split_to(range.len()).freeze());
            consumed = range.end;
        }
        buf.advance(self.cursor.pos - consumed);
        Ok(Step::Command(args))
    }

    /// Reads `*<count>\r\n` at the front; `None` if the line is incomplete.
    fn read_count_line(&mut self, buf: &BytesMut) -> Result<Option<i64>, ProtocolError> {
        let Some(cr) = self.find_line_end(buf, b'\r') else {
            if buf.len() > self.limits.max_inline_len {
                return Err(ProtocolError::TooBigMultibulkCount);
            }
            return Ok(None);
        };
        if cr + 1 >= buf.len() {
            return Ok(None);
        }
        let count = parse_decimal(&buf[1..cr]).ok_or(ProtocolError::InvalidMultibulkLength)?;
        let over_limit = usize::try_from(count).is_ok_and(|n| n > self.limits.max_multibulk_len);
        if over_limit {
            return Err(ProtocolError::InvalidMultibulkLength);
        }
        self.cursor.pos = cr + 2;
        self.cursor.scanned = self.cursor.pos;
        Ok(Some(count))
    }

    /// Reads `$<len>\r\n` at the cursor; `None` if the line is incomplete.
    fn read_bulk_header(&mut self, buf: &BytesMut) -> Result<Option<usize>, ProtocolError> {
        let start = self.cursor.pos;
        let Some(cr) = self.find_line_end(buf, b'\r') else {
            if buf.len() - start > self.limits.max_inline_len {
                return Err(ProtocolError::TooBigBulkCount);
            }
            return Ok(None);
        };
        if cr + 1 >= buf.len() {
            return Ok(None);
        }
        if buf[start] != b'$' {
            return Err(ProtocolError::ExpectedBulk(buf[start]));
        }
        let len = parse_decimal(&buf[start + 1..cr])
            .and_then(|len| usize::try_from(len).ok())
            .filter(|&len| len <= self.limits.max_bulk_len)
            .ok_or(ProtocolError::InvalidBulkLength)?;
        self.cursor.pos = cr + 2;
        self.cursor.scanned = self.cursor.pos;
        self.cursor.bulk_len = Some(len);
        Ok(Some(len))
    }

    /// Finds `byte` at or after the cursor, resuming where the last search stopped.
    /// Leaves `scanned` on the hit, so a CR whose LF has not arrived is found again.
    fn find_line_end(&mut self, buf: &[u8], byte: u8) -> Option<usize> {
        let from = self.cursor.scanned.max(self.cursor.pos).min(buf.len());
        match buf[from..].iter().position(|&b| b == byte) {
            Some(offset) => {
                self.cursor.scanned = from + offset;
                Some(from + offset)
            }
            None => {
                self.cursor.scanned = buf.len();
                None
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::CommandParser;
    use crate::{Limits, ProtocolError};
    use bytes::{Bytes, BytesMut};

    fn parser() -> CommandParser {
        CommandParser::new(Limits::default())
    }

    fn args(parsed: Option<Vec<Bytes>>) -> Vec<String> {
        parsed
            .expect("a complete command")
            .iter()
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect()
    }

    /// Parses `input` whole and returns the commands, then the error if one ended it.
    fn parse_all(input: &[u8]) -> (Vec<Vec<String>>, Option<ProtocolError>) {
        let mut parser = parser();
        let mut buf = BytesMut::from(input);
        let mut commands = Vec::new();
        loop {
            match parser.parse(&mut buf) {
                Ok(Some(command)) => commands.push(args(Some(command))),
                Ok(None) => return (commands, None),
                Err(error) => return (commands, Some(error)),
            }
        }
    }

    #[test]
    fn multibulk_command_is_taken_whole_and_leaves_the_rest() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$4\r\nP"[..]);
        let mut parser = parser();
        assert_eq!(args(parser.parse(&mut buf).unwrap()), ["GET", "key"]);
        assert_eq!(&buf[..], b"*1\r\n$4\r\nP");
        assert_eq!(parser.parse(&mut buf).unwrap(), None);
        assert_eq!(
            &buf[..],
            b"*1\r\n$4\r\nP",
            "an incomplete command is not consumed"
        );
        buf.extend_from_slice(b"ING\r\n");
        assert_eq!(args(parser.parse(&mut buf).unwrap()), ["PING"]);
        assert!(buf.is_empty());
    }

    #[test]
    fn arguments_are_binary_safe_and_may_be_empty() {
        let (commands, error) = parse_all(b"*3\r\n$3\r\nSET\r\n$0\r\n\r\n$4\r\na\r\nb\r\n");
        assert_eq!(error, None);
        assert_eq!(commands, [vec!["SET", "", "a\r\nb"]]);
    }

    #[test]
    fn arguments_share_the_read_buffer() {
        let mut buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let command = parser().parse(&mut buf).unwrap().unwrap();
        assert_eq!(command[0].as_ptr() as usize, base + 8);
        assert_eq!(command[1].as_ptr() as usize, base + 17);
    }

    #[test]
    fn empty_and_negative_multibulks_and_empty_lines_are_skipped() {
        let (commands, error) = parse_all(b"*0\r\n*-10\r\n\r\n\n   \r\nPING\r\n");
        assert_eq!(error, None);
        assert_eq!(commands, [vec!["PING"]]);
    }

    #[test]
    fn inline_commands_follow_redis_quoting() {
        let (commands, error) =
            parse_all(b"set k \"a b\"\r\nset 'single' \"\\x41\\x42\"\nget k\r\n");
        assert_eq!(error, None);
        assert_eq!(
            commands,
            [
                vec!["set", "k", "a b"],
                vec!["set", "single", "AB"],
                vec!["get", "k"]
            ]
        );
        let (commands, error) = parse_all(b"PING\r\nset k \"abc\r\n");
        assert_eq!(commands, [vec!["PING"]]);
        assert_eq!(error, Some(ProtocolError::UnbalancedQuotes));
    }

    #[test]
    fn redis_protocol_errors_have_redis_texts() {
        let cases: [(&[u8], &str); 6] = [
            (b"*20000000\r\n", "Protocol error: invalid multibulk length"),
            (b"*x\r\n", "Protocol error: invalid multibulk length"),
            (b"*\r\n", "Protocol error: invalid multibulk length"),
            (
                b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
                "Protocol error: expected '$', got 'f'",
            ),
            (b"*1\r\n$-5\r\n", "Protocol error: invalid bulk length"),
            (b"*1\r\n$01\r\n", "Protocol error: invalid bulk length"),
        ];
        for (input, text) in cases {
            let (_, error) = parse_all(input);
            assert_eq!(error.map(|e| e.to_string()).as_deref(), Some(text));
        }
    }

    #[test]
    fn declared_lengths_over_the_limits_fail_before_their_bytes_arrive() {
        let (_, error) = parse_all(b"*1\r\n$999999999999\r\n");
        assert_eq!(error, Some(ProtocolError::InvalidBulkLength));
        let (_, error) = parse_all(b"*99999999\r\n");
        assert_eq!(error, Some(ProtocolError::InvalidMultibulkLength));
        let limits = Limits {
            max_bulk_len: 10,
            max_multibulk_len: 3,
            ..Limits::default()
        };
        let mut buf = BytesMut::from(&b"*1\r\n$11\r\n"[..]);
        let result = CommandParser::new(limits).parse(&mut buf);
        assert_eq!(result, Err(ProtocolError::InvalidBulkLength));
        let mut buf = BytesMut::from(&b"*1\r\n$10\r\n"[..]);
        assert_eq!(CommandParser::new(limits).parse(&mut buf), Ok(None));
        let mut buf = BytesMut::from(&b"*4\r\n"[..]);
        let result = CommandParser::new(limits).parse(&mut buf);
        assert_eq!(result, Err(ProtocolError::InvalidMultibulkLength));
    }

    #[test]
    fn lines_without_an_end_fail_past_max_inline_len() {
        let limits = Limits {
            max_inline_len: 16,
            ..Limits::default()
        };
        let cases: [(&[u8], ProtocolError); 3] = [
            (b"GET aaaaaaaaaaaa", ProtocolError::TooBigInlineRequest),
            (b"*111111111111111", ProtocolError::TooBigMultibulkCount),
            (b"*1\r\n$111111111111111", ProtocolError::TooBigBulkCount),
        ];
        for (at_limit, error) in cases {
            assert_eq!(at_limit.rsplit(|&b| b == b'\n').next().unwrap().len(), 16);
            let mut parser = CommandParser::new(limits);
            let mut buf = BytesMut::from(at_limit);
            assert_eq!(
                parser.parse(&mut buf),
                Ok(None),
                "{error}: at the limit it waits"
            );
            buf.extend_from_slice(b"1");
            assert_eq!(parser.parse(&mut buf), Err(error));
        }
    }

    #[test]
    fn byte_at_a_time_gives_the_same_commands() {
        let input = b"*2\r\n$3\r\nGET\r\n$3\r\nkey\r\nPING\r\n*1\r\n$4\r\nPING\r\n";
        let mut parser = parser();
        let mut buf = BytesMut::new();
        let mut commands = Vec::new();
        for &byte in input {
            buf.extend_from_slice(&[byte]);
            while let Some(command) = parser.parse(&mut buf).unwrap() {
                commands.push(args(Some(command)));
            }
        }
        assert_eq!(commands, [vec!["GET", "key"], vec!["PING"], vec!["PING"]]);
        assert!(buf.is_empty());
    }

    #[test]
    fn a_different_shorter_buffer_restarts_the_command() {
        let mut parser = parser();
        let mut first = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$3\r\nke"[..]);
        assert_eq!(parser.parse(&mut first), Ok(None));
        let mut other = BytesMut::from(&b"PING\r\n"[..]);
        assert_eq!(args(parser.parse(&mut other).unwrap()), ["PING"]);
    }
}
