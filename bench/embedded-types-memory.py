#!/usr/bin/env python3
"""Bytes per element of Redis's collection types: Roost's embedded store against
redis-server, in one run (issue 17, item 2).

For each type it writes one collection of N elements (8-byte members, 8-byte hash
values; sorted-set scores are the element's number) into a fresh redis-server and
a fresh `roost serve` (embedded store), through redis-py pipelines, and reports per
element: the growth of the server's resident memory (VmRSS) and what the server
accounts itself (redis `used_memory`; Roost's `used_memory`, the charge against
ROOST_MAX_MEMORY). Large collections, so both use their large encodings (Redis:
hashtable, quicklist, hashtable, skiplist). Each point is the median of three
fresh-server rounds.

  bench/embedded-types-memory.py [N]      (default 100000; ROOST_BIN, needs redis-py)
"""

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import redis

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOST_BIN = os.environ.get("ROOST_BIN", os.path.join(ROOT, "target/release/roost"))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
ROUNDS = 3


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def wait_ping(port):
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            if redis.Redis(port=port).ping():
                return
        except redis.exceptions.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing answers on {port}")


def start(server, workdir):
    port = free_port()
    if server == "redis":
        cmd = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", workdir]
        env = None
    else:
        cmd = [ROOST_BIN, "serve"]
        env = dict(os.environ, ROOST_RESP_ADDR=f"127.0.0.1:{port}",
                   ROOST_HTTP_ADDR=f"127.0.0.1:{free_port()}",
                   ROOST_DASHBOARD_ADDR=f"127.0.0.1:{free_port()}",
                   ROOST_MAX_MEMORY="4GiB", ROOST_LOG="warn")
    proc = subprocess.Popen(cmd, cwd=workdir, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    wait_ping(port)
    return proc, port


def fill(client, kind):
    pipe = client.pipeline(transaction=False)
    for start in range(0, N, 1000):
        chunk = [f"{i:08d}" for i in range(start, min(N, start + 1000))]
        if kind == "hash":
            pipe.hset("c", mapping={e: e for e in chunk})
        elif kind == "list":
            pipe.rpush("c", *chunk)
        elif kind == "set":
            pipe.sadd("c", *chunk)
        else:
            pipe.zadd("c", {e: int(e) for e in chunk})
        pipe.execute()


def used_memory(client):
    return int(client.info("memory")["used_memory"])


def measure(server, kind):
    with tempfile.TemporaryDirectory() as workdir:
        proc, port = start(server, workdir)
        try:
            client = redis.Redis(port=port)
            time.sleep(0.2)
            rss0, used0 = rss(proc.pid), used_memory(client)
            fill(client, kind)
            time.sleep(0.2)
            rss1, used1 = rss(proc.pid), used_memory(client)
            return (rss1 - rss0) / N, (used1 - used0) / N
        finally:
            proc.terminate()
            proc.wait()


def main():
    print(f"| type | redis-server RSS B/element | redis used_memory | Roost RSS B/element "
          f"| Roost charged (used_memory) | Roost/redis RSS |")
    print("|---|---|---|---|---|---|")
    for kind in ["hash", "list", "set", "zset"]:
        points = {s: [measure(s, kind) for _ in range(ROUNDS)] for s in ["redis", "roost"]}
        med = {s: tuple(statistics.median(p[i] for p in points[s]) for i in (0, 1))
               for s in points}
        ratio = med["roost"][0] / med["redis"][0]
        print(f"| {kind} | {med['redis'][0]:.1f} | {med['redis'][1]:.1f} | "
              f"{med['roost'][0]:.1f} | {med['roost'][1]:.1f} | {ratio:.2f} |")


if __name__ == "__main__":
    main()
