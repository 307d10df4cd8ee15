//! Redis's hashes, lists, sets and sorted sets in the embedded store (issue
//! 17, item 2): the same commands answer as a real redis-server 7.0 does,
//! byte for byte, RESP2 and RESP3, errors included: WRONGTYPE both ways,
//! TTLs over collections, OBJECT ENCODING, TYPE. REST reads of embedded
//! collections are in `tests/data_types.rs`; charging, the cap and eviction
//! in `roost-store`'s `tests/collections.rs`; the memory cap through the
//! server below.

#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;

use roost_resp::Frame;
use roost_ring::{Node, NodeId, Ring, DEFAULT_WEIGHT};
use support::redis::RedisServer;
use support::resp::{assert_same_replies, resp3_script_replies, script_replies, RespClient};
use support::TestServer;

/// One command per line. Replies whose order Redis does not promise are
/// avoided (a set's members are added in the order an intset sorts them; a
/// random pick takes the whole collection or a single element).
const SCRIPT: &[&[&str]] = &[
    // Hashes.
    &["HSET", "h", "f1", "v1", "f2", "v2"],
    &["HSET", "h", "f1", "again"],
    &["HSET", "h", "odd"],
    &["HMSET", "h", "f3", "v3"],
    &["HGET", "h", "f1"],
    &["HGET", "h", "nope"],
    &["HGET", "absent", "f"],
    &["HGETALL", "h"],
    &["HGETALL", "absent"],
    &["HMGET", "h", "f1", "nope"],
    &["HMGET", "absent", "a", "b"],
    &["HINCRBY", "h", "n", "5"],
    &["HINCRBY", "h", "n", "-7"],
    &["HINCRBY", "h", "f1", "1"],
    &["HINCRBY", "h", "n", "x"],
    &["HINCRBY", "h", "n", "9223372036854775807"],
    &["HINCRBYFLOAT", "h", "x", "1.5"],
    &["HINCRBYFLOAT", "h", "x", "2"],
    &["HINCRBYFLOAT", "h", "f1", "1"],
    &["HINCRBYFLOAT", "h", "x", "nan"],
    &["HDEL", "h", "f2", "nope"],
    &["HLEN", "h"],
    &["HEXISTS", "h", "f1"],
    &["HEXISTS", "h", "f2"],
    &["HKEYS", "h"],
    &["HVALS", "h"],
    &["HSTRLEN", "h", "f1"],
    &["HSETNX", "h", "f1", "no"],
    &["HSETNX", "h", "new", "yes"],
    &["HRANDFIELD", "absent"],
    &["HRANDFIELD", "absent", "2"],
    &["HSET", "one", "f", "v"],
    &["HRANDFIELD", "one"],
    &["HRANDFIELD", "one", "-2", "WITHVALUES"],
    &["HRANDFIELD", "one", "1", "WITHVALUES", "extra"],
    &["TYPE", "h"],
    &["OBJECT", "ENCODING", "h"],
    // Type errors both ways.
    &["SET", "str", "hello"],
    &["HGET", "str", "f"],
    &["LPUSH", "str", "x"],
    &["SADD", "str", "x"],
    &["ZADD", "str", "1", "x"],
    &["GET", "h"],
    &["INCR", "h"],
    &["APPEND", "h", "x"],
    &["STRLEN", "h"],
    &["GETDEL", "h"],
    &["GETEX", "h", "PX", "100"],
    &["MGET", "h", "str"],
    &["SET", "h", "x", "GET"],
    &["SET", "h", "x", "NX", "GET"],
    &["SET", "h", "x", "NX"],
    &["LPUSH", "h", "x"],
    &["HLEN", "h"],
    &["OBJECT", "ENCODING", "str"],
    &["SET", "num", "12345"],
    &["OBJECT", "ENCODING", "num"],
    &["OBJECT", "ENCODING", "absent"],
    // Lists.
    &["LPUSH", "l", "a", "b", "c"],
    &["RPUSH", "l", "d"],
    &["LPUSHX", "absent", "x"],
    &["RPUSHX", "l", "e"],
    &["LRANGE", "l", "0", "-1"],
    &["LRANGE", "l", "-2", "100"],
    &["LRANGE", "l", "5", "1"],
    &["LRANGE", "l", "x", "1"],
    &["LPOP", "l"],
    &["RPOP", "l", "2"],
    &["LPOP", "l", "0"],
    &["LPOP", "l", "-1"],
    &["LPOP", "absent", "2"],
    &["LPOP", "absent"],
    &["RPUSH", "l", "a", "b", "a", "c", "a"],
    &["LINDEX", "l", "0"],
    &["LINDEX", "l", "-1"],
    &["LINDEX", "l", "99"],
    &["LLEN", "l"],
    &["LPOS", "l", "a"],
    &["LPOS", "l", "a", "RANK", "2"],
    &["LPOS", "l", "a", "RANK", "-1"],
    &["LPOS", "l", "a", "COUNT", "0"],
    &["LPOS", "l", "a", "COUNT", "2", "MAXLEN", "3"],
    &["LPOS", "l", "zz"],
    &["LPOS", "l", "a", "RANK", "0"],
    &["LPOS", "l", "a", "COUNT", "-1"],
    &["LINSERT", "l", "BEFORE", "c", "z"],
    &["LINSERT", "l", "AFTER", "nope", "z"],
    &["LINSERT", "absent", "AFTER", "a", "z"],
    &["LINSERT", "l", "SIDEWAYS", "a", "z"],
    &["LSET", "l", "0", "q"],
    &["LSET", "l", "99", "q"],
    &["LSET", "absent", "0", "q"],
    &["LREM", "l", "1", "a"],
    &["LREM", "l", "-1", "a"],
    &["LRANGE", "l", "0", "-1"],
    &["LREM", "l", "0", "a"],
    &["LTRIM", "l", "1", "-2"],
    &["LRANGE", "l", "0", "-1"],
    &["OBJECT", "ENCODING", "l"],
    &["LTRIM", "l", "5", "1"],
    &["EXISTS", "l"],
    &["OBJECT", "ENCODING", "l"],
    // Sets.
    &["SADD", "s", "1", "2", "3"],
    &["SADD", "s", "3", "4"],
    &["SISMEMBER", "s", "1"],
    &["SISMEMBER", "s", "9"],
    &["SMISMEMBER", "s", "1", "9"],
    &["SMISMEMBER", "absent", "1"],
    &["SCARD", "s"],
    &["SMEMBERS", "s"],
    &["OBJECT", "ENCODING", "s"],
    &["SREM", "s", "1", "9"],
    &["SRANDMEMBER", "s", "10"],
    &["SRANDMEMBER", "absent"],
    &["SRANDMEMBER", "absent", "3"],
    &["SRANDMEMBER", "s", "1", "extra"],
    &["SADD", "s1", "a", "b"],
    &["SADD", "s2", "b", "c"],
    &["SINTER", "s1", "s2"],
    &["SINTER", "s1", "absent"],
    &["SDIFF", "s1", "s2"],
    &["SINTERCARD", "2", "s1", "s2"],
    &["SINTERCARD", "2", "s1", "s2", "LIMIT", "-1"],
    &["SINTERCARD", "0", "s1"],
    &["SINTERCARD", "3", "s1", "s2"],
    &["OBJECT", "ENCODING", "s1"],
    &["SADD", "single", "only"],
    &["SPOP", "single"],
    &["EXISTS", "single"],
    &["SPOP", "absent"],
    &["SPOP", "s", "-1"],
    &["SINTER", "str", "s1"],
    // Sorted sets.
    &["ZADD", "z", "1", "a", "2", "b", "3", "c"],
    &["ZADD", "z", "0.1", "d", "1e20", "e", "-inf", "f"],
    &["ZSCORE", "z", "b"],
    &["ZSCORE", "z", "d"],
    &["ZSCORE", "z", "nope"],
    &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    &["ZRANGE", "z", "1", "2"],
    &["ZRANGE", "z", "(1", "3", "BYSCORE"],
    &[
        "ZRANGE",
        "z",
        "+inf",
        "(1",
        "BYSCORE",
        "REV",
        "LIMIT",
        "0",
        "2",
        "WITHSCORES",
    ],
    &["ZRANGE", "z", "0", "1", "REV"],
    &["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"],
    &["ZRANGE", "z", "x", "1"],
    &["ZRANK", "z", "c"],
    &["ZREVRANK", "z", "c"],
    &["ZRANK", "z", "nope"],
    &["ZINCRBY", "z", "1.5", "a"],
    &["ZINCRBY", "z", "x", "a"],
    &["ZREVRANGE", "z", "0", "0", "WITHSCORES"],
    &["ZCOUNT", "z", "1", "2.5"],
    &["ZCOUNT", "z", "(1", "+inf"],
    &["ZCOUNT", "z", "x", "1"],
    &["ZRANGEBYSCORE", "z", "(1", "+inf", "LIMIT", "0", "1"],
    &[
        "ZRANGEBYSCORE",
        "z",
        "-inf",
        "+inf",
        "WITHSCORES",
        "LIMIT",
        "1",
        "2",
    ],
    &["ZREVRANGEBYSCORE", "z", "+inf", "2"],
    &["ZPOPMIN", "z"],
    &["ZPOPMAX", "z", "2"],
    &["ZPOPMIN", "absent"],
    &["ZMSCORE", "z", "a", "nope"],
    &["ZREM", "z", "c", "nope"],
    &["ZCARD", "z"],
    &["ZADD", "z", "XX", "GT", "NX", "1", "a"],
    &["ZADD", "z", "NX", "XX", "1", "a"],
    &["ZADD", "z", "INCR", "1", "a", "2", "b"],
    &["ZADD", "z", "1", "a", "2"],
    &["ZADD", "z", "x", "a"],
    &["ZADD", "z", "CH", "5", "a", "6", "new"],
    &["ZADD", "z", "GT", "CH", "1", "a"],
    &["ZADD", "z", "LT", "CH", "1", "a"],
    &["ZADD", "z", "INCR", "2", "a"],
    &["ZADD", "z", "NX", "INCR", "2", "a"],
    &["ZADD", "absent", "XX", "1", "a"],
    &["ZADD", "absent", "XX", "INCR", "1", "a"],
    &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    &["ZADD", "lex", "0", "a", "0", "b", "0", "c", "0", "d"],
    &["ZRANGEBYLEX", "lex", "[b", "(d"],
    &["ZRANGEBYLEX", "lex", "-", "+", "LIMIT", "1", "2"],
    &["ZREVRANGEBYLEX", "lex", "+", "(b"],
    &["ZRANGE", "lex", "[a", "[c", "BYLEX"],
    &["ZRANGE", "lex", "[a", "[c", "BYLEX", "WITHSCORES"],
    &["ZLEXCOUNT", "lex", "(a", "+"],
    &["ZRANGEBYLEX", "lex", "a", "+"],
    &["ZREMRANGEBYLEX", "lex", "[a", "[b"],
    &["ZREMRANGEBYRANK", "lex", "0", "0"],
    &["ZREMRANGEBYSCORE", "z", "-inf", "(2"],
    &["ZRANGE", "z", "0", "-1", "WITHSCORES"],
    &["ZRANDMEMBER", "absent"],
    &["ZADD", "zone", "7", "m"],
    &["ZRANDMEMBER", "zone", "-2", "WITHSCORES"],
    &["OBJECT", "ENCODING", "z"],
    // Sorted-set algebra; a set is a source with scores of 1.
    &["ZADD", "za", "1", "a", "2", "b", "3", "c"],
    &["ZADD", "zb", "10", "b", "20", "c", "30", "d"],
    &["SADD", "sc", "c", "e"],
    &["ZUNION", "2", "za", "zb", "WITHSCORES"],
    &[
        "ZUNION",
        "3",
        "za",
        "zb",
        "sc",
        "WEIGHTS",
        "1",
        "2",
        "3",
        "AGGREGATE",
        "MAX",
        "WITHSCORES",
    ],
    &["ZINTER", "2", "za", "zb", "WITHSCORES"],
    &["ZINTER", "2", "za", "zb", "AGGREGATE", "MIN", "WITHSCORES"],
    &["ZINTER", "3", "za", "zb", "sc"],
    &["ZDIFF", "2", "za", "zb", "WITHSCORES"],
    &["ZDIFF", "1", "absent"],
    &["ZUNIONSTORE", "zu", "2", "za", "zb", "WEIGHTS", "2", "0.5"],
    &["ZRANGE", "zu", "0", "-1", "WITHSCORES"],
    &["ZINTERSTORE", "zi", "2", "za", "absent"],
    &["EXISTS", "zi"],
    &["ZDIFFSTORE", "str", "2", "za", "zb"],
    &["TYPE", "str"],
    &["ZRANGE", "str", "0", "-1", "WITHSCORES"],
    &["SET", "str", "hello"],
    &["ZINTERCARD", "2", "za", "zb"],
    &["ZINTERCARD", "2", "za", "zb", "LIMIT", "1"],
    &["ZINTERCARD", "2", "za", "zb", "LIMIT", "-1"],
    &["ZUNION", "0", "za"],
    &["ZUNIONSTORE", "zu", "0", "za"],
    &["ZUNION", "x", "za"],
    &["ZUNION", "1", "za", "WEIGHTS", "x"],
    &["ZUNION", "1", "za", "WEIGHTS", "1", "2"],
    &["ZUNION", "1", "za", "AGGREGATE", "FOO"],
    &["ZUNIONSTORE", "zu", "1", "za", "WITHSCORES"],
    &["ZDIFF", "1", "za", "WEIGHTS", "1"],
    &["ZUNION", "2", "za", "str"],
    &["ZUNION", "1", "h"],
    &["ZRANGESTORE", "zr", "za", "1", "-1"],
    &["ZRANGE", "zr", "0", "-1", "WITHSCORES"],
    &[
        "ZRANGESTORE",
        "zr",
        "za",
        "(1",
        "+inf",
        "BYSCORE",
        "LIMIT",
        "0",
        "1",
    ],
    &["ZRANGE", "zr", "0", "-1", "WITHSCORES"],
    &["ZRANGESTORE", "zr", "za", "0", "-1", "WITHSCORES"],
    &["ZRANGESTORE", "zr", "absent", "0", "-1"],
    &["EXISTS", "zr"],
    // The rest of the string family.
    &["GETRANGE", "nokey", "0", "-1"],
    &["SETRANGE", "sr", "-1", "x"],
    &["SETRANGE", "sr", "3", "abc"],
    &["GET", "sr"],
    &["SETRANGE", "sr", "0", ""],
    &["SETRANGE", "nosr", "0", ""],
    &["EXISTS", "nosr"],
    &["GETRANGE", "sr", "-3", "-1"],
    &["GETRANGE", "sr", "5", "2"],
    &["GETRANGE", "sr", "-1", "-5"],
    &["GETRANGE", "sr", "0", "100"],
    &["SUBSTR", "sr", "1", "4"],
    &["GETRANGE", "sr", "x", "1"],
    &["SETBIT", "bits", "7", "1"],
    &["SETBIT", "bits", "7", "2"],
    &["SETBIT", "bits", "-1", "1"],
    &["SETBIT", "bits", "20", "1"],
    &["GETBIT", "bits", "7"],
    &["GETBIT", "bits", "100"],
    &["GET", "bits"],
    &["BITCOUNT", "bits"],
    &["BITCOUNT", "bits", "0"],
    &["BITCOUNT", "bits", "1", "-1"],
    &["BITCOUNT", "bits", "5", "30", "BIT"],
    &["BITCOUNT", "bits", "0", "-1", "BYTE"],
    &["BITCOUNT", "bits", "0", "-1", "FOO"],
    &["BITCOUNT", "nobits"],
    &["INCRBYFLOAT", "fl", "0.1"],
    &["INCRBYFLOAT", "fl", "10.5"],
    &["INCRBYFLOAT", "fl", "-3"],
    &["INCRBYFLOAT", "fl", "x"],
    &["INCRBYFLOAT", "sr", "1"],
    &["INCRBYFLOAT", "fl", "inf"],
    &["SET", "ttl", "1", "EX", "100"],
    &["INCRBYFLOAT", "ttl", "1.5"],
    &["TTL", "ttl"],
    &["GETSET", "ttl", "new"],
    &["TTL", "ttl"],
    &["GETSET", "nokey2", "v"],
    &["GETRANGE", "h", "0", "1"],
    &["GETSET", "h", "v"],
    &["SETBIT", "h", "1", "1"],
    // Blocking pops: served at once when they can be, else they time out.
    &["RPUSH", "{t}q", "job1", "job2"],
    &["BLPOP", "{t}absent", "{t}q", "1"],
    &["BRPOPLPUSH", "{t}q", "{t}done", "1"],
    &["BLMOVE", "{t}done", "{t}q", "LEFT", "LEFT", "1"],
    &["BLMPOP", "1", "2", "{t}absent", "{t}q", "RIGHT"],
    &["BLPOP", "{t}absent", "0.05"],
    &["BRPOP", "{t}absent", "0.05"],
    &["BLMOVE", "{t}absent", "{t}q", "LEFT", "LEFT", "0.05"],
    &["BRPOPLPUSH", "{t}absent", "{t}q", "0.05"],
    &["BLMPOP", "0.05", "1", "{t}absent", "LEFT"],
    &["ZADD", "{t}bz", "1", "a", "2", "b"],
    &["BZPOPMIN", "{t}absent", "{t}bz", "1"],
    &["BZPOPMAX", "{t}bz", "1"],
    &["BZPOPMIN", "{t}absent", "0.05"],
    &["BZMPOP", "0.05", "1", "{t}absent", "MIN"],
    &["BLPOP", "{t}q", "-1"],
    &["BLPOP", "{t}q", "soon"],
    &["BLPOP", "str", "1"],
    &["BLMOVE", "{t}q", "{t}q", "UP", "LEFT", "1"],
    // Scans of small collections: whole, in their order, cursor 0.
    &["HSCAN", "h", "0"],
    &["HSCAN", "h", "0", "MATCH", "f*", "COUNT", "1"],
    &["HSCAN", "h", "x"],
    &["HSCAN", "h", "0", "COUNT", "0"],
    &["HSCAN", "h", "0", "MATCH"],
    &["HSCAN", "absent", "0"],
    &["SSCAN", "s", "0"],
    &["ZSCAN", "z", "0"],
    &["SSCAN", "str", "0"],
    // Commands on several keys: one shard (a hash tag), moved together.
    &["RPUSH", "{t}src", "a", "b", "c"],
    &["LMOVE", "{t}src", "{t}dst", "LEFT", "RIGHT"],
    &["LMOVE", "{t}src", "{t}dst", "RIGHT", "LEFT"],
    &["RPOPLPUSH", "{t}src", "{t}dst"],
    &["LMOVE", "{t}src", "{t}dst", "LEFT", "LEFT"],
    &["EXISTS", "{t}src"],
    &["LRANGE", "{t}dst", "0", "-1"],
    &["LMOVE", "{t}dst", "{t}dst", "LEFT", "RIGHT"],
    &["LRANGE", "{t}dst", "0", "-1"],
    &["LMOVE", "{t}dst", "{t}dst", "UP", "RIGHT"],
    &["SET", "{t}str", "x"],
    &["LMOVE", "{t}absent", "{t}str", "LEFT", "LEFT"],
    &["LMOVE", "{t}dst", "{t}str", "LEFT", "LEFT"],
    &["LMPOP", "2", "{t}absent", "{t}dst", "RIGHT", "COUNT", "2"],
    &["LMPOP", "1", "{t}absent", "LEFT"],
    &["LMPOP", "0", "{t}dst", "LEFT"],
    &["LMPOP", "1", "{t}dst", "LEFT", "COUNT", "0"],
    &["LMPOP", "1", "{t}dst", "MIDDLE"],
    &["LMPOP", "2", "{t}str", "{t}dst", "LEFT"],
    &["SADD", "{t}s1", "a", "b"],
    &["SADD", "{t}s2", "b", "c"],
    &["SMOVE", "{t}s1", "{t}s2", "a"],
    &["SMOVE", "{t}s1", "{t}s2", "nope"],
    &["SMOVE", "{t}absent", "{t}str", "a"],
    &["SMOVE", "{t}s1", "{t}str", "b"],
    &["SMOVE", "{t}s1", "{t}s1", "b"],
    &["SCARD", "{t}s2"],
    &["SINTERSTORE", "{t}out", "{t}s1", "{t}s2"],
    &["SMEMBERS", "{t}out"],
    &["SUNIONSTORE", "{t}str", "{t}s1", "{t}s2"],
    &["TYPE", "{t}str"],
    &["SDIFFSTORE", "{t}out", "{t}s2", "{t}s1"],
    &["SINTERSTORE", "{t}out", "{t}s1", "{t}absent"],
    &["EXISTS", "{t}out"],
    &["SINTERSTORE", "{t}out", "{t}s1", "{t}dst"],
    &["ZADD", "{t}z", "1", "a", "2", "b", "3", "c"],
    &["ZMPOP", "2", "{t}absent", "{t}z", "MAX", "COUNT", "2"],
    &["ZMPOP", "1", "{t}z", "MIN"],
    &["ZMPOP", "1", "{t}z", "MIN"],
    &["ZMPOP", "1", "{t}z", "SIDEWAYS"],
    // Key space over collections.
    &["EXPIRE", "h", "100"],
    &["TTL", "h"],
    &["HLEN", "h"],
    &["PERSIST", "h"],
    &["TTL", "h"],
    &["EXPIRETIME", "h"],
    &["PEXPIRETIME", "absent"],
    &["TOUCH", "h", "l", "s", "absent"],
    &["TYPE", "l"],
    &["TYPE", "s"],
    &["TYPE", "z"],
    &["TYPE", "absent"],
    &["EXISTS", "h", "l", "s", "z", "absent"],
    &["SET", "h", "now a string"],
    &["GET", "h"],
    &["DEL", "l", "s", "z"],
    &["HGETALL", "l"],
    &["DBSIZE"],
];

/// [`SCRIPT`]'s replies on an emptied server.
async fn replies(addr: SocketAddr) -> Vec<String> {
    let mut client = RespClient::connect(addr).await;
    client.cmd(&["FLUSHALL"]).await;
    script_replies(&mut client, SCRIPT).await
}

/// Commands whose RESP3 replies differ from RESP2's: maps, sets, doubles,
/// nested pairs, null arrays.
const RESP3_SCRIPT: &[&[&str]] = &[
    &["HSET", "h3", "f1", "v1", "f2", "v2"],
    &["HGETALL", "h3"],
    &["HGETALL", "absent"],
    &["HGET", "h3", "nope"],
    &["HSET", "one3", "f", "v"],
    &["HRANDFIELD", "one3", "1", "WITHVALUES"],
    &["ZADD", "z3", "1", "a", "2.5", "b", "+inf", "c"],
    &["ZSCORE", "z3", "b"],
    &["ZSCORE", "z3", "c"],
    &["ZINCRBY", "z3", "1", "a"],
    &["ZMSCORE", "z3", "a", "nope"],
    &["ZRANGE", "z3", "0", "-1", "WITHSCORES"],
    &["ZPOPMIN", "z3"],
    &["ZPOPMAX", "z3", "1"],
    &["ZADD", "z3", "INCR", "1", "b"],
    &["SADD", "s3", "1", "2", "3"],
    &["SMEMBERS", "s3"],
    &["SMEMBERS", "absent"],
    &["SISMEMBER", "s3", "1"],
    &["SADD", "single3", "x"],
    &["SPOP", "single3", "1"],
    &["ZADD", "{t}z3", "1", "a", "2", "b"],
    &["ZMPOP", "1", "{t}z3", "MIN", "COUNT", "2"],
    &["ZADD", "zs3", "1.5", "a"],
    &["ZUNION", "1", "zs3", "WITHSCORES"],
    &["ZSCAN", "zs3", "0"],
    &["LPOP", "absent", "2"],
    &["LPOP", "absent"],
];

/// [`RESP3_SCRIPT`]'s replies on an emptied server.
async fn resp3_replies(addr: SocketAddr) -> Vec<String> {
    RespClient::connect(addr).await.cmd(&["FLUSHALL"]).await;
    resp3_script_replies(addr, RESP3_SCRIPT).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collection_commands_answer_as_redis_does_in_the_embedded_store() {
    let redis = RedisServer::start();
    let addr: SocketAddr = format!("127.0.0.1:{}", redis.port()).parse().unwrap();
    let expected = replies(addr).await;
    let expected3 = resp3_replies(addr).await;

    let server = TestServer::builder().start().await;
    assert_same_replies(&replies(server.resp_addr).await, &expected, "RESP2");
    assert_same_replies(&resp3_replies(server.resp_addr).await, &expected3, "RESP3");
    server.shutdown().await;
}

/// Pushing far more than the cap holds never takes the store past it: old
/// lists are evicted whole, and a push bigger than a shard is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collections_stay_under_the_memory_cap() {
    let server = TestServer::builder()
        .env("ROOST_MAX_MEMORY", "4MiB")
        .start()
        .await;
    let mut client = RespClient::connect(server.resp_addr).await;
    let item = "x".repeat(100);
    for list in 0..400 {
        let key = format!("list-{list}");
        let mut push = vec!["RPUSH", key.as_str()];
        push.extend(std::iter::repeat_n(item.as_str(), 100));
        let reply = client.cmd(&push).await;
        assert_eq!(reply, ":100\r\n", "list {list}");
    }
    let info = client.cmd(&["INFO", "memory"]).await;
    let used: u64 = field(&info, "used_memory:");
    let max: u64 = field(&info, "maxmemory:");
    assert!(used <= max, "{used} > {max}");
    assert!(used > max / 2, "the store is in use: {used} of {max}");
    let lists = client.cmd(&["DBSIZE"]).await;
    let held: u64 = lists.trim_start_matches(':').trim().parse().unwrap();
    assert!(held < 400 && held > 50, "{held} lists held");
    let huge = "y".repeat(64 * 1024);
    let mut push = vec!["RPUSH", "huge"];
    push.extend(std::iter::repeat_n(huge.as_str(), 40));
    let reply = client.cmd(&push).await;
    assert!(reply.starts_with("-"), "{reply}");
    assert_eq!(client.cmd(&["EXISTS", "huge"]).await, ":0\r\n");
    server.shutdown().await;
}

fn field(info: &str, name: &str) -> u64 {
    info.lines()
        .find_map(|line| line.strip_prefix(name))
        .unwrap_or_else(|| panic!("{name} in {info}"))
        .trim()
        .parse()
        .unwrap()
}

/// LMOVE and SMOVE change two keys under one shard's lock; keys on different
/// shards answer CROSSSLOT, as in front of a Redis Cluster, and change nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_between_shards_answer_crossslot() {
    let server = TestServer::builder().shards(4).start().await;
    let nodes = (0..4)
        .map(|i| Node::new(NodeId::from(format!("shard-{i}")), DEFAULT_WEIGHT))
        .collect();
    let ring = Ring::new(nodes).unwrap();
    let (a, b) = (0..)
        .map(|i| (format!("a{i}"), format!("b{i}")))
        .find(|(a, b)| ring.locate(a.as_bytes()) != ring.locate(b.as_bytes()))
        .unwrap();
    let mut client = RespClient::connect(server.resp_addr).await;
    let crossslot = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
    // Checked before the keys are read, as in a Redis Cluster: an absent
    // source does not answer nil.
    assert_eq!(
        client.cmd(&["LMOVE", &a, &b, "LEFT", "LEFT"]).await,
        crossslot
    );
    assert_eq!(client.cmd(&["RPUSH", &a, "x"]).await, ":1\r\n");
    assert_eq!(
        client.cmd(&["LMOVE", &a, &b, "LEFT", "LEFT"]).await,
        crossslot
    );
    assert_eq!(client.cmd(&["RPOPLPUSH", &a, &b]).await, crossslot);
    assert_eq!(client.cmd(&["LLEN", &a]).await, ":1\r\n", "nothing moved");
    let (sa, sb) = (format!("{a}s"), format!("{b}s"));
    if ring.locate(sa.as_bytes()) != ring.locate(sb.as_bytes()) {
        assert_eq!(client.cmd(&["SADD", &sa, "m"]).await, ":1\r\n");
        assert_eq!(client.cmd(&["SMOVE", &sa, &sb, "m"]).await, crossslot);
    }
    // One hash tag: one shard, whatever the rest of the names.
    let (ta, tb) = (format!("{{{a}}}:from"), format!("{{{a}}}:to"));
    assert_eq!(client.cmd(&["RPUSH", &ta, "y"]).await, ":1\r\n");
    assert_eq!(
        client.cmd(&["LMOVE", &ta, &tb, "LEFT", "LEFT"]).await,
        "$1\r\ny\r\n"
    );
    server.shutdown().await;
}

/// A scan of a large collection walks it in pages, and every element present
/// from the first call to the last comes back at least once, however many
/// others are removed or added meanwhile (SCAN's promise).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_of_large_collections_return_every_element_present_throughout() {
    let server = TestServer::builder().start().await;
    let mut client = RespClient::connect(server.resp_addr).await;
    for (scan, add, remove) in [
        ("HSCAN", "HSET", "HDEL"),
        ("SSCAN", "SADD", "SREM"),
        ("ZSCAN", "ZADD", "ZREM"),
    ] {
        let key = format!("big-{scan}");
        let element = |i: usize| format!("e{i}");
        for i in 0..1_000 {
            let reply = match add {
                "SADD" => client.cmd(&[add, &key, &element(i)]).await,
                "HSET" => client.cmd(&[add, &key, &element(i), "v"]).await,
                _ => client.cmd(&[add, &key, &i.to_string(), &element(i)]).await,
            };
            assert!(reply.starts_with(':'), "{reply}");
        }
        let (mut seen, mut cursor, mut calls) =
            (std::collections::HashSet::new(), "0".to_string(), 0);
        loop {
            let Frame::Array(reply) = client
                .frame(&[
                    scan.as_bytes(),
                    key.as_bytes(),
                    cursor.as_bytes(),
                    b"COUNT",
                    b"50",
                ])
                .await
            else {
                panic!("{scan}: not an array")
            };
            let (Frame::Bulk(next), Frame::Array(items)) = (&reply[0], &reply[1]) else {
                panic!("{scan}: {reply:?}")
            };
            let step = if scan == "SSCAN" { 1 } else { 2 };
            for item in items.iter().step_by(step) {
                let Frame::Bulk(name) = item else { panic!() };
                seen.insert(String::from_utf8(name.to_vec()).unwrap());
            }
            // Between pages: remove the odd elements a page at a time, add new ones.
            for i in (calls * 40..(calls + 1) * 40).filter(|i| i % 2 == 1) {
                client.cmd(&[remove, &key, &element(i)]).await;
            }
            for i in 0..5 {
                let new = format!("new-{calls}-{i}");
                match add {
                    "SADD" => client.cmd(&[add, &key, &new]).await,
                    "HSET" => client.cmd(&[add, &key, &new, "v"]).await,
                    _ => client.cmd(&[add, &key, "7", &new]).await,
                };
            }
            calls += 1;
            cursor = String::from_utf8(next.to_vec()).unwrap();
            if cursor == "0" {
                break;
            }
            assert!(calls < 200, "{scan} never ends");
        }
        assert!(calls > 10, "{scan} came in pages ({calls})");
        for i in (0..1_000).filter(|i| i % 2 == 0) {
            assert!(seen.contains(&element(i)), "{scan} missed {}", element(i));
        }
    }
    server.shutdown().await;
}

/// A client blocked with no timeout does not hold shutdown up: its wait ends
/// with a null, as a timeout's would, and the drain (30 s by default) is not
/// spent waiting for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_a_blocked_pop() {
    let server = TestServer::builder().start().await;
    let mut blocked = RespClient::connect(server.resp_addr).await;
    blocked.send(&[b"BLPOP", b"never", b"0"]).await;
    // The pop is waiting: a push from another client would serve it.
    let mut other = RespClient::connect(server.resp_addr).await;
    assert_eq!(other.cmd(&["LLEN", "never"]).await, ":0\r\n");
    tokio::time::timeout(std::time::Duration::from_secs(10), server.shutdown())
        .await
        .expect("shutdown did not wait for the blocked client");
    assert_eq!(blocked.reply().await, b"*-1\r\n");
}

/// SETRANGE and SETBIT leave no string longer than
/// `ROOST_MAX_VALUE_BYTES`, as APPEND does, and change nothing when refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn string_writes_stay_within_the_value_size() {
    let server = TestServer::builder()
        .env("ROOST_MAX_VALUE_BYTES", "1024")
        .start()
        .await;
    let mut client = RespClient::connect(server.resp_addr).await;
    assert_eq!(client.cmd(&["SET", "k", "abc"]).await, "+OK\r\n");
    // (A longer argument is refused by the RESP parser itself.)
    for command in [
        &["SETRANGE", "k", "1022", "xyz"][..],
        &["SETBIT", "k", "8192", "1"],
    ] {
        let reply = client.cmd(command).await;
        assert!(
            reply.starts_with('-') && reply.contains("1024"),
            "{command:?}: {reply}"
        );
        assert_eq!(
            client.cmd(&["GET", "k"]).await,
            "$3\r\nabc\r\n",
            "{command:?}"
        );
    }
    assert_eq!(
        client.cmd(&["SETRANGE", "k", "1021", "xyz"]).await,
        ":1024\r\n"
    );
    assert_eq!(client.cmd(&["SETBIT", "k", "8191", "1"]).await, ":0\r\n");
    server.shutdown().await;
}

/// A random pick with repeats (a negative count) is the one reply whose size
/// the data does not bound: past a million picks it is refused, not built.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_picks_with_repeats_are_bounded() {
    let server = TestServer::builder().start().await;
    let mut client = RespClient::connect(server.resp_addr).await;
    client.cmd(&["HSET", "h", "f", "v"]).await;
    client.cmd(&["SADD", "s", "m"]).await;
    client.cmd(&["ZADD", "z", "1", "m"]).await;
    for command in [
        &["HRANDFIELD", "h", "-9223372036854775807"][..],
        &["SRANDMEMBER", "s", "-1000001"],
        &["ZRANDMEMBER", "z", "-1000001", "WITHSCORES"],
    ] {
        let reply = client.cmd(command).await;
        assert!(
            reply.starts_with("-ERR value is out of range: a negative count picks at most 1000000"),
            "{command:?}: {reply}"
        );
    }
    let reply = client.cmd(&["SRANDMEMBER", "s", "-3"]).await;
    assert_eq!(reply, "*3\r\n$1\r\nm\r\n$1\r\nm\r\n$1\r\nm\r\n");
    server.shutdown().await;
}
