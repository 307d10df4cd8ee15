//! One request's way to Redis: a standalone node's multiplexed connection or a
//! cluster connection behind one `redis::aio::ConnectionLike`, so commands and
//! scripts are written once. Also owns turning redis-rs errors into
//! `CacheError`s; it does not pick connections or time requests.

use redis::aio::{ConnectionLike, MultiplexedConnection};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, Value};

use crate::error::CacheError;

/// Redis's own error text for INCR on a value that is not a 64-bit integer.
const NOT_AN_INTEGER: &str = "value is not an integer or out of range";
/// Redis's own error text for INCR past the 64-bit range.
const INCREMENT_OVERFLOW: &str = "increment or decrement would overflow";
/// Longest error reply quoted in a `NodeFailed` reason.
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

/// The `CacheError` for a failed request to `node`: Redis's two INCR errors
/// keep their meaning, everything else is a node failure the fleet counts.
pub(crate) fn cache_error(node: &str, err: &RedisError) -> CacheError {
    let detail = err.detail().unwrap_or_default();
    if detail.starts_with(NOT_AN_INTEGER) {
        return CacheError::NotAnInteger;
    }
    if detail.starts_with(INCREMENT_OVERFLOW) {
        return CacheError::IncrementOverflow;
    }
    node_failed(node, short_reason(err))
}

/// `CacheError::NodeFailed` for `node` with `reason`.
pub(crate) fn node_failed(node: &str, reason: impl Into<String>) -> CacheError {
    CacheError::NodeFailed {
        node: node.to_string(),
        reason: reason.into(),
    }
}

fn short_reason(err: &RedisError) -> String {
    let text = err.to_string();
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
    use redis::ErrorKind;

    fn reply(detail: &str) -> RedisError {
        RedisError::from((ErrorKind::Client, "response error", detail.to_string()))
    }

    #[test]
    fn incr_errors_keep_their_meaning() {
        let not_integer = reply("value is not an integer or out of range");
        assert!(matches!(
            cache_error("n:1", &not_integer),
            CacheError::NotAnInteger
        ));
        let overflow = reply("increment or decrement would overflow");
        assert!(matches!(
            cache_error("n:1", &overflow),
            CacheError::IncrementOverflow
        ));
    }

    #[test]
    fn other_errors_are_node_failures_naming_the_node() {
        let err = cache_error("10.0.0.5:6379", &reply("WRONGTYPE operation against a key"));
        match err {
            CacheError::NodeFailed { node, reason } => {
                assert_eq!(node, "10.0.0.5:6379");
                assert!(reason.contains("WRONGTYPE"), "{reason}");
            }
            other => panic!("expected NodeFailed, got {other:?}"),
        }
    }

    #[test]
    fn long_reasons_are_cut() {
        let err = cache_error("n:1", &reply(&"é".repeat(400)));
        let CacheError::NodeFailed { reason, .. } = err else {
            panic!("expected NodeFailed");
        };
        assert!(
            reason.len() <= REASON_LIMIT + '…'.len_utf8(),
            "{}",
            reason.len()
        );
        assert!(reason.ends_with('…'));
    }
}
