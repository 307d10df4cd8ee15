//! Encoders: each `write_*` appends one complete reply (or an aggregate header) to the
//! caller's output buffer, formatting integers with `itoa` straight into it, so a whole
//! pipelined batch of replies is built in one buffer and written in one go.
//!
//! RESP3-only types are written for RESP2 connections the way Redis down-converts them:
//! null → `$-1`, map → flat array, set and push → array, double → bulk string,
//! boolean → integer 0/1, big number and verbatim string → bulk string.

use bytes::{BufMut, BytesMut};

use crate::number::DoubleText;
use crate::{Frame, Protocol, ProtocolError};

/// `+<s>\r\n`. CR and LF in `s` become spaces, as Redis does, so the reply stays one line.
pub fn write_simple(out: &mut BytesMut, s: &[u8]) {
    write_line(out, b'+', s);
}

/// `-<msg>\r\n`; `msg` includes its code prefix (`ERR …`, `WRONGTYPE …`). CR and LF
/// in `msg` become spaces, as Redis does.
pub fn write_error(out: &mut BytesMut, msg: &[u8]) {
    write_line(out, b'-', msg);
}

/// `-ERR <error>\r\n`: what Redis replies before closing a connection that sent
/// malformed input. The offending byte of `ExpectedBulk` goes out raw, as Redis's `%c`
/// does, rather than as the UTF-8 of its `char`.
pub fn write_protocol_error(out: &mut BytesMut, error: &ProtocolError) {
    match error {
        ProtocolError::ExpectedBulk(byte) => {
            let mut text = b"ERR Protocol error: expected '$', got ' '".to_vec();
            let quoted = text.len() - 2;
            text[quoted] = *byte;
            write_error(out, &text);
        }
        _ => write_error(out, format!("ERR {error}").as_bytes()),
    }
}

/// `:<n>\r\n`.
pub fn write_integer(out: &mut BytesMut, n: i64) {
    let mut digits = itoa::Buffer::new();
    write_prefixed(out, b':', digits.format(n).as_bytes());
}

/// `$<len>\r\n<data>\r\n`.
pub fn write_bulk(out: &mut BytesMut, data: &[u8]) {
    out.reserve(data.len() + 32);
    write_len_header(out, b'$', data.len());
    out.put_slice(data);
    out.put_slice(b"\r\n");
}

/// `$<len>\r\n`: the header of a bulk string whose `len` bytes and closing
/// `\r\n` the caller sends itself (a server that writes a large value from where
/// it is stored instead of copying it into the output).
pub fn write_bulk_header(out: &mut BytesMut, len: usize) {
    write_len_header(out, b'$', len);
}

/// The null reply: RESP2 `$-1\r\n`, RESP3 `_\r\n`.
pub fn write_null(out: &mut BytesMut, protocol: Protocol) {
    out.put_slice(match protocol {
        Protocol::Resp2 => b"$-1\r\n",
        Protocol::Resp3 => b"_\r\n",
    });
}

/// The null array reply: RESP2 `*-1\r\n`, RESP3 `_\r\n`.
pub fn write_null_array(out: &mut BytesMut, protocol: Protocol) {
    out.put_slice(match protocol {
        Protocol::Resp2 => b"*-1\r\n",
        Protocol::Resp3 => b"_\r\n",
    });
}

/// `*<len>\r\n`; the caller writes `len` replies after it.
pub fn write_array_header(out: &mut BytesMut, len: usize) {
    write_len_header(out, b'*', len);
}

/// RESP3 `%<len>\r\n`, RESP2 `*<2*len>\r\n`; the caller writes `len` key/value pairs.
pub fn write_map_header(out: &mut BytesMut, len: usize, protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => write_len_header(out, b'*', len.saturating_mul(2)),
        Protocol::Resp3 => write_len_header(out, b'%', len),
    }
}

/// RESP3 `~<len>\r\n`, RESP2 `*<len>\r\n`; the caller writes `len` members.
pub fn write_set_header(out: &mut BytesMut, len: usize, protocol: Protocol) {
    let prefix = match protocol {
        Protocol::Resp2 => b'*',
        Protocol::Resp3 => b'~',
    };
    write_len_header(out, prefix, len);
}

/// RESP3 `><len>\r\n`, RESP2 `*<len>\r\n`; the caller writes `len` elements.
pub fn write_push_header(out: &mut BytesMut, len: usize, protocol: Protocol) {
    let prefix = match protocol {
        Protocol::Resp2 => b'*',
        Protocol::Resp3 => b'>',
    };
    write_len_header(out, prefix, len);
}

/// RESP3 `,<value>\r\n` (`inf`, `-inf`, `nan` or the shortest round-trip decimal),
/// RESP2 the same text as a bulk string.
pub fn write_double(out: &mut BytesMut, value: f64, protocol: Protocol) {
    let text = DoubleText::new(value);
    match protocol {
        Protocol::Resp2 => write_bulk(out, text.as_bytes()),
        Protocol::Resp3 => write_prefixed(out, b',', text.as_bytes()),
    }
}

/// RESP3 `#t\r\n` / `#f\r\n`, RESP2 `:1\r\n` / `:0\r\n`.
pub fn write_boolean(out: &mut BytesMut, value: bool, protocol: Protocol) {
    out.put_slice(match (protocol, value) {
        (Protocol::Resp2, true) => b":1\r\n",
        (Protocol::Resp2, false) => b":0\r\n",
        (Protocol::Resp3, true) => b"#t\r\n",
        (Protocol::Resp3, false) => b"#f\r\n",
    });
}

/// RESP3 `(<digits>\r\n`, RESP2 a bulk string of the digits.
pub fn write_big_number(out: &mut BytesMut, digits: &[u8], protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => write_bulk(out, digits),
        Protocol::Resp3 => write_line(out, b'(', digits),
    }
}

/// RESP3 `=<len>\r\n<format>:<text>\r\n`, RESP2 a bulk string of `text`.
pub fn write_verbatim(out: &mut BytesMut, format: [u8; 3], text: &[u8], protocol: Protocol) {
    match protocol {
        Protocol::Resp2 => write_bulk(out, text),
        Protocol::Resp3 => {
            out.reserve(text.len() + 36);
            write_len_header(out, b'=', text.len() + 4);
            out.put_slice(&format);
            out.put_u8(b':');
            out.put_slice(text);
            out.put_slice(b"\r\n");
        }
    }
}

/// Any frame, nested, down-converting RESP3 types for a RESP2 connection.
pub fn write_frame(out: &mut BytesMut, frame: &Frame, protocol: Protocol) {
    match frame {
        Frame::Simple(text) => write_simple(out, text),
        Frame::Error(text) => write_error(out, text),
        Frame::Integer(n) => write_integer(out, *n),
        Frame::Bulk(data) => write_bulk(out, data),
        Frame::Null => write_null(out, protocol),
        Frame::NullArray => write_null_array(out, protocol),
        Frame::Array(elements) => {
            write_array_header(out, elements.len());
            write_frames(out, elements, protocol);
        }
        Frame::Set(members) => {
            write_set_header(out, members.len(), protocol);
            write_frames(out, members, protocol);
        }
        Frame::Push(elements) => {
            write_push_header(out, elements.len(), protocol);
            write_frames(out, elements, protocol);
        }
        Frame::Map(pairs) => {
            write_map_header(out, pairs.len(), protocol);
            for (key, value) in pairs {
                write_frame(out, key, protocol);
                write_frame(out, value, protocol);
            }
        }
        Frame::Double(value) => write_double(out, *value, protocol),
        Frame::Boolean(value) => write_boolean(out, *value, protocol),
        Frame::BigNumber(digits) => write_big_number(out, digits, protocol),
        Frame::Verbatim { format, text } => write_verbatim(out, *format, text, protocol),
    }
}

/// A client command as a multibulk array of bulk strings: `*N` then N `$len` strings.
pub fn write_command(out: &mut BytesMut, args: &[&[u8]]) {
    let payload: usize = args.iter().map(|arg| arg.len() + 24).sum();
    out.reserve(payload + 24);
    write_array_header(out, args.len());
    for arg in args {
        write_bulk(out, arg);
    }
}

fn write_frames(out: &mut BytesMut, frames: &[Frame], protocol: Protocol) {
    for frame in frames {
        write_frame(out, frame, protocol);
    }
}

/// `<prefix><len>\r\n`.
fn write_len_header(out: &mut BytesMut, prefix: u8, len: usize) {
    let mut digits = itoa::Buffer::new();
    write_prefixed(out, prefix, digits.format(len).as_bytes());
}

/// `<prefix><text>\r\n` for text known to hold no CR or LF.
fn write_prefixed(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    out.reserve(text.len() + 3);
    out.put_u8(prefix);
    out.put_slice(text);
    out.put_slice(b"\r\n");
}

/// `<prefix><text>\r\n` with any CR or LF in `text` replaced by a space.
fn write_line(out: &mut BytesMut, prefix: u8, text: &[u8]) {
    let start = out.len() + 1;
    write_prefixed(out, prefix, text);
    let end = start + text.len();
    for byte in &mut out[start..end] {
        if *byte == b'\r' || *byte == b'\n' {
            *byte = b' ';
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn encoded(write: impl FnOnce(&mut BytesMut)) -> String {
        let mut out = BytesMut::new();
        write(&mut out);
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn scalars() {
        assert_eq!(encoded(|o| write_simple(o, b"OK")), "+OK\r\n");
        assert_eq!(encoded(|o| write_error(o, b"ERR bad")), "-ERR bad\r\n");
        assert_eq!(
            encoded(|o| write_integer(o, i64::MIN)),
            ":-9223372036854775808\r\n"
        );
        assert_eq!(encoded(|o| write_bulk(o, b"a\r\nb")), "$4\r\na\r\nb\r\n");
        assert_eq!(encoded(|o| write_bulk(o, b"")), "$0\r\n\r\n");
    }

    #[test]
    fn protocol_errors_read_as_redis_writes_them() {
        let error = ProtocolError::InvalidBulkLength;
        assert_eq!(
            encoded(|o| write_protocol_error(o, &error)),
            "-ERR Protocol error: invalid bulk length\r\n"
        );
        let mut out = BytesMut::new();
        write_protocol_error(&mut out, &ProtocolError::ExpectedBulk(0xff));
        assert_eq!(
            &out[..],
            b"-ERR Protocol error: expected '$', got '\xff'\r\n"
        );
        let mut out = BytesMut::new();
        write_protocol_error(&mut out, &ProtocolError::ExpectedBulk(b'f'));
        assert_eq!(&out[..], b"-ERR Protocol error: expected '$', got 'f'\r\n");
    }

    #[test]
    fn line_replies_cannot_break_the_stream() {
        assert_eq!(
            encoded(|o| write_error(o, b"ERR a\r\nb\n")),
            "-ERR a  b \r\n"
        );
        assert_eq!(encoded(|o| write_simple(o, b"x\ry")), "+x y\r\n");
    }

    type Writer<'a> = &'a dyn Fn(&mut BytesMut, Protocol);

    #[test]
    fn resp3_types_and_their_resp2_forms() {
        use Protocol::{Resp2, Resp3};
        let cases: [(Writer, &str, &str); 9] = [
            (&|o, p| write_null(o, p), "$-1\r\n", "_\r\n"),
            (&|o, p| write_null_array(o, p), "*-1\r\n", "_\r\n"),
            (&|o, p| write_map_header(o, 2, p), "*4\r\n", "%2\r\n"),
            (&|o, p| write_set_header(o, 3, p), "*3\r\n", "~3\r\n"),
            (&|o, p| write_push_header(o, 1, p), "*1\r\n", ">1\r\n"),
            (&|o, p| write_double(o, 1.5, p), "$3\r\n1.5\r\n", ",1.5\r\n"),
            (&|o, p| write_boolean(o, true, p), ":1\r\n", "#t\r\n"),
            (
                &|o, p| write_big_number(o, b"-12", p),
                "$3\r\n-12\r\n",
                "(-12\r\n",
            ),
            (
                &|o, p| write_verbatim(o, *b"txt", b"hi", p),
                "$2\r\nhi\r\n",
                "=6\r\ntxt:hi\r\n",
            ),
        ];
        for (write, resp2, resp3) in cases {
            assert_eq!(encoded(|o| write(o, Resp2)), resp2);
            assert_eq!(encoded(|o| write(o, Resp3)), resp3);
        }
        assert_eq!(encoded(|o| write_boolean(o, false, Resp2)), ":0\r\n");
        assert_eq!(
            encoded(|o| write_double(o, f64::INFINITY, Resp3)),
            ",inf\r\n"
        );
    }

    #[test]
    fn nested_frame_down_converts_for_resp2() {
        let frame = Frame::Map(vec![(
            Frame::simple("k"),
            Frame::Set(vec![Frame::Boolean(false), Frame::Double(2.0), Frame::Null]),
        )]);
        assert_eq!(
            encoded(|o| write_frame(o, &frame, Protocol::Resp2)),
            "*2\r\n+k\r\n*3\r\n:0\r\n$1\r\n2\r\n$-1\r\n"
        );
        assert_eq!(
            encoded(|o| write_frame(o, &frame, Protocol::Resp3)),
            "%1\r\n+k\r\n~3\r\n#f\r\n,2\r\n_\r\n"
        );
        let push = Frame::Push(vec![
            Frame::Bulk(Bytes::from_static(b"m")),
            Frame::NullArray,
        ]);
        assert_eq!(
            encoded(|o| write_frame(o, &push, Protocol::Resp2)),
            "*2\r\n$1\r\nm\r\n*-1\r\n"
        );
    }

    #[test]
    fn command_is_a_multibulk_of_bulks() {
        assert_eq!(
            encoded(|o| write_command(o, &[b"SET", b"k", b""])),
            "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n"
        );
    }
}
