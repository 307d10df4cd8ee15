//! Property tests for the whole codec: encode → parse round trips of arbitrary frames
//! in both protocols, chunking independence of the command parser on pipelined input,
//! and arbitrary garbage never panicking nor consuming bytes it does not account for.

#![allow(clippy::unwrap_used)]

use bytes::{Bytes, BytesMut};
use proptest::prelude::*;
use roost_resp::{parse_frame, write_command, write_frame, CommandParser, Frame, Limits, Protocol};

// ---------------------------------------------------------------------------------
// Frames

fn line_bytes() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(
        any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
        0..12,
    )
    .prop_map(Bytes::from)
}

fn blob_bytes() -> impl Strategy<Value = Bytes> {
    prop::collection::vec(any::<u8>(), 0..24).prop_map(Bytes::from)
}

fn double() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>(),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(0.0),
        (-1e6f64..1e6),
    ]
}

fn scalar_frame() -> impl Strategy<Value = Frame> {
    prop_oneof![
        line_bytes().prop_map(Frame::Simple),
        line_bytes().prop_map(Frame::Error),
        any::<i64>().prop_map(Frame::Integer),
        blob_bytes().prop_map(Frame::Bulk),
        Just(Frame::Null),
        Just(Frame::NullArray),
        double().prop_map(Frame::Double),
        any::<bool>().prop_map(Frame::Boolean),
        "-?[1-9][0-9]{0,40}".prop_map(|digits| Frame::BigNumber(Bytes::from(digits))),
        (any::<[u8; 3]>(), blob_bytes())
            .prop_map(|(format, text)| Frame::Verbatim { format, text }),
    ]
}

fn frame() -> impl Strategy<Value = Frame> {
    scalar_frame().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Array),
            prop::collection::vec((inner.clone(), inner.clone()), 0..4).prop_map(Frame::Map),
            prop::collection::vec(inner.clone(), 0..6).prop_map(Frame::Set),
            prop::collection::vec(inner, 0..6).prop_map(Frame::Push),
        ]
    })
}

/// Whether `parsed` is what a peer should read back after `original` was written in
/// `protocol`: identical in RESP3 (but a null array is `_`), down-converted in RESP2.
fn reads_back_as(original: &Frame, parsed: &Frame, protocol: Protocol) -> bool {
    let all = |a: &[Frame], b: &[Frame]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| reads_back_as(x, y, protocol))
    };
    match (protocol, original, parsed) {
        (_, Frame::Double(d), Frame::Double(p)) if protocol == Protocol::Resp3 => {
            d == p || (d.is_nan() && p.is_nan())
        }
        (Protocol::Resp2, Frame::Double(d), Frame::Bulk(text)) => {
            let value: f64 = std::str::from_utf8(text).unwrap().parse().unwrap();
            value == *d || (d.is_nan() && value.is_nan())
        }
        (Protocol::Resp2, Frame::Boolean(b), Frame::Integer(n)) => i64::from(*b) == *n,
        (Protocol::Resp2, Frame::BigNumber(digits), Frame::Bulk(text)) => digits == text,
        (Protocol::Resp2, Frame::Verbatim { text, .. }, Frame::Bulk(bulk)) => text == bulk,
        (Protocol::Resp3, Frame::NullArray, Frame::Null) => true,
        (_, Frame::Array(a), Frame::Array(b)) => all(a, b),
        (Protocol::Resp2, Frame::Set(a) | Frame::Push(a), Frame::Array(b)) => all(a, b),
        (Protocol::Resp3, Frame::Set(a), Frame::Set(b)) => all(a, b),
        (Protocol::Resp3, Frame::Push(a), Frame::Push(b)) => all(a, b),
        (Protocol::Resp3, Frame::Map(a), Frame::Map(b)) => {
            a.len() == b.len()
                && a.iter().zip(b).all(|((k, v), (pk, pv))| {
                    reads_back_as(k, pk, protocol) && reads_back_as(v, pv, protocol)
                })
        }
        (Protocol::Resp2, Frame::Map(pairs), Frame::Array(flat)) => {
            let flattened: Vec<Frame> = pairs
                .iter()
                .flat_map(|(k, v)| [k.clone(), v.clone()])
                .collect();
            all(&flattened, flat)
        }
        (Protocol::Resp2, Frame::NullArray, Frame::NullArray) => true,
        (_, Frame::NullArray, _) | (_, _, Frame::NullArray) => false,
        (Protocol::Resp2, Frame::Double(_) | Frame::Boolean(_) | Frame::BigNumber(_), _) => false,
        (Protocol::Resp2, Frame::Verbatim { .. } | Frame::Set(_) | Frame::Push(_), _) => false,
        _ => original == parsed,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn frames_round_trip_in_both_protocols(frame in frame(), trailing in blob_bytes()) {
        for protocol in [Protocol::Resp2, Protocol::Resp3] {
            let mut buf = BytesMut::new();
            write_frame(&mut buf, &frame, protocol);
            let encoded_len = buf.len();
            buf.extend_from_slice(&trailing);
            let parsed = parse_frame(&mut buf, &Limits::default()).unwrap().unwrap();
            prop_assert!(reads_back_as(&frame, &parsed, protocol), "{protocol:?}: {frame:?} read back as {parsed:?}");
            prop_assert_eq!(&buf[..], &trailing[..]);
            // Every proper prefix is incomplete, never an error, never consumed.
            for cut in [0, encoded_len / 2, encoded_len - 1] {
                let mut encoded = BytesMut::new();
                write_frame(&mut encoded, &frame, protocol);
                let mut prefix = encoded.split_to(cut);
                prop_assert_eq!(parse_frame(&mut prefix, &Limits::default()), Ok(None));
                prop_assert_eq!(prefix.len(), cut);
            }
        }
    }
}

// ---------------------------------------------------------------------------------
// Commands

/// One command and how it goes on the wire.
#[derive(Debug, Clone)]
enum WireCommand {
    Multibulk(Vec<Vec<u8>>),
    /// Plain tokens joined by spaces, ended by CRLF or a bare LF.
    Inline(Vec<Vec<u8>>, bool),
    /// Bytes that carry no command: an empty line, `*0`, `*-1`.
    Nothing(&'static [u8]),
}

fn wire_command() -> impl Strategy<Value = WireCommand> {
    let arg = prop::collection::vec(any::<u8>(), 0..20);
    let token = "[a-zA-Z0-9:_-]{1,12}".prop_map(String::into_bytes);
    prop_oneof![
        4 => prop::collection::vec(arg, 1..6).prop_map(WireCommand::Multibulk),
        2 => (prop::collection::vec(token, 1..5), any::<bool>()).prop_map(|(t, crlf)| WireCommand::Inline(t, crlf)),
        1 => prop::sample::select(vec![&b"\r\n"[..], b"\n", b"*0\r\n", b"*-1\r\n", b"  \r\n"]).prop_map(WireCommand::Nothing),
    ]
}

fn encode_commands(commands: &[WireCommand]) -> (BytesMut, Vec<Vec<Vec<u8>>>) {
    let mut wire = BytesMut::new();
    let mut expected = Vec::new();
    for command in commands {
        match command {
            WireCommand::Multibulk(args) => {
                let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
                write_command(&mut wire, &refs);
                expected.push(args.clone());
            }
            WireCommand::Inline(tokens, crlf) => {
                wire.extend_from_slice(&tokens.join(&b' '));
                wire.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
                expected.push(tokens.clone());
            }
            WireCommand::Nothing(bytes) => wire.extend_from_slice(bytes),
        }
    }
    (wire, expected)
}

/// Everything a parser makes of `input` delivered in pieces cut at `cuts`: the
/// commands, then the error that ended the stream if any, then what is left unparsed
/// (nothing, after an error).
type Outcome = (Vec<Vec<Bytes>>, Option<roost_resp::ProtocolError>, Vec<u8>);

fn parse_in_chunks(input: &[u8], cuts: &[usize]) -> Outcome {
    let mut parser = CommandParser::new(Limits::default());
    let mut buf = BytesMut::new();
    let mut commands = Vec::new();
    let mut bounds: Vec<usize> = cuts.iter().map(|&c| c.min(input.len())).collect();
    bounds.push(input.len());
    bounds.sort_unstable();
    let mut fed = 0;
    for bound in bounds {
        buf.extend_from_slice(&input[fed..bound]);
        fed = bound;
        loop {
            let before = buf.len();
            match parser.parse(&mut buf) {
                Ok(Some(command)) => {
                    let payload: usize = command.iter().map(Bytes::len).sum();
                    assert!(
                        before - buf.len() >= payload,
                        "consumed less than it returned"
                    );
                    commands.push(command);
                }
                Ok(None) => {
                    assert!(buf.len() <= before, "parsing never adds bytes");
                    break;
                }
                Err(error) => {
                    // Empty lines before the bad command may have gone; what is left
                    // then depends on chunking, and the connection is closed anyway.
                    assert!(buf.len() <= before, "parsing never adds bytes");
                    return (commands, Some(error), Vec::new());
                }
            }
        }
    }
    (commands, None, buf.to_vec())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn chunking_never_changes_the_commands(
        commands in prop::collection::vec(wire_command(), 1..16),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..12),
    ) {
        let (wire, expected) = encode_commands(&commands);
        let cuts: Vec<usize> = cuts.iter().map(|index| index.index(wire.len() + 1)).collect();
        let whole = parse_in_chunks(&wire, &[]);
        let chunked = parse_in_chunks(&wire, &cuts);
        prop_assert_eq!(&whole, &chunked);
        let (parsed, error, rest) = whole;
        prop_assert_eq!(error, None);
        prop_assert!(rest.is_empty());
        let parsed: Vec<Vec<Vec<u8>>> = parsed.iter().map(|c| c.iter().map(|a| a.to_vec()).collect()).collect();
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn garbage_never_panics_and_chunking_never_changes_the_outcome(
        input in garbage(),
        cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8),
    ) {
        let cuts: Vec<usize> = cuts.iter().map(|index| index.index(input.len() + 1)).collect();
        prop_assert_eq!(parse_in_chunks(&input, &[]), parse_in_chunks(&input, &cuts));
        let mut buf = BytesMut::from(&input[..]);
        let limits = Limits { max_depth: 4, ..Limits::default() };
        for _ in 0..input.len() + 1 {
            let before = buf.len();
            match parse_frame(&mut buf, &limits) {
                Ok(Some(_)) => prop_assert!(buf.len() < before),
                Ok(None) | Err(_) => {
                    prop_assert_eq!(buf.len(), before);
                    break;
                }
            }
        }
    }
}

/// Bytes biased towards RESP's own punctuation, so the parsers' deeper states are hit.
fn garbage() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        3 => prop::sample::select(vec![
            &b"*"[..], b"$", b"\r\n", b"\r", b"\n", b"1", b"2", b"3", b"0", b"-1", b"-", b" ",
            b"\"", b"'", b"\\x4", b"\\", b"+", b":", b"%", b"~", b"|", b">", b"_", b",", b"#t",
            b"=", b"!", b"(", b"txt:", b"\0",
        ])
        .prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 1..4),
    ];
    prop::collection::vec(piece, 0..48).prop_map(|pieces| pieces.concat())
}

/// A fixed pipeline mixing every command form, delivered in two pieces cut at every
/// position and in three pieces cut at every pair, parses to the same commands.
#[test]
fn every_cut_of_a_mixed_pipeline_gives_the_same_commands() {
    let input: &[u8] = b"*2\r\n$3\r\nGET\r\n$5\r\nk\r\ney\r\n\r\n*0\r\nset k \"a b\" 'c'\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\nPING\n";
    let whole = parse_in_chunks(input, &[]);
    assert_eq!(whole.0.len(), 4);
    assert_eq!(whole.1, None);
    for first in 0..=input.len() {
        for second in first..=input.len() {
            assert_eq!(
                parse_in_chunks(input, &[first, second]),
                whole,
                "cuts {first}, {second}"
            );
        }
    }
}
