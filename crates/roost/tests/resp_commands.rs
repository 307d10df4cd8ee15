//! RESP commands over a real socket, byte for byte: reply shapes and Redis's
//! error texts (checked against redis-server 7.0), RESP3 after HELLO 3, AUTH and
//! the admin gate, and multi-key commands spanning shards.

#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use roost_resp::Frame;
use roost_store::ManualClock;
use support::TestServer;

#[tokio::test]
async fn strings_reply_like_redis() {
    let s = TestServer::builder().start().await;
    let mut c = s.resp().await;
    assert_eq!(c.cmd(&["PING"]).await, "+PONG\r\n");
    assert_eq!(c.cmd(&["ping", "hi"]).await, "$2\r\nhi\r\n");
    assert_eq!(c.cmd(&["ECHO", "x y"]).await, "$3\r\nx y\r\n");
    assert_eq!(c.cmd(&["GET", "k"]).await, "$-1\r\n");
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, "+OK\r\n");
    assert_eq!(c.cmd(&["GET", "k"]).await, "$1\r\nv\r\n");
    assert_eq!(c.cmd(&["SET", "k", "w", "NX"]).await, "$-1\r\n");
    assert_eq!(c.cmd(&["SET", "k", "w", "XX", "GET"]).await, "$1\r\nv\r\n");
    assert_eq!(c.cmd(&["SET", "new", "1", "XX"]).await, "$-1\r\n");
    assert_eq!(c.cmd(&["SET", "new", "1", "NX", "GET"]).await, "$-1\r\n");
    assert_eq!(c.cmd(&["GET", "new"]).await, "$1\r\n1\r\n");
    assert_eq!(c.cmd(&["SETNX", "new", "2"]).await, ":0\r\n");
    assert_eq!(c.cmd(&["SETNX", "other", "2"]).await, ":1\r\n");
    assert_eq!(c.cmd(&["GETDEL", "other"]).await, "$1\r\n2\r\n");
    assert_eq!(c.cmd(&["GETDEL", "other"]).await, "$-1\r\n");
    assert_eq!(c.cmd(&["INCR", "n"]).await, ":1\r\n");
    assert_eq!(c.cmd(&["INCRBY", "n", "41"]).await, ":42\r\n");
    assert_eq!(c.cmd(&["DECR", "n"]).await, ":41\r\n");
    assert_eq!(c.cmd(&["DECRBY", "n", "-9"]).await, ":50\r\n");
    assert_eq!(c.cmd(&["APPEND", "n", "x"]).await, ":3\r\n");
    assert_eq!(c.cmd(&["STRLEN", "n"]).await, ":3\r\n");
    assert_eq!(c.cmd(&["STRLEN", "missing"]).await, ":0\r\n");
    assert_eq!(c.cmd(&["TYPE", "n"]).await, "+string\r\n");
    assert_eq!(c.cmd(&["TYPE", "missing"]).await, "+none\r\n");
    assert_eq!(c.cmd(&["SELECT", "0"]).await, "+OK\r\n");
    s.shutdown().await;
}

#[tokio::test]
async fn multi_key_commands_span_every_shard() {
    let s = TestServer::builder().shards(4).start().await;
    let mut c = s.resp().await;
    let keys: Vec<String> = (0..40).map(|i| format!("key:{i}")).collect();
    let mut mset = vec!["MSET"];
    for k in &keys {
        mset.push(k);
        mset.push(k);
    }
    assert_eq!(c.cmd(&mset).await, "+OK\r\n");
    let nodes = s.stats().await["nodes"].as_array().unwrap().clone();
    assert!(
        nodes.iter().all(|n| n["keys"].as_u64().unwrap() > 0),
        "{nodes:?}"
    );
    let mut mget = vec!["MGET", "nope"];
    mget.extend(keys.iter().map(String::as_str));
    match c
        .frame(&mget.iter().map(|a| a.as_bytes()).collect::<Vec<_>>())
        .await
    {
        Frame::Array(items) => {
            assert_eq!(items.len(), 41);
            assert_eq!(items[0], Frame::Null);
            assert_eq!(items[40], Frame::bulk("key:39"));
        }
        other => panic!("{other:?}"),
    }
    let mut exists = vec!["EXISTS", "nope", "key:1"];
    exists.extend(keys.iter().map(String::as_str));
    assert_eq!(
        c.cmd(&exists).await,
        ":41\r\n",
        "a key given twice counts twice"
    );
    assert_eq!(c.cmd(&["DBSIZE"]).await, ":40\r\n");
    assert_eq!(
        c.cmd(&["MSETNX", "key:3", "x", "fresh", "y"]).await,
        ":0\r\n"
    );
    assert_eq!(
        c.cmd(&["EXISTS", "fresh"]).await,
        ":0\r\n",
        "all or nothing"
    );
    assert_eq!(
        c.cmd(&["MSETNX", "f1", "x", "f2", "y", "f1", "z"]).await,
        ":1\r\n"
    );
    assert_eq!(c.cmd(&["GET", "f1"]).await, "$1\r\nz\r\n");
    let mut del = vec!["DEL", "nope"];
    del.extend(keys.iter().map(String::as_str));
    assert_eq!(c.cmd(&del).await, ":40\r\n");
    assert_eq!(c.cmd(&["UNLINK", "f1", "f2"]).await, ":2\r\n");
    assert_eq!(c.cmd(&["DBSIZE"]).await, ":0\r\n");
    s.shutdown().await;
}

#[tokio::test]
async fn scan_visits_every_key_once_and_keys_matches_globs() {
    let s = TestServer::builder().shards(4).start().await;
    let mut c = s.resp().await;
    for i in 0..120 {
        let prefix = if i % 3 == 0 { "user" } else { "item" };
        c.cmd(&["SET", &format!("{prefix}:{i}"), "v"]).await;
    }
    let (mut cursor, mut seen, mut pages) = ("0".to_string(), Vec::new(), 0);
    loop {
        let frame = c
            .frame(&[
                b"SCAN",
                cursor.as_bytes(),
                b"MATCH",
                b"user:*",
                b"COUNT",
                b"7",
            ])
            .await;
        let Frame::Array(parts) = frame else { panic!() };
        cursor = String::from_utf8(parts[0].as_bytes().unwrap().to_vec()).unwrap();
        let Frame::Array(keys) = &parts[1] else {
            panic!()
        };
        seen.extend(keys.iter().map(|k| k.as_bytes().unwrap().clone()));
        pages += 1;
        if cursor == "0" {
            break;
        }
        assert!(pages < 200, "scan does not terminate");
    }
    assert!(
        pages > 4,
        "COUNT 7 over 120 keys takes several pages, got {pages}"
    );
    seen.sort();
    let before = seen.len();
    seen.dedup();
    assert_eq!(before, seen.len(), "no key twice on a quiet keyspace");
    assert_eq!(seen.len(), 40);
    assert!(seen.iter().all(|k| k.starts_with(b"user:")));
    let Frame::Array(all) = c.frame(&[b"KEYS", b"user:1?"]).await else {
        panic!()
    };
    let mut all: Vec<_> = all.iter().map(|k| k.as_bytes().unwrap().clone()).collect();
    all.sort();
    let expected: Vec<&[u8]> = vec![b"user:12", b"user:15", b"user:18"];
    assert_eq!(all, expected);
    assert_eq!(c.cmd(&["SCAN", "x"]).await, "-ERR invalid cursor\r\n");
    assert_eq!(
        c.cmd(&["SCAN", "0", "COUNT", "0"]).await,
        "-ERR syntax error\r\n"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn ttls_follow_the_clock_like_redis() {
    let clock = ManualClock::new(1_000_000);
    let s = TestServer::builder().clock(clock.clone()).start().await;
    let mut c = s.resp().await;
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, "+OK\r\n");
    assert_eq!(
        c.cmd(&["TTL", "k"]).await,
        ":-1\r\n",
        "no EX means no expiry"
    );
    assert_eq!(c.cmd(&["TTL", "nope"]).await, ":-2\r\n");
    assert_eq!(c.cmd(&["EXPIRE", "k", "100"]).await, ":1\r\n");
    assert_eq!(c.cmd(&["EXPIRE", "k", "200", "NX"]).await, ":0\r\n");
    assert_eq!(c.cmd(&["EXPIRE", "k", "50", "GT"]).await, ":0\r\n");
    assert_eq!(c.cmd(&["PTTL", "k"]).await, ":100000\r\n");
    clock.advance(Duration::from_millis(400));
    assert_eq!(
        c.cmd(&["TTL", "k"]).await,
        ":100\r\n",
        "rounded to the nearest second"
    );
    assert_eq!(c.cmd(&["SET", "k", "w", "KEEPTTL"]).await, "+OK\r\n");
    assert_eq!(c.cmd(&["PTTL", "k"]).await, ":99600\r\n");
    assert_eq!(c.cmd(&["PERSIST", "k"]).await, ":1\r\n");
    assert_eq!(c.cmd(&["PERSIST", "k"]).await, ":0\r\n");
    assert_eq!(c.cmd(&["SETEX", "s", "10", "v"]).await, "+OK\r\n");
    assert_eq!(c.cmd(&["PSETEX", "p", "1500", "v"]).await, "+OK\r\n");
    assert_eq!(
        c.cmd(&["SET", "x", "v", "PXAT", "1002400"]).await,
        "+OK\r\n"
    );
    assert_eq!(c.cmd(&["PTTL", "x"]).await, ":2000\r\n");
    assert_eq!(c.cmd(&["GETEX", "s", "PX", "300"]).await, "$1\r\nv\r\n");
    assert_eq!(c.cmd(&["PTTL", "s"]).await, ":300\r\n");
    assert_eq!(c.cmd(&["GETEX", "s", "PERSIST"]).await, "$1\r\nv\r\n");
    assert_eq!(c.cmd(&["TTL", "s"]).await, ":-1\r\n");
    assert_eq!(
        c.cmd(&["INCR", "p"]).await,
        "-ERR value is not an integer or out of range\r\n"
    );
    clock.advance(Duration::from_millis(1500));
    assert_eq!(c.cmd(&["GET", "p"]).await, "$-1\r\n");
    assert_eq!(
        c.cmd(&["EXPIREAT", "k", "1"]).await,
        ":1\r\n",
        "a past time removes the key"
    );
    assert_eq!(c.cmd(&["EXISTS", "k"]).await, ":0\r\n");
    assert_eq!(c.cmd(&["PEXPIRE", "nope", "10"]).await, ":0\r\n");
    s.shutdown().await;
}

#[tokio::test]
async fn errors_use_redis_texts() {
    let s = TestServer::builder().start().await;
    let mut c = s.resp().await;
    let cases: &[(&[&str], &str)] = &[
        (&["GET"], "-ERR wrong number of arguments for 'get' command\r\n"),
        (&["foo", "a", "b"], "-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n"),
        (&["SET", "k", "v", "EX", "0"], "-ERR invalid expire time in 'set' command\r\n"),
        (&["SET", "k", "v", "EX", "abc"], "-ERR value is not an integer or out of range\r\n"),
        (&["SET", "k", "v", "NX", "XX"], "-ERR syntax error\r\n"),
        (&["SET", "k", "v", "KEEPTTL", "EX", "1"], "-ERR syntax error\r\n"),
        (&["SET", "k", "v", "EX"], "-ERR syntax error\r\n"),
        (&["SETEX", "k", "0", "v"], "-ERR invalid expire time in 'setex' command\r\n"),
        (&["PSETEX", "k", "-1", "v"], "-ERR invalid expire time in 'psetex' command\r\n"),
        (&["GETEX", "k", "EX", "0"], "-ERR invalid expire time in 'getex' command\r\n"),
        (&["GETEX", "k", "PERSIST", "EX", "1"], "-ERR syntax error\r\n"),
        (&["EXPIRE", "k", "abc"], "-ERR value is not an integer or out of range\r\n"),
        (&["EXPIRE", "k", "1", "NX", "XX"], "-ERR NX and XX, GT or LT options at the same time are not compatible\r\n"),
        (&["INCRBY", "k", "1.5"], "-ERR value is not an integer or out of range\r\n"),
        (&["SELECT", "1"], "-ERR DB index is out of range\r\n"),
        (&["AUTH", "x"], "-ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?\r\n"),
        (&["HELLO", "4"], "-NOPROTO unsupported protocol version\r\n"),
        (&["CLIENT", "foo"], "-ERR unknown subcommand 'foo'. Try CLIENT HELP.\r\n"),
        (&["CLIENT", "SETNAME", "a b"], "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"),
        (&["MSET", "a"], "-ERR wrong number of arguments for 'mset' command\r\n"),
        (&["MSET", "a", "1", "b"], "-ERR wrong number of arguments for 'mset' command\r\n"),
        (&["PING", "a", "b"], "-ERR wrong number of arguments for 'ping' command\r\n"),
    ];
    for (command, expected) in cases {
        assert_eq!(c.cmd(command).await, *expected, "{command:?}");
    }
    c.cmd(&["SET", "max", "9223372036854775807"]).await;
    assert_eq!(
        c.cmd(&["INCR", "max"]).await,
        "-ERR increment or decrement would overflow\r\n"
    );
    let long_key = "k".repeat(600);
    assert_eq!(
        c.cmd(&["GET", &long_key]).await,
        "-ERR key is 600 bytes, the limit is 512\r\n"
    );
    let full = "v".repeat(1 << 20);
    assert_eq!(c.cmd(&["SET", "a", &full]).await, "+OK\r\n");
    assert_eq!(
        c.cmd(&["APPEND", "a", "x"]).await,
        "-ERR value is 1048577 bytes, the limit is 1048576\r\n"
    );
    assert_eq!(c.cmd(&["STRLEN", "a"]).await, ":1048576\r\n");
    let keys: Vec<String> = (0..1001).map(|i| i.to_string()).collect();
    let mut mget = vec!["MGET"];
    mget.extend(keys.iter().map(String::as_str));
    assert_eq!(
        c.cmd(&mget).await,
        "-ERR 1001 keys in one request, the limit is 1000\r\n"
    );
    assert_eq!(
        c.cmd(&["PING"]).await,
        "+PONG\r\n",
        "errors leave the connection usable"
    );
    s.shutdown().await;
}

#[tokio::test]
async fn resp3_after_hello_3() {
    let s = TestServer::builder().start().await;
    let mut c = s.resp().await;
    match c.frame(&[b"HELLO", b"3", b"SETNAME", b"w1"]).await {
        Frame::Map(fields) => {
            let proto = fields
                .iter()
                .find(|(k, _)| k == &Frame::bulk("proto"))
                .unwrap();
            assert_eq!(proto.1, Frame::Integer(3));
            assert_eq!(fields.len(), 7);
        }
        other => panic!("HELLO 3 answers a map, got {other:?}"),
    }
    assert_eq!(c.cmd(&["GET", "missing"]).await, "_\r\n", "RESP3 null");
    c.cmd(&["SET", "k", "v"]).await;
    assert_eq!(
        c.cmd(&["MGET", "k", "missing"]).await,
        "*2\r\n$1\r\nv\r\n_\r\n"
    );
    assert_eq!(c.cmd(&["SET", "k", "v", "NX"]).await, "_\r\n");
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]).await, "$2\r\nw1\r\n");
    let reply = c.cmd(&["CONFIG", "GET", "appendonly"]).await;
    assert_eq!(reply, "%1\r\n$10\r\nappendonly\r\n$2\r\nno\r\n");
    let info = c.cmd(&["CLIENT", "INFO"]).await;
    assert!(info.starts_with('=') && info.contains("txt:id="), "{info}");
    assert!(
        info.contains("name=w1") && info.contains("resp=3"),
        "{info}"
    );
    let hello2 = c.cmd(&["HELLO", "2"]).await;
    assert!(hello2.starts_with("*14\r\n"), "{hello2}");
    assert_eq!(c.cmd(&["GET", "missing"]).await, "$-1\r\n", "back to RESP2");
    s.shutdown().await;
}

#[tokio::test]
async fn password_and_admin_token_gate_commands() {
    let s = TestServer::builder()
        .env("ROOST_RESP_PASSWORD", "pw")
        .env("ROOST_ADMIN_TOKEN", "tok")
        .start()
        .await;
    let mut c = s.resp().await;
    assert_eq!(
        c.cmd(&["GET", "k"]).await,
        "-NOAUTH Authentication required.\r\n"
    );
    assert_eq!(
        c.cmd(&["GET"]).await,
        "-ERR wrong number of arguments for 'get' command\r\n"
    );
    assert!(c
        .cmd(&["HELLO", "3"])
        .await
        .starts_with("-NOAUTH HELLO must be called"));
    assert_eq!(
        c.cmd(&["AUTH", "nope"]).await,
        "-WRONGPASS invalid username-password pair or user is disabled.\r\n"
    );
    assert_eq!(c.cmd(&["AUTH", "default", "pw"]).await, "+OK\r\n");
    assert_eq!(c.cmd(&["SET", "k", "v"]).await, "+OK\r\n");
    assert_eq!(
        c.cmd(&["FLUSHALL"]).await,
        "-NOPERM this user has no permissions to run the 'flushall' command\r\n"
    );
    assert_eq!(c.cmd(&["AUTH", "admin", "wrong"]).await.as_bytes()[0], b'-');
    assert_eq!(c.cmd(&["AUTH", "admin", "tok"]).await, "+OK\r\n");
    assert_eq!(c.cmd(&["FLUSHDB"]).await, "+OK\r\n");
    assert_eq!(c.cmd(&["DBSIZE"]).await, ":0\r\n");

    let mut admin = s.resp().await;
    let hello = admin
        .frame(&[b"HELLO", b"3", b"AUTH", b"admin", b"tok"])
        .await;
    assert!(matches!(hello, Frame::Map(_)), "{hello:?}");
    assert_eq!(admin.cmd(&["FLUSHALL", "ASYNC"]).await, "+OK\r\n");
    s.shutdown().await;
}

#[tokio::test]
async fn introspection_answers_what_clients_ask() {
    let s = TestServer::builder().start().await;
    let mut c = s.resp().await;
    let count = c.cmd(&["COMMAND", "COUNT"]).await;
    assert_eq!(count, ":145\r\n", "43 of its own and 102 of its data types");
    let Frame::Array(info) = c.frame(&[b"COMMAND", b"INFO", b"get", b"nosuch"]).await else {
        panic!()
    };
    let Frame::Array(get) = &info[0] else {
        panic!()
    };
    assert_eq!(get[0], Frame::bulk("get"));
    assert_eq!(get[1], Frame::Integer(2));
    assert_eq!(get.len(), 10);
    assert_eq!(info[1], Frame::Null);
    let docs = c.frame(&[b"COMMAND", b"DOCS", b"set"]).await;
    let Frame::Array(docs) = docs else {
        panic!("{docs:?}")
    };
    assert_eq!(docs[0], Frame::bulk("set"));
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "MSET", "a", "1", "b", "2"])
            .await,
        "*2\r\n$1\r\na\r\n$1\r\nb\r\n"
    );
    assert_eq!(
        c.cmd(&["COMMAND", "GETKEYS", "PING", "x"]).await,
        "-ERR The command has no key arguments\r\n"
    );
    let save = c.cmd(&["CONFIG", "GET", "save"]).await;
    assert_eq!(save, "*2\r\n$4\r\nsave\r\n$0\r\n\r\n");
    c.cmd(&["SET", "k", "v", "EX", "100"]).await;
    c.cmd(&["SET", "j", "v"]).await;
    c.cmd(&["GET", "k"]).await;
    c.cmd(&["GET", "missing"]).await;
    let Frame::Bulk(info) = c.frame(&[b"INFO"]).await else {
        panic!()
    };
    let info = String::from_utf8(info.to_vec()).unwrap();
    for field in [
        "# Server\r\n",
        "redis_version:",
        &format!("tcp_port:{}\r\n", s.resp_addr.port()),
        "connected_clients:1\r\n",
        "used_memory:",
        "maxmemory:268435456\r\n",
        "keyspace_hits:1\r\n",
        "keyspace_misses:1\r\n",
        "total_commands_processed:",
        "instantaneous_ops_per_sec:",
        "db0:keys=2,expires=1,avg_ttl=0\r\n",
    ] {
        assert!(info.contains(field), "INFO lacks {field:?}:\n{info}");
    }
    let Frame::Bulk(only) = c.frame(&[b"INFO", b"keyspace"]).await else {
        panic!()
    };
    assert!(only.starts_with(b"# Keyspace\r\n") && !only.windows(6).any(|w| w == b"Server"));
    let list = c.cmd(&["CLIENT", "LIST"]).await;
    assert!(list.contains("addr=127.0.0.1:"), "{list}");
    assert!(c.cmd(&["CLIENT", "ID"]).await.starts_with(':'));
    s.shutdown().await;
}
