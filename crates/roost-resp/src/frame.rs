//! `Frame`: one complete RESP2 or RESP3 value, as a client reads it off the wire or
//! as the server builds a nested reply before encoding it.

use bytes::Bytes;

/// A complete RESP value. Byte payloads are `Bytes`, so a frame parsed off a read
/// buffer shares that buffer's memory instead of copying it.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// `+OK` — a status line; never contains CR or LF.
    Simple(Bytes),
    /// `-ERR …` — the text after `-`, including its code prefix (`ERR`, `WRONGTYPE`).
    Error(Bytes),
    /// `:42`.
    Integer(i64),
    /// `$3\r\nfoo` — a binary-safe string.
    Bulk(Bytes),
    /// The null value: RESP2 `$-1`, RESP3 `_`.
    Null,
    /// RESP2's null array `*-1` (RESP3 encodes it as `_`).
    NullArray,
    /// `*N` followed by N frames.
    Array(Vec<Frame>),
    /// RESP3 `%N` followed by N key/value pairs; RESP2 sees an array of 2N.
    Map(Vec<(Frame, Frame)>),
    /// RESP3 `~N`; RESP2 sees an array.
    Set(Vec<Frame>),
    /// RESP3 `,3.14`; RESP2 sees a bulk string.
    Double(f64),
    /// RESP3 `#t` / `#f`; RESP2 sees the integer 1 / 0.
    Boolean(bool),
    /// RESP3 `(` arbitrary-precision integer, as its decimal text; RESP2 sees a bulk string.
    BigNumber(Bytes),
    /// RESP3 `=` string with a three-byte format such as `txt` or `mkd`; RESP2 sees a
    /// bulk string of `text`.
    Verbatim {
        /// The format tag, e.g. `*b"txt"`.
        format: [u8; 3],
        /// The string itself, without the `xxx:` prefix.
        text: Bytes,
    },
    /// RESP3 `>N` out-of-band message (pub/sub, invalidation); RESP2 sees an array.
    Push(Vec<Frame>),
}

impl Frame {
    /// A bulk string frame from anything byte-like, copying it.
    pub fn bulk(bytes: impl AsRef<[u8]>) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(bytes.as_ref()))
    }

    /// A simple string frame from static text, e.g. `Frame::simple("OK")`.
    pub fn simple(text: &'static str) -> Frame {
        Frame::Simple(Bytes::from_static(text.as_bytes()))
    }

    /// An error frame from its full text, e.g. `Frame::error("ERR unknown command")`.
    pub fn error(text: impl AsRef<[u8]>) -> Frame {
        Frame::Error(Bytes::copy_from_slice(text.as_ref()))
    }

    /// The payload of a simple string, bulk string or verbatim string.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Frame::Simple(bytes) | Frame::Bulk(bytes) => Some(bytes),
            Frame::Verbatim { text, .. } => Some(text),
            _ => None,
        }
    }

    /// Whether this frame is an error reply.
    pub fn is_error(&self) -> bool {
        matches!(self, Frame::Error(_))
    }
}

#[cfg(test)]
mod tests {
    use super::Frame;
    use bytes::Bytes;

    #[test]
    fn constructors_build_the_named_variant() {
        assert_eq!(Frame::bulk("v"), Frame::Bulk(Bytes::from_static(b"v")));
        assert_eq!(
            Frame::simple("OK"),
            Frame::Simple(Bytes::from_static(b"OK"))
        );
        assert!(Frame::error("ERR no").is_error());
        assert!(!Frame::simple("OK").is_error());
    }

    #[test]
    fn as_bytes_reads_string_payloads_only() {
        let verbatim = Frame::Verbatim {
            format: *b"txt",
            text: Bytes::from_static(b"hi"),
        };
        assert_eq!(verbatim.as_bytes().map(|b| &b[..]), Some(&b"hi"[..]));
        assert_eq!(Frame::bulk("x").as_bytes().map(|b| &b[..]), Some(&b"x"[..]));
        assert_eq!(Frame::Integer(1).as_bytes(), None);
        assert_eq!(Frame::Null.as_bytes(), None);
    }
}
