"""redis-py against Roost's RESP port: run by tests/resp_clients.rs.

Usage: python3 redis_py_check.py PORT [data-types]
With data-types (Roost in front of Redis), checks hashes, lists, sets, sorted
sets, transactions and WATCH as redis-py reads them, in RESP2 and RESP3.
Exits non-zero (with the failing assertion) if anything differs from what a
Redis server would answer.
"""

import sys

import redis


def check(protocol: int, port: int) -> None:
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol)
    prefix = f"py{protocol}:"
    assert r.ping() is True
    assert r.set(prefix + "k", b"\x00\xffbinary") is True
    assert r.get(prefix + "k") == b"\x00\xffbinary"
    assert r.get(prefix + "missing") is None
    assert r.set(prefix + "k", "x", nx=True) is None
    assert r.set(prefix + "t", "v", ex=100) is True
    assert 99 <= r.ttl(prefix + "t") <= 100, r.ttl(prefix + "t")
    assert r.ttl(prefix + "k") == -1
    assert r.incr(prefix + "n") == 1
    assert r.incrby(prefix + "n", 9) == 10
    assert r.decr(prefix + "n") == 9
    try:
        r.incr(prefix + "k")
        raise AssertionError("INCR of a non-integer must fail")
    except redis.ResponseError as e:
        assert str(e) == "value is not an integer or out of range", str(e)

    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.set(f"{prefix}p:{i}", i)
    for i in range(200):
        pipe.get(f"{prefix}p:{i}")
    replies = pipe.execute()
    assert replies[:200] == [True] * 200
    assert replies[200:] == [str(i).encode() for i in range(200)]

    assert r.mset({prefix + "a": 1, prefix + "b": 2}) is True
    assert r.mget([prefix + "a", prefix + "b", prefix + "c"]) == [b"1", b"2", None]
    found = sorted(r.scan_iter(match=prefix + "p:*", count=17))
    assert len(found) == 200, len(found)
    assert r.exists(prefix + "a", prefix + "c") == 1
    assert r.delete(prefix + "a", prefix + "b") == 2
    assert r.getdel(prefix + "t") == b"v"
    assert r.dbsize() >= 200
    info = r.info()
    assert info["redis_version"], info
    assert "db0" in info, info


def check_data_types(protocol: int, port: int) -> None:
    r = redis.Redis(host="127.0.0.1", port=port, protocol=protocol)
    p = f"{{py{protocol}}}:"
    assert r.hset(p + "user", mapping={"name": "Ada", "born": "1815"}) == 2
    assert r.hgetall(p + "user") == {b"name": b"Ada", b"born": b"1815"}
    assert r.hincrby(p + "user", "visits", 3) == 3
    assert r.rpush(p + "feed", "a", "b", "c") == 3
    assert r.lrange(p + "feed", 0, -1) == [b"a", b"b", b"c"]
    assert r.lpop(p + "feed", 2) == [b"a", b"b"]
    assert r.lpop(p + "missing", 2) is None
    assert r.sadd(p + "tags", "x", "y") == 2
    assert r.smembers(p + "tags") == {b"x", b"y"}
    assert r.zadd(p + "board", {"ada": 2.5, "bob": 1}) == 2
    assert r.zscore(p + "board", "ada") == 2.5
    # redis-py gives pairs as tuples over RESP2 and lists over RESP3, from Redis too.
    ranked = [tuple(pair) for pair in r.zrange(p + "board", 0, -1, withscores=True)]
    assert ranked == [(b"bob", 1.0), (b"ada", 2.5)], ranked
    assert r.type(p + "board") == b"zset"
    try:
        r.get(p + "user")
        raise AssertionError("GET of a hash must fail")
    except redis.ResponseError as e:
        assert str(e).startswith("WRONGTYPE"), str(e)

    tx = r.pipeline(transaction=True)
    tx.hset(p + "user", "name", "Grace").hget(p + "user", "name").zincrby(p + "board", 1, "bob")
    assert tx.execute() == [0, b"Grace", 2.0]
    with r.pipeline() as watched:
        watched.watch(p + "board")
        score = watched.zscore(p + "board", "bob")
        watched.multi()
        watched.zadd(p + "board", {"bob": score + 1})
        assert watched.execute() == [0]
    assert r.zscore(p + "board", "bob") == 3.0
    assert r.eval("return redis.call('HGET', KEYS[1], 'name')", 1, p + "user") == b"Grace"


def main() -> None:
    port = int(sys.argv[1])
    if sys.argv[2:] == ["data-types"]:
        check_data_types(2, port)
        check_data_types(3, port)
        print("redis-py data types ok", redis.__version__)
        return
    check(2, port)
    check(3, port)
    hello = redis.Redis(host="127.0.0.1", port=port, protocol=3).execute_command("HELLO", "3")
    assert hello[b"proto"] == 3 if b"proto" in hello else hello["proto"] == 3, hello
    print("redis-py ok", redis.__version__)


if __name__ == "__main__":
    main()
