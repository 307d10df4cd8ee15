#!/usr/bin/env python3
"""What the geo demo (DEMO_REGIONS=3 ./demo.sh) and bench/geo.sh ask running regions,
over their HTTP API only. Each subcommand prints one JSON object on stdout.

  geo_probe.py regions URL...
      GET /api/regions of each region: {"regions": {URL: answer}}
  geo_probe.py quiesce --timeout S URL...
      Polls /api/regions of every region until every peer link is up with
      lag_changes 0; {"quiet": bool, "seconds": S, "lagging": [...]}. Exit 1 if not.
  geo_probe.py converge --prefix P --keyspace N --sample K [--seed X] [--mode M] URL...
      GETs K keys P0..P(N-1) (a seeded sample, the same for every region) from every
      region and compares the values: {"sampled", "equal", "divergent", "absent",
      "present_somewhere", "examples"}. In invalidate mode (--mode invalidate) a region
      may hold nothing for a key another region holds: that is counted in "absent".
      In replicate mode (the default) every region should hold it: "divergent".
  geo_probe.py staleness [--baseline FILE] URL...
      p50/p99 of roost_geo_staleness_seconds from each region's /metrics (its buckets
      since start, or since the scrape saved in FILE by `histogram`), in ms.
  geo_probe.py histogram URL
      The staleness histogram's cumulative buckets now: a baseline for `staleness`.

Quantiles interpolate within a bucket as Prometheus' histogram_quantile does; their
precision is the histogram's bucket layout.
"""
import argparse
import json
import random
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

STALENESS = "roost_geo_staleness_seconds"
LE = re.compile(r'(?:^|[{,])\s*le="([^"]*)"')


def get(url, timeout=5.0):
    """(status, body text); status 0 when the server cannot be reached."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as e:
        return 0, str(e)


def get_json(url):
    status, text = get(url)
    if status != 200:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def buckets_of(text, name=STALENESS):
    """Cumulative buckets [(le, count)] summed over every other label; None if absent."""
    by_le = {}
    prefix = name + "_bucket"
    for line in text.splitlines():
        if not line.startswith(prefix) or line[len(prefix):len(prefix) + 1] not in ("{", " "):
            continue
        rest = line[len(prefix):]
        labels, _, value = rest.rpartition("}") if rest.startswith("{") else ("", "", rest)
        m = LE.search(labels + "}") if labels else None
        if not m:
            continue
        try:
            count = float(value.split()[0])
        except (ValueError, IndexError):
            continue
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        by_le[le] = by_le.get(le, 0.0) + count
    return sorted(by_le.items()) if by_le else None


def between(before, after):
    """What was observed from scrape `before` to `after` (after alone after a reset)."""
    if not before or len(before) != len(after) or any(
            b[0] != a[0] or b[1] > a[1] for b, a in zip(before, after)):
        return after
    return [(a[0], a[1] - b[1]) for b, a in zip(before, after)]


def quantile(buckets, q):
    total = buckets[-1][1] if buckets else 0
    if total <= 0:
        return None
    rank = q * total
    lower_le, lower_count = 0.0, 0.0
    for le, count in buckets:
        if count >= rank and count > lower_count:
            if le == float("inf"):
                return lower_le
            return lower_le + (le - lower_le) * (rank - lower_count) / (count - lower_count)
        if le != float("inf"):
            lower_le = le
        lower_count = count
    return lower_le


def staleness_of(buckets):
    ms = lambda s: None if s is None else round(s * 1000, 3)
    return {
        "count": int(buckets[-1][1]) if buckets else 0,
        "p50_ms": ms(quantile(buckets, 0.5)) if buckets else None,
        "p99_ms": ms(quantile(buckets, 0.99)) if buckets else None,
    }


def cmd_regions(args):
    return {"regions": {url: get_json(url + "/api/regions") for url in args.urls}}


def lagging_links(urls):
    """Every link that is not up with lag 0, as 'region<-peer: why'."""
    lagging = []
    for url in urls:
        answer = get_json(url + "/api/regions")
        if answer is None or "peers" not in answer:
            lagging.append(f"{url}: no /api/regions answer")
            continue
        for peer in answer["peers"]:
            if peer.get("state") != "up" or peer.get("lag_changes") != 0:
                lagging.append(f"{answer.get('region')}<-{peer.get('name')}: {peer.get('state')}, "
                               f"{peer.get('lag_changes')} changes behind")
    return lagging


def cmd_quiesce(args):
    started = time.monotonic()
    deadline = started + args.timeout
    while True:
        lagging = lagging_links(args.urls)
        if not lagging:
            return {"quiet": True, "seconds": round(time.monotonic() - started, 3), "lagging": []}
        if time.monotonic() >= deadline:
            return {"quiet": False, "seconds": round(time.monotonic() - started, 3), "lagging": lagging}
        time.sleep(args.every)


def value_of(url, key):
    """The key's (value, encoding) in one region; None when absent."""
    status, text = get(url + "/api/cache/" + urllib.parse.quote(key, safe=""))
    if status == 404:
        return None
    if status != 200:
        return ("error", f"{status} {text[:80]}")
    body = json.loads(text)
    return (json.dumps(body.get("value"), sort_keys=True), body.get("encoding"))


def cmd_converge(args):
    rng = random.Random(args.seed)
    n = min(args.sample, args.keyspace)
    indexes = sorted(rng.sample(range(args.keyspace), n))
    equal = divergent = absent = present = 0
    examples = []
    for i in indexes:
        key = f"{args.prefix}{i}"
        values = {url: value_of(url, key) for url in args.urls}
        held = {v for v in values.values() if v is not None}
        if not held:
            equal += 1
            continue
        present += 1
        if len(held) > 1:
            divergent += 1
            if len(examples) < 5:
                examples.append({"key": key, "values": {u: (v[0][:60] if v else None)
                                                        for u, v in values.items()}})
        elif any(v is None for v in values.values()):
            if args.mode == "invalidate":
                absent += 1
            else:
                divergent += 1
                if len(examples) < 5:
                    examples.append({"key": key, "values": {u: (v[0][:60] if v else None)
                                                            for u, v in values.items()}})
        else:
            equal += 1
    return {"sampled": n, "equal": equal, "divergent": divergent, "absent": absent,
            "present_somewhere": present, "examples": examples}


def cmd_staleness(args):
    baseline = {}
    if args.baseline:
        with open(args.baseline) as f:
            baseline = {k: [tuple(b) for b in v] if v else None for k, v in json.load(f).items()}
    out = {}
    for url in args.urls:
        status, text = get(url + "/metrics")
        now = buckets_of(text) if status == 200 else None
        if now is None:
            out[url] = {"count": 0, "p50_ms": None, "p99_ms": None,
                        "error": f"no {STALENESS} in /metrics ({status})"}
            continue
        out[url] = staleness_of(between(baseline.get(url), now))
    return {"staleness": out}


def cmd_histogram(args):
    out = {}
    for url in args.urls:
        status, text = get(url + "/metrics")
        b = buckets_of(text) if status == 200 else None
        out[url] = [[le if le != float("inf") else "+Inf", c] for le, c in b] if b else None
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("regions")
    s.add_argument("urls", nargs="+")
    s = sub.add_parser("quiesce")
    s.add_argument("--timeout", type=float, default=60)
    s.add_argument("--every", type=float, default=0.1)
    s.add_argument("urls", nargs="+")
    s = sub.add_parser("converge")
    s.add_argument("--prefix", required=True)
    s.add_argument("--keyspace", type=int, required=True)
    s.add_argument("--sample", type=int, default=200)
    s.add_argument("--seed", type=int, default=16)
    s.add_argument("--mode", choices=["replicate", "invalidate"], default="replicate")
    s.add_argument("urls", nargs="+")
    s = sub.add_parser("staleness")
    s.add_argument("--baseline")
    s.add_argument("urls", nargs="+")
    s = sub.add_parser("histogram")
    s.add_argument("urls", nargs="+")
    args = p.parse_args()
    args.urls = [u.rstrip("/") for u in args.urls]
    result = {"regions": cmd_regions, "quiesce": cmd_quiesce, "converge": cmd_converge,
              "staleness": cmd_staleness, "histogram": cmd_histogram}[args.command](args)
    json.dump(result, sys.stdout)
    print()
    if args.command == "quiesce" and not result["quiet"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
