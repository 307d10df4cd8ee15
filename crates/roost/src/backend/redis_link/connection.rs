//! One request's way to Redis: a standalone node's multiplexed connection or a
//! cluster connection behind one `redis::aio::ConnectionLike`, so commands and
//! scripts are written once. Also owns turning redis-rs errors into
//! `CacheError`s; it does not pick connections or time requests.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use std::sync::Arc;

use redis::{
    Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, ServerError, ServerErrorKind, Value,
};

use crate::error::{CacheError, Cause, NodeFault};

/// Longest error reply relayed to a client.
const REASON_LIMIT: usize = 200;

/// A cloned handle to the node or cluster a request goes to.
#[derive(Clone)]
pub(crate) enum Connection {
    Node(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// Where a node-wide command (SCAN, DBSIZE, INFO…) runs: the standalone node,
/// or one cluster master named by a slot it serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Node,
    Master { slot: u16 },
}

impl Connection {
    /// This connection aimed at `place`: commands and pipelines sent through the
    /// result run there (a cluster master is reached through one of its slots).
    pub(crate) fn at(&mut self, place: Place) -> Placed<'_> {
        Placed {
            connection: self,
            place,
        }
    }
}

/// A connection aimed at one place; see [`Connection::at`].
pub(crate) struct Placed<'a> {
    connection: &'a mut Connection,
    place: Place,
}

impl ConnectionLike for Placed<'_> {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match (&mut *self.connection, self.place) {
            (Connection::Cluster(cluster), Place::Master { slot }) => {
                let routing = RoutingInfo::SingleNode(on_master(slot));
                Box::pin(cluster.route_command(cmd.clone(), routing))
            }
            (connection, _) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match (&mut *self.connection, self.place) {
            (Connection::Cluster(cluster), Place::Master { slot }) => {
                Box::pin(cluster.route_pipeline(pipeline.clone(), offset, count, on_master(slot)))
            }
            (connection, _) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        self.connection.get_db()
    }
}

/// Redis Cluster's slot of `key`: CRC16 (XMODEM) of its hash tag, mod 16384.
pub(crate) fn key_slot(key: &[u8]) -> u16 {
    crc16::State::<crc16::XMODEM>::calculate(roost_ring::hash_tag(key)) % 16384
}

fn on_master(slot: u16) -> SingleNodeRoutingInfo {
    SingleNodeRoutingInfo::SpecificNode(Route::new(slot, SlotAddr::Master))
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Node(node) => node.req_packed_command(cmd),
            Connection::Cluster(cluster) => cluster.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Node(node) => node.req_packed_commands(cmd, offset, count),
            Connection::Cluster(cluster) => cluster.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Node(node) => node.get_db(),
            Connection::Cluster(cluster) => cluster.get_db(),
        }
    }
}

/// Whether `err` means the connection itself is broken and must be made again
/// (as opposed to an error reply on a healthy connection).
pub(crate) fn breaks_connection(err: &RedisError) -> bool {
    err.is_io_error() || err.is_connection_dropped() || err.is_unrecoverable_error()
}

/// The `CacheError` for a failed request to `node`, decided on the error's
/// kind and Redis's error code, never its text: a node fault the fleet counts,
/// or a reply the request itself caused, relayed to the client unchanged.
pub(crate) fn cache_error(node: &str, err: RedisError) -> CacheError {
    let fault = match server_replies(&err) {
        // Error replies, one or several (a pipeline reports every command's):
        // the node's fault if any of them says the node cannot serve,
        // otherwise the request's, relayed as the first reply was sent.
        Some(replies) => match replies.iter().find_map(|(_, reply)| reply_fault(reply)) {
            Some(fault) => fault,
            None => {
                let reply = replies
                    .first()
                    .map_or_else(|| err.to_string(), |(_, reply)| reply_text(reply));
                return CacheError::Rejected {
                    reply: bounded(reply),
                };
            }
        },
        None => transport_fault(&err),
    };
    CacheError::NodeFailed {
        node: node.to_string(),
        fault,
        source: Some(Cause::new(err)),
    }
}

/// `CacheError::NodeFailed` for `node` with a fault and a reason of Roost's own.
pub(crate) fn node_failed(node: &str, fault: NodeFault, reason: impl Into<String>) -> CacheError {
    CacheError::NodeFailed {
        node: node.to_string(),
        fault,
        source: Some(Cause::text(reason)),
    }
}

/// The error replies in `err`: its own, or every failed command's of a
/// pipeline; `None` when the node sent no error reply (the failure is the
/// connection's or the answer's).
fn server_replies(err: &RedisError) -> Option<Arc<[(usize, ServerError)]>> {
    err.clone().into_server_errors()
}

/// Whether an error reply says the node cannot serve (`Some`), rather than
/// that the request is wrong for it (`None`: WRONGTYPE, ERR …, EXECABORT,
/// CROSSSLOT, and any code Roost does not know).
fn reply_fault(reply: &ServerError) -> Option<NodeFault> {
    match reply.kind() {
        // The request's doing, whatever a client sends (a forwarded EVALSHA
        // of an unknown script, a command the node's ACL user may not run):
        // relayed, and never counted toward ejecting a healthy node.
        Some(
            ServerErrorKind::ResponseError
            | ServerErrorKind::ExecAbort
            | ServerErrorKind::CrossSlot
            | ServerErrorKind::NoScript
            | ServerErrorKind::NotBusy
            | ServerErrorKind::NoSub
            | ServerErrorKind::NoPerm,
        ) => None,
        Some(_) => Some(NodeFault::Unavailable),
        None if NODE_STATE_CODES.contains(&reply.code()) => Some(NodeFault::Unavailable),
        None => None,
    }
}

/// What a failure without an error reply says about the node.
fn transport_fault(err: &RedisError) -> NodeFault {
    if err.is_connection_refusal() {
        return NodeFault::Connect;
    }
    if err.is_io_error() || err.is_connection_dropped() {
        return NodeFault::Io;
    }
    match err.kind() {
        ErrorKind::AuthenticationFailed
        | ErrorKind::InvalidClientConfig
        | ErrorKind::ClusterConnectionNotFound => NodeFault::Connect,
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => NodeFault::BadReply,
        _ => NodeFault::Io,
    }
}

/// Redis error codes that redis-rs does not name and that describe the node's
/// state rather than the request: it is busy with a script, out of memory,
/// cannot persist, or lacks replicas. Any other unnamed code (WRONGTYPE …)
/// is the request's.
const NODE_STATE_CODES: &[&str] = &[
    "BUSY",
    "OOM",
    "MISCONF",
    "NOREPLICAS",
    "NOAUTH",
    "WRONGPASS",
];

/// Redis's error reply as it was sent: the code and its message.
fn reply_text(reply: &ServerError) -> String {
    match reply.details() {
        Some(detail) => format!("{} {}", reply.code(), without_script_origin(detail)),
        None => reply.code().to_string(),
    }
}

/// An error a Lua script of Roost's raised, without the origin Redis 7 adds
/// to it (` script: <sha1>, on @user_script:<line>.`): the client sent
/// APPEND, not a script, and gets the reply Redis gives APPEND.
fn without_script_origin(detail: &str) -> &str {
    match detail.rfind(" script: ") {
        Some(at) if detail[at..].contains(", on @user_script:") => &detail[..at],
        _ => detail,
    }
}

/// `text` cut to [`REASON_LIMIT`] bytes on a character boundary.
fn bounded(text: String) -> String {
    if text.len() <= REASON_LIMIT {
        return text;
    }
    let mut end = REASON_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_script_error_reads_as_the_command_s_own() {
        let raised = "Operation against a key holding the wrong kind of value script: 4c423f988855e003f60c0909c8721de21a686698, on @user_script:2.";
        assert_eq!(
            without_script_origin(raised),
            "Operation against a key holding the wrong kind of value"
        );
        assert_eq!(
            without_script_origin("value is not an integer"),
            "value is not an integer"
        );
    }

    /// The error a node's reply `-{code} {detail}` becomes, as parsed off the wire.
    fn reply(code: &str, detail: &str) -> RedisError {
        let wire = format!("-{code} {detail}\r\n");
        match redis::parse_redis_value(wire.as_bytes()).expect("a valid error reply") {
            Value::ServerError(error) => RedisError::from(error),
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn replies_the_request_caused_are_relayed_as_sent() {
        let wrongtype = reply(
            "WRONGTYPE",
            "Operation against a key holding the wrong kind of value",
        );
        match cache_error("n:1", wrongtype) {
            CacheError::Rejected { reply } => assert_eq!(
                reply,
                "WRONGTYPE Operation against a key holding the wrong kind of value"
            ),
            other => panic!("expected Rejected, got {other:?}"),
        }
        let not_integer = reply("ERR", "value is not an integer or out of range");
        let err = cache_error("n:1", not_integer);
        assert!(!err.is_node_fault());
        assert_eq!(
            err.to_string(),
            "ERR value is not an integer or out of range"
        );
    }

    #[test]
    fn node_states_are_node_faults_naming_the_node_and_keeping_the_cause() {
        for err in [
            reply("OOM", "command not allowed when used memory > 'maxmemory'."),
            reply("BUSY", "Redis is busy running a script."),
            reply("LOADING", "Redis is loading the dataset in memory"),
            reply("READONLY", "You can't write against a read only replica."),
        ] {
            let err = cache_error("10.0.0.5:6379", err);
            match &err {
                CacheError::NodeFailed { node, fault, .. } => {
                    assert_eq!(node, "10.0.0.5:6379");
                    assert_eq!(*fault, NodeFault::Unavailable);
                }
                other => panic!("expected NodeFailed, got {other:?}"),
            }
            assert!(std::error::Error::source(&err).is_some(), "{err:?}");
        }
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert!(matches!(
            cache_error("n:1", io),
            CacheError::NodeFailed {
                fault: NodeFault::Io,
                ..
            }
        ));
    }

    #[test]
    fn long_replies_are_cut() {
        let err = cache_error("n:1", reply("WRONGTYPE", &"é".repeat(400)));
        let CacheError::Rejected { reply } = err else {
            panic!("expected Rejected");
        };
        assert!(
            reply.len() <= REASON_LIMIT + '…'.len_utf8(),
            "{}",
            reply.len()
        );
        assert!(reply.ends_with('…'));
    }
}
