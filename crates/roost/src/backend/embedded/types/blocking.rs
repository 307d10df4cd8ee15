//! Blocking pops on the embedded store: BLPOP, BRPOP, BRPOPLPUSH, BLMOVE,
//! BLMPOP, BZPOPMIN, BZPOPMAX, BZMPOP. Each tries its non-blocking form (a
//! WRONGTYPE or a syntax error answers at once); when there is nothing to
//! pop it waits, registered on its keys (`embedded/waiters.rs`), for a write
//! to one of them or for its timeout, and tries again. A timeout of 0 waits
//! as long as the client stays; a timeout answers a null, as Redis does.
//! The wait holds no lock: other clients' commands run meanwhile.

use std::time::Duration;

use bytes::Bytes;

use super::args::{self, bulk, err};
use super::{lists, zsets, Call};
use crate::backend::{Embedded, Forwarded, NodeReply};
use crate::error::CacheError;

/// The commands this file runs.
pub(super) const NAMES: &[&str] = &[
    "blpop",
    "brpop",
    "brpoplpush",
    "blmove",
    "blmpop",
    "bzpopmin",
    "bzpopmax",
    "bzmpop",
];

/// A wait this long or longer waits for ever (and fits a `Duration`).
const FOREVER_SECS: f64 = 1e12;

impl Embedded {
    /// Runs a blocking pop: at once when there is something to pop, else
    /// after a write to one of its keys, else a null at its timeout.
    pub async fn run_blocking(&self, command: Forwarded<'_>) -> Result<NodeReply, CacheError> {
        let (name, argv) = (command.name, command.argv);
        let timeout_at = match name {
            "blmpop" | "bzmpop" => 1,
            _ => argv.len() - 1,
        };
        let timeout = timeout(&argv[timeout_at])?;
        let waiter = self.waiters.register(command.keys);
        let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
        let stopping = self.stopping();
        loop {
            if let Some(reply) = self.attempt(name, argv, command.resp3)? {
                return Ok(reply);
            }
            let timed_out = async {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            // Shutdown ends a wait as its timeout would: the client gets its
            // null instead of holding the drain up.
            tokio::select! {
                () = waiter.woken() => {}
                () = timed_out => return Ok(NodeReply::Nil),
                () = stopping.cancelled() => return Ok(NodeReply::Nil),
            }
        }
    }

    /// The command's non-blocking form; `None` when there was nothing to pop.
    fn attempt(
        &self,
        name: &str,
        argv: &[Bytes],
        resp3: bool,
    ) -> Result<Option<NodeReply>, CacheError> {
        let run = |plain: &'static str, plain_argv: Vec<Bytes>| {
            // A pop leaves no longer string than it found.
            let call = Call {
                db: self,
                argv: &plain_argv,
                resp3,
                max_value: usize::MAX,
            };
            match plain {
                "lpop" | "rpop" | "rpoplpush" | "lmove" | "lmpop" => lists::run(&call, plain),
                _ => zsets::run(&call, plain),
            }
        };
        let word = |text: &'static str| Bytes::from_static(text.as_bytes());
        let keys = &argv[1..argv.len() - 1];
        match name {
            "blpop" | "brpop" => {
                let pop = if name == "blpop" { "lpop" } else { "rpop" };
                for key in keys {
                    match run(pop, vec![word(pop), key.clone()])? {
                        NodeReply::Nil => {}
                        item => return Ok(Some(NodeReply::Array(vec![bulk(key), item]))),
                    }
                }
                Ok(None)
            }
            "bzpopmin" | "bzpopmax" => {
                let pop = if name == "bzpopmin" {
                    "zpopmin"
                } else {
                    "zpopmax"
                };
                for key in keys {
                    if let NodeReply::Array(pair) = run(pop, vec![word(pop), key.clone()])? {
                        if !pair.is_empty() {
                            let mut reply = vec![bulk(key)];
                            reply.extend(pair);
                            return Ok(Some(NodeReply::Array(reply)));
                        }
                    }
                }
                Ok(None)
            }
            "brpoplpush" => nil_is_none(run("rpoplpush", plain(word("rpoplpush"), &argv[1..3]))),
            "blmove" => nil_is_none(run("lmove", plain(word("lmove"), &argv[1..5]))),
            "blmpop" => nil_is_none(run("lmpop", plain(word("lmpop"), &argv[2..]))),
            "bzmpop" => nil_is_none(run("zmpop", plain(word("zmpop"), &argv[2..]))),
            _ => Err(CacheError::NeedsRedis {
                command: "blocking",
            }),
        }
    }
}

/// `name` followed by `rest`.
fn plain(name: Bytes, rest: &[Bytes]) -> Vec<Bytes> {
    std::iter::once(name).chain(rest.iter().cloned()).collect()
}

fn nil_is_none(reply: Result<NodeReply, CacheError>) -> Result<Option<NodeReply>, CacheError> {
    Ok(Some(reply?).filter(|r| *r != NodeReply::Nil))
}

/// A blocking command's timeout in seconds, as Redis reads it: a float, not
/// negative; 0 waits for ever.
fn timeout(arg: &[u8]) -> Result<Option<Duration>, CacheError> {
    let secs =
        args::parse_float(arg).ok_or_else(|| err("ERR timeout is not a float or out of range"))?;
    if secs < 0.0 {
        return Err(err("ERR timeout is negative"));
    }
    if secs == 0.0 || secs >= FOREVER_SECS {
        return Ok(None);
    }
    Ok(Some(Duration::from_secs_f64(secs)))
}
