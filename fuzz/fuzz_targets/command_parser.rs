//! Fuzz target: arbitrary bytes, delivered in arbitrary chunks, to `CommandParser` and
//! `parse_frame`. Checks that nothing panics, that parsing never consumes more than
//! the command or frame it returns accounts for, and that the commands parsed from
//! chunked input are exactly those parsed from the whole input.
//!
//! Input layout: the first byte's low 3 bits say how many chunk-size bytes follow; the
//! rest is the byte stream.

#![no_main]

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use roost_resp::{parse_frame, write_frame, CommandParser, Frame, Limits, Protocol, ProtocolError};

fuzz_target!(|data: &[u8]| {
    let Some((&header, rest)) = data.split_first() else {
        return;
    };
    let sizes_len = usize::from(header & 7).min(rest.len());
    let (sizes, input) = rest.split_at(sizes_len);
    let chunk_sizes: Vec<usize> = sizes.iter().map(|&size| usize::from(size) + 1).collect();

    let whole = parse_commands(input, &[]);
    let chunked = parse_commands(input, &chunk_sizes);
    assert_eq!(whole, chunked, "chunking changed the commands");

    parse_frames(input, &chunk_sizes);
});

/// Commands parsed, then the error that ended the stream, if any.
type Outcome = (Vec<Vec<Bytes>>, Option<ProtocolError>);

/// Feeds `input` in chunks of the given sizes (cycled; the whole input if none).
fn parse_commands(input: &[u8], chunk_sizes: &[usize]) -> Outcome {
    let mut parser = CommandParser::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    for chunk in chunks(input, chunk_sizes) {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.len();
            match parser.parse(&mut buf) {
                Ok(Some(command)) => {
                    let payload: usize = command.iter().map(Bytes::len).sum();
                    assert!(!command.is_empty(), "a command has at least one argument");
                    assert!(before - buf.len() >= payload, "consumed less than returned");
                    commands.push(command);
                }
                Ok(None) => break,
                Err(error) => {
                    assert!(buf.len() <= before);
                    return (commands, Some(error));
                }
            }
        }
    }
    (commands, None)
}

/// Reads reply frames off chunked input; every frame read must re-encode.
fn parse_frames(input: &[u8], chunk_sizes: &[usize]) {
    let limits = Limits {
        max_depth: 8,
        ..Limits::default()
    };
    let mut buf = BytesMut::new();
    let mut out = BytesMut::new();
    for chunk in chunks(input, chunk_sizes) {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.len();
            match parse_frame(&mut buf, &limits) {
                Ok(Some(frame)) => {
                    assert!(buf.len() < before, "a frame consumes bytes");
                    reencode(&frame, &mut out);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before, "incomplete consumes nothing");
                    break;
                }
                Err(_) => {
                    assert_eq!(buf.len(), before, "an error consumes nothing");
                    return;
                }
            }
        }
    }
}

/// Writes `frame` in both protocols and reads the RESP3 form back: it must parse.
fn reencode(frame: &Frame, out: &mut BytesMut) {
    out.clear();
    write_frame(out, frame, Protocol::Resp2);
    out.clear();
    write_frame(out, frame, Protocol::Resp3);
    let limits = Limits {
        max_depth: 8,
        ..Limits::default()
    };
    let reread = parse_frame(out, &limits);
    assert!(
        matches!(reread, Ok(Some(_))),
        "re-encoded frame did not parse: {reread:?}"
    );
    assert!(out.is_empty(), "re-encoded frame left bytes behind");
}

fn chunks<'a>(input: &'a [u8], chunk_sizes: &'a [usize]) -> impl Iterator<Item = &'a [u8]> + 'a {
    let mut pos = 0;
    let mut sizes = chunk_sizes.iter().cycle();
    std::iter::from_fn(move || {
        if pos >= input.len() {
            return None;
        }
        let size = sizes.next().copied().unwrap_or(input.len());
        let end = (pos + size).min(input.len());
        let chunk = &input[pos..end];
        pos = end;
        Some(chunk)
    })
}
