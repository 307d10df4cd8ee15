#!/usr/bin/env python3
"""How long a write through one gateway stays invisible to a near-cached reader
on another: the near cache's push delay, measured.

usage: near_visibility.py NEAR_RESP_PORT OTHER_RESP_PORT NEAR_HTTP_PORT WRITES

Before each write the key is read on the near gateway until its near-cache hit
counter moves (the read was served from gateway memory), then the new value is
SET through the other gateway and, from the moment that SET is acknowledged, the
near gateway is polled with GET until it answers the new value. Prints one JSON
line: the writes, p50/p99/max visibility delay in ms, and how many of the
pre-write reads were near hits (so a 0 ms delay from a cold key cannot pass).
"""

import json
import socket
import statistics
import sys
import time
import urllib.request


class Resp:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""

    def cmd(self, *args):
        wire = f"*{len(args)}\r\n".encode()
        for a in args:
            a = a.encode() if isinstance(a, str) else a
            wire += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(wire)
        return self._reply()

    def _line(self):
        while b"\r\n" not in self.buf:
            self.buf += self.sock.recv(65536)
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        if line[:1] == b"$":
            n = int(line[1:])
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                self.buf += self.sock.recv(65536)
            value, self.buf = self.buf[:n], self.buf[n + 2:]
            return value
        return line


def near_hits(http_port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{http_port}/metrics").read().decode()
    for line in text.splitlines():
        if line.startswith("roost_near_cache_hits_total "):
            return float(line.split()[1])
    return 0.0


def main():
    near_port, other_port, http_port, writes = map(int, sys.argv[1:5])
    near, other = Resp(near_port), Resp(other_port)
    key = "visibility:key"
    other.cmd("SET", key, "0")
    delays, warm_misses = [], 0
    for i in range(1, writes + 1):
        deadline = time.monotonic() + 10
        while True:  # until a read of the current value is a near hit
            before = near_hits(http_port)
            for _ in range(20):
                near.cmd("GET", key)
            if near_hits(http_port) >= before + 20:
                break
            warm_misses += 1
            if time.monotonic() > deadline:
                sys.exit(f"write {i}: {key} never became near-cached")
        value = str(i).encode()
        other.cmd("SET", key, value)
        acked = time.perf_counter()
        while near.cmd("GET", key) != value:
            if time.perf_counter() - acked > 5:
                sys.exit(f"write {i} not visible through the near gateway after 5 s")
        delays.append((time.perf_counter() - acked) * 1e3)
    delays.sort()
    q = lambda p: delays[min(len(delays) - 1, int(p * len(delays)))]
    print(json.dumps(dict(writes=writes, p50_ms=round(q(0.50), 3), p99_ms=round(q(0.99), 3),
                          max_ms=round(delays[-1], 3), mean_ms=round(statistics.mean(delays), 3),
                          warm_rounds_without_near_hits=warm_misses)))


if __name__ == "__main__":
    main()
