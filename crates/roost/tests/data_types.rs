//! Redis's data types through Roost in front of Redis (issue 17, item 1): every
//! forwarded command answers as a real redis-server 7.0 does, byte for byte,
//! through a three-node fleet and a Redis Cluster; keys on different nodes get
//! CROSSSLOT unless they share a hash tag; with two replicas a collection has
//! one copy and is never served stale after its node comes back; the embedded
//! store says clearly which types need Redis (its own collections are
//! `tests/embedded_types.rs`).

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;

use roost_ring::{Node, NodeId, Ring, DEFAULT_WEIGHT};
use serde_json::json;
use support::faults::FaultProxy;
use support::fleet::{start_fleet, wait_for_state};
use support::redis::{RedisCluster, RedisServer};
use support::resp::{assert_same_replies, resp3_script_replies, script_replies, RespClient};
use support::TestServer;

/// One command per line; keys that a command uses together share the hash
/// tag `{t}`, so they live on one node of a fleet and one slot of a cluster.
const SCRIPT: &[&[&str]] = &[
    // Hashes, and their type errors both ways.
    &["HSET", "h", "f1", "v1", "f2", "v2"],
    &["HGET", "h", "f1"],
    &["HGET", "h", "nope"],
    &["HGETALL", "h"],
    &["HMGET", "h", "f1", "nope"],
    &["HINCRBY", "h", "n", "5"],
    &["HINCRBYFLOAT", "h", "x", "1.5"],
    &["HDEL", "h", "f2"],
    &["HLEN", "h"],
    &["HEXISTS", "h", "f1"],
    &["HKEYS", "h"],
    &["HVALS", "h"],
    &["HSTRLEN", "h", "f1"],
    &["HSETNX", "h", "f1", "again"],
    &["HINCRBY", "h", "f1", "1"],
    &["TYPE", "h"],
    &["OBJECT", "ENCODING", "h"],
    &["GET", "h"],
    &["INCR", "h"],
    &["APPEND", "h", "x"],
    &["LPUSH", "h", "x"],
    &["HSET", "h"],
    // Lists.
    &["LPUSH", "l", "a", "b", "c"],
    &["RPUSH", "l", "d"],
    &["LRANGE", "l", "0", "-1"],
    &["LPOP", "l"],
    &["RPOP", "l", "2"],
    &["LPOP", "absent", "2"],
    &["LPOP", "absent"],
    &["RPUSH", "l", "a", "b", "a"],
    &["LINDEX", "l", "0"],
    &["LLEN", "l"],
    &["LPOS", "l", "a", "RANK", "2"],
    &["LINSERT", "l", "BEFORE", "a", "z"],
    &["LSET", "l", "0", "q"],
    &["LSET", "l", "99", "q"],
    &["LREM", "l", "0", "a"],
    &["LTRIM", "l", "0", "1"],
    &["LRANGE", "l", "0", "-1"],
    &["OBJECT", "ENCODING", "l"],
    &["TYPE", "l"],
    &["LMOVE", "{t}l1", "{t}l2", "LEFT", "RIGHT"],
    &["RPUSH", "{t}l1", "one", "two"],
    &["LMOVE", "{t}l1", "{t}l2", "LEFT", "RIGHT"],
    &["RPOPLPUSH", "{t}l1", "{t}l2"],
    &["LRANGE", "{t}l2", "0", "-1"],
    // Sets.
    &["SADD", "s", "3", "1", "2"],
    &["SISMEMBER", "s", "1"],
    &["SMISMEMBER", "s", "1", "9"],
    &["SCARD", "s"],
    &["SMEMBERS", "s"],
    &["OBJECT", "ENCODING", "s"],
    &["SREM", "s", "1", "9"],
    &["SADD", "{t}s1", "a", "b"],
    &["SADD", "{t}s2", "b", "c"],
    &["SINTER", "{t}s1", "{t}s2"],
    &["SINTERSTORE", "{t}d", "{t}s1", "{t}s2"],
    &["SMOVE", "{t}s1", "{t}s2", "a"],
    &["SCARD", "{t}s2"],
    // Sorted sets.
    &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
    &["ZSCORE", "z", "b"],
    &["ZSCORE", "z", "nope"],
    &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    &["ZRANK", "z", "c"],
    &["ZINCRBY", "z", "1.5", "a"],
    &["ZREVRANGE", "z", "0", "0"],
    &["ZCOUNT", "z", "1", "2"],
    &["ZRANGEBYSCORE", "z", "(1", "+inf", "LIMIT", "0", "1"],
    &["ZPOPMIN", "z"],
    &["ZMSCORE", "z", "a", "nope"],
    &["ZREM", "z", "c"],
    &["ZCARD", "z"],
    &["ZADD", "z", "XX", "GT", "NX", "1", "a"],
    &["OBJECT", "ENCODING", "z"],
    // HyperLogLog, geo, bitmaps.
    &["PFADD", "p", "a", "b", "c"],
    &["PFCOUNT", "p"],
    &["PFADD", "{t}p1", "x", "y"],
    &["PFMERGE", "{t}pm", "{t}p1"],
    &["PFCOUNT", "{t}pm"],
    &[
        "GEOADD",
        "g",
        "13.361389",
        "38.115556",
        "Palermo",
        "15.087269",
        "37.502669",
        "Catania",
    ],
    &["GEODIST", "g", "Palermo", "Catania", "km"],
    &["GEOPOS", "g", "Palermo", "nope"],
    &["GEOHASH", "g", "Palermo"],
    &[
        "GEOSEARCH",
        "g",
        "FROMLONLAT",
        "15",
        "37",
        "BYRADIUS",
        "200",
        "km",
        "ASC",
    ],
    &["SETBIT", "b", "7", "1"],
    &["GETBIT", "b", "7"],
    &["BITCOUNT", "b"],
    &["BITPOS", "b", "1"],
    &["BITFIELD", "b", "GET", "u8", "0"],
    // Streams.
    &["XADD", "x", "1-1", "f", "v"],
    &["XADD", "x", "2-1", "f", "w"],
    &["XADD", "x", "1-0", "f", "old"],
    &["XLEN", "x"],
    &["XRANGE", "x", "-", "+"],
    &["XRANGE", "x", "-", "+", "COUNT", "0"],
    &["XGROUP", "CREATE", "x", "grp", "0"],
    &["XPENDING", "x", "grp"],
    &["XDEL", "x", "1-1"],
    &["XTRIM", "x", "MAXLEN", "0"],
    // The rest of the string family.
    &["SET", "str", "hello"],
    &["GETRANGE", "str", "0", "1"],
    &["SETRANGE", "str", "0", "J"],
    &["GETSET", "str", "new"],
    &["GET", "str"],
    &["SUBSTR", "str", "1", "2"],
    &["INCRBYFLOAT", "f", "1.5"],
    &["INCRBYFLOAT", "str", "1"],
    &["LCS", "{t}a", "{t}b"],
    &["OBJECT", "ENCODING", "str"],
    &["OBJECT", "ENCODING", "absent"],
    // Commands whose arguments say which are keys.
    &["ZADD", "{t}z1", "1", "a", "2", "b"],
    &["ZADD", "{t}z2", "3", "b", "4", "c"],
    &[
        "ZUNIONSTORE",
        "{t}zu",
        "2",
        "{t}z1",
        "{t}z2",
        "WEIGHTS",
        "1",
        "2",
    ],
    &["ZRANGE", "{t}zu", "0", "-1", "WITHSCORES"],
    &["ZINTER", "2", "{t}z1", "{t}z2", "WITHSCORES"],
    &["ZINTERCARD", "2", "{t}z1", "{t}z2"],
    &["ZDIFFSTORE", "{t}zd", "2", "{t}z1", "{t}z2"],
    &["ZUNIONSTORE", "{t}zu", "0", "{t}z1"],
    &["ZUNIONSTORE", "{t}zu", "5", "{t}z1"],
    &["ZUNIONSTORE", "{t}zu", "x", "{t}z1"],
    &["ZMPOP", "1", "{t}z1", "MIN", "COUNT", "1"],
    &["ZMPOP", "1", "absent", "MIN"],
    &["SINTERCARD", "2", "{t}s1", "{t}s2", "LIMIT", "1"],
    &["RPUSH", "{t}m", "1", "2", "3"],
    &["LMPOP", "2", "{t}absent", "{t}m", "LEFT", "COUNT", "2"],
    &[
        "EVAL",
        "return redis.call('SET', KEYS[1], ARGV[1])",
        "1",
        "{t}e",
        "v",
    ],
    &["EVAL", "return redis.call('GET', KEYS[1])", "1", "{t}e"],
    &["EVAL", "return {1, 'two', ARGV[1]}", "0", "three"],
    &["EVAL_RO", "return redis.call('GET', KEYS[1])", "1", "{t}e"],
    &["EVALSHA", "0000000000000000000000000000000000000000", "0"],
    &["GEOADD", "{t}g", "13.361389", "38.115556", "Palermo"],
    &[
        "GEORADIUS",
        "{t}g",
        "15",
        "37",
        "200",
        "km",
        "STORE",
        "{t}gd",
    ],
    &["ZCARD", "{t}gd"],
    &["XREAD", "COUNT", "1", "STREAMS", "x", "0"],
    &["XREAD", "STREAMS", "absent", "0"],
    // Blocking commands: served at once when they can be, else they time out.
    &["RPUSH", "{t}q", "job1", "job2"],
    &["BLPOP", "{t}absent", "{t}q", "1"],
    &["BRPOPLPUSH", "{t}q", "{t}done", "1"],
    &["BLMOVE", "{t}done", "{t}q", "LEFT", "LEFT", "1"],
    &["BLMPOP", "1", "2", "{t}absent", "{t}q", "RIGHT"],
    &["BLPOP", "{t}absent", "0.05"],
    &["BLMOVE", "{t}absent", "{t}q", "LEFT", "LEFT", "0.05"],
    &["BZPOPMIN", "{t}absent", "0.05"],
    &["BZMPOP", "0.05", "1", "{t}absent", "MIN"],
    &["XREAD", "BLOCK", "50", "STREAMS", "{t}absent", "$"],
    &["BLPOP", "{t}q", "-1"],
    &["BLPOP", "{t}q", "soon"],
    // Transactions.
    &["MULTI"],
    &["SET", "{t}tx", "1"],
    &["INCR", "{t}tx"],
    &["HSET", "{t}txh", "f", "v"],
    &["GET", "{t}txh"],
    &["LPOP", "{t}absent", "2"],
    &["SET", "{t}tx", "v", "NX", "XX"],
    &["PING"],
    &["EXEC"],
    &["MULTI"],
    &["SET", "{t}tx", "2"],
    &["NOSUCHCMD", "x"],
    &["GET"],
    &["MULTI"],
    &["WATCH", "{t}tx"],
    &["EXEC"],
    &["GET", "{t}tx"],
    &["EXEC"],
    &["DISCARD"],
    &["MULTI"],
    &["DISCARD"],
    &["WATCH", "{t}tx", "{t}txh"],
    &["UNWATCH"],
    &["MULTI"],
    &["EXEC"],
    // Generic.
    &["EXPIRETIME", "h"],
    &["PEXPIRETIME", "absent"],
    &["TOUCH", "h", "l", "s", "z", "absent"],
    &["TYPE", "absent"],
    &["RENAME", "{t}s2", "{t}r"],
    &["RENAMENX", "{t}r", "{t}d"],
    &["COPY", "{t}r", "{t}c"],
    &["SCARD", "{t}c"],
    &["SISMEMBER", "{t}c", "c"],
    &["HGET", "s", "a"],
    &["DEL", "h", "l", "s", "z"],
    &["HGETALL", "h"],
];

async fn replies(addr: SocketAddr) -> Vec<String> {
    let mut client = RespClient::connect(addr).await;
    let mut out = script_replies(&mut client, SCRIPT).await;
    // The same script as one pipeline: forwarded commands on different keys
    // run concurrently there, and must still answer in order.
    client.cmd(&["FLUSHALL"]).await;
    let pipelined = client
        .pipeline(&SCRIPT.iter().map(|c| c.to_vec()).collect::<Vec<_>>())
        .await;
    for (command, reply) in SCRIPT.iter().zip(pipelined) {
        out.push(format!("pipelined {} -> {reply:?}", command.join(" ")));
    }
    out
}

/// Commands whose RESP3 replies differ from RESP2's: maps, sets, doubles, nulls.
const RESP3_SCRIPT: &[&[&str]] = &[
    &["HSET", "h3", "f1", "v1", "f2", "v2"],
    &["HGETALL", "h3"],
    &["HGET", "h3", "nope"],
    &["ZADD", "z3", "1", "a", "2.5", "b", "+inf", "c"],
    &["ZSCORE", "z3", "b"],
    &["ZSCORE", "z3", "c"],
    &["ZINCRBY", "z3", "1", "a"],
    &["ZMSCORE", "z3", "a", "nope"],
    &["ZRANGE", "z3", "0", "-1", "WITHSCORES"],
    &["ZPOPMIN", "z3"],
    &["SADD", "s3", "3", "1", "2"],
    &["SMEMBERS", "s3"],
    &["SISMEMBER", "s3", "1"],
    &["LPOP", "absent", "2"],
    &["GEOADD", "g3", "13.361389", "38.115556", "Palermo"],
    &["GEODIST", "g3", "Palermo", "Palermo"],
    &["BZPOPMIN", "absent", "0.05"],
    &["XADD", "x3", "1-1", "f", "v"],
    &["XRANGE", "x3", "-", "+"],
    &["HSET", "{t}h3", "f", "v"],
    &["ZADD", "{t}z3", "0.5", "m"],
    &["MULTI"],
    &["HGETALL", "{t}h3"],
    &["ZSCORE", "{t}z3", "m"],
    &["EXEC"],
];

/// [`RESP3_SCRIPT`]'s replies after HELLO 3 (whose own reply names the server
/// and is left out).
async fn resp3_replies(addr: SocketAddr) -> Vec<String> {
    resp3_script_replies(addr, RESP3_SCRIPT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_type_commands_answer_as_redis_does_through_a_fleet_and_a_cluster() {
    let redis = RedisServer::start();
    let addr: SocketAddr = format!("127.0.0.1:{}", redis.port()).parse().unwrap();
    let expected = replies(addr).await;
    let expected3 = resp3_replies(addr).await;

    let nodes = three_nodes();
    let fleet = start_fleet(&nodes.iter().collect::<Vec<_>>(), &[]).await;
    assert_same_replies(
        &replies(fleet.resp_addr).await,
        &expected,
        "a fleet of three",
    );
    assert_same_replies(
        &resp3_replies(fleet.resp_addr).await,
        &expected3,
        "RESP3 through a fleet",
    );
    let used = nodes.iter().filter(|n| n.dbsize() > 0).count();
    assert!(
        used >= 2,
        "the script's keys spread over the nodes ({used} used)"
    );
    fleet.shutdown().await;

    let cluster = RedisCluster::start(3, 0);
    let server = in_front_of(&cluster).await;
    assert_same_replies(
        &replies(server.resp_addr).await,
        &expected,
        "a Redis Cluster",
    );
    assert_same_replies(
        &resp3_replies(server.resp_addr).await,
        &expected3,
        "RESP3 through a Redis Cluster",
    );
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_on_different_nodes_get_crossslot_and_touch_adds_up() {
    let nodes = three_nodes();
    let servers: Vec<&RedisServer> = nodes.iter().collect();
    let fleet = start_fleet(&servers, &[]).await;
    let ring = support::fleet::ring_of(&servers);
    let (a, b) = apart(&ring);
    let mut client = RespClient::connect(fleet.resp_addr).await;
    assert_eq!(client.cmd(&["SADD", &a, "x"]).await, ":1\r\n");
    assert_eq!(client.cmd(&["SADD", &b, "x"]).await, ":1\r\n");
    let crossslot = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
    assert_eq!(client.cmd(&["SUNION", &a, &b]).await, crossslot);
    assert_eq!(client.cmd(&["SMOVE", &a, &b, "x"]).await, crossslot);
    assert_eq!(client.cmd(&["RENAME", &a, &b]).await, crossslot);
    assert_eq!(
        client.cmd(&["TOUCH", &a, &b, "absent", &a]).await,
        ":3\r\n",
        "TOUCH runs on each node and adds up"
    );
    // A hash tag puts them together, as in Redis Cluster.
    let (ta, tb) = (format!("{{{a}}}:1"), format!("{{{a}}}:2"));
    assert_eq!(ring.locate(ta.as_bytes()), ring.locate(a.as_bytes()));
    assert_eq!(client.cmd(&["SADD", &ta, "y"]).await, ":1\r\n");
    assert_eq!(client.cmd(&["SADD", &tb, "z"]).await, ":1\r\n");
    assert_eq!(client.cmd(&["SUNIONSTORE", &ta, &ta, &tb]).await, ":2\r\n");
    assert_eq!(
        client
            .cmd(&["COMMAND", "GETKEYS", "SUNIONSTORE", "d", "k1", "k2"])
            .await,
        "*3\r\n$1\r\nd\r\n$2\r\nk1\r\n$2\r\nk2\r\n"
    );
    let getkeys = [
        "COMMAND",
        "GETKEYS",
        "ZUNIONSTORE",
        "d",
        "2",
        "k1",
        "k2",
        "WEIGHTS",
        "1",
        "2",
    ];
    assert_eq!(
        client.cmd(&getkeys).await,
        "*3\r\n$1\r\nd\r\n$2\r\nk1\r\n$2\r\nk2\r\n"
    );
    assert_eq!(
        client.cmd(&["ZUNIONSTORE", &a, "1", &b]).await,
        crossslot,
        "the keys numkeys counts are keys"
    );
    assert_eq!(
        client.cmd(&["EVAL", "return 1", "2", &a, &b]).await,
        crossslot
    );
    assert_eq!(
        client.cmd(&["HSET", "h"]).await,
        "-ERR wrong number of arguments for 'hset' command\r\n"
    );
    fleet.shutdown().await;

    let cluster = RedisCluster::start(3, 0);
    let server = in_front_of(&cluster).await;
    let mut client = RespClient::connect(server.resp_addr).await;
    let (a, b) = (0..)
        .map(|i| (format!("a{i}"), format!("b{i}")))
        .find(|(a, b)| cluster.master_for_key(a) != cluster.master_for_key(b))
        .unwrap();
    assert_eq!(client.cmd(&["SADD", &a, "x"]).await, ":1\r\n");
    assert_eq!(client.cmd(&["SUNION", &a, &b]).await, crossslot);
    assert_eq!(client.cmd(&["SADD", &b, "x"]).await, ":1\r\n");
    assert_eq!(client.cmd(&["TOUCH", &a, &b]).await, ":2\r\n");
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_store_says_which_types_need_redis() {
    let server = TestServer::builder().start().await;
    let mut client = RespClient::connect(server.resp_addr).await;
    let reply = client.cmd(&["XADD", "x", "*", "f", "v"]).await;
    assert!(
        reply.starts_with("-ERR 'xadd' runs in front of Redis only"),
        "{reply}"
    );
    assert_eq!(
        client.cmd(&["TYPE", "x"]).await,
        "+none\r\n",
        "nothing stored"
    );
    assert_eq!(client.cmd(&["HSET", "h", "f", "v"]).await, ":1\r\n");
    assert_eq!(client.cmd(&["TYPE", "h"]).await, "+hash\r\n");
    let count = client.cmd(&["COMMAND", "COUNT"]).await;
    assert_eq!(count, ":145\r\n", "COMMAND lists what this backend serves");
    let info = client.cmd(&["COMMAND", "INFO", "xadd", "zadd"]).await;
    assert!(info.starts_with("*2\r\n$-1\r\n*"), "{info}");
    server.shutdown().await;
}

/// With two replicas, a hash lives on its first replica only; while that node
/// is cut off, writes go to the second; once it is back, its older copy is
/// never served: the journal removes it before the node serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_is_never_served_stale_after_its_node_comes_back() {
    let nodes = three_nodes();
    let proxies = [
        FaultProxy::start(Some(addr_of(&nodes[0]))).await,
        FaultProxy::start(Some(addr_of(&nodes[1]))).await,
        FaultProxy::start(Some(addr_of(&nodes[2]))).await,
    ];
    let urls: Vec<String> = proxies
        .iter()
        .map(|p| format!("redis://{}", p.addr()))
        .collect();
    let ring = Ring::new(
        proxies
            .iter()
            .map(|p| Node::new(NodeId::from(p.addr().to_string()), DEFAULT_WEIGHT))
            .collect(),
    )
    .unwrap();
    let key = "user:42";
    let placement: Vec<usize> = ring.successors(key.as_bytes()).take(2).collect();
    let (primary, second) = (placement[0], placement[1]);
    let server = support::fleet::fleet_builder(&[], &[("ROOST_REPLICAS", "2")])
        .env("REDIS_CLUSTER_NODES", &urls.join(","))
        .start()
        .await;
    let mut client = RespClient::connect(server.resp_addr).await;
    assert_eq!(client.cmd(&["HSET", key, "name", "Ada"]).await, ":1\r\n");
    assert!(nodes[primary].exists(key), "on the first replica");
    assert!(!nodes[second].exists(key), "one copy only");

    proxies[primary].blackhole();
    let primary_id = proxies[primary].addr().to_string();
    wait_for_state(&server, &primary_id, "down").await;
    assert_eq!(
        client.cmd(&["HGET", key, "name"]).await,
        "$-1\r\n",
        "the second replica answers as for a missing key"
    );
    assert_eq!(client.cmd(&["HSET", key, "name", "Grace"]).await, ":1\r\n");
    assert!(nodes[second].exists(key));
    assert_eq!(
        nodes[primary].cli(&["HGET", key, "name"]),
        "Ada",
        "the cut-off copy is still there"
    );

    proxies[primary].heal();
    wait_for_state(&server, &primary_id, "up").await;
    for _ in 0..20 {
        let name = client.cmd(&["HGET", key, "name"]).await;
        assert_ne!(name, "$3\r\nAda\r\n", "the older copy came back");
    }
    assert!(
        !nodes[primary].exists(key),
        "removed before the node served again"
    );
    assert_eq!(client.cmd(&["HSET", key, "name", "Edsger"]).await, ":1\r\n");
    assert_eq!(client.cmd(&["HGET", key, "name"]).await, "$6\r\nEdsger\r\n");
    assert!(!nodes[second].exists(key), "a write drops the other copy");

    // Killed outright: the second replica takes the key's writes at once.
    let mut nodes = nodes;
    nodes[primary].kill();
    wait_for_state(&server, &primary_id, "down").await;
    assert_eq!(
        client.cmd(&["HGET", key, "name"]).await,
        "$-1\r\n",
        "lost, not stale"
    );
    assert_eq!(
        client.cmd(&["HSET", key, "name", "Barbara"]).await,
        ":1\r\n"
    );
    assert_eq!(
        client.cmd(&["HGET", key, "name"]).await,
        "$7\r\nBarbara\r\n"
    );
    nodes[primary].restart();
    wait_for_state(&server, &primary_id, "up").await;
    let name = client.cmd(&["HGET", key, "name"]).await;
    assert!(name == "$-1\r\n" || name == "$7\r\nBarbara\r\n", "{name}");
    server.shutdown().await;
}

/// A gateway in front of `cluster`.
async fn in_front_of(cluster: &RedisCluster) -> TestServer {
    TestServer::builder()
        .env("REDIS_CLUSTER_NODES", &cluster.seed_urls().join(","))
        .start()
        .await
}

/// Scripts and function libraries reach every node: SCRIPT LOAD and FUNCTION
/// LOAD run on each, and a node that lost them (flushed behind Roost's back)
/// is given them again when an EVALSHA or FCALL needs them there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_and_functions_run_on_every_node() {
    let nodes = three_nodes();
    let servers: Vec<&RedisServer> = nodes.iter().collect();
    let fleet = start_fleet(&servers, &[]).await;
    let mut client = RespClient::connect(fleet.resp_addr).await;
    let key_on = |node: usize| support::fleet::keys_on(&servers, node, "k", 1).remove(0);

    let get = "return redis.call('GET', KEYS[1])";
    let sha = client.cmd(&["SCRIPT", "LOAD", get]).await;
    let sha = sha.split("\r\n").nth(1).unwrap().to_owned();
    assert_eq!(sha.len(), 40);
    for node in &nodes {
        assert_eq!(
            node.cli(&["SCRIPT", "EXISTS", &sha]),
            "1",
            "loaded on every node"
        );
    }
    assert_eq!(
        client
            .cmd(&["SCRIPT", "EXISTS", &sha, &"0".repeat(40)])
            .await,
        "*2\r\n:1\r\n:0\r\n"
    );
    let key = key_on(1);
    assert_eq!(client.cmd(&["SET", &key, "v"]).await, "+OK\r\n");
    nodes[1].cli(&["SCRIPT", "FLUSH"]);
    assert_eq!(
        client.cmd(&["SCRIPT", "EXISTS", &sha]).await,
        "*1\r\n:0\r\n",
        "exists only where every node has it"
    );
    assert_eq!(
        client.cmd(&["EVALSHA", &sha, "1", &key]).await,
        "$1\r\nv\r\n",
        "loaded again on demand"
    );
    assert_eq!(nodes[1].cli(&["SCRIPT", "EXISTS", &sha]), "1");

    // A body first seen in EVAL is remembered too.
    let echo = "return ARGV[1]";
    assert_eq!(client.cmd(&["EVAL", echo, "0", "x"]).await, "$1\r\nx\r\n");
    for node in &nodes {
        node.cli(&["SCRIPT", "FLUSH"]);
    }
    let echo_sha = "11a4b8ae8bfc6e4a2d4d1a2d3a13a0c7c6e8e4bd";
    let reply = client.cmd(&["EVALSHA", echo_sha, "0", "y"]).await;
    assert!(
        reply.starts_with("-NOSCRIPT"),
        "a made-up sha stays unknown: {reply}"
    );
    let real = client.cmd(&["SCRIPT", "LOAD", echo]).await;
    let real = real.split("\r\n").nth(1).unwrap().to_owned();
    nodes.iter().for_each(|n| _ = n.cli(&["SCRIPT", "FLUSH"]));
    assert_eq!(
        client.cmd(&["EVALSHA", &real, "0", "y"]).await,
        "$1\r\ny\r\n"
    );

    let library = "#!lua name=greet\nredis.register_function('hello', function(keys, args) return 'hi ' .. args[1] end)";
    assert_eq!(
        client.cmd(&["FUNCTION", "LOAD", library]).await,
        "$5\r\ngreet\r\n"
    );
    for node in &nodes {
        assert!(
            node.cli(&["FUNCTION", "LIST"]).contains("greet"),
            "on every node"
        );
    }
    let key = key_on(2);
    nodes[2].cli(&["FUNCTION", "FLUSH"]);
    assert_eq!(
        client.cmd(&["FCALL", "hello", "1", &key, "Ada"]).await,
        "$6\r\nhi Ada\r\n",
        "the library loaded again where it was missing"
    );
    assert_eq!(
        client.cmd(&["FUNCTION", "DELETE", "greet"]).await,
        "+OK\r\n"
    );
    let reply = client.cmd(&["FCALL", "hello", "1", &key, "Ada"]).await;
    assert!(reply.starts_with("-ERR Function not found"), "{reply}");
    fleet.shutdown().await;

    let cluster = RedisCluster::start(3, 0);
    let server = in_front_of(&cluster).await;
    let mut client = RespClient::connect(server.resp_addr).await;
    let sha = client.cmd(&["SCRIPT", "LOAD", get]).await;
    let sha = sha.split("\r\n").nth(1).unwrap().to_owned();
    for i in 0..3 {
        assert_eq!(
            cluster.node(i).cli(&["SCRIPT", "EXISTS", &sha]),
            "1",
            "on every master"
        );
    }
    assert_eq!(client.cmd(&["SET", "a", "1"]).await, "+OK\r\n");
    let owner = cluster.master_for_key("a");
    cluster.node(owner).cli(&["SCRIPT", "FLUSH"]);
    assert_eq!(
        client.cmd(&["EVALSHA", &sha, "1", "a"]).await,
        "$1\r\n1\r\n"
    );
    server.shutdown().await;
}

/// The REST API answers a key of another type `409 wrong_type` naming the
/// type, and with `?as=json` reads a hash, list, set or sorted set whole.
/// REST reads of collections; `streams`: the backend has streams (Redis),
/// whose REST read is `409 wrong_type` (the embedded store has none).
async fn rest_reads_collections(server: &TestServer, streams: bool) {
    let mut client = RespClient::connect(server.resp_addr).await;
    let stream = &["XADD", "events", "1-1", "f", "v"][..];
    for command in [
        &["HSET", "user:42", "name", "Ada", "born", "1815"][..],
        &["RPUSH", "feed:42", "b", "a", "b"],
        &["SADD", "tags:42", "x", "a", "m"],
        &["ZADD", "board", "2.5", "ada", "1", "bob", "+inf", "top"],
        if streams { stream } else { &["PING"] },
        &["SET", "plain", "{\"n\":1}"],
    ] {
        assert!(!client.cmd(command).await.starts_with('-'), "{command:?}");
    }
    let (status, body) = server.get("/api/cache/user:42").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (409, &json!("wrong_type")),
        "{body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("holds a hash") && message.contains("?as=json"),
        "{message}"
    );
    let (status, body) = server.get("/api/cache/user:42?as=json").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["type"], "hash");
    assert_eq!(body["value"], json!({"name": "Ada", "born": "1815"}));
    assert_eq!(
        (&body["encoding"], &body["ttl"]),
        (&json!("utf8"), &json!(null))
    );
    let (_, body) = server.get("/api/cache/feed:42?as=json").await;
    assert_eq!(
        (&body["type"], &body["value"]),
        (&json!("list"), &json!(["b", "a", "b"]))
    );
    let (_, body) = server.get("/api/cache/tags:42?as=json").await;
    assert_eq!(body["value"], json!(["a", "m", "x"]), "a set in byte order");
    let (_, body) = server.get("/api/cache/board?as=json").await;
    assert_eq!(
        body["value"],
        json!([{"member": "bob", "score": 1.0}, {"member": "ada", "score": 2.5}, {"member": "top", "score": "inf"}])
    );
    client.send(&[b"SADD", b"raw", b"\xff", b"ok"]).await;
    assert_eq!(client.reply().await, b":2\r\n");
    let (_, body) = server.get("/api/cache/raw?as=json").await;
    assert_eq!(body["encoding"], "base64", "{body}");
    assert_eq!(
        body["value"],
        json!(["b2s=", "/w=="]),
        "every element in base64"
    );
    if streams {
        let (status, body) = server.get("/api/cache/events?as=json").await;
        assert_eq!(
            (status, &body["error"]["code"]),
            (409, &json!("wrong_type")),
            "{body}"
        );
    }
    let (status, body) = server.get("/api/cache/plain?as=json").await;
    assert_eq!(
        (status, &body["value"]),
        (200, &json!({"n": 1})),
        "a string reads as ever"
    );
    let (status, _) = server.get("/api/cache/absent?as=json").await;
    assert_eq!(status, 404);
    let (status, body) = server.get("/api/cache/plain?as=xml").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (400, &json!("invalid_request")),
        "{body}"
    );
    for chunk in 0..11 {
        let mut push = vec!["RPUSH".to_string(), "big".to_string()];
        push.extend((0..1_000).map(|i| (chunk * 1_000 + i).to_string()));
        let push: Vec<&str> = push.iter().map(String::as_str).collect();
        assert!(client.cmd(&push).await.starts_with(':'));
    }
    let (status, body) = server.get("/api/cache/big?as=json").await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (413, &json!("collection_too_large")),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_answers_wrong_type_and_reads_collections_as_json() {
    let nodes = three_nodes();
    let fleet = start_fleet(&nodes.iter().collect::<Vec<_>>(), &[]).await;
    rest_reads_collections(&fleet, true).await;
    fleet.shutdown().await;

    let cluster = RedisCluster::start(3, 0);
    let server = in_front_of(&cluster).await;
    rest_reads_collections(&server, true).await;
    server.shutdown().await;

    let embedded = TestServer::builder().start().await;
    rest_reads_collections(&embedded, false).await;
    embedded.shutdown().await;
}

/// CONFIG SET of an encoding parameter reaches every node and changes the
/// encoding Redis picks; CONFIG GET reads it back; other parameters stay
/// Roost's start-up settings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoding_parameters_are_set_on_every_node() {
    let nodes = three_nodes();
    let fleet = start_fleet(&nodes.iter().collect::<Vec<_>>(), &[]).await;
    let mut client = RespClient::connect(fleet.resp_addr).await;
    assert_eq!(
        client.cmd(&["HSET", "small", "a", "1", "b", "2"]).await,
        ":2\r\n"
    );
    assert_eq!(
        client.cmd(&["OBJECT", "ENCODING", "small"]).await,
        "$8\r\nlistpack\r\n"
    );
    assert_eq!(
        client
            .cmd(&["CONFIG", "SET", "hash-max-listpack-entries", "1"])
            .await,
        "+OK\r\n"
    );
    for node in &nodes {
        assert_eq!(
            node.cli(&["CONFIG", "GET", "hash-max-listpack-entries"]),
            "hash-max-listpack-entries\n1"
        );
    }
    assert_eq!(
        client.cmd(&["CONFIG", "GET", "hash-max-listpack-*"]).await,
        "*4\r\n$25\r\nhash-max-listpack-entries\r\n$1\r\n1\r\n$23\r\nhash-max-listpack-value\r\n$2\r\n64\r\n"
    );
    assert_eq!(
        client.cmd(&["HSET", "big", "a", "1", "b", "2"]).await,
        ":2\r\n"
    );
    assert_eq!(
        client.cmd(&["OBJECT", "ENCODING", "big"]).await,
        "$9\r\nhashtable\r\n"
    );
    let refused = client.cmd(&["CONFIG", "SET", "maxmemory", "1"]).await;
    assert!(
        refused.starts_with("-ERR CONFIG SET of 'maxmemory' is not supported"),
        "{refused}"
    );
    assert_eq!(
        client.cmd(&["CONFIG", "GET", "port"]).await.lines().nth(4),
        Some(fleet.resp_addr.port().to_string().as_str())
    );
    fleet.shutdown().await;
}

/// Roles: a script can call any command on the node, so EVAL, FCALL,
/// SCRIPT, FUNCTION and RESTORE need the admin role; a read user may read
/// collections but not write them; COPY into another database is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_need_the_admin_role_and_copy_stays_in_one_database() {
    let node = RedisServer::start();
    let fleet = start_fleet(
        &[&node],
        &[(
            "ROOST_API_TOKENS",
            "reader:read:r-t0ken,app:write:w-t0ken,ops:admin:a-t0ken",
        )],
    )
    .await;
    let mut app = RespClient::connect(fleet.resp_addr).await;
    assert_eq!(app.cmd(&["AUTH", "app", "w-t0ken"]).await, "+OK\r\n");
    assert_eq!(app.cmd(&["HSET", "h", "f", "v"]).await, ":1\r\n");
    for command in [
        &["EVAL", "return redis.call('FLUSHALL')", "0"][..],
        &["FCALL", "f", "0"],
        &["SCRIPT", "FLUSH"],
        &["FUNCTION", "FLUSH"],
        &["RESTORE", "k", "0", "payload"],
    ] {
        let reply = app.cmd(command).await;
        assert!(reply.starts_with("-NOPERM"), "{command:?}: {reply}");
    }
    assert_eq!(node.dbsize(), 1, "nothing flushed");
    let reply = app.cmd(&["COPY", "h", "h2", "DB", "1"]).await;
    assert!(
        reply.starts_with("-ERR COPY … DB is not supported"),
        "{reply}"
    );
    assert_eq!(app.cmd(&["COPY", "h", "h2"]).await, ":1\r\n");
    let mut reader = RespClient::connect(fleet.resp_addr).await;
    assert_eq!(reader.cmd(&["AUTH", "reader", "r-t0ken"]).await, "+OK\r\n");
    assert_eq!(reader.cmd(&["HGET", "h", "f"]).await, "$1\r\nv\r\n");
    assert!(reader
        .cmd(&["HSET", "h", "f", "w"])
        .await
        .starts_with("-NOPERM"));
    assert_eq!(
        reader
            .cmd(&[
                "EVAL_RO",
                "return redis.call('HGET', KEYS[1], 'f')",
                "1",
                "h"
            ])
            .await,
        "$1\r\nv\r\n"
    );
    let mut ops = RespClient::connect(fleet.resp_addr).await;
    assert_eq!(ops.cmd(&["AUTH", "ops", "a-t0ken"]).await, "+OK\r\n");
    assert_eq!(ops.cmd(&["EVAL", "return 1", "0"]).await, ":1\r\n");
    fleet.shutdown().await;
}

/// Too much is refused with a clear error and stores nothing: a forwarded
/// argument over the value limit, a transaction over 10,000 commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_values_and_transactions_are_bounded() {
    let node = RedisServer::start();
    let fleet = start_fleet(&[&node], &[("ROOST_MAX_VALUE_BYTES", "1KiB")]).await;
    let mut client = RespClient::connect(fleet.resp_addr).await;
    let big = "x".repeat(1025);
    // The parser refuses an argument over the value limit before any
    // command sees it (and closes the connection, as Redis does).
    let reply = client.cmd(&["HSET", "h", "f", &big]).await;
    assert!(
        reply.starts_with("-ERR Protocol error: invalid bulk length"),
        "{reply}"
    );
    assert!(!node.exists("h"), "nothing stored");
    let mut client = RespClient::connect(fleet.resp_addr).await;
    assert_eq!(client.cmd(&["MULTI"]).await, "+OK\r\n");
    let queued: Vec<Vec<String>> = (0..10_001)
        .map(|i| vec!["RPUSH".into(), "q".into(), i.to_string()])
        .collect();
    let replies = client.pipeline(&queued).await;
    assert!(replies[..10_000].iter().all(|r| r == "+QUEUED\r\n"));
    assert!(
        replies[10_000].starts_with("-ERR a transaction through Roost queues at most"),
        "{}",
        replies[10_000]
    );
    assert_eq!(
        client.cmd(&["EXEC"]).await,
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert!(!node.exists("q"), "nothing ran");
    fleet.shutdown().await;
}

/// WATCH holds its keys on a connection of the client's own: a change by
/// another client between WATCH and EXEC makes EXEC answer nil and run
/// nothing; without one it runs. A transaction's keys must live together.
async fn watch_sees_other_clients_writes(addr: SocketAddr) {
    let mut mine = RespClient::connect(addr).await;
    let mut other = RespClient::connect(addr).await;
    assert_eq!(mine.cmd(&["SET", "{acct}:a", "10"]).await, "+OK\r\n");
    for (interfere, expected) in [(true, "*-1\r\n"), (false, "*2\r\n:11\r\n:12\r\n")] {
        assert_eq!(
            mine.cmd(&["WATCH", "{acct}:a", "{acct}:b"]).await,
            "+OK\r\n"
        );
        assert_eq!(
            mine.cmd(&["GET", "{acct}:a"]).await.chars().next(),
            Some('$')
        );
        if interfere {
            assert_eq!(other.cmd(&["SET", "{acct}:a", "10"]).await, "+OK\r\n");
        }
        assert_eq!(mine.cmd(&["MULTI"]).await, "+OK\r\n");
        assert_eq!(mine.cmd(&["INCR", "{acct}:a"]).await, "+QUEUED\r\n");
        assert_eq!(mine.cmd(&["INCR", "{acct}:a"]).await, "+QUEUED\r\n");
        assert_eq!(
            mine.cmd(&["EXEC"]).await,
            expected,
            "interfered: {interfere}"
        );
    }
    assert_eq!(other.cmd(&["GET", "{acct}:a"]).await, "$2\r\n12\r\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_run_on_one_node_and_watch_sees_other_clients() {
    let nodes = three_nodes();
    let servers: Vec<&RedisServer> = nodes.iter().collect();
    let fleet = start_fleet(&servers, &[]).await;
    watch_sees_other_clients_writes(fleet.resp_addr).await;
    let ring = support::fleet::ring_of(&servers);
    let (a, b) = apart(&ring);
    let mut client = RespClient::connect(fleet.resp_addr).await;
    assert_eq!(client.cmd(&["MULTI"]).await, "+OK\r\n");
    assert_eq!(client.cmd(&["SET", &a, "1"]).await, "+QUEUED\r\n");
    assert_eq!(
        client.cmd(&["SET", &b, "1"]).await,
        "-CROSSSLOT Keys in request don't hash to the same slot\r\n"
    );
    let reply = client.cmd(&["INFO"]).await;
    assert!(reply.starts_with("-ERR 'info' cannot be queued"), "{reply}");
    assert_eq!(
        client.cmd(&["EXEC"]).await,
        "-EXECABORT Transaction discarded because of previous errors.\r\n"
    );
    assert_eq!(client.cmd(&["EXISTS", &a]).await, ":0\r\n", "nothing ran");
    fleet.shutdown().await;

    let cluster = RedisCluster::start(3, 0);
    let server = in_front_of(&cluster).await;
    watch_sees_other_clients_writes(server.resp_addr).await;
    server.shutdown().await;

    let embedded = TestServer::builder().start().await;
    let mut client = RespClient::connect(embedded.resp_addr).await;
    let reply = client.cmd(&["MULTI"]).await;
    assert!(
        reply.starts_with("-ERR 'multi' runs in front of Redis only"),
        "{reply}"
    );
    assert_eq!(
        client.cmd(&["SET", "k", "v"]).await,
        "+OK\r\n",
        "not queued"
    );
    embedded.shutdown().await;
}

/// A client blocked in BLPOP waits on a connection of its own: other clients'
/// commands through the same gateway go on meanwhile, and a push from one of
/// them serves it.
async fn a_blocked_pop_waits_alone_and_is_served_by_a_push(addr: SocketAddr) {
    let mut blocked = RespClient::connect(addr).await;
    blocked.send(&[b"BLPOP", b"jobs", b"0"]).await;
    let mut other = RespClient::connect(addr).await;
    for i in 0..50 {
        let key = format!("k{i}");
        assert_eq!(other.cmd(&["SET", &key, "v"]).await, "+OK\r\n");
        assert_eq!(other.cmd(&["GET", &key]).await, "$1\r\nv\r\n");
        assert_eq!(
            other.cmd(&["HSET", &key, "f", "v"]).await.chars().next(),
            Some('-')
        );
    }
    assert_eq!(other.cmd(&["RPUSH", "jobs", "job"]).await, ":1\r\n");
    assert_eq!(
        String::from_utf8(blocked.reply().await).unwrap(),
        "*2\r\n$4\r\njobs\r\n$3\r\njob\r\n"
    );
    assert_eq!(other.cmd(&["LLEN", "jobs"]).await, ":0\r\n", "popped once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_pops_wait_on_their_own_connection() {
    let nodes = [RedisServer::start(), RedisServer::start()];
    let fleet = start_fleet(&nodes.iter().collect::<Vec<_>>(), &[]).await;
    a_blocked_pop_waits_alone_and_is_served_by_a_push(fleet.resp_addr).await;
    fleet.shutdown().await;

    let cluster = RedisCluster::start(3, 0);
    let server = in_front_of(&cluster).await;
    a_blocked_pop_waits_alone_and_is_served_by_a_push(server.resp_addr).await;
    server.shutdown().await;

    let embedded = TestServer::builder().start().await;
    a_blocked_pop_waits_alone_and_is_served_by_a_push(embedded.resp_addr).await;
    embedded.shutdown().await;
}

fn three_nodes() -> [RedisServer; 3] {
    [
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    ]
}

/// Two keys `ring` places on different nodes.
fn apart(ring: &Ring) -> (String, String) {
    (0..)
        .map(|i| (format!("a{i}"), format!("b{i}")))
        .find(|(a, b)| ring.locate(a.as_bytes()) != ring.locate(b.as_bytes()))
        .unwrap()
}

fn addr_of(server: &RedisServer) -> SocketAddr {
    format!("127.0.0.1:{}", server.port()).parse().unwrap()
}

/// The names in `RESP` array-of-bulk-strings `reply`, lower-case.
fn names_in(reply: &str) -> std::collections::BTreeSet<String> {
    reply
        .split("\r\n")
        .skip(1)
        .filter(|line| !line.starts_with('$') && !line.is_empty())
        .map(|name| name.to_lowercase())
        .collect()
}

/// docs/resp.md's table of forwarded commands is every command `COMMAND
/// LIST` names in front of Redis beyond the embedded store's own 43 and
/// transactions: the ones only Redis runs, and the 102 the embedded store
/// runs on its own collections.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docs_list_exactly_the_forwarded_commands() {
    let embedded = TestServer::builder().start().await;
    let served = names_in(
        &RespClient::connect(embedded.resp_addr)
            .await
            .cmd(&["COMMAND", "LIST"])
            .await,
    );
    embedded.shutdown().await;
    let node = RedisServer::start();
    let fleet = start_fleet(&[&node], &[]).await;
    let all = names_in(
        &RespClient::connect(fleet.resp_addr)
            .await
            .cmd(&["COMMAND", "LIST"])
            .await,
    );
    fleet.shutdown().await;
    let transactions = ["multi", "exec", "discard", "watch", "unwatch"];
    let only_redis: std::collections::BTreeSet<String> = all
        .difference(&served)
        .filter(|name| !transactions.contains(&name.as_str()))
        .cloned()
        .collect();
    assert!(only_redis.len() > 30 && only_redis.contains("xadd") && !only_redis.contains("zadd"));

    let path = format!("{}/../../docs/resp.md", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let start = text.find("<!-- forwarded:begin -->").expect("begin marker");
    let end = text.find("<!-- forwarded:end -->").expect("end marker");
    let documented: std::collections::BTreeSet<String> = text[start..end]
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_lowercase)
        .collect();
    let both: Vec<&String> = documented.intersection(&served).collect();
    assert_eq!(
        both.len(),
        102,
        "the embedded store runs 102 of them: {both:?}"
    );
    let forwarded: std::collections::BTreeSet<String> =
        only_redis.iter().chain(both.into_iter()).cloned().collect();
    assert_eq!(
        documented, forwarded,
        "docs/resp.md is out of date: regenerate its table with tools/forward-table.py --markdown"
    );
}
