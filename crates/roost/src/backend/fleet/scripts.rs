//! Lua scripts and function libraries in front of Redis: `SCRIPT LOAD`,
//! `FUNCTION LOAD` and the rest of their management run on every node (every
//! master of a Redis Cluster), and the gateway remembers each script body
//! (also from an `EVAL` that ran) and each library, so a node that lacks one
//! — added later, restarted, or simply never asked before — is given it on
//! demand: an `EVALSHA` answered `NOSCRIPT` loads the script, an `FCALL`
//! answered `Function not found` loads the libraries whose code names the
//! function (without REPLACE: a node keeps the version it has), and the
//! command runs once more.
//!
//! What is remembered is bounded by [`MAX_BYTES`]; past it a script still
//! runs but is not remembered (a throttled warning says so). It lives in the
//! gateway's memory: another gateway, or this one after a restart, knows only
//! what it was told since.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use bytes::Bytes;
use redis::Value;

use super::Fleet;
use crate::error::CacheError;
use crate::telemetry::Throttled;

/// Script bodies and library code remembered at most, in bytes.
pub const MAX_BYTES: usize = 16 << 20;

#[derive(Debug, Default)]
pub(super) struct Scripts {
    inner: Mutex<Known>,
}

#[derive(Debug, Default)]
struct Known {
    /// By SHA-1, lower-case hex, as Redis names them.
    scripts: HashMap<String, Bytes>,
    /// By library name.
    libraries: HashMap<String, Bytes>,
    bytes: usize,
}

impl Scripts {
    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Remembers a script body (EVAL, SCRIPT LOAD).
    pub(super) fn remember_script(&self, body: &Bytes) {
        let sha = sha1_hex(body);
        let mut known = self.known();
        if known.scripts.contains_key(&sha) {
            return;
        }
        if known.bytes + body.len() > MAX_BYTES {
            return full("script");
        }
        known.bytes += body.len();
        known.scripts.insert(sha, Bytes::copy_from_slice(body));
    }

    pub(super) fn script(&self, sha: &[u8]) -> Option<Bytes> {
        let sha = String::from_utf8_lossy(sha).to_ascii_lowercase();
        self.known().scripts.get(&sha).cloned()
    }

    fn remember_library(&self, name: String, code: &Bytes) {
        let mut known = self.known();
        // The old code goes either way: it is no longer the library's.
        if let Some(old) = known.libraries.remove(&name) {
            known.bytes -= old.len();
        }
        if known.bytes + code.len() > MAX_BYTES {
            return full("function library");
        }
        known.bytes += code.len();
        known.libraries.insert(name, Bytes::copy_from_slice(code));
    }

    fn forget_library(&self, name: &[u8]) {
        let mut known = self.known();
        if let Some(code) = known.libraries.remove(&*String::from_utf8_lossy(name)) {
            known.bytes -= code.len();
        }
    }

    fn forget_scripts(&self) {
        let mut known = self.known();
        let freed: usize = known.scripts.drain().map(|(_, body)| body.len()).sum();
        known.bytes -= freed;
    }

    fn forget_libraries(&self) {
        let mut known = self.known();
        let freed: usize = known.libraries.drain().map(|(_, code)| code.len()).sum();
        known.bytes -= freed;
    }

    /// The libraries whose code names `function` (quoted, as
    /// `redis.register_function('name', …)` or `function_name='name'` do).
    pub(super) fn libraries_naming(&self, function: &[u8]) -> Vec<Bytes> {
        let quoted = |quote: u8| {
            let mut q = vec![quote];
            q.extend_from_slice(function);
            q.push(quote);
            q
        };
        let (single, double) = (quoted(b'\''), quoted(b'"'));
        let names = |code: &Bytes| {
            code.windows(single.len())
                .any(|w| w == &single[..] || w == &double[..])
        };
        self.known()
            .libraries
            .values()
            .filter(|code| names(code))
            .cloned()
            .collect()
    }
}

fn full(what: &str) {
    static LOG: Throttled = Throttled::new(Duration::from_secs(60));
    if let Some(suppressed) = LOG.allow() {
        tracing::warn!(
            what, limit_bytes = MAX_BYTES, suppressed,
            "scripts and libraries remembered for loading on demand reached their limit; this one runs but is not remembered"
        );
    }
}

/// Redis's name for a script: the SHA-1 of its body in lower-case hex.
fn sha1_hex(body: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, body);
    digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `reply` is `NOSCRIPT` (an EVALSHA the node cannot run).
pub(super) fn is_noscript(reply: &Result<Value, CacheError>) -> bool {
    matches!(reply, Err(CacheError::Rejected { reply }) if reply.starts_with("NOSCRIPT"))
}

/// Whether `reply` is Redis's "Function not found" (an FCALL of a library
/// the node has not loaded).
pub(super) fn is_function_not_found(reply: &Result<Value, CacheError>) -> bool {
    matches!(reply, Err(CacheError::Rejected { reply }) if reply.starts_with("ERR Function not found"))
}

impl Fleet {
    /// SCRIPT … or FUNCTION …: on every node (every master of a cluster). An
    /// error reply from any node is the answer (SCRIPT KILL and FUNCTION
    /// KILL: only when no node could kill); `SCRIPT EXISTS` is 1 only where
    /// every node has the script; the rest answer as the first node did
    /// (`FUNCTION LIST`, `DUMP` and `STATS` describe that node).
    pub async fn forward_everywhere(&self, argv: &[Bytes]) -> Result<Value, CacheError> {
        let topology = self.topology();
        let mut replies = Vec::new();
        for node in topology.nodes.iter().filter(|n| n.health.is_up()) {
            replies.extend(self.on_node(node, |l| l.forward_everywhere(argv)).await?);
        }
        if replies.is_empty() {
            return Err(CacheError::NoNode);
        }
        let container = argv[0].to_ascii_lowercase();
        let sub = argv
            .get(1)
            .map(|s| s.to_ascii_lowercase())
            .unwrap_or_default();
        let (container, sub) = (&container[..], &sub[..]);
        if sub == b"kill" {
            let killed = replies.iter().position(Result::is_ok);
            return replies.swap_remove(killed.unwrap_or(0));
        }
        let replies = replies
            .into_iter()
            .collect::<Result<Vec<Value>, CacheError>>()?;
        match (container, sub) {
            (b"script", b"load") => self.scripts.remember_script(&argv[2]),
            (b"script", b"flush") => self.scripts.forget_scripts(),
            (b"function", b"load") => {
                if let (Some(Value::BulkString(name)), Some(code)) = (replies.first(), argv.last())
                {
                    self.scripts
                        .remember_library(String::from_utf8_lossy(name).into_owned(), code);
                }
            }
            (b"function", b"delete") => self.scripts.forget_library(&argv[2]),
            (b"function", b"flush") => self.scripts.forget_libraries(),
            (b"script", b"exists") => return Ok(every_node_has(replies)),
            _ => {}
        }
        Ok(replies.into_iter().next().unwrap_or(Value::Nil))
    }
}

/// SCRIPT EXISTS over every node: 1 for a script only where each node said 1.
fn every_node_has(replies: Vec<Value>) -> Value {
    let mut all: Option<Vec<Value>> = None;
    for reply in replies {
        let Value::Array(flags) = reply else {
            continue;
        };
        all = Some(match all {
            None => flags,
            Some(so_far) => so_far
                .into_iter()
                .zip(flags)
                .map(|(a, b)| match (a, b) {
                    (Value::Int(a), Value::Int(b)) => Value::Int(a.min(b)),
                    (a, _) => a,
                })
                .collect(),
        });
    }
    Value::Array(all.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_is_named_as_redis_names_it() {
        // redis-cli SCRIPT LOAD "return 1"
        assert_eq!(
            sha1_hex(b"return 1"),
            "e0e1f9fabfc9d4800c877a703b823ac0578ff8db"
        );
    }

    #[test]
    fn what_is_remembered_stays_under_its_bound() {
        let scripts = Scripts::default();
        let body = Bytes::from(vec![b'x'; MAX_BYTES / 2 + 1]);
        scripts.remember_script(&body);
        scripts.remember_script(&Bytes::from(vec![b'y'; MAX_BYTES / 2 + 1]));
        assert!(scripts.script(sha1_hex(&body).as_bytes()).is_some());
        assert_eq!(
            scripts.known().scripts.len(),
            1,
            "the second would pass the bound"
        );
        scripts.forget_scripts();
        assert_eq!(scripts.known().bytes, 0);
    }
}
