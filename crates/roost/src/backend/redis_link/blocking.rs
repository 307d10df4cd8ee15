//! Blocking commands (BLPOP, BZPOPMIN, BLMOVE, XREAD BLOCK…) forwarded to a
//! node, and a client's WATCH … EXEC: each runs on a connection of its own,
//! opened for it and closed after, so it never stalls the multiplexed connections every other request
//! shares (Redis answers one connection's commands in order, and a blocked
//! command holds up everything behind it). At most [`MAX_BLOCKING`] wait on
//! one node (a Redis Cluster: on the whole cluster) at once; one more is
//! `CacheError::Overloaded`. The wait is bounded by the command's own
//! timeout plus the link's request timeout; a timeout of 0 waits as long as
//! Redis does, until the command is served or the gateway stops.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Value};
use tokio::sync::OwnedSemaphorePermit;

use super::connection::{cache_error, key_slot, node_failed};
use super::{timed_out, NodeAddress, RedisLink, Target};
use crate::error::{CacheError, NodeFault};

/// Blocking commands waiting on one node (or one cluster) at once.
pub const MAX_BLOCKING: usize = 1024;

impl RedisLink {
    /// Sends a blocking command on a connection of its own and waits for its
    /// reply: at most `block` (the command's own timeout) plus the request
    /// timeout, or without limit when `block` is `None` (a timeout of 0). On
    /// a cluster it goes to the master of `key`'s slot.
    pub async fn forward_blocking(
        &self,
        argv: &[Bytes],
        key: Option<&[u8]>,
        block: Option<Duration>,
        resp3: bool,
    ) -> Result<Value, CacheError> {
        let mut pinned = self.pin(key, resp3).await?;
        let timeout = self.options.timeout;
        let mut cmd = redis::Cmd::new();
        for arg in argv {
            cmd.arg(&arg[..]);
        }
        let reply = cmd.query_async(&mut pinned.connection);
        // A wait past the command's own timeout is answered as the
        // request's failure, never counted against the node: a client's
        // arguments decide how long Redis blocks, and must not be able to
        // get a healthy node ejected.
        let reply = match block {
            Some(block) => tokio::time::timeout(block + timeout, reply)
                .await
                .map_err(|_| CacheError::Rejected {
                    reply: format!(
                        "ERR the blocking command got no answer within its timeout plus {} ms; its connection was closed",
                        timeout.as_millis()
                    ),
                })?,
            None => reply.await,
        };
        reply.map_err(|err| cache_error(&pinned.node, err))
    }

    /// A connection of its own to the node (a cluster: to the master of
    /// `key`'s slot), counted against [`MAX_BLOCKING`] while it lives: for a
    /// blocking command, or a client's WATCH … EXEC.
    pub async fn pin(&self, key: Option<&[u8]>, resp3: bool) -> Result<Pinned, CacheError> {
        let permit =
            self.dedicated
                .clone()
                .try_acquire_owned()
                .map_err(|_| CacheError::Overloaded {
                    node: self.node.clone(),
                    limit: MAX_BLOCKING,
                })?;
        let address = match (&self.target, key) {
            (Target::Cluster(_), Some(key)) => self.master_of(key_slot(key)).await?,
            _ => self.address.clone(),
        };
        let address = match resp3 {
            true => address.resp3(),
            false => address,
        };
        let node = address.host_port();
        let timeout = self.options.timeout;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(None);
        let client = Client::open(address.connection_info().clone())
            .map_err(|err| node_failed(&node, NodeFault::Connect, err.to_string()))?;
        let connection = client
            .get_multiplexed_async_connection_with_config(&config)
            .await
            .map_err(|err| cache_error(&node, err))?;
        Ok(Pinned {
            connection,
            node,
            timeout,
            _permit: Arc::new(permit),
        })
    }

    /// The address of the master that serves `slot` now, from CLUSTER SLOTS
    /// (an empty host is the seed's).
    async fn master_of(&self, slot: u16) -> Result<NodeAddress, CacheError> {
        let ranges = self.cluster_slots().await?;
        let (_, _, host, port) = ranges
            .into_iter()
            .find(|(start, end, _, _)| (*start..=*end).contains(&slot))
            .ok_or_else(|| {
                node_failed(
                    &self.node,
                    NodeFault::Unavailable,
                    format!("no master serves slot {slot}"),
                )
            })?;
        let host = match host.is_empty() {
            true => self
                .address
                .host_port()
                .rsplit_once(':')
                .map(|(h, _)| h.to_owned())
                .unwrap_or_default(),
            false => host,
        };
        Ok(self.address.at(&host, port))
    }
}

/// A connection of a client's own to one node (see [`RedisLink::pin`]),
/// closed when the last clone is dropped.
#[derive(Clone)]
pub struct Pinned {
    connection: MultiplexedConnection,
    node: String,
    timeout: Duration,
    _permit: Arc<OwnedSemaphorePermit>,
}

impl Pinned {
    /// The `host:port` it is connected to (a fleet node's id).
    pub fn node(&self) -> &str {
        &self.node
    }

    /// Sends `commands` as one pipeline and answers every reply, error
    /// replies in place (`Value::ServerError`), within the request timeout.
    pub async fn pipeline(&mut self, commands: &[Vec<Bytes>]) -> Result<Vec<Value>, CacheError> {
        let pipeline = pipeline_of(commands);
        let replies =
            tokio::time::timeout(self.timeout, pipeline.query_async(&mut self.connection))
                .await
                .map_err(|_| timed_out(&self.node, self.timeout))?;
        replies.map_err(|err| cache_error(&self.node, err))
    }
}

impl std::fmt::Debug for Pinned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pinned").field("node", &self.node).finish()
    }
}

/// `commands` as one pipeline whose error replies come back in place.
pub(crate) fn pipeline_of(commands: &[Vec<Bytes>]) -> redis::Pipeline {
    let mut pipeline = redis::pipe();
    pipeline.ignore_errors();
    for command in commands {
        let mut cmd = redis::Cmd::new();
        for arg in command {
            cmd.arg(&arg[..]);
        }
        pipeline.add_command(cmd);
    }
    pipeline
}
