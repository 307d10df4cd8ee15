//! One Redis node, or one Redis Cluster, reached through redis-rs, with the
//! backend operations on it. A link owns its connections, the per-request
//! timeout and the in-flight bound; it knows nothing of rings, replicas or
//! health (the fleet decides which link a key goes to and when a failing node
//! is tried again).
//!
//! Every failure of the node itself (refused or lost connection, timeout, a
//! reply saying the node cannot serve) comes back as `CacheError::NodeFailed`
//! naming the node's `host:port` and a typed `NodeFault`, so the fleet can
//! count it; an error reply the request caused (WRONGTYPE …) is
//! `CacheError::Rejected`, relayed and never counted; a full in-flight bound
//! is `CacheError::Overloaded`. Multi-step operations run as Lua scripts
//! so each is atomic on the node. Deadlines cross the wire as milliseconds
//! relative to the caller's `now`, so Roost's and Redis's clocks need not agree.

mod address;
mod atomic_ops;
mod blocking;
mod connection;
mod keyspace;
mod lease;
mod node_info;
mod node_pool;
mod scripts;
pub mod versioned;

pub use address::NodeAddress;
pub use blocking::{Pinned, MAX_BLOCKING};
pub(crate) use connection::key_slot;
pub use node_info::NodeInfo;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{RedisError, RedisResult, Value};
use roost_store::UnixMillis;
use tokio::sync::Semaphore;

use self::connection::{breaks_connection, cache_error, node_failed, Connection, Place};
use self::node_pool::{Lease, NodePool};
use self::scripts::WireExpiry;
use crate::backend::Stored;
use crate::error::{CacheError, Cause, NodeFault};

/// Keys per DEL command in `delete_many`.
const DELETE_BATCH: usize = 1000;

/// One write of a batch (see [`RedisLink::write_many`]).
#[derive(Debug, Clone, Copy)]
pub enum LinkWrite<'a> {
    Set {
        value: &'a [u8],
        expires_at: Option<UnixMillis>,
    },
    Delete,
}

/// How a link talks to its node.
#[derive(Debug, Clone)]
pub struct LinkOptions {
    /// Multiplexed connections per standalone node.
    pub connections: usize,
    /// Bound on each request, connecting included; also the connect timeout.
    pub timeout: Duration,
    /// Requests in flight on the node; one more is `CacheError::Overloaded`.
    pub max_in_flight: usize,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            connections: 2,
            timeout: Duration::from_secs(1),
            max_in_flight: 10_000,
        }
    }
}

/// A standalone Redis node or a Redis Cluster, with the backend operations.
pub struct RedisLink {
    address: NodeAddress,
    /// `address.host_port()`, the node named in errors.
    node: String,
    options: LinkOptions,
    in_flight: Semaphore,
    /// Connections of a client's own: blocking commands, WATCH (`blocking.rs`).
    dedicated: Arc<Semaphore>,
    target: Target,
    /// Every address a cluster was reached through (a node: its own).
    seeds: Vec<NodeAddress>,
    /// The same node or cluster over RESP3, made on first use by a RESP3
    /// client's forwarded command (`forward`).
    resp3: tokio::sync::OnceCell<Box<RedisLink>>,
}

enum Target {
    /// Boxed: the pool is large beside a cluster handle.
    Node(Box<NodePool>),
    Cluster(ClusterConnection),
}

impl RedisLink {
    /// Never fails and never blocks: connections are made on first use and re-made after a
    /// failure, so a node that is down at start-up or restarts later is picked up again.
    pub fn standalone(address: NodeAddress, options: LinkOptions) -> RedisLink {
        let pool = NodePool::new(&address, options.connections, options.timeout);
        RedisLink::new(vec![address], options, Target::Node(Box::new(pool)))
    }

    /// A Redis Cluster reached through its seed nodes (MOVED/ASK/topology handled by redis-rs).
    pub async fn cluster(
        seeds: Vec<NodeAddress>,
        options: LinkOptions,
    ) -> Result<RedisLink, CacheError> {
        let Some(first) = seeds.first().cloned() else {
            return Err(node_failed(
                "cluster",
                NodeFault::Connect,
                "no seed nodes given",
            ));
        };
        let node = first.host_port();
        let client = ClusterClientBuilder::new(seeds.iter().map(|s| s.connection_info().clone()))
            .connection_timeout(options.timeout)
            .response_timeout(options.timeout)
            .build()
            .map_err(|err| connect_failed(&node, err))?;
        let connection = tokio::time::timeout(options.timeout, client.get_async_connection())
            .await
            .map_err(|_| timed_out(&node, options.timeout))?
            .map_err(|err| connect_failed(&node, err))?;
        Ok(RedisLink::new(seeds, options, Target::Cluster(connection)))
    }

    /// `seeds` is not empty: the first names the link.
    fn new(seeds: Vec<NodeAddress>, options: LinkOptions, target: Target) -> RedisLink {
        let address = seeds[0].clone();
        RedisLink {
            node: address.host_port(),
            seeds,
            resp3: tokio::sync::OnceCell::new(),
            in_flight: Semaphore::new(options.max_in_flight.clamp(1, Semaphore::MAX_PERMITS)),
            dedicated: Arc::new(Semaphore::new(MAX_BLOCKING)),
            address,
            options,
            target,
        }
    }

    /// The node's address (a cluster: its first seed).
    pub fn address(&self) -> &NodeAddress {
        &self.address
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        self.run(|mut c| async move { redis::cmd("PING").query_async(&mut c).await })
            .await
    }

    /// GET and PTTL in one round trip; the deadline made absolute from `now`.
    pub async fn get(&self, key: &[u8], now: UnixMillis) -> Result<Option<Stored>, CacheError> {
        let (value, pttl): (Option<Vec<u8>>, i64) = self
            .run(|mut c| async move {
                let mut pipeline = redis::pipe();
                pipeline.cmd("GET").arg(key).cmd("PTTL").arg(key);
                pipeline.query_async(&mut c).await
            })
            .await?;
        // PTTL -2 after a value: the key expired between the two commands.
        Ok(value
            .filter(|_| pttl != -2)
            .map(|value| scripts::stored(value, pttl, now)))
    }

    /// GET of every key in one pipelined request (each followed by PTTL when
    /// `with_ttl`): one round trip and one request through the connection for
    /// a whole batch. Entries in key order. Standalone nodes only — a cluster
    /// connection routes a pipeline by its first key.
    pub async fn get_many(
        &self,
        keys: &[&[u8]],
        with_ttl: bool,
        now: UnixMillis,
    ) -> Result<Vec<Option<Stored>>, CacheError> {
        self.run(|mut c| async move {
            let mut pipeline = redis::pipe();
            for key in keys {
                pipeline.cmd("GET").arg(*key);
                if with_ttl {
                    pipeline.cmd("PTTL").arg(*key);
                }
            }
            let replies: Vec<redis::Value> = pipeline.query_async(&mut c).await?;
            let per_key = if with_ttl { 2 } else { 1 };
            let mut entries = Vec::with_capacity(keys.len());
            for reply in replies.chunks(per_key) {
                let value: Option<Vec<u8>> = redis::from_redis_value_ref(&reply[0])?;
                let entry = match reply.get(1) {
                    None => value.map(|value| Stored::new(Bytes::from(value), None)),
                    Some(pttl) => {
                        let pttl: i64 = redis::from_redis_value_ref(pttl)?;
                        // PTTL -2 after a value: the key expired between the two.
                        value
                            .filter(|_| pttl != -2)
                            .map(|value| scripts::stored(value, pttl, now))
                    }
                };
                entries.push(entry);
            }
            Ok(entries)
        })
        .await
    }

    /// Every write of a batch in one pipelined request: SET (or DEL, for a
    /// deadline already past) as [`RedisLink::set`] does for one, DEL as
    /// [`RedisLink::delete`]. Answers in order: `true` for a set, and for a
    /// delete whether the key was there. Standalone nodes only, like
    /// [`RedisLink::get_many`].
    pub async fn write_many(
        &self,
        writes: &[(&[u8], LinkWrite<'_>)],
        now: UnixMillis,
    ) -> Result<Vec<bool>, CacheError> {
        let mut pipeline = redis::pipe();
        for &(key, write) in writes {
            match write {
                LinkWrite::Set { value, expires_at } => pipeline.add_command(set_command(
                    key,
                    value,
                    WireExpiry::from_deadline(expires_at, now),
                )),
                LinkWrite::Delete => pipeline.cmd("DEL").arg(key),
            };
        }
        let pipeline = &pipeline;
        self.run(|mut c| async move {
            let replies: Vec<redis::Value> = pipeline.query_async(&mut c).await?;
            writes
                .iter()
                .zip(&replies)
                .map(|((_, write), reply)| match write {
                    LinkWrite::Set { .. } => Ok(true),
                    LinkWrite::Delete => Ok(redis::from_redis_value_ref::<u64>(reply)? > 0),
                })
                .collect()
        })
        .await
    }

    /// Plain GET, without the deadline.
    pub async fn get_value(&self, key: &[u8]) -> Result<Option<Bytes>, CacheError> {
        let value: Option<Vec<u8>> = self
            .run(|mut c| async move { redis::cmd("GET").arg(key).query_async(&mut c).await })
            .await?;
        Ok(value.map(Bytes::from))
    }

    /// SET with PX from `expires_at - now`; a deadline already past deletes the key.
    pub async fn set(
        &self,
        key: &[u8],
        value: &[u8],
        expires_at: Option<UnixMillis>,
        now: UnixMillis,
    ) -> Result<(), CacheError> {
        self.run_unit(set_command(
            key,
            value,
            WireExpiry::from_deadline(expires_at, now),
        ))
        .await
    }

    /// DEL; `true` when the key was there.
    pub async fn delete(&self, key: &[u8]) -> Result<bool, CacheError> {
        let removed: u64 = self
            .run(|mut c| async move { redis::cmd("DEL").arg(key).query_async(&mut c).await })
            .await?;
        Ok(removed > 0)
    }

    /// DEL in batches of at most 1000 keys; returns how many were there.
    pub async fn delete_many(&self, keys: &[Bytes]) -> Result<u64, CacheError> {
        let mut removed = 0;
        for batch in keys.chunks(DELETE_BATCH) {
            let count: u64 = self
                .run(|mut c| async move {
                    let keys: Vec<&[u8]> = batch.iter().map(|k| k.as_ref()).collect();
                    redis::cmd("DEL").arg(keys).query_async(&mut c).await
                })
                .await?;
            removed += count;
        }
        Ok(removed)
    }

    /// INCRBY: the new value; Redis's errors become `NotAnInteger` / `IncrementOverflow`.
    pub async fn incr_by(&self, key: &[u8], delta: i64) -> Result<i64, CacheError> {
        let mut cmd = redis::cmd("INCRBY");
        cmd.arg(key).arg(delta);
        self.run_cmd(cmd).await
    }

    /// One SCAN step: keys with their deadlines. cursor 0 starts; returned 0 means done.
    /// On a cluster the cursor walks every master in turn.
    pub async fn scan(
        &self,
        cursor: u64,
        count: usize,
        now: UnixMillis,
    ) -> Result<(u64, Vec<(Bytes, Option<UnixMillis>)>), CacheError> {
        self.run(|mut c| async move { keyspace::scan_step(&mut c, cursor, count, now).await })
            .await
    }

    /// Sends a client's command as it came and answers Redis's reply as
    /// redis-rs read it. On a cluster it goes to the master of `key`'s slot
    /// (the caller checked that every key shares it); without a key, to
    /// whichever node redis-rs picks.
    pub async fn forward(
        &self,
        argv: &[Bytes],
        key: Option<&[u8]>,
        resp3: bool,
    ) -> Result<Value, CacheError> {
        if resp3 {
            return Box::pin(self.over_resp3().await?.forward(argv, key, false)).await;
        }
        let mut cmd = redis::Cmd::new();
        for arg in argv {
            cmd.arg(&arg[..]);
        }
        let cmd = &cmd;
        self.run(|mut c| async move {
            match key {
                Some(key) => {
                    cmd.query_async(&mut c.at(Place::Master {
                        slot: key_slot(key),
                    }))
                    .await
                }
                None => cmd.query_async(&mut c).await,
            }
        })
        .await
    }

    /// Sends a client's command to the node, or to every master of a cluster,
    /// and answers each reply (an error reply as `Err`), masters in slot order.
    pub async fn forward_everywhere(
        &self,
        argv: &[Bytes],
    ) -> Result<Vec<Result<Value, CacheError>>, CacheError> {
        let mut cmd = redis::Cmd::new();
        for arg in argv {
            cmd.arg(&arg[..]);
        }
        let cmd = &cmd;
        let node = &self.node;
        self.run(|mut c| async move {
            let mut replies = Vec::new();
            for place in keyspace::places(&mut c).await? {
                let reply: RedisResult<Value> = cmd.query_async(&mut c.at(place)).await;
                match reply {
                    Err(err) if err.is_io_error() || err.is_timeout() => return Err(err),
                    reply => replies.push(reply.map_err(|err| cache_error(node, err))),
                }
            }
            Ok(replies)
        })
        .await
    }

    /// Sends `commands` as one pipeline to the node (a cluster: to the master
    /// of `key`'s slot) and answers every reply, error replies in place. One
    /// pipeline is written as one request, so no other client's command comes
    /// between its commands on the shared connection (MULTI … EXEC).
    pub async fn forward_pipeline(
        &self,
        commands: &[Vec<Bytes>],
        key: Option<&[u8]>,
        resp3: bool,
    ) -> Result<Vec<Value>, CacheError> {
        if resp3 {
            let link = self.over_resp3().await?;
            return Box::pin(link.forward_pipeline(commands, key, false)).await;
        }
        let pipeline = &blocking::pipeline_of(commands);
        self.run(|mut c| async move {
            match key {
                Some(key) => {
                    pipeline
                        .query_async(&mut c.at(Place::Master {
                            slot: key_slot(key),
                        }))
                        .await
                }
                None => pipeline.query_async(&mut c).await,
            }
        })
        .await
    }

    /// This node or cluster over RESP3, connected on first use.
    async fn over_resp3(&self) -> Result<&RedisLink, CacheError> {
        let link = self
            .resp3
            .get_or_try_init(|| async {
                let seeds: Vec<NodeAddress> = self.seeds.iter().map(NodeAddress::resp3).collect();
                let link = match &self.target {
                    Target::Node(_) => {
                        RedisLink::standalone(seeds[0].clone(), self.options.clone())
                    }
                    Target::Cluster(_) => RedisLink::cluster(seeds, self.options.clone()).await?,
                };
                Ok::<_, CacheError>(Box::new(link))
            })
            .await?;
        Ok(link)
    }

    /// Removes everything in the link's database (every master of a cluster);
    /// returns how many keys were there.
    pub async fn flush(&self) -> Result<u64, CacheError> {
        self.run(|mut c| async move { keyspace::flush(&mut c).await })
            .await
    }

    /// `CLUSTER SLOTS` of a Redis Cluster: each slot range with its master's
    /// host and port (an empty host means the node that answered).
    pub async fn cluster_slots(&self) -> Result<Vec<(u16, u16, String, u16)>, CacheError> {
        let reply: Value = self
            .run(
                |mut c| async move { redis::cmd("CLUSTER").arg("SLOTS").query_async(&mut c).await },
            )
            .await?;
        Ok(keyspace::slot_ranges(&reply))
    }

    /// INFO stats' `evicted_keys` (a cluster: summed over its masters): a
    /// cheaper INFO than [`RedisLink::info`], for a region's forgotten floor.
    pub async fn evicted_keys(&self) -> Result<u64, CacheError> {
        self.run(|mut c| async move { keyspace::evicted_keys(&mut c).await })
            .await
    }

    /// INFO of the node (a cluster: summed over its masters).
    pub async fn info(&self) -> Result<NodeInfo, CacheError> {
        let db = self.address.db();
        self.run(|mut c| async move { keyspace::info(&mut c, db).await })
            .await
    }

    async fn run_cmd<T: redis::FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, CacheError> {
        self.run(|mut c| async move { cmd.query_async(&mut c).await })
            .await
    }

    async fn run_unit(&self, cmd: redis::Cmd) -> Result<(), CacheError> {
        self.run_cmd::<()>(cmd).await
    }

    /// Runs one request within the in-flight bound and the timeout. A broken or
    /// timed-out standalone connection is dropped so its slot connects afresh.
    async fn run<T, F, Fut>(&self, request: F) -> Result<T, CacheError>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let _permit = self
            .in_flight
            .try_acquire()
            .map_err(|_| CacheError::Overloaded {
                node: self.node.clone(),
                limit: self.options.max_in_flight,
            })?;
        let mut lease: Option<Lease> = None;
        let attempt = async {
            let connection = self.connect(&mut lease).await?;
            request(connection).await.map_err(Failure::Redis)
        };
        let outcome = tokio::time::timeout(self.options.timeout, attempt).await;
        match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(Failure::Connect(reason))) => {
                Err(node_failed(&self.node, NodeFault::Connect, reason))
            }
            // redis-rs's own response timeout (a cluster's, racing ours) reads the same.
            Ok(Err(Failure::Redis(err))) if err.is_timeout() => {
                self.forget(lease.as_ref());
                Err(timed_out(&self.node, self.options.timeout))
            }
            Ok(Err(Failure::Redis(err))) => {
                if let (true, Target::Node(pool), Some(lease)) =
                    (breaks_connection(&err), &self.target, &lease)
                {
                    pool.forget_with_older(lease);
                }
                Err(cache_error(&self.node, err))
            }
            Err(_elapsed) => {
                self.forget(lease.as_ref());
                Err(timed_out(&self.node, self.options.timeout))
            }
        }
    }

    async fn connect(&self, lease: &mut Option<Lease>) -> Result<Connection, Failure> {
        match &self.target {
            Target::Node(pool) => {
                let leased = pool.lease(pool.pick()).await.map_err(Failure::Connect)?;
                let connection = Connection::Node(leased.connection.clone());
                *lease = Some(leased);
                Ok(connection)
            }
            Target::Cluster(cluster) => Ok(Connection::Cluster(cluster.clone())),
        }
    }

    fn forget(&self, lease: Option<&Lease>) {
        if let (Target::Node(pool), Some(lease)) = (&self.target, lease) {
            pool.forget(lease);
        }
    }
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.target {
            Target::Node(_) => "standalone",
            Target::Cluster(_) => "cluster",
        };
        f.debug_struct("RedisLink")
            .field("address", &self.address)
            .field("kind", &kind)
            .field("options", &self.options)
            .finish()
    }
}

/// Why a request failed before Redis answered it, or how Redis answered.
enum Failure {
    Connect(String),
    Redis(RedisError),
}

/// SET with its deadline, or DEL for a deadline already past.
fn set_command(key: &[u8], value: &[u8], expiry: WireExpiry) -> redis::Cmd {
    let mut cmd = match expiry {
        WireExpiry::Gone => redis::cmd("DEL"),
        WireExpiry::Persist | WireExpiry::In(_) => redis::cmd("SET"),
    };
    cmd.arg(key);
    match expiry {
        WireExpiry::Gone => {}
        WireExpiry::Persist => {
            cmd.arg(value);
        }
        WireExpiry::In(ms) => {
            cmd.arg(value).arg("PX").arg(ms);
        }
    }
    cmd
}

fn timed_out(node: &str, timeout: Duration) -> CacheError {
    CacheError::NodeFailed {
        node: node.to_string(),
        fault: NodeFault::Timeout(timeout),
        source: None,
    }
}

/// Whatever went wrong while first reaching a cluster is a connect failure.
fn connect_failed(node: &str, err: RedisError) -> CacheError {
    CacheError::NodeFailed {
        node: node.to_string(),
        fault: NodeFault::Connect,
        source: Some(Cause::new(err)),
    }
}
