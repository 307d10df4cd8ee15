#!/usr/bin/env python3
"""What one group commit's fdatasync costs on this machine's file system, two ways:
appending to a growing file (every commit changes the file's size and blocks, which
ext4 journals) and overwriting a file already zero-filled and synced (what the change
log's writer does, `crates/roost/src/geo/log/writer.rs`: only data to flush).

    python3 bench/log-fsync.py [DIR] [COMMITS] [BYTES_PER_COMMIT] [RUNS]

DIR defaults to the current directory (put it on the disk ROOST_DATA_DIR uses);
COMMITS 2000, BYTES_PER_COMMIT 8000 (about 60 records of a 100-byte value), RUNS 3.
Prints each run's mean microseconds per write+fdatasync and the medians."""

import os
import statistics
import sys
import time


def one_run(path: str, prepared: bool, commits: int, size: int) -> float:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if prepared:
            os.write(fd, b"\0" * (commits * size))
            os.fsync(fd)
        record = b"x" * size
        start = time.perf_counter()
        for i in range(commits):
            os.pwrite(fd, record, i * size)
            os.fdatasync(fd)
        return (time.perf_counter() - start) / commits * 1e6
    finally:
        os.close(fd)
        os.unlink(path)


def main() -> None:
    directory = sys.argv[1] if len(sys.argv) > 1 else "."
    commits = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    size = int(sys.argv[3]) if len(sys.argv) > 3 else 8000
    runs = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    path = os.path.join(directory, f".roost-log-fsync-{os.getpid()}")
    results = {"append": [], "prepared": []}
    for run in range(runs):
        # Alternate which goes first, so a drift in the machine's load
        # does not favour one way.
        order = ["append", "prepared"] if run % 2 == 0 else ["prepared", "append"]
        for way in order:
            results[way].append(one_run(path, way == "prepared", commits, size))
        print(f"run {run + 1}: append {results['append'][-1]:.0f} us, "
              f"prepared {results['prepared'][-1]:.0f} us")
    append = statistics.median(results["append"])
    prepared = statistics.median(results["prepared"])
    print(f"median of {runs}: append {append:.0f} us, prepared {prepared:.0f} us "
          f"per commit ({commits} commits of {size} bytes; append/prepared {append / prepared:.2f})")


if __name__ == "__main__":
    main()
