#!/usr/bin/env python3
"""bench/warming.sh's summary: medians of each scenario's runs, warming off against on,
the restart curves, checked against issue 15's targets; prints markdown tables and
writes the result file.

Usage: warming_summary.py RUNS_TSV OUT_JSON ROOST_BIN COMMIT LOAD_AT_START ORIGIN_LATENCY
       NODE_WARMUP_LOG STARTED_AT_UNIX
RUNS_TSV rows: scenario NAME MODE RUN REPORT_JSON
               curve KIND on RUN LINES_JSONL DOWN_MS UP_MS
"""
import glob
import json
import os
import statistics
import sys
import time


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def ratio(a, b):
    if a is None or b is None:
        return None
    if b == 0:
        return 0.0 if a == 0 else None
    return a / b


def fmt(value, digits=3):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def read_field(report, cls, field):
    return (report.get("reads", {}).get(cls) or {}).get(field)


# Per scenario: the figures taken from each run's report.
FIGURES = {
    "refresh": {
        "hot reads": lambda r: read_field(r, "hot", "reads"),
        "hot reads that waited": lambda r: read_field(r, "hot", "waited"),
        "share that waited": lambda r: read_field(r, "hot", "waited_share"),
        "origin requests": lambda r: (r.get("origin") or {}).get("requests"),
    },
    "sessions": {
        "visits/s": lambda r: r.get("visits_per_second"),
        "user reads that waited (share)": lambda r: read_field(r, "user", "waited_share"),
        "feed reads that waited (share)": lambda r: read_field(r, "feed", "waited_share"),
        "origin requests": lambda r: (r.get("origin") or {}).get("requests"),
        "origin requests for feed:": lambda r: ((r.get("origin") or {}).get("by_prefix")
                                                 or {}).get("feed"),
        "prefetch precision": lambda r: r.get("prefetch_precision"),
        "prefetch coverage": lambda r: r.get("prefetch_coverage"),
    },
    "uniform": {
        "reads": lambda r: read_field(r, "random", "reads"),
        "share that waited": lambda r: read_field(r, "random", "waited_share"),
        "origin requests": lambda r: (r.get("origin") or {}).get("requests"),
    },
}


def targets_of(name, med):
    """(target, measured, goal, met) for one scenario's medians by mode."""
    off, on = med.get("off", {}), med.get("on", {})
    found = []

    def check(label, measured, goal, at_most):
        met = None if measured is None else (measured <= goal if at_most else measured >= goal)
        found.append(dict(target=label, measured=measured, goal=goal,
                          comparison="<=" if at_most else ">=", met=met))

    if name == "refresh":
        check("refresh: reads that waited, on / off", ratio(on.get("hot reads that waited"),
              off.get("hot reads that waited")), 0.05, True)
        check("refresh: origin requests, on / off", ratio(on.get("origin requests"),
              off.get("origin requests")), 1.2, True)
    elif name == "sessions":
        waited_off = off.get("feed reads that waited (share)")
        waited_on = on.get("feed reads that waited (share)")
        recovered = None
        if waited_off and waited_on is not None:
            recovered = 1 - waited_on / waited_off
        check("sessions: feed reads that would have waited and hit", recovered, 0.6, False)
        check("sessions: prefetch precision", on.get("prefetch precision"), 0.5, False)
    elif name == "uniform":
        check("uniform: origin requests, on / off", ratio(on.get("origin requests"),
              off.get("origin requests")), 1.05, True)
    return found


def curve_run(lines_path, down_ms, up_ms):
    lines, summary = [], None
    with open(lines_path) as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            record = json.loads(line)
            if "summary" in record:
                summary = record["summary"]
            else:
                lines.append(record)
    restarts = (summary or {}).get("restarts") or []
    # The outage the script caused: the one whose start is closest to its signal.
    restart = None
    if restarts and lines:
        start_ms = lines[0]["at_ms"]
        restart = min(restarts, key=lambda r: abs(start_ms + r["down_at_s"] * 1000 - down_ms))
    return dict(signal_at_ms=down_ms, ready_again_at_ms=up_ms, restart=restart,
                outages_seen=len(restarts), summary=summary, seconds=lines)


def node_warmup(log_path, started_at, results_dir):
    if not log_path:
        return None
    tail = open(log_path).read().splitlines()[-40:] if os.path.exists(log_path) else []
    result = None
    for path in sorted(glob.glob(os.path.join(results_dir, "node-warmup*.json")),
                       key=os.path.getmtime, reverse=True):
        if os.path.getmtime(path) >= started_at and not path.endswith("-latest.json"):
            try:
                result = dict(path=os.path.basename(path), report=json.load(open(path)))
            except ValueError:
                pass
            break
    return dict(log_tail=tail, result=result)


def main():
    runs_tsv, out, roost_bin, commit, load_start, origin_latency, nw_log, started = sys.argv[1:9]
    scenario_runs, curve_runs = {}, {}
    for row in open(runs_tsv):
        fields = row.rstrip("\n").split("\t")
        if fields[0] == "scenario":
            _, name, mode, run, path = fields
            report = json.load(open(path))
            report["mode"], report["run"] = mode, int(run)
            scenario_runs.setdefault(name, []).append(report)
        elif fields[0] == "curve":
            _, kind, _, run, path, down_ms, up_ms = fields
            entry = curve_run(path, int(down_ms), int(up_ms))
            entry["run"] = int(run)
            curve_runs.setdefault(kind, []).append(entry)

    targets, scenarios = [], {}
    print()
    print("| scenario | figure | warming off (median) | warming on (median) | on / off |")
    print("|---|---|---:|---:|---:|")
    for name, reports in scenario_runs.items():
        med = {}
        for mode in ("off", "on"):
            of_mode = [r for r in reports if r["mode"] == mode]
            med[mode] = {label: median(get(r) for r in of_mode)
                         for label, get in FIGURES.get(name, {}).items()}
            med[mode]["runs"] = len(of_mode)
        for label in FIGURES.get(name, {}):
            off, on = med["off"].get(label), med["on"].get(label)
            print(f"| {name} | {label} | {fmt(off)} | {fmt(on)} | {fmt(ratio(on, off), 2)} |")
        found = targets_of(name, med)
        targets += found
        scenarios[name] = dict(medians=med, targets=found)

    curves = {}
    if curve_runs:
        print()
        print("| restart | runs | steady hit ratio (5 s before) | first 3 s after | after / steady "
              "(median) | gap ms (median) |")
        print("|---|---:|---:|---:|---:|---:|")
    for kind, entries in curve_runs.items():
        restarts = [e["restart"] for e in entries if e["restart"]]
        med = dict(
            steady_hit_ratio=median(r["steady_hit_ratio"] for r in restarts),
            after_hit_ratio=median(r["after_hit_ratio"] for r in restarts),
            after_over_steady=median(r["after_over_steady"] for r in restarts),
            gap_ms=median(r["gap_ms"] for r in restarts),
            runs=len(entries), restarts_found=len(restarts))
        print(f"| {kind} | {len(entries)} | {fmt(med['steady_hit_ratio'])} | "
              f"{fmt(med['after_hit_ratio'])} | {fmt(med['after_over_steady'])} | "
              f"{fmt(med['gap_ms'])} |")
        if kind in ("sigterm", "kill9"):
            measured = med["after_over_steady"]
            targets.append(dict(target=f"restart ({kind}): first 3 s hit ratio / steady",
                                measured=measured, goal=0.9, comparison=">=",
                                met=None if measured is None else measured >= 0.9))
        curves[kind] = dict(medians=med, runs=entries)

    if targets:
        print()
        print("| target | measured | goal | verdict |")
        print("|---|---:|---:|---|")
        for t in targets:
            verdict = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
            print(f"| {t['target']} | {fmt(t['measured'])} | {t['comparison']} {t['goal']} | "
                  f"{verdict} |")

    nw = node_warmup(nw_log, float(started), os.path.dirname(out))
    if nw:
        print()
        print("bench/node-warmup.sh (last lines):")
        print("\n".join(nw["log_tail"][-15:]))

    load_end = open("/proc/loadavg").read().split()[:3]
    result = dict(
        measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        roost_bin=roost_bin, roost_commit=commit, origin_latency=origin_latency,
        load_average_at_start=load_start.split(), load_average_at_end=load_end,
        targets=targets, scenarios=scenarios, curves=curves, node_warmup=nw,
        runs=[r for reports in scenario_runs.values() for r in reports])
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    print()
    print(f"load average (1, 5, 15 min) at start {load_start}, at end {' '.join(load_end)}")


if __name__ == "__main__":
    main()
