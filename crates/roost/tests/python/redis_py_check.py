"""redis-py against Roost's RESP port: run by tests/resp_clients.rs.

Usage: python3 redis_py_check.py PORT
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


def main() -> None:
    port = int(sys.argv[1])
    check(2, port)
    check(3, port)
    hello = redis.Redis(host="127.0.0.1", port=port, protocol=3).execute_command("HELLO", "3")
    assert hello[b"proto"] == 3 if b"proto" in hello else hello["proto"] == 3, hello
    print("redis-py ok", redis.__version__)


if __name__ == "__main__":
    main()
