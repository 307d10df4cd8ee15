//! Splitting an inline command line (`SET k "a b"`, as typed into telnet) into
//! arguments with Redis's quoting rules (`sdssplitargs` in `sds.c`).
//!
//! The rules, as Redis has them:
//! - arguments are separated by whitespace (space, `\t`, `\n`, `\v`, `\f`, `\r`);
//!   inside an unquoted argument only space, `\t`, `\n`, `\r` end it;
//! - `"…"` supports `\xHH` hex escapes and `\n \r \t \b \a`; any other escaped byte
//!   stands for itself;
//! - `'…'` supports only `\'`;
//! - a quote may open in the middle of an argument (`a"b c"` is `ab c`), but a closing
//!   quote must be followed by whitespace or the end of the line;
//! - a NUL byte ends the line (Redis works on C strings), so inside quotes it is an
//!   unterminated quote.
//!
//! Inline commands are rare (humans at a terminal), so arguments are copied; the
//! multibulk path is the zero-copy one.

use bytes::Bytes;

use crate::ProtocolError;

/// Splits one inline line (without its line ending) into arguments. An empty or
/// all-blank line yields no arguments; `""` yields an empty argument.
pub(crate) fn split_inline(line: &[u8]) -> Result<Vec<Bytes>, ProtocolError> {
    let line = match line.iter().position(|&byte| byte == 0) {
        Some(nul) => &line[..nul],
        None => line,
    };
    let mut args = Vec::new();
    let mut pos = 0;
    loop {
        while line.get(pos).is_some_and(|&byte| is_c_space(byte)) {
            pos += 1;
        }
        if pos >= line.len() {
            return Ok(args);
        }
        let (arg, next) = read_argument(line, pos)?;
        args.push(Bytes::from(arg));
        pos = next;
    }
}

/// The quoting mode while reading one argument.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Quote {
    None,
    Double,
    Single,
}

/// Reads the argument starting at `pos` (not whitespace); returns it and the position
/// after its terminator.
fn read_argument(line: &[u8], mut pos: usize) -> Result<(Vec<u8>, usize), ProtocolError> {
    let mut arg = Vec::new();
    let mut quote = Quote::None;
    loop {
        let byte = line.get(pos).copied();
        let after = line.get(pos + 1).copied();
        match (quote, byte) {
            (Quote::None, None | Some(b' ' | b'\n' | b'\r' | b'\t')) => {
                return Ok((arg, pos + 1));
            }
            (Quote::None, Some(b'"')) => quote = Quote::Double,
            (Quote::None, Some(b'\'')) => quote = Quote::Single,
            (Quote::None, Some(other)) => arg.push(other),
            (Quote::Double | Quote::Single, None) => return Err(ProtocolError::UnbalancedQuotes),
            (Quote::Double, Some(b'\\')) => match (after, hex_byte(line.get(pos + 2..pos + 4))) {
                (Some(b'x'), Some(decoded)) => {
                    arg.push(decoded);
                    pos += 3;
                }
                (Some(escaped), _) => {
                    arg.push(unescape(escaped));
                    pos += 1;
                }
                // A backslash ending the line stands for itself; the quote is unclosed.
                (None, _) => arg.push(b'\\'),
            },
            (Quote::Single, Some(b'\\')) if after == Some(b'\'') => {
                arg.push(b'\'');
                pos += 1;
            }
            (Quote::Double, Some(b'"')) | (Quote::Single, Some(b'\'')) => {
                if after.is_some_and(|next| !is_c_space(next)) {
                    return Err(ProtocolError::UnbalancedQuotes);
                }
                return Ok((arg, pos + 1));
            }
            (Quote::Double | Quote::Single, Some(other)) => arg.push(other),
        }
        pos += 1;
    }
}

/// C's `isspace` in the C locale.
fn is_c_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

/// The byte named by two hex digits, if both are hex digits.
fn hex_byte(digits: Option<&[u8]>) -> Option<u8> {
    let &[high, low] = digits? else {
        return None;
    };
    let value = |digit: u8| char::from(digit).to_digit(16);
    let byte = value(high)? * 16 + value(low)?;
    u8::try_from(byte).ok()
}

/// The byte a backslash escape inside double quotes stands for.
fn unescape(escaped: u8) -> u8 {
    match escaped {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::split_inline;
    use crate::ProtocolError;

    fn split(line: &str) -> Result<Vec<String>, ProtocolError> {
        split_inline(line.as_bytes()).map(|args| {
            args.iter()
                .map(|arg| String::from_utf8_lossy(arg).into_owned())
                .collect()
        })
    }

    #[test]
    fn splits_on_whitespace_runs() {
        assert_eq!(split("  get \t key  ").unwrap(), ["get", "key"]);
        assert_eq!(split("").unwrap(), Vec::<String>::new());
        assert_eq!(split(" \t ").unwrap(), Vec::<String>::new());
    }

    #[test]
    fn double_quotes_keep_spaces_and_decode_escapes() {
        assert_eq!(split(r#"set k "a b""#).unwrap(), ["set", "k", "a b"]);
        assert_eq!(split(r#""\x41\x7a" "\n\t\"""#).unwrap(), ["Az", "\n\t\""]);
        assert_eq!(split(r#""\xZZ""#).unwrap(), ["xZZ"]);
        assert_eq!(split(r#""""#).unwrap(), [""]);
        assert_eq!(split(r#"a"b c"d"#), Err(ProtocolError::UnbalancedQuotes));
        assert_eq!(split(r#"a"b c""#).unwrap(), ["ab c"]);
    }

    #[test]
    fn single_quotes_only_escape_the_quote() {
        assert_eq!(split(r"'it\'s' '\n'").unwrap(), ["it's", r"\n"]);
    }

    #[test]
    fn unbalanced_quotes_are_refused() {
        for line in [r#"set k "abc"#, "set k 'abc", r#""a"b"#, "'a'b", r#""abc\"#] {
            assert_eq!(split(line), Err(ProtocolError::UnbalancedQuotes), "{line}");
        }
    }

    #[test]
    fn nul_ends_the_line_as_in_c() {
        assert_eq!(split("get k\0ignored").unwrap(), ["get", "k"]);
        assert_eq!(split("get \"k\0\""), Err(ProtocolError::UnbalancedQuotes));
    }
}
