#!/usr/bin/env python3
"""What one event journal commit costs on this disk: append a 481-byte line (the size of a
decision event) and fdatasync it, N times; print the latency percentiles.

Usage: scripts/fsync-probe.py [DIR] [N]   (DIR defaults to target/tmp; use the disk that holds
events.spool_dir, never tmpfs)"""
import os
import sys
import time

d = sys.argv[1] if len(sys.argv) > 1 else "target/tmp"
n = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
os.makedirs(d, exist_ok=True)
path = os.path.join(d, "fsync-probe.jsonl")
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
line = b"x" * 480 + b"\n"
times = []
try:
    for _ in range(n):
        t = time.perf_counter()
        os.write(fd, line)
        os.fdatasync(fd)
        times.append(time.perf_counter() - t)
finally:
    os.close(fd)
    os.remove(path)
times.sort()


def q(x):
    return times[max(0, int(x * len(times)) - 1)] * 1e3


print(f"n={n} p50={q(.5):.2f} ms p95={q(.95):.2f} ms p99={q(.99):.2f} ms max={times[-1] * 1e3:.2f} ms")
