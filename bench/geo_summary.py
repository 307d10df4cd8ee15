#!/usr/bin/env python3
"""bench/geo.sh's summary: the median of each point's runs (staleness by one-way delay
and rate, bytes on the wire per change, throughput with and without replication,
convergence after a partition), checked against issue 16's targets; prints markdown
tables and writes the result file.

Usage: geo_summary.py RUNS_TSV OUT_JSON ROOST_BIN COMMIT LOAD_AT_START STARTED_AT_UNIX MODE
RUNS_TSV rows: staleness DELAY/RATE RUN RESULT_JSON
               throughput MODE RUN LOAD_REPORT_JSON
               partition partition RUN RESULT_JSON
"""
import json
import os
import statistics
import sys
import time


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=1):
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def read_runs(path):
    runs = {}
    with open(path) as f:
        for line in f:
            part, label, run, result = line.rstrip("\n").split("\t")
            try:
                with open(result) as r:
                    data = json.load(r)
            except (OSError, ValueError) as e:
                print(f"cannot read {result}: {e}", file=sys.stderr)
                continue
            runs.setdefault((part, label), []).append(dict(run=int(run), result=data))
    return runs


def target(label, measured, goal, at_most=True):
    met = None if measured is None or goal is None else (measured <= goal if at_most else measured >= goal)
    return dict(target=label, measured=measured, goal=goal, comparison="<=" if at_most else ">=", met=met)


def staleness_points(runs):
    points = []
    for (part, label), items in sorted(runs.items(), key=lambda kv: tuple(int(x) for x in kv[0][1].split("/"))
                                       if kv[0][0] == "staleness" else (0, 0)):
        if part != "staleness":
            continue
        delay, rate = (int(x) for x in label.split("/"))
        results = [i["result"] for i in items]
        points.append(dict(
            delay_ms=delay, rate=rate, runs=len(results),
            writes_per_second=median([r.get("writes_per_second") for r in results]),
            staleness_p50_ms=median([r.get("staleness_p50_ms") for r in results]),
            staleness_p99_ms=median([r.get("staleness_p99_ms") for r in results]),
            bytes_per_change=median([r.get("bytes_per_change") for r in results]),
            changes_applied=median([r.get("changes_applied_in_b") for r in results]),
            errors=[r["staleness_error"] for r in results if r.get("staleness_error")],
            each_run=results,
        ))
    return points


def throughput_of(runs):
    out = {}
    for mode in ("off", "alone", "peered"):
        items = runs.get(("throughput", mode), [])
        out[mode] = dict(
            runs=len(items),
            sets_per_second=median([i["result"].get("total_ops_per_second") for i in items]),
            each_run=[i["result"].get("total_ops_per_second") for i in items],
        )
        cpu = [i["result"] for i in runs.get(("cpu", mode), [])]
        if cpu:
            names = sorted({n for c in cpu for n in c["processes"]})
            out[mode]["cpu"] = dict(
                runs=len(cpu),
                us_per_set={n: median([c["processes"].get(n, {}).get("us_per_set") for c in cpu]) for n in names},
                cores={n: median([c["processes"].get(n, {}).get("cores") for c in cpu]) for n in names},
                ours_us_per_set=median([c["ours_us_per_set"] for c in cpu]),
                others_cpu_seconds=median([c["others_cpu_seconds"] for c in cpu]),
                machine_busy_share=median([c["machine_busy_seconds"] / c["machine_cpu_seconds"] for c in cpu]),
                commits_per_second=median([c.get("log", {}).get("commits_per_second") for c in cpu]),
                appends_per_commit=median([c.get("log", {}).get("appends_per_commit") for c in cpu]),
                mean_commit_wait_ms=median([c.get("log", {}).get("mean_commit_wait_ms") for c in cpu]),
                sets_waiting_on_the_log=median([c.get("log", {}).get("sets_waiting_on_the_log") for c in cpu]),
                each_run=cpu,
            )
    off, peered, alone = (out[m]["sets_per_second"] for m in ("off", "peered", "alone"))
    out["cost_of_replication"] = (1 - peered / off) if off and peered is not None else None
    out["cost_of_the_log"] = (1 - alone / off) if off and alone is not None else None
    return out


def partition_of(runs):
    items = [i["result"] for i in runs.get(("partition", "partition"), [])]
    return dict(
        runs=len(items),
        partition_seconds=items[0]["partition_seconds"] if items else None,
        seconds_from_heal_to_lag_0=median([r.get("seconds_from_heal_to_lag_0") for r in items]),
        changes_behind_at_heal=median([r.get("changes_behind_at_heal") for r in items]),
        writes=median([r.get("writes") for r in items]),
        divergent_keys_max=max((r.get("divergent_keys", 0) for r in items), default=None),
        all_quiet=all(r["quiet"]["quiet"] for r in items) if items else None,
        each_run=items,
    )


def main():
    runs_tsv, out_json, roost_bin, commit, load_at_start, started_at, mode = sys.argv[1:8]
    runs = read_runs(runs_tsv)
    staleness = staleness_points(runs)
    throughput = throughput_of(runs)
    partition = partition_of(runs)

    targets = []
    for p in staleness:
        if p["rate"] == 5000:
            targets.append(target(f"staleness p99 at {p['delay_ms']} ms one-way, 5,000 changes/s (ms)",
                                  p["staleness_p99_ms"], p["delay_ms"] + 50))
    if throughput["cost_of_replication"] is not None:
        targets.append(target("throughput cost of replication (share of SETs/s)",
                              throughput["cost_of_replication"], 0.10))
    if partition["runs"]:
        targets.append(target(f"divergent keys after a {partition['partition_seconds']} s partition and heal",
                              partition["divergent_keys_max"], 0))

    print("\n### Staleness in b of writes to a (roost_geo_staleness_seconds; median of runs)\n")
    print("| one-way delay | changes/s asked | got | p50 ms | p99 ms | bytes on the wire per change |")
    print("|---:|---:|---:|---:|---:|---:|")
    for p in staleness:
        print(f"| {p['delay_ms']} ms | {p['rate']} | {fmt(p['writes_per_second'], 0)} | "
              f"{fmt(p['staleness_p50_ms'])} | {fmt(p['staleness_p99_ms'])} | {fmt(p['bytes_per_change'])} |")
        for e in p["errors"][:1]:
            print(f"|  | {e} | | | | |")
    if any(throughput[m]["runs"] for m in ("off", "alone", "peered")):
        print("\n### Throughput: most SETs/s into a (median of runs)\n")
        print("| no region | a region alone (log, no peers) | a with b pulling its log | cost of replication |")
        print("|---:|---:|---:|---:|")
        cost = throughput["cost_of_replication"]
        print(f"| {fmt(throughput['off']['sets_per_second'], 0)} | {fmt(throughput['alone']['sets_per_second'], 0)} | "
              f"{fmt(throughput['peered']['sets_per_second'], 0)} | {'n/a' if cost is None else f'{cost * 100:.1f} %'} |")
    if any("cpu" in throughput[m] for m in ("off", "alone", "peered")):
        print("\n### Where the CPU goes: CPU microseconds per SET (user + system, median of runs)\n")
        names = sorted({n for m in ("off", "alone", "peered") for n in throughput[m].get("cpu", {}).get("us_per_set", {})})
        print("| set-up | SETs/s | " + " | ".join(names) + " | all of ours | others' CPU s | machine busy | fsyncs/s | appends per fsync | mean wait for the log ms | SETs waiting on the log |")
        print("|---|---:|" + "---:|" * len(names) + "---:|---:|---:|---:|---:|---:|---:|")
        for m in ("off", "alone", "peered"):
            c = throughput[m].get("cpu")
            if not c:
                continue
            cells = [f"{fmt(c['us_per_set'].get(n), 2)} ({fmt(c['cores'].get(n), 2)} cores)"
                     if c["us_per_set"].get(n) is not None else "" for n in names]
            print(f"| {m} | {fmt(throughput[m]['sets_per_second'], 0)} | " + " | ".join(cells) +
                  f" | {fmt(c['ours_us_per_set'], 2)} | {fmt(c['others_cpu_seconds'])} | "
                  f"{fmt(c['machine_busy_share'] * 100, 0)} % | {fmt(c['commits_per_second'])} | "
                  f"{fmt(c['appends_per_commit'])} | {fmt(c['mean_commit_wait_ms'], 3)} | "
                  f"{fmt(c['sets_waiting_on_the_log'])} |")
    if partition["runs"]:
        print(f"\n### After a {partition['partition_seconds']} s partition (median of {partition['runs']} runs)\n")
        print("| changes behind at heal (a's log head - b's cursor) | s from heal to lag 0 | divergent keys (worst run) |")
        print("|---:|---:|---:|")
        print(f"| {fmt(partition['changes_behind_at_heal'], 0)} | {fmt(partition['seconds_from_heal_to_lag_0'], 2)} | "
              f"{fmt(partition['divergent_keys_max'])} |")
    print("\n### Targets (issue 16)\n")
    print("| target | measured | goal | met |")
    print("|---|---:|---:|---|")
    for t in targets:
        met = {True: "yes", False: "**no**", None: "n/a"}[t["met"]]
        print(f"| {t['target']} | {fmt(t['measured'], 3)} | {t['comparison']} {t['goal']} | {met} |")

    result = dict(
        bench="geo", issue=16, mode=mode, roost_bin=roost_bin, commit=commit,
        cores=os.cpu_count(), load_average_at_start=load_at_start,
        started_at=int(started_at), seconds=int(time.time()) - int(started_at),
        staleness=staleness, throughput=throughput, partition=partition, targets=targets,
        notes=[
            "Two regions on one machine, each pulling the other through roost-bench proxy "
            "(one-way delay each direction); fresh regions per run.",
            "Staleness: b's roost_geo_staleness_seconds histogram over the run (buckets "
            "differenced against a scrape before it); quantiles interpolate within buckets.",
            "Bytes per change: bytes the proxy carried from a to b over changes b applied from a "
            "(frames, heartbeats and HTTP headers included).",
            "Throughput: both regions share the machine's cores, so the peered figure pays for "
            "b's applying too.",
        ],
    )
    with open(out_json, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
