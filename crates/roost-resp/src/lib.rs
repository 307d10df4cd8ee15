//! RESP2/RESP3 for Roost: frames, an incremental zero-copy command parser for the
//! server, a reply parser for clients, and encoders that write straight into an output
//! buffer.
//!
//! # Layout
//!
//! - [`command`]: [`CommandParser`], the server side. Takes one client command
//!   (a multibulk array of bulk strings, or an inline line) at a time off a
//!   connection's read buffer, as `Vec<Bytes>` slices of that buffer.
//! - `inline`: splitting an inline line with Redis's quoting rules.
//! - [`reply`]: [`parse_frame`], the client side. Reads any RESP2/RESP3 reply,
//!   nested, into a [`Frame`].
//! - [`encode`]: `write_*` functions, one complete reply (or aggregate header) each,
//!   down-converting RESP3 types for RESP2 connections as Redis does.
//! - [`frame`]: the [`Frame`] value type; `error`: [`ProtocolError`]; `number`: integer
//!   and double text.
//!
//! # Example: a server loop's inner step
//!
//! ```
//! use bytes::BytesMut;
//! use roost_resp::{write_bulk, write_simple, CommandParser, Limits};
//!
//! let mut parser = CommandParser::new(Limits::default());
//! // Two pipelined commands in one read: a multibulk GET and an inline PING.
//! let mut read_buf = BytesMut::from(&b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\nPING\r\n"[..]);
//! let mut write_buf = BytesMut::new();
//! while let Some(args) = parser.parse(&mut read_buf)? {
//!     match &args[0][..] {
//!         b"GET" => write_bulk(&mut write_buf, b"v"),
//!         _ => write_simple(&mut write_buf, b"PONG"),
//!     }
//! }
//! assert_eq!(&write_buf[..], b"$1\r\nv\r\n+PONG\r\n");
//! # Ok::<(), roost_resp::ProtocolError>(())
//! ```
//!
//! # Invariants
//!
//! - **Never does I/O.** Callers own sockets and buffers; this crate only reads from and
//!   appends to the `BytesMut` it is handed. No tokio, no serde.
//! - **Never panics on input.** Any byte sequence in any chunking gives a command, a
//!   frame, "need more", or a [`ProtocolError`]; parsing never consumes more than the
//!   complete command or reply it returns. Fuzzed (`fuzz/`) and property-tested.
//! - **Bounded buffering.** Every declared length and count is checked against
//!   [`Limits`] the moment its header line is read, and a header or inline line with no
//!   end in sight errors once it passes `max_inline_len`; so a client can make a
//!   connection buffer at most one command of at most `max_bulk_len`-sized arguments.
//!   A declared count never drives an allocation before its bytes have arrived.
//! - **Zero copy on the command path.** A multibulk command's arguments are `Bytes`
//!   split off the read buffer, sharing its memory. A consumer that keeps an argument
//!   for long (a cached value) should copy it, or it pins the whole read chunk in memory.
//! - **Redis-identical errors.** Server-side error texts are Redis's `networking.c`
//!   texts; the server replies `-ERR <Display>` and closes the connection.

pub mod command;
pub mod encode;
mod error;
pub mod frame;
mod inline;
mod number;
pub mod reply;

pub use command::CommandParser;
pub use encode::{
    write_array_header, write_big_number, write_boolean, write_bulk, write_bulk_header,
    write_command, write_double, write_error, write_frame, write_integer, write_map_header,
    write_null, write_null_array, write_protocol_error, write_push_header, write_set_header,
    write_simple, write_verbatim,
};
pub use error::ProtocolError;
pub use frame::Frame;
pub use reply::parse_frame;

/// The protocol version of a connection: RESP2 until the client says `HELLO 3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Protocol {
    #[default]
    Resp2,
    Resp3,
}

/// Size limits on input, each checked as soon as the length is declared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest bulk string, in bytes (Redis's `proto-max-bulk-len`). Default 512 MiB.
    pub max_bulk_len: usize,
    /// Most elements in one command or aggregate. Default 1,048,576 (Redis's limit
    /// for unauthenticated clients).
    pub max_multibulk_len: usize,
    /// Longest inline command, or header line without its CR, in bytes (Redis's
    /// `PROTO_INLINE_MAX_SIZE`). Default 64 KiB.
    pub max_inline_len: usize,
    /// Deepest nesting of aggregates in a reply frame. Default 32. Parsing recurses
    /// once per level, so keep this small.
    pub max_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
            max_depth: 32,
        }
    }
}
