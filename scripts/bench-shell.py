#!/usr/bin/env python3
"""Throughput and peak memory of `dockhand shell` on a large piped input, and the
time from exec to its first answer.

Writes a file of N lines (90% chatter, 10% canned-reply commands), pipes it through
the release binary, and prints lines/s and peak RSS (from the child's rusage); then
starts the shell 30 times, sends one command at once and times its first reply line.
Usage: scripts/bench-shell.py [BINARY] [LINES]
"""
import os
import resource
import subprocess
import sys
import tempfile
import time

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/dockhand"
lines = int(sys.argv[2]) if len(sys.argv) > 2 else 1_000_000

chatter = [
    "has anyone seen the deploy dashboard today?",
    "lunch at noon?",
    "the build is green again",
    "I'll look at the flaky test after standup",
    "ok",
]
with tempfile.NamedTemporaryFile("w", delete=False, suffix=".txt") as f:
    path = f.name
    for i in range(lines):
        f.write("!runbook db\n" if i % 10 == 0 else chatter[i % len(chatter)] + "\n")

runs = []
for _ in range(3):
    with open(path, "rb") as stdin:
        start = time.perf_counter()
        out = subprocess.run([binary, "shell"], stdin=stdin, stdout=subprocess.PIPE, check=True).stdout
        runs.append(time.perf_counter() - start)
replies = out.count(b"\n")
peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
os.unlink(path)
best = min(runs)
print(f"shell: {lines} lines ({replies} replies) in {best:.3f}s best of 3 = {lines / best:,.0f} lines/s")
print(f"shell: peak RSS {peak_kib / 1024:.1f} MiB")

# First reply: exec, one command written at once, until its answer's first line.
firsts = []
for _ in range(30):
    start = time.perf_counter()
    p = subprocess.Popen([binary, "shell"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    p.stdin.write(b"!runbook db\n")
    p.stdin.flush()
    p.stdout.readline()
    firsts.append((time.perf_counter() - start) * 1000)
    p.stdin.close()
    p.wait()
firsts.sort()
print(f"shell: first reply {firsts[len(firsts) // 2]:.1f} ms after exec (median of 30, min {firsts[0]:.1f} ms)")
