#!/usr/bin/env python3
"""Prints Roost's stats overview (JSON on stdin) as a short human summary.

Used by demo.sh: curl -s http://ADDR/api/cache/stats/overview | bench/stats_summary.py
"""
import json
import sys


def main() -> None:
    s = json.load(sys.stdin)
    ratio = s["hit_ratio"]
    rates = s["ops_per_second"]
    print(f"requests      {s['requests_total']:,}")
    print(f"hit ratio     {ratio * 100:.1f}%" if ratio is not None else "hit ratio     n/a")
    recent = rates["last_10s"]
    since = f"{rates['lifetime']:,.0f} (since start)"
    print(f"ops/s         {recent:,.0f} (last 10 s), {since}" if recent else f"ops/s         {since}")
    print("latency (ms)  inside Roost:      p50      p95      p99")
    for op, p in s["latency_ms"].items():
        if p["count"]:
            print(f"  {op:<7} {p['count']:>12,} req {p['p50']:>8.3f} {p['p95']:>8.3f} {p['p99']:>8.3f}")
    m = s["memory"]
    print(f"keys          {s['keys']:,}   memory {m['used_bytes'] / 2**20:.1f} MiB of {m['max_bytes'] / 2**20:.0f} MiB")
    print(f"evictions     {s['evictions']:,}   expirations {s['expirations']:,}")
    print("spread of keys across nodes:")
    for n in s["nodes"]:
        print(f"  {n['id']:<10} keys {n['keys']:>8,}  ring share {n['ring_share'] * 100:5.1f}%  ops {n['ops']:>10,}")
    spread = s["key_spread"]["max_over_mean"]
    if spread:
        print(f"  largest node holds {spread:.3f}x the mean")


if __name__ == "__main__":
    main()
