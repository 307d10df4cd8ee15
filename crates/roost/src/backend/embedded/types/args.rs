//! Reading a collection command's arguments and writing its numbers as Redis
//! 7.0 does: integers by `string2ll`'s rules, floats by `strtod`'s (NaN
//! refused), scores in replies with `%.17g`, and Redis's error texts.

use crate::backend::NodeReply;
use crate::error::CacheError;
use crate::integer::parse_i64;

/// An error reply as Redis words it (`ERR …`, `WRONGTYPE …`).
pub fn err(reply: &str) -> CacheError {
    CacheError::Rejected {
        reply: reply.to_owned(),
    }
}

pub fn syntax() -> CacheError {
    err("ERR syntax error")
}

pub fn not_integer() -> CacheError {
    err("ERR value is not an integer or out of range")
}

pub fn not_float() -> CacheError {
    err("ERR value is not a valid float")
}

pub fn must_be_positive() -> CacheError {
    err("ERR value is out of range, must be positive")
}

/// An argument as an i64, or Redis's "not an integer" error.
pub fn int(arg: &[u8]) -> Result<i64, CacheError> {
    parse_i64(arg).ok_or_else(not_integer)
}

/// A count argument that must not be negative.
pub fn count(arg: &[u8]) -> Result<usize, CacheError> {
    let n = int(arg)?;
    usize::try_from(n).map_err(|_| must_be_positive())
}

/// A float as Redis's `strtod` check reads it: `inf`, `-inf`, exponents, a
/// leading `+`; no spaces, no NaN.
pub fn parse_float(arg: &[u8]) -> Option<f64> {
    let text = std::str::from_utf8(arg).ok()?;
    if text.starts_with(|c: char| c.is_ascii_whitespace()) {
        return None;
    }
    text.parse::<f64>().ok().filter(|x| !x.is_nan())
}

pub fn float(arg: &[u8]) -> Result<f64, CacheError> {
    parse_float(arg).ok_or_else(not_float)
}

/// A bulk string reply.
pub fn bulk(bytes: &[u8]) -> NodeReply {
    NodeReply::BulkString(bytes.to_vec())
}

/// An array of bulk strings.
pub fn bulks<'a>(items: impl IntoIterator<Item = &'a [u8]>) -> NodeReply {
    NodeReply::Array(items.into_iter().map(bulk).collect())
}

pub fn int_reply(n: usize) -> NodeReply {
    NodeReply::Int(i64::try_from(n).unwrap_or(i64::MAX))
}

/// A score as Redis 7.0 replies with one: RESP3's double, or RESP2's bulk
/// string of `%.17g`.
pub fn score(value: f64, resp3: bool) -> NodeReply {
    if resp3 {
        NodeReply::Double(value)
    } else {
        NodeReply::BulkString(g17(value).into_bytes())
    }
}

/// C's `%.17g`: 17 significant digits, trailing zeros dropped, exponent form
/// below 1e-4 and from 1e17 (`1e+20`, `1.4999999999999999e-07`).
pub fn g17(value: f64) -> String {
    if value.is_infinite() {
        return if value > 0.0 { "inf" } else { "-inf" }.to_owned();
    }
    if value == 0.0 {
        return if value.is_sign_negative() { "-0" } else { "0" }.to_owned();
    }
    let scientific = format!("{value:.16e}");
    let (mantissa, exponent) = scientific
        .split_once('e')
        .expect("invariant: `{:e}` always writes an exponent");
    let exponent: i32 = exponent
        .parse()
        .expect("invariant: `{:e}` writes a decimal exponent");
    if !(-4..17).contains(&exponent) {
        let mantissa = trim_fraction(mantissa);
        let sign = if exponent < 0 { '-' } else { '+' };
        return format!("{mantissa}e{sign}{:02}", exponent.unsigned_abs());
    }
    let decimals = usize::try_from(16 - exponent).unwrap_or(0);
    trim_fraction(&format!("{value:.decimals$}")).to_owned()
}

/// A float as Redis writes an incremented one: fixed-point, no exponent,
/// no trailing zeros. Redis adds in `long double` and prints 17 decimals
/// (`%.17Lf`); Roost adds in `f64` and prints the shortest decimal that
/// reads back as the same `f64`, which gives what Redis prints for the
/// usual sums (0.1 is `0.1`, 10.5 + 0.1 is `10.6`), and can differ in the
/// last digits where `f64` and `long double` do (0.1 + 0.2 is
/// `0.30000000000000004` here, `0.3` there).
pub fn human(value: f64) -> String {
    let text = format!("{value}");
    if text == "-0" {
        "0".to_owned()
    } else {
        text
    }
}

/// `1.500` → `1.5`, `2.000` → `2`; text without a point is left alone.
fn trim_fraction(text: &str) -> &str {
    if !text.contains('.') {
        return text;
    }
    text.trim_end_matches('0').trim_end_matches('.')
}

/// Redis's start/stop index pair (negative from the end) as a range within
/// `len`; `None` when it selects nothing.
pub fn index_range(start: i64, stop: i64, len: usize) -> Option<(usize, usize)> {
    let len_i = i64::try_from(len).unwrap_or(i64::MAX);
    let start = if start < 0 {
        (len_i + start).max(0)
    } else {
        start
    };
    let stop = if stop < 0 { len_i + stop } else { stop };
    if start > stop || start >= len_i || stop < 0 {
        return None;
    }
    let stop = stop.min(len_i - 1);
    Some((
        usize::try_from(start).ok()?,
        usize::try_from(stop).ok()? + 1,
    ))
}

/// A word argument compared as Redis does (ASCII, any case).
pub fn is(arg: &[u8], word: &str) -> bool {
    arg.eq_ignore_ascii_case(word.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_writes_what_redis_7_0_writes() {
        for (value, text) in [
            (0.1, "0.10000000000000001"),
            (1.5, "1.5"),
            (3.0, "3"),
            (1e20, "1e+20"),
            (1.5e-7, "1.4999999999999999e-07"),
            (0.30000000000000004, "0.30000000000000004"),
            (-2.5, "-2.5"),
            (1e16, "10000000000000000"),
            (1e17, "1e+17"),
            (0.0001, "0.0001"),
            (f64::NEG_INFINITY, "-inf"),
        ] {
            assert_eq!(g17(value), text, "{value}");
        }
    }

    #[test]
    fn incremented_floats_read_as_redis_writes_them() {
        assert_eq!(human(10.5), "10.5");
        assert_eq!(human(3.0), "3");
        assert_eq!(human(1e20), "100000000000000000000");
        assert_eq!(human(-0.0), "0");
        assert_eq!(human(0.1), "0.1");
        assert_eq!(human(10.5 + 0.1), "10.6");
    }

    #[test]
    fn floats_and_ranges_read_as_redis_reads_them() {
        assert_eq!(parse_float(b"+inf"), Some(f64::INFINITY));
        assert_eq!(parse_float(b"1e3"), Some(1000.0));
        assert_eq!(parse_float(b"nan"), None);
        assert_eq!(parse_float(b" 1"), None);
        assert_eq!(parse_float(b"1x"), None);
        assert_eq!(index_range(0, -1, 3), Some((0, 3)));
        assert_eq!(index_range(-2, 99, 3), Some((1, 3)));
        assert_eq!(index_range(2, 1, 3), None);
        assert_eq!(index_range(5, 9, 3), None);
        assert_eq!(index_range(-9, -5, 3), None);
    }
}
