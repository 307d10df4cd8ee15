//! `ProtocolError`: every way RESP input can be malformed or over a limit.
//!
//! The texts of the server-side variants are Redis's own (`networking.c`), word for
//! word, so a client sees the same `-ERR Protocol error: …` from Roost as from Redis.
//! That is why they start with a capital "Protocol error", against the workspace's
//! lower-case rule: wire compatibility wins. The reply-side variants (only a client
//! parsing replies meets them) follow the same shape.

/// Malformed or over-limit RESP input. Every variant is fatal for the connection:
/// the server replies `-ERR <Display>` and closes it, as Redis does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// An inline command line longer than `max_inline_len` with no newline yet.
    #[error("Protocol error: too big inline request")]
    TooBigInlineRequest,
    /// An inline command with a quote that is never closed, or a closing quote
    /// followed by something other than a space.
    #[error("Protocol error: unbalanced quotes in request")]
    UnbalancedQuotes,
    /// A `*<count>` line longer than `max_inline_len` with no CR yet.
    #[error("Protocol error: too big mbulk count string")]
    TooBigMultibulkCount,
    /// A `$<len>` line longer than `max_inline_len` with no CR yet.
    #[error("Protocol error: too big bulk count string")]
    TooBigBulkCount,
    /// A multibulk count that is not an integer or exceeds `max_multibulk_len`.
    #[error("Protocol error: invalid multibulk length")]
    InvalidMultibulkLength,
    /// A bulk length that is not an integer, is negative, or exceeds `max_bulk_len`.
    #[error("Protocol error: invalid bulk length")]
    InvalidBulkLength,
    /// An element of a command array that does not start with `$`; holds the byte
    /// found instead.
    #[error("Protocol error: expected '$', got '{}'", char::from(*.0))]
    ExpectedBulk(u8),
    /// A reply starting with a byte that is no RESP2/RESP3 type.
    #[error("Protocol error: invalid reply type byte '{}'", char::from(*.0))]
    InvalidReplyType(u8),
    /// A reply line (simple string, error, number, header) longer than
    /// `max_inline_len` with no CR yet.
    #[error("Protocol error: too big reply line")]
    TooBigReplyLine,
    /// A line or blob that is not terminated by CRLF.
    #[error("Protocol error: expected CRLF")]
    ExpectedCrlf,
    /// An `:` integer reply that is not a 64-bit signed integer.
    #[error("Protocol error: invalid integer")]
    InvalidInteger,
    /// A `,` double reply that is not a floating point number.
    #[error("Protocol error: invalid double")]
    InvalidDouble,
    /// A `#` boolean reply other than `t` or `f`.
    #[error("Protocol error: invalid boolean")]
    InvalidBoolean,
    /// A `_` null reply with content.
    #[error("Protocol error: invalid null")]
    InvalidNull,
    /// A `(` big number reply that is not an optionally signed run of digits.
    #[error("Protocol error: invalid big number")]
    InvalidBigNumber,
    /// A `=` verbatim string without its `xxx:` format prefix.
    #[error("Protocol error: invalid verbatim string")]
    InvalidVerbatim,
    /// Aggregates nested deeper than `max_depth`.
    #[error("Protocol error: reply nested deeper than {0} levels")]
    TooDeep(usize),
}

#[cfg(test)]
mod tests {
    use super::ProtocolError;

    #[test]
    fn server_side_texts_are_redis_own() {
        let cases = [
            (
                ProtocolError::TooBigInlineRequest,
                "Protocol error: too big inline request",
            ),
            (
                ProtocolError::UnbalancedQuotes,
                "Protocol error: unbalanced quotes in request",
            ),
            (
                ProtocolError::TooBigMultibulkCount,
                "Protocol error: too big mbulk count string",
            ),
            (
                ProtocolError::TooBigBulkCount,
                "Protocol error: too big bulk count string",
            ),
            (
                ProtocolError::InvalidMultibulkLength,
                "Protocol error: invalid multibulk length",
            ),
            (
                ProtocolError::InvalidBulkLength,
                "Protocol error: invalid bulk length",
            ),
            (
                ProtocolError::ExpectedBulk(b'f'),
                "Protocol error: expected '$', got 'f'",
            ),
        ];
        for (error, text) in cases {
            assert_eq!(error.to_string(), text);
        }
    }

    #[test]
    fn reply_side_texts_name_the_problem() {
        assert_eq!(
            ProtocolError::InvalidReplyType(b'?').to_string(),
            "Protocol error: invalid reply type byte '?'"
        );
        assert_eq!(
            ProtocolError::TooDeep(32).to_string(),
            "Protocol error: reply nested deeper than 32 levels"
        );
    }
}
