//! One request's way to Redis: a standalone node's multiplexed connection or a
//! cluster connection behind one `redis::aio::ConnectionLike`, so commands and
//! scripts are written once. Also owns turning redis-rs errors into
//! `CacheError`s; it does not pick connections or time requests.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, ErrorKind, Pipeline, RedisError, RedisFuture, ServerErrorKind, Value};

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
    match node_fault(&err) {
        Some(fault) => CacheError::NodeFailed {
            node: node.to_string(),
            fault,
            source: Some(Cause::new(err)),
        },
        None => CacheError::Rejected {
            reply: reply_text(&err),
        },
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

/// The node's fault in `err`, or `None` when the request caused it (an error
/// reply about the key or the arguments: WRONGTYPE, ERR …, EXECABORT, CROSSSLOT).
fn node_fault(err: &RedisError) -> Option<NodeFault> {
    if err.is_connection_refusal() {
        return Some(NodeFault::Connect);
    }
    if err.is_io_error() || err.is_connection_dropped() {
        return Some(NodeFault::Io);
    }
    match err.kind() {
        ErrorKind::Server(kind) => match kind {
            ServerErrorKind::ResponseError
            | ServerErrorKind::ExecAbort
            | ServerErrorKind::CrossSlot => None,
            _ => Some(NodeFault::Unavailable),
        },
        ErrorKind::Extension => match err.code() {
            Some(code) if NODE_STATE_CODES.contains(&code) => Some(NodeFault::Unavailable),
            _ => None,
        },
        ErrorKind::AuthenticationFailed
        | ErrorKind::InvalidClientConfig
        | ErrorKind::ClusterConnectionNotFound => Some(NodeFault::Connect),
        ErrorKind::Parse | ErrorKind::UnexpectedReturnType => Some(NodeFault::BadReply),
        _ => Some(NodeFault::Io),
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
    "UNBLOCKED",
];

/// Redis's error reply as it was sent: the code and its message, cut to a
/// bounded length.
fn reply_text(err: &RedisError) -> String {
    let text = match (err.code(), err.detail()) {
        (Some(code), Some(detail)) => format!("{code} {detail}"),
        (Some(code), None) => code.to_string(),
        (None, _) => err.to_string(),
    };
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

    fn reply(code: &str, detail: &str) -> RedisError {
        redis::make_extension_error(code.to_string(), Some(detail.to_string()))
    }

    fn response_error(detail: &str) -> RedisError {
        RedisError::from((
            ErrorKind::Server(ServerErrorKind::ResponseError),
            "response error",
            detail.to_string(),
        ))
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
        let not_integer = response_error("value is not an integer or out of range");
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
            RedisError::from((
                ErrorKind::Server(ServerErrorKind::BusyLoading),
                "loading",
                "Redis is loading the dataset in memory".to_string(),
            )),
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
