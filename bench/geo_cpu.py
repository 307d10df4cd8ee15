#!/usr/bin/env python3
"""Where the CPU goes in bench/geo.sh's throughput runs (CPU_SAMPLE=1): CPU time per
process and per thread name, the machine's busy time, and the writing region's change
log counters (appends and group commits, i.e. fsyncs), before and after the load, so
CPU microseconds per SET and appends per fsync can be worked out for each set-up.

  snapshot [--pid NAME=PID]... [--log URL=PID]      JSON on stdout
  report BEFORE AFTER LOAD_JSON TIME_FILE        JSON on stdout

TIME_FILE is `/usr/bin/time -f '%U %S %e'` output for the load generator (it exits
before the after-snapshot, so its CPU comes from its own rusage).
"""
import argparse
import json
import os
import sys
import time
import urllib.request

TICK = os.sysconf("SC_CLK_TCK")


def stat_fields(path):
    stat = open(path).read()
    return stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()


def process_cpu(pid):
    """CPU seconds of a process and of each of its thread names (threads summed)."""
    _, fields = stat_fields(f"/proc/{pid}/stat")
    total = (int(fields[11]) + int(fields[12])) / TICK
    threads = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            comm, f = stat_fields(f"/proc/{pid}/task/{tid}/stat")
        except OSError:
            continue  # the thread ended between listing and reading
        threads[comm] = threads.get(comm, 0.0) + (int(f[11]) + int(f[12])) / TICK
    return dict(total=total, threads=threads)


def machine_busy():
    """Busy and total CPU seconds of the whole machine since boot (all cores)."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return dict(busy=(sum(fields[:8]) - idle) / TICK, total=sum(fields[:8]) / TICK)


def writer_syscalls(pid):
    """Write system calls of the change log's writer thread (`roost-geo-log`): it
    commits a batch with one write_all and one fdatasync, so this counts group commits
    (`log/writer.rs`), high by up to ~16 %: strace on the thread once saw 18,669 writes
    to 16,086 fdatasyncs. None when the process has no such thread."""
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            if open(f"/proc/{pid}/task/{tid}/comm").read().strip() != "roost-geo-log":
                continue
            for line in open(f"/proc/{pid}/task/{tid}/io"):
                if line.startswith("syscw:"):
                    return int(line.split()[1])
        except OSError:
            continue
    return None


def log_stats(url, pid):
    """The log's newest Seq (records appended: one per SET) and its writer's writes."""
    with urllib.request.urlopen(url + "/api/regions", timeout=5) as r:
        answer = json.load(r)
    with urllib.request.urlopen(url + "/metrics", timeout=5) as r:
        metrics = r.read().decode()
    wait = {}
    for line in metrics.splitlines():
        for part in ("sum", "count"):
            if line.startswith(f"roost_geo_log_commit_seconds_{part} "):
                wait[part] = float(line.split()[1])
    return dict(last=(answer.get("log") or {}).get("last"), writer_writes=writer_syscalls(pid),
                commit_wait_sum=wait.get("sum"), commit_wait_count=wait.get("count"))


def cmd_snapshot(args):
    out = dict(at=time.monotonic(), machine=machine_busy(), processes={})
    for item in args.pid:
        name, pid = item.split("=", 1)
        out["processes"][name] = process_cpu(int(pid))
    if args.log:
        url, pid = args.log.rsplit("=", 1)
        out["log"] = log_stats(url, int(pid))
    print(json.dumps(out))


def cmd_report(args):
    before, after = (json.load(open(p)) for p in (args.before, args.after))
    load = json.load(open(args.load))
    user, system, _elapsed = (float(x) for x in open(args.time).read().split()[-3:])
    ops = load["total_ops"]
    per_op = lambda seconds: round(seconds / ops * 1e6, 2) if ops else None
    window = after["at"] - before["at"]
    processes = {}
    for name, a in after["processes"].items():
        b = before["processes"].get(name)
        if b is None:
            continue
        threads = {t: s - b["threads"].get(t, 0.0) for t, s in a["threads"].items()}
        seconds = a["total"] - b["total"]
        processes[name] = dict(
            cpu_seconds=round(seconds, 2), cores=round(seconds / window, 2),
            us_per_set=per_op(seconds),
            threads={t: round(s, 2) for t, s in sorted(threads.items(), key=lambda kv: -kv[1]) if s >= 0.05},
        )
    processes["roost-bench load"] = dict(
        cpu_seconds=round(user + system, 2), cores=round((user + system) / window, 2),
        us_per_set=per_op(user + system))
    ours = sum(p["cpu_seconds"] for p in processes.values())
    busy = after["machine"]["busy"] - before["machine"]["busy"]
    capacity = after["machine"]["total"] - before["machine"]["total"]
    out = dict(
        window_seconds=round(window, 2), sets=ops, sets_per_second=load["total_ops_per_second"],
        processes=processes,
        ours_cpu_seconds=round(ours, 2), ours_us_per_set=per_op(ours),
        machine_cpu_seconds=round(capacity, 2), machine_busy_seconds=round(busy, 2),
        # Busy time no process of this run accounts for: the other engineers' work.
        others_cpu_seconds=round(max(busy - ours, 0.0), 2),
    )
    if "log" in before and "log" in after:
        appended = after["log"]["last"] - before["log"]["last"]
        commits = after["log"]["writer_writes"] - before["log"]["writer_writes"]
        out["log"] = dict(
            appends=appended, commits=commits,
            commits_per_second=round(commits / window, 1),
            appends_per_commit=round(appended / commits, 1) if commits else None,
        )
        waits = after["log"]["commit_wait_count"] - before["log"]["commit_wait_count"]
        if waits:
            mean = (after["log"]["commit_wait_sum"] - before["log"]["commit_wait_sum"]) / waits
            out["log"]["mean_commit_wait_ms"] = round(mean * 1000, 3)
            # Little's law: SETs waiting on the log at any moment, on average.
            out["log"]["sets_waiting_on_the_log"] = round(mean * appended / window, 1)
    print(json.dumps(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    snap = sub.add_parser("snapshot")
    snap.add_argument("--pid", action="append", default=[], help="NAME=PID")
    snap.add_argument("--log", help="URL=PID: a region's HTTP base URL and process, for its log's appends and commits")
    report = sub.add_parser("report")
    for name in ("before", "after", "load", "time"):
        report.add_argument(name)
    args = parser.parse_args()
    {"snapshot": cmd_snapshot, "report": cmd_report}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
