//! `parse_frame`: the client side. Reads one complete reply of any RESP2/RESP3 type,
//! nested up to `max_depth`, off the front of a read buffer.
//!
//! Two passes over the same item reader: `measure` checks that the whole reply is
//! present and valid without allocating, and only then `build` splits it off the buffer
//! and makes the `Frame`, whose byte payloads are slices of that one split-off piece.
//! So an incomplete reply costs no allocation, and declared counts never drive an
//! allocation larger than the bytes actually received.
//!
//! The check re-reads the reply from its start on every call, so one huge reply that
//! arrives in many reads costs O(size × reads); replies of ordinary size, and any
//! number of pipelined replies (each parsed on its own), cost O(size).
//!
//! Reply parsing is strict where command parsing copies Redis's leniency: every line
//! and blob must end in CRLF. RESP3 attributes (`|`) are read and dropped, the reply
//! they annotate is returned. Streamed strings and aggregates (`$?`, `*?`) are refused.

use bytes::{Bytes, BytesMut};

use crate::number::{parse_decimal, parse_double};
use crate::{Frame, Limits, ProtocolError};

/// Parses one reply frame off the front of `buf`.
///
/// `Ok(None)`: the reply is incomplete and nothing was consumed. `Err`: the reply is
/// malformed, over a limit, or nested deeper than `limits.max_depth`; nothing was
/// consumed, and the connection cannot be trusted any more.
pub fn parse_frame(buf: &mut BytesMut, limits: &Limits) -> Result<Option<Frame>, ProtocolError> {
    let Some(end) = measure(buf, 0, 0, limits)? else {
        return Ok(None);
    };
    let reply = buf.split_to(end).freeze();
    let (frame, _) = build(&reply, 0, limits)?;
    Ok(Some(frame))
}

/// One RESP item: a scalar, or the header of an aggregate whose elements follow.
/// Payloads are byte ranges of the buffer being read.
enum Item {
    Simple(usize, usize),
    Error(usize, usize),
    Integer(i64),
    Bulk(usize, usize),
    Null,
    NullArray,
    Double(f64),
    Boolean(bool),
    BigNumber(usize, usize),
    Verbatim([u8; 3], usize, usize),
    Aggregate(Aggregate, usize),
}

/// The aggregate types; maps and attributes hold two frames per counted entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Aggregate {
    Array,
    Map,
    Set,
    Push,
    Attribute,
}

impl Aggregate {
    fn frames_per_entry(self) -> usize {
        match self {
            Aggregate::Map | Aggregate::Attribute => 2,
            Aggregate::Array | Aggregate::Set | Aggregate::Push => 1,
        }
    }
}

/// The end offset of the complete reply starting at `pos`, or `None` if incomplete.
fn measure(
    buf: &[u8],
    pos: usize,
    depth: usize,
    limits: &Limits,
) -> Result<Option<usize>, ProtocolError> {
    let mut pos = pos;
    // Attributes precede the reply they annotate; a loop, not recursion, so a long run
    // of them cannot grow the stack.
    loop {
        let Some((item, next)) = read_item(buf, pos, limits)? else {
            return Ok(None);
        };
        pos = next;
        let Item::Aggregate(kind, entries) = item else {
            return Ok(Some(pos));
        };
        if depth >= limits.max_depth {
            return Err(ProtocolError::TooDeep(limits.max_depth));
        }
        for _ in 0..entries.saturating_mul(kind.frames_per_entry()) {
            match measure(buf, pos, depth + 1, limits)? {
                Some(next) => pos = next,
                None => return Ok(None),
            }
        }
        if kind != Aggregate::Attribute {
            return Ok(Some(pos));
        }
    }
}

/// Builds the frame starting at `pos` of a reply that `measure` has accepted.
fn build(reply: &Bytes, pos: usize, limits: &Limits) -> Result<(Frame, usize), ProtocolError> {
    let mut pos = pos;
    loop {
        // `measure` saw this whole reply, so an incomplete item here cannot happen; an
        // error rather than a panic keeps the parser total all the same.
        let (item, next) = read_item(reply, pos, limits)?.ok_or(ProtocolError::ExpectedCrlf)?;
        pos = next;
        let slice = |start: usize, end: usize| reply.slice(start..end);
        let frame = match item {
            Item::Simple(start, end) => Frame::Simple(slice(start, end)),
            Item::Error(start, end) => Frame::Error(slice(start, end)),
            Item::Integer(value) => Frame::Integer(value),
            Item::Bulk(start, end) => Frame::Bulk(slice(start, end)),
            Item::Null => Frame::Null,
            Item::NullArray => Frame::NullArray,
            Item::Double(value) => Frame::Double(value),
            Item::Boolean(value) => Frame::Boolean(value),
            Item::BigNumber(start, end) => Frame::BigNumber(slice(start, end)),
            Item::Verbatim(format, start, end) => Frame::Verbatim {
                format,
                text: slice(start, end),
            },
            Item::Aggregate(kind, entries) => {
                let (frame, next) = build_aggregate(reply, pos, kind, entries, limits)?;
                pos = next;
                match frame {
                    Some(frame) => frame,
                    None => continue,
                }
            }
        };
        return Ok((frame, pos));
    }
}

/// Builds an aggregate's elements; `None` for an attribute, which is dropped.
fn build_aggregate(
    reply: &Bytes,
    mut pos: usize,
    kind: Aggregate,
    entries: usize,
    limits: &Limits,
) -> Result<(Option<Frame>, usize), ProtocolError> {
    let mut next_frame = || -> Result<Frame, ProtocolError> {
        let (frame, next) = build(reply, pos, limits)?;
        pos = next;
        Ok(frame)
    };
    let frame = match kind {
        Aggregate::Map | Aggregate::Attribute => {
            let mut pairs = Vec::with_capacity(entries);
            for _ in 0..entries {
                pairs.push((next_frame()?, next_frame()?));
            }
            (kind == Aggregate::Map).then_some(Frame::Map(pairs))
        }
        Aggregate::Array | Aggregate::Set | Aggregate::Push => {
            let elements = (0..entries)
                .map(|_| next_frame())
                .collect::<Result<Vec<_>, _>>()?;
            Some(match kind {
                Aggregate::Set => Frame::Set(elements),
                Aggregate::Push => Frame::Push(elements),
                _ => Frame::Array(elements),
            })
        }
    };
    Ok((frame, pos))
}

/// Reads the item at `pos`: its type byte and line, and for blobs their payload.
/// Returns the item and the offset after it, or `None` if it is incomplete.
fn read_item(
    buf: &[u8],
    pos: usize,
    limits: &Limits,
) -> Result<Option<(Item, usize)>, ProtocolError> {
    let Some(&type_byte) = buf.get(pos) else {
        return Ok(None);
    };
    let Some(line_end) = find_crlf(buf, pos + 1, limits)? else {
        return Ok(None);
    };
    let (start, next) = (pos + 1, line_end + 2);
    let line = &buf[start..line_end];
    let item = match type_byte {
        b'+' => Item::Simple(start, line_end),
        b'-' => Item::Error(start, line_end),
        b':' => Item::Integer(parse_decimal(line).ok_or(ProtocolError::InvalidInteger)?),
        b'(' => {
            let digits = line.strip_prefix(b"-").unwrap_or(line);
            if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
                return Err(ProtocolError::InvalidBigNumber);
            }
            Item::BigNumber(start, line_end)
        }
        b',' => Item::Double(parse_double(line).ok_or(ProtocolError::InvalidDouble)?),
        b'#' => match line {
            b"t" => Item::Boolean(true),
            b"f" => Item::Boolean(false),
            _ => return Err(ProtocolError::InvalidBoolean),
        },
        b'_' if line.is_empty() => Item::Null,
        b'_' => return Err(ProtocolError::InvalidNull),
        b'$' | b'!' | b'=' => return read_blob(buf, type_byte, line, next, limits),
        b'*' | b'%' | b'~' | b'>' | b'|' => read_aggregate_header(type_byte, line, limits)?,
        other => return Err(ProtocolError::InvalidReplyType(other)),
    };
    Ok(Some((item, next)))
}

/// A length-prefixed blob: bulk string `$`, blob error `!` or verbatim string `=`,
/// whose payload starts at `start`.
fn read_blob(
    buf: &[u8],
    type_byte: u8,
    len_text: &[u8],
    start: usize,
    limits: &Limits,
) -> Result<Option<(Item, usize)>, ProtocolError> {
    let len = match parse_decimal(len_text) {
        Some(-1) if type_byte == b'$' => return Ok(Some((Item::Null, start))),
        Some(len) => usize::try_from(len).map_err(|_| ProtocolError::InvalidBulkLength)?,
        None => return Err(ProtocolError::InvalidBulkLength),
    };
    if len > limits.max_bulk_len {
        return Err(ProtocolError::InvalidBulkLength);
    }
    let end = start + len;
    let Some(terminator) = buf.get(end..end + 2) else {
        return Ok(None);
    };
    if terminator != b"\r\n" {
        return Err(ProtocolError::ExpectedCrlf);
    }
    let item = match type_byte {
        b'!' => Item::Error(start, end),
        b'=' => match buf[start..end] {
            [a, b, c, b':', ..] => Item::Verbatim([a, b, c], start + 4, end),
            _ => return Err(ProtocolError::InvalidVerbatim),
        },
        _ => Item::Bulk(start, end),
    };
    Ok(Some((item, end + 2)))
}

/// The header of an aggregate: its kind and entry count (pairs for maps).
fn read_aggregate_header(
    type_byte: u8,
    count_text: &[u8],
    limits: &Limits,
) -> Result<Item, ProtocolError> {
    let kind = match type_byte {
        b'%' => Aggregate::Map,
        b'~' => Aggregate::Set,
        b'>' => Aggregate::Push,
        b'|' => Aggregate::Attribute,
        _ => Aggregate::Array,
    };
    let count = match parse_decimal(count_text) {
        Some(-1) if kind == Aggregate::Array => return Ok(Item::NullArray),
        Some(count) => usize::try_from(count).map_err(|_| ProtocolError::InvalidMultibulkLength)?,
        None => return Err(ProtocolError::InvalidMultibulkLength),
    };
    if count > limits.max_multibulk_len {
        return Err(ProtocolError::InvalidMultibulkLength);
    }
    Ok(Item::Aggregate(kind, count))
}

/// The offset of the CR of the CRLF ending the line that starts at `from`, or `None`
/// if it has not arrived. A CR not followed by LF is an error.
fn find_crlf(buf: &[u8], from: usize, limits: &Limits) -> Result<Option<usize>, ProtocolError> {
    let rest = buf.get(from..).unwrap_or_default();
    let Some(offset) = rest.iter().position(|&byte| byte == b'\r') else {
        if rest.len() > limits.max_inline_len {
            return Err(ProtocolError::TooBigReplyLine);
        }
        return Ok(None);
    };
    match rest.get(offset + 1) {
        Some(b'\n') => Ok(Some(from + offset)),
        Some(_) => Err(ProtocolError::ExpectedCrlf),
        None => Ok(None),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse_frame;
    use crate::{Frame, Limits, ProtocolError};
    use bytes::{Bytes, BytesMut};

    fn parse(input: &[u8]) -> Result<Option<Frame>, ProtocolError> {
        parse_frame(&mut BytesMut::from(input), &Limits::default())
    }

    fn bulk(text: &'static str) -> Frame {
        Frame::Bulk(Bytes::from_static(text.as_bytes()))
    }

    #[test]
    fn resp2_scalars() {
        assert_eq!(parse(b"+OK\r\n"), Ok(Some(Frame::simple("OK"))));
        assert_eq!(parse(b"-ERR no\r\n"), Ok(Some(Frame::error("ERR no"))));
        assert_eq!(parse(b":-42\r\n"), Ok(Some(Frame::Integer(-42))));
        assert_eq!(parse(b"$3\r\na\nb\r\n"), Ok(Some(bulk("a\nb"))));
        assert_eq!(parse(b"$0\r\n\r\n"), Ok(Some(bulk(""))));
        assert_eq!(parse(b"$-1\r\n"), Ok(Some(Frame::Null)));
        assert_eq!(parse(b"*-1\r\n"), Ok(Some(Frame::NullArray)));
    }

    #[test]
    fn resp2_nested_array() {
        let frame = parse(b"*3\r\n:1\r\n*1\r\n$1\r\nx\r\n$-1\r\n")
            .unwrap()
            .unwrap();
        let expected = Frame::Array(vec![
            Frame::Integer(1),
            Frame::Array(vec![bulk("x")]),
            Frame::Null,
        ]);
        assert_eq!(frame, expected);
    }

    #[test]
    fn resp3_types() {
        assert_eq!(parse(b"_\r\n"), Ok(Some(Frame::Null)));
        assert_eq!(parse(b",3.5\r\n"), Ok(Some(Frame::Double(3.5))));
        assert_eq!(
            parse(b",-inf\r\n"),
            Ok(Some(Frame::Double(f64::NEG_INFINITY)))
        );
        assert_eq!(parse(b"#t\r\n"), Ok(Some(Frame::Boolean(true))));
        assert_eq!(parse(b"#f\r\n"), Ok(Some(Frame::Boolean(false))));
        let big = Frame::BigNumber(Bytes::from_static(b"-123456789012345678901234567890"));
        assert_eq!(
            parse(b"(-123456789012345678901234567890\r\n"),
            Ok(Some(big))
        );
        let verbatim = Frame::Verbatim {
            format: *b"txt",
            text: Bytes::from_static(b"Some string"),
        };
        assert_eq!(parse(b"=15\r\ntxt:Some string\r\n"), Ok(Some(verbatim)));
        assert_eq!(
            parse(b"!8\r\nERR a\r\nb\r\n"),
            Ok(Some(Frame::error("ERR a\r\nb")))
        );
        let map = Frame::Map(vec![(Frame::simple("a"), Frame::Integer(1))]);
        assert_eq!(parse(b"%1\r\n+a\r\n:1\r\n"), Ok(Some(map)));
        let set = Frame::Set(vec![bulk("x"), Frame::Boolean(true)]);
        assert_eq!(parse(b"~2\r\n$1\r\nx\r\n#t\r\n"), Ok(Some(set)));
        let push = Frame::Push(vec![bulk("message")]);
        assert_eq!(parse(b">1\r\n$7\r\nmessage\r\n"), Ok(Some(push)));
    }

    #[test]
    fn attributes_are_dropped_and_the_reply_returned() {
        let input = b"|1\r\n+ttl\r\n:3\r\n|0\r\n*1\r\n|1\r\n+k\r\n+v\r\n:7\r\n";
        let expected = Frame::Array(vec![Frame::Integer(7)]);
        assert_eq!(parse(input), Ok(Some(expected)));
    }

    #[test]
    fn incomplete_replies_consume_nothing() {
        let whole = b"*2\r\n$5\r\nhello\r\n%1\r\n+k\r\n,1.5\r\n";
        for cut in 0..whole.len() {
            let mut buf = BytesMut::from(&whole[..cut]);
            assert_eq!(
                parse_frame(&mut buf, &Limits::default()),
                Ok(None),
                "cut at {cut}"
            );
            assert_eq!(buf.len(), cut);
        }
        let mut buf = BytesMut::from(&whole[..]);
        buf.extend_from_slice(b"+next\r\n");
        assert!(parse_frame(&mut buf, &Limits::default()).unwrap().is_some());
        assert_eq!(&buf[..], b"+next\r\n");
    }

    #[test]
    fn malformed_replies_are_refused() {
        let cases: [(&[u8], ProtocolError); 13] = [
            (b"?x\r\n", ProtocolError::InvalidReplyType(b'?')),
            (b":1.5\r\n", ProtocolError::InvalidInteger),
            (b",abc\r\n", ProtocolError::InvalidDouble),
            (b"#x\r\n", ProtocolError::InvalidBoolean),
            (b"_x\r\n", ProtocolError::InvalidNull),
            (b"(12a\r\n", ProtocolError::InvalidBigNumber),
            (b"=3\r\ntxt\r\n", ProtocolError::InvalidVerbatim),
            (b"$3\r\nabcd\r\n", ProtocolError::ExpectedCrlf),
            (b"+OK\rX", ProtocolError::ExpectedCrlf),
            (b"$-2\r\n", ProtocolError::InvalidBulkLength),
            (b"$?\r\n", ProtocolError::InvalidBulkLength),
            (b"*-2\r\n", ProtocolError::InvalidMultibulkLength),
            (b"%-1\r\n", ProtocolError::InvalidMultibulkLength),
        ];
        for (input, error) in cases {
            let mut buf = BytesMut::from(input);
            assert_eq!(parse_frame(&mut buf, &Limits::default()), Err(error));
            assert_eq!(buf.len(), input.len(), "an error consumes nothing");
        }
    }

    #[test]
    fn limits_are_enforced_before_the_bytes_arrive() {
        let limits = Limits {
            max_bulk_len: 8,
            max_multibulk_len: 2,
            max_inline_len: 10,
            max_depth: 2,
        };
        let check = |input: &[u8], expected: Result<Option<Frame>, ProtocolError>| {
            assert_eq!(parse_frame(&mut BytesMut::from(input), &limits), expected);
        };
        check(b"$9\r\n", Err(ProtocolError::InvalidBulkLength));
        check(b"*3\r\n", Err(ProtocolError::InvalidMultibulkLength));
        check(b"+0123456789a", Err(ProtocolError::TooBigReplyLine));
        check(b"+0123456789", Ok(None));
        check(
            b"*1\r\n*1\r\n:1\r\n",
            Ok(Some(Frame::Array(vec![Frame::Array(vec![
                Frame::Integer(1),
            ])]))),
        );
        check(b"*1\r\n*1\r\n*1\r\n", Err(ProtocolError::TooDeep(2)));
        let deep = b"*1\r\n".repeat(10_000);
        assert_eq!(parse(&deep), Err(ProtocolError::TooDeep(32)));
    }

    #[test]
    fn payloads_are_slices_of_the_read_buffer() {
        let mut buf = BytesMut::from(&b"*1\r\n$3\r\nabc\r\n"[..]);
        let base = buf.as_ptr() as usize;
        let Some(Frame::Array(elements)) = parse_frame(&mut buf, &Limits::default()).unwrap()
        else {
            panic!("expected an array");
        };
        assert_eq!(elements[0].as_bytes().unwrap().as_ptr() as usize, base + 8);
    }
}
