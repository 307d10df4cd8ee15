//! Every error a RESP command can answer, with Redis's own texts, and the one
//! place they are written to the wire. The texts start with their Redis error code
//! (`ERR`, `NOAUTH`, `WRONGPASS`, …) and keep Redis's capitals and full stops,
//! against the workspace's lower-case rule: clients match on them.

use std::time::Duration;

use bytes::BytesMut;
use roost_resp::write_error;

use crate::error::{CacheError, ErrorKind};
use crate::telemetry::Throttled;

/// Bytes of a command's name and of its arguments quoted back in "unknown
/// command" errors, as Redis limits them.
const QUOTED_ARGS_MAX: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum RespError {
    #[error("ERR wrong number of arguments for '{0}' command")]
    WrongArity(&'static str),
    #[error("ERR unknown command '{name}', with args beginning with: {args}")]
    UnknownCommand { name: String, args: String },
    #[error("ERR unknown subcommand '{sub}'. Try {command} HELP.")]
    UnknownSubcommand { command: &'static str, sub: String },
    #[error("ERR syntax error")]
    Syntax,
    #[error("ERR value is not an integer or out of range")]
    NotAnInteger,
    #[error("ERR decrement would overflow")]
    DecrementOverflow,
    #[error("ERR invalid expire time in '{0}' command")]
    InvalidExpireTime(&'static str),
    #[error("ERR NX and XX, GT or LT options at the same time are not compatible")]
    ExpireNxWithOthers,
    #[error("ERR GT and LT options at the same time are not compatible")]
    ExpireGtWithLt,
    #[error("ERR Unsupported option {0}")]
    UnsupportedOption(String),
    #[error("ERR Invalid command specified")]
    GetKeysUnknownCommand,
    #[error("ERR The command has no key arguments")]
    GetKeysNoKeys,
    #[error("ERR Invalid number of arguments specified for command")]
    GetKeysWrongArity,
    #[error("ERR invalid cursor")]
    InvalidCursor,
    #[error("ERR DB index is out of range")]
    DbIndexOutOfRange,
    #[error("NOAUTH Authentication required.")]
    NoAuth,
    #[error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time")]
    NoAuthHello,
    #[error("WRONGPASS invalid username-password pair or user is disabled.")]
    WrongPass,
    #[error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?")]
    NoPasswordConfigured,
    #[error("NOPERM this user has no permissions to run the '{0}' command")]
    NoPermission(&'static str),
    #[error("NOPROTO unsupported protocol version")]
    UnsupportedProtocol,
    #[error("ERR Protocol version is not an integer or out of range")]
    ProtocolNotAnInteger,
    #[error("ERR Syntax error in HELLO option '{0}'")]
    HelloSyntax(String),
    #[error("ERR Client names cannot contain spaces, newlines or special characters.")]
    BadClientName,
    #[error("ERR Client names are limited to {0} bytes")]
    ClientNameTooLong(usize),
    #[error("ERR internal error; the server log has the details")]
    Internal,
    /// Writing a partial answer failed and the connection is closing; nothing
    /// more can be written to it.
    #[error("the connection was closed while the reply was written")]
    ConnectionLost,
    #[error("ERR {0}")]
    NotSupported(&'static str),
    #[error("ERR CONFIG SET of '{0}' is not supported: Roost is configured by ROOST_* settings at start-up; only Redis's encoding parameters (hash-max-listpack-entries…) can be set")]
    ConfigSetRefused(String),
    #[error("ERR MULTI calls can not be nested")]
    NestedMulti,
    #[error("ERR EXEC without MULTI")]
    ExecWithoutMulti,
    #[error("ERR DISCARD without MULTI")]
    DiscardWithoutMulti,
    #[error("ERR WATCH inside MULTI is not allowed")]
    WatchInMulti,
    #[error("EXECABORT Transaction discarded because of previous errors.")]
    ExecAbort,
    #[error("ERR '{0}' cannot be queued in a transaction through Roost: it names no key")]
    NotQueueable(&'static str),
    #[error("ERR {0}")]
    Cache(#[from] CacheError),
}

impl RespError {
    /// Redis's "unknown command" error: the name and the first arguments quoted,
    /// each followed by a space, within Redis's length limits.
    pub fn unknown_command(args: &[bytes::Bytes]) -> RespError {
        let name = lossy(&args[0], QUOTED_ARGS_MAX);
        let mut quoted = String::new();
        for arg in &args[1..] {
            if quoted.len() >= QUOTED_ARGS_MAX {
                break;
            }
            let room = QUOTED_ARGS_MAX - quoted.len();
            quoted.push('\'');
            quoted.push_str(&lossy(arg, room));
            quoted.push_str("' ");
        }
        RespError::UnknownCommand { name, args: quoted }
    }

    pub fn unknown_subcommand(command: &'static str, sub: &[u8]) -> RespError {
        RespError::UnknownSubcommand {
            command,
            sub: lossy(sub, QUOTED_ARGS_MAX),
        }
    }

    /// Appends this error as one `-…\r\n` reply: a Redis node's reply to the
    /// request relayed as it was sent, a failure on Roost's side as a fixed
    /// sentence (logged here, at most once a second, with its cause).
    pub fn write(&self, out: &mut BytesMut) {
        match self {
            RespError::ConnectionLost => {}
            RespError::Cache(CacheError::Rejected { reply }) => {
                write_error(out, reply.as_bytes());
            }
            RespError::Cache(err)
                if matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Upstream) =>
            {
                static FAILURES: Throttled = Throttled::new(Duration::from_secs(1));
                if let Some(suppressed) = FAILURES.allow() {
                    tracing::warn!(code = err.code(), error = %err.chain(), suppressed, "resp command failed");
                }
                write_error(out, format!("ERR {}", err.public_message()).as_bytes());
            }
            _ => write_error(out, self.to_string().as_bytes()),
        }
    }
}

/// At most `max` bytes of `bytes` as text (invalid UTF-8 replaced).
fn lossy(bytes: &[u8], max: usize) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn unknown_command_quotes_like_redis() {
        let args = [Bytes::from("foo"), Bytes::from("a"), Bytes::from("b")];
        assert_eq!(
            RespError::unknown_command(&args).to_string(),
            "ERR unknown command 'foo', with args beginning with: 'a' 'b' "
        );
        let alone = [Bytes::from("foo")];
        assert_eq!(
            RespError::unknown_command(&alone).to_string(),
            "ERR unknown command 'foo', with args beginning with: "
        );
        let long = [
            Bytes::from("x"),
            Bytes::from("y".repeat(500)),
            Bytes::from("z"),
        ];
        let text = RespError::unknown_command(&long).to_string();
        assert!(
            !text.contains('z'),
            "arguments past 128 bytes are not quoted"
        );
        assert!(text.len() < 250, "{}", text.len());
    }

    #[test]
    fn cache_errors_keep_their_message_behind_err() {
        let err = RespError::from(CacheError::NotAnInteger);
        assert_eq!(
            err.to_string(),
            "ERR value is not an integer or out of range"
        );
        let mut out = BytesMut::new();
        RespError::Syntax.write(&mut out);
        assert_eq!(&out[..], b"-ERR syntax error\r\n");
    }

    #[test]
    fn a_write_not_logged_says_it_was_applied_here() {
        let cause = crate::error::Cause::text("disk full at /data/geo/log/00000001.log");
        let err = RespError::from(CacheError::NotLogged {
            source: Some(cause),
        });
        let mut out = BytesMut::new();
        err.write(&mut out);
        assert_eq!(
            &out[..],
            &b"-ERR write applied in this region but not durably logged for the other regions\r\n"
                [..],
            "the cause (a path) stays in the log"
        );
    }
}
