//! `scan_reply`: classifies one RESP reply at the front of a read buffer and says how
//! long it is, without building a `Frame` or allocating.
//!
//! The load loop only needs to know *what kind* of answer came back (status, error,
//! hit, miss, count) and where the next one starts; `roost_resp::parse_frame` would
//! split every reply off the buffer into a `Frame`, which at a million replies a
//! second is the client's main cost. Covers what GET, SET, MGET and DEL can answer:
//! simple strings, errors, integers, bulk strings, RESP2 and RESP3 nulls, and a flat
//! array of those. Anything else is reported as unsupported, never misread.

/// What one reply was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// `+OK` and other status lines.
    Status,
    /// `-ERR …`; the text is in the reply's bytes after the `-`.
    Error,
    Integer(i64),
    /// A bulk string: a hit.
    Bulk,
    /// `$-1`, `*-1` or RESP3 `_`: a miss.
    Null,
    /// A flat array (MGET): how many elements were bulk strings and how many null.
    Array {
        hits: usize,
        misses: usize,
    },
}

/// Why bytes could not be read as a supported reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    #[error("reply type {0:?} is not one GET, SET, MGET or DEL answers with")]
    Unsupported(char),
    #[error("malformed reply: {0}")]
    Malformed(&'static str),
}

/// Longest header line accepted before the reply is declared malformed.
const MAX_LINE: usize = 64 * 1024;

/// Scans the reply at the front of `buf`: `Ok(None)` if it is not complete yet,
/// else its kind and its length in bytes.
pub fn scan_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ScanError> {
    let Some((reply, end)) = scan_scalar(buf)? else {
        return Ok(None);
    };
    match reply {
        Scalar::Reply(reply) => Ok(Some((reply, end))),
        Scalar::ArrayHeader(count) => scan_array(buf, end, count),
    }
}

enum Scalar {
    Reply(Reply),
    ArrayHeader(usize),
}

fn scan_array(
    buf: &[u8],
    mut at: usize,
    count: usize,
) -> Result<Option<(Reply, usize)>, ScanError> {
    let (mut hits, mut misses) = (0, 0);
    for _ in 0..count {
        let Some((element, len)) = scan_scalar(&buf[at..])? else {
            return Ok(None);
        };
        match element {
            Scalar::Reply(Reply::Bulk) => hits += 1,
            Scalar::Reply(Reply::Null) => misses += 1,
            Scalar::Reply(_) => return Err(ScanError::Malformed("array element is not a string")),
            Scalar::ArrayHeader(_) => return Err(ScanError::Unsupported('*')),
        }
        at += len;
    }
    Ok(Some((Reply::Array { hits, misses }, at)))
}

fn scan_scalar(buf: &[u8]) -> Result<Option<(Scalar, usize)>, ScanError> {
    let Some(&kind) = buf.first() else {
        return Ok(None);
    };
    let Some(line_end) = find_crlf(buf)? else {
        return Ok(None);
    };
    let line = &buf[1..line_end];
    let after_line = line_end + 2;
    let reply = match kind {
        b'+' => Reply::Status,
        b'-' => Reply::Error,
        b':' => Reply::Integer(parse_integer(line)?),
        b'_' if line.is_empty() => Reply::Null,
        b'$' => {
            let len = parse_integer(line)?;
            if len == -1 {
                Reply::Null
            } else {
                let len = usize::try_from(len).map_err(|_| ScanError::Malformed("bulk length"))?;
                let end = after_line + len + 2;
                if buf.len() < end {
                    return Ok(None);
                }
                if &buf[end - 2..end] != b"\r\n" {
                    return Err(ScanError::Malformed("bulk string not ended by CRLF"));
                }
                return Ok(Some((Scalar::Reply(Reply::Bulk), end)));
            }
        }
        b'*' => match parse_integer(line)? {
            -1 => Reply::Null,
            count => {
                let count = usize::try_from(count).map_err(|_| ScanError::Malformed("count"))?;
                return Ok(Some((Scalar::ArrayHeader(count), after_line)));
            }
        },
        other => return Err(ScanError::Unsupported(char::from(other))),
    };
    Ok(Some((Scalar::Reply(reply), after_line)))
}

/// Index of the CR of the first CRLF, if the line is complete.
fn find_crlf(buf: &[u8]) -> Result<Option<usize>, ScanError> {
    let searched = &buf[..buf.len().min(MAX_LINE)];
    match searched.iter().position(|&byte| byte == b'\r') {
        Some(cr) if cr + 1 < buf.len() => {
            if buf[cr + 1] == b'\n' {
                Ok(Some(cr))
            } else {
                Err(ScanError::Malformed("CR not followed by LF"))
            }
        }
        Some(_) => Ok(None),
        None if buf.len() >= MAX_LINE => Err(ScanError::Malformed("line too long")),
        None => Ok(None),
    }
}

fn parse_integer(text: &[u8]) -> Result<i64, ScanError> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() || digits.len() > 19 {
        return Err(ScanError::Malformed("integer"));
    }
    let mut value: i64 = 0;
    for &digit in digits {
        if !digit.is_ascii_digit() {
            return Err(ScanError::Malformed("integer"));
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(i64::from(digit - b'0')))
            .ok_or(ScanError::Malformed("integer"))?;
    }
    Ok(if negative { -value } else { value })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use roost_resp::{parse_frame, Frame, Limits};

    fn scan(bytes: &[u8]) -> (Reply, usize) {
        scan_reply(bytes).unwrap().unwrap()
    }

    #[test]
    fn scalars_are_classified_with_their_length() {
        assert_eq!(scan(b"+OK\r\n"), (Reply::Status, 5));
        assert_eq!(scan(b"-ERR no\r\n+OK\r\n"), (Reply::Error, 9));
        assert_eq!(scan(b":-42\r\n"), (Reply::Integer(-42), 6));
        assert_eq!(scan(b"$3\r\nfoo\r\n:1\r\n"), (Reply::Bulk, 9));
        assert_eq!(scan(b"$0\r\n\r\n"), (Reply::Bulk, 6));
        assert_eq!(scan(b"$-1\r\n"), (Reply::Null, 5));
        assert_eq!(scan(b"_\r\n"), (Reply::Null, 3));
        assert_eq!(scan(b"*-1\r\n"), (Reply::Null, 5));
        // A bulk whose payload contains CRLF is skipped by length, not by line.
        assert_eq!(scan(b"$4\r\na\r\nb\r\n"), (Reply::Bulk, 10));
    }

    #[test]
    fn arrays_count_hits_and_misses() {
        let reply = b"*3\r\n$1\r\na\r\n$-1\r\n$2\r\nbc\r\n";
        assert_eq!(
            scan(reply),
            (Reply::Array { hits: 2, misses: 1 }, reply.len())
        );
        assert_eq!(scan(b"*0\r\n"), (Reply::Array { hits: 0, misses: 0 }, 4));
        assert!(scan_reply(b"*1\r\n*0\r\n").is_err());
        assert!(scan_reply(b"*1\r\n:1\r\n").is_err());
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let replies: [&[u8]; 4] = [
            b"+OK\r\n",
            b"$5\r\nhello\r\n",
            b"*2\r\n$1\r\nx\r\n$-1\r\n",
            b":12\r\n",
        ];
        for reply in replies {
            for cut in 0..reply.len() {
                assert_eq!(
                    scan_reply(&reply[..cut]),
                    Ok(None),
                    "{reply:?} cut at {cut}"
                );
            }
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_guess() {
        assert_eq!(scan_reply(b"%1\r\n"), Err(ScanError::Unsupported('%')));
        assert!(scan_reply(b"$3\r\nfooXY").is_err());
        assert!(scan_reply(b":12a\r\n").is_err());
        assert!(scan_reply(b"+OK\rX").is_err());
        assert!(scan_reply(&vec![b'+'; MAX_LINE + 1]).is_err());
        assert!(scan_reply(b":99999999999999999999\r\n").is_err());
    }

    /// The scanner and roost-resp's full parser agree on kind and length.
    #[test]
    fn agrees_with_the_full_reply_parser() {
        let mut stream = BytesMut::new();
        let replies: [&[u8]; 6] = [
            b"+OK\r\n",
            b"$12\r\nhello\r\nworld\r\n",
            b"$-1\r\n",
            b":7\r\n",
            b"-ERR wrong\r\n",
            b"*2\r\n$-1\r\n$1\r\nz\r\n",
        ];
        for reply in replies {
            stream.extend_from_slice(reply);
        }
        let mut at = 0;
        while at < stream.len() {
            let (reply, len) = scan(&stream[at..]);
            let mut rest = BytesMut::from(&stream[at..]);
            let frame = parse_frame(&mut rest, &Limits::default()).unwrap().unwrap();
            assert_eq!(stream.len() - at - rest.len(), len, "length of {frame:?}");
            let expected = match frame {
                Frame::Simple(_) => Reply::Status,
                Frame::Error(_) => Reply::Error,
                Frame::Integer(n) => Reply::Integer(n),
                Frame::Bulk(_) => Reply::Bulk,
                Frame::Null => Reply::Null,
                Frame::Array(elements) => Reply::Array {
                    hits: elements
                        .iter()
                        .filter(|e| matches!(e, Frame::Bulk(_)))
                        .count(),
                    misses: elements.iter().filter(|e| **e == Frame::Null).count(),
                },
                other => panic!("unexpected frame {other:?}"),
            };
            assert_eq!(reply, expected);
            at += len;
        }
    }
}
