//! Number text on the wire: strict integer parsing (Redis's `string2ll` rules) and
//! double parsing and formatting. Owns no buffers and never allocates on the hot path.

use std::fmt::Write as _;

/// Parses a decimal `i64` exactly as Redis's `string2ll` does: an optional `-`, then
/// either `0` alone or digits without a leading zero; no `+`, no spaces, no overflow.
pub(crate) fn parse_decimal(text: &[u8]) -> Option<i64> {
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        Some(_) => (false, text),
        None => return None,
    };
    match digits {
        [] => return None,
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &byte in digits {
        if !byte.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(byte - b'0'))?;
    }
    if negative {
        // i64::MIN's magnitude is one more than i64::MAX.
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Parses a RESP3 double: `inf`, `-inf`, `nan` or a decimal/exponent number.
pub(crate) fn parse_double(text: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(text).ok()?;
    match text {
        "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ if text.starts_with(['-', '.', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9']) => {
            text.parse().ok()
        }
        _ => None,
    }
}

/// Formatted double text, on the stack: `inf`, `-inf`, `nan`, or the shortest decimal
/// that reads back as the same value (exponent form outside `[1e-5, 1e17)`).
pub(crate) struct DoubleText {
    bytes: [u8; 40],
    len: usize,
}

impl DoubleText {
    pub(crate) fn new(value: f64) -> Self {
        let mut text = DoubleText {
            bytes: [0; 40],
            len: 0,
        };
        let magnitude = value.abs();
        // Rust's shortest round-trip formatting; Display never uses an exponent, so
        // very large or small values take Debug's exponent form to stay short.
        let written = if value.is_nan() {
            text.write_str("nan")
        } else if value.is_infinite() {
            text.write_str(if value > 0.0 { "inf" } else { "-inf" })
        } else if magnitude == 0.0 || (1e-5..1e17).contains(&magnitude) {
            write!(text, "{value}")
        } else {
            write!(text, "{value:?}")
        };
        // 40 bytes hold any f64 in either form (the longest is about 25), so this
        // never fires; if it did, the truncated text would still be valid UTF-8 digits.
        debug_assert!(written.is_ok(), "double text overflowed its buffer");
        text
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

impl std::fmt::Write for DoubleText {
    fn write_str(&mut self, part: &str) -> std::fmt::Result {
        let end = self.len + part.len();
        let slot = self.bytes.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(part.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_decimal, parse_double, DoubleText};

    #[test]
    fn decimal_follows_string2ll() {
        assert_eq!(parse_decimal(b"0"), Some(0));
        assert_eq!(parse_decimal(b"42"), Some(42));
        assert_eq!(parse_decimal(b"-1"), Some(-1));
        assert_eq!(parse_decimal(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_decimal(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [
            &b""[..],
            b"-",
            b"-0",
            b"007",
            b"+1",
            b" 1",
            b"1 ",
            b"1x",
            b"9223372036854775808",
            b"-9223372036854775809",
            b"99999999999999999999999",
        ] {
            assert_eq!(
                parse_decimal(bad),
                None,
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn double_parses_special_values_and_rejects_words() {
        assert_eq!(parse_double(b"inf"), Some(f64::INFINITY));
        assert_eq!(parse_double(b"-inf"), Some(f64::NEG_INFINITY));
        assert!(parse_double(b"nan").is_some_and(f64::is_nan));
        assert_eq!(parse_double(b"1.5"), Some(1.5));
        assert_eq!(parse_double(b"-2e-3"), Some(-0.002));
        assert_eq!(parse_double(b"infinity"), None);
        assert_eq!(parse_double(b""), None);
        assert_eq!(parse_double(b"x"), None);
    }

    #[test]
    fn double_text_is_short_and_round_trips() {
        let cases: [(f64, &str); 8] = [
            (1.0, "1"),
            (-2.5, "-2.5"),
            (0.1, "0.1"),
            (1e300, "1e300"),
            (1.5e-7, "1.5e-7"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::NAN, "nan"),
        ];
        for (value, text) in cases {
            assert_eq!(DoubleText::new(value).as_bytes(), text.as_bytes());
        }
        for value in [
            f64::MIN_POSITIVE,
            f64::MAX,
            -f64::MAX,
            123456.789e-3,
            5e-324,
        ] {
            let text = DoubleText::new(value);
            assert_eq!(parse_double(text.as_bytes()), Some(value));
        }
    }
}
