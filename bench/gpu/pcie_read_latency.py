#!/usr/bin/env python3
"""What a PCIe byte-counter read (NVML fields 197+198, one call) costs in the situations a
runner meets it: back to back, right after a process exits, after a 1 ms pause, and right
after the power fields are read (as at a trial's end). Straight through libnvidia-ml:
    python3 bench/gpu/pcie_read_latency.py [N]
Prints median and p90 microseconds per read in each situation."""
import os, statistics, subprocess, sys, time

from nvml_ctypes import dev, field_values, nvml

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
def batch(ids):
    arr = field_values(ids)
    return lambda: nvml.nvmlDeviceGetFieldValues(dev, len(ids), arr)


pcie, power = batch([197, 198]), batch([186, 185])


def timed(before):
    out = []
    for _ in range(N):
        before()
        t = time.perf_counter_ns()
        pcie()
        out.append((time.perf_counter_ns() - t) / 1e3)
    return out


situations = {
    "back to back": lambda: None,
    "after /bin/true exits": lambda: os.waitpid(os.posix_spawn("/bin/true", ["true"], os.environ), 0),
    "after a 1 ms pause": lambda: time.sleep(0.001),
    "after a 5 ms pause": lambda: time.sleep(0.005),
    "after a 30 ms pause": lambda: time.sleep(0.03),
    "right after the power fields": power,
    "after /bin/true, then the power fields": lambda: (os.waitpid(os.posix_spawn("/bin/true", ["true"], os.environ), 0), power()),
}
print("| situation | median µs | p90 µs |\n|---|---:|---:|")
for name, before in situations.items():
    v = sorted(timed(before))
    print(f"| {name} | {statistics.median(v):.1f} | {v[int(0.9 * len(v))]:.1f} |")
