#!/usr/bin/env python3
"""Do NVML's PCIe byte counters (fields 197 TX, 198 RX) see a short transfer, and when?
A runner reads them at a trial's edges; this asks whether the difference of two reads
around a copy of known size is that size, for copies from 1 MB to 1 GB, and how soon after
a copy the counters show it.

    python3 bench/gpu/pcie_counter_fidelity.py [REPEATS]

Prints, per copy size and direction, the median and range of (counter delta / bytes
copied) read right after the copy's synchronize, and again 30 ms later; and, for a steady
stream of copies, how often back-to-back reads see the counter move and NVML's own
timestamp of each value (how fresh what it returns is)."""
import statistics, sys, time

import torch

from nvml_ctypes import dev, field_values, nvml

REPEATS = int(sys.argv[1]) if len(sys.argv) > 1 else 5
arr = field_values([197, 198])


def read():
    """(tx, rx, nvml timestamp of tx in µs)."""
    assert nvml.nvmlDeviceGetFieldValues(dev, 2, arr) == 0
    assert arr[0].nvmlReturn == 0 and arr[1].nvmlReturn == 0, "counters not supported"
    return arr[0].value, arr[1].value, arr[0].timestamp


def delta(a, b):
    # 32-bit counters on an H200: a wrap between two reads is taken once.
    return (b - a) % (1 << 32)


torch.cuda.init()
MB = 1 << 20
print(f"GPU: {torch.cuda.get_device_name(0)}")
print("| copy | bytes | counter | delta/bytes at once: median [min, max] | 30 ms later: median [min, max] |")
print("|---|---:|---|---|---|")
for size in [1 * MB, 16 * MB, 256 * MB, 1024 * MB]:
    host = torch.empty(size, dtype=torch.uint8, pin_memory=True)
    devbuf = torch.empty(size, dtype=torch.uint8, device="cuda")
    for name, copy in [
        ("host→GPU", lambda: devbuf.copy_(host, non_blocking=True)),
        ("GPU→host", lambda: host.copy_(devbuf, non_blocking=True)),
    ]:
        copy()
        torch.cuda.synchronize()
        now, later = {0: [], 1: []}, {0: [], 1: []}
        for _ in range(REPEATS):
            time.sleep(0.05)
            a = read()
            copy()
            torch.cuda.synchronize()
            b = read()
            time.sleep(0.03)
            c = read()
            for k in (0, 1):
                now[k].append(delta(a[k], b[k]) / size)
                later[k].append(delta(a[k], c[k]) / size)
        f = lambda v: f"{statistics.median(v):.3f} [{min(v):.3f}, {max(v):.3f}]"
        for k, counter in [(0, "TX"), (1, "RX")]:
            print(f"| {name} | {size} | {counter} | {f(now[k])} | {f(later[k])} |")
    del host, devbuf

# A steady stream of 64 MB copies on a side stream; back-to-back reads meanwhile.
host = torch.empty(64 * MB, dtype=torch.uint8, pin_memory=True)
devbuf = torch.empty(64 * MB, dtype=torch.uint8, device="cuda")
side = torch.cuda.Stream()
with torch.cuda.stream(side):
    for _ in range(1000):
        devbuf.copy_(host, non_blocking=True)
reads = []
t_end = time.perf_counter() + 1.0
while time.perf_counter() < t_end:
    t = time.perf_counter_ns()
    reads.append((t,) + read())
side.synchronize()
moved = sum(1 for x, y in zip(reads, reads[1:]) if y[2] != x[2])
stamps = sum(1 for x, y in zip(reads, reads[1:]) if y[3] != x[3])
dts = [(y[0] - x[0]) / 1e3 for x, y in zip(reads, reads[1:])]
rates = [delta(x[2], y[2]) / ((y[0] - x[0]) / 1e9) / 1e9 for x, y in zip(reads, reads[1:])]
print(f"\nsteady host→GPU stream: {len(reads)} reads, {statistics.median(dts):.0f} µs apart (median)")
print(f"RX moved between {moved} of {len(reads) - 1} consecutive reads; NVML's timestamp changed {stamps} times")
print(f"RX rate between consecutive reads, GB/s: median {statistics.median(rates):.1f}, "
      f"p10 {sorted(rates)[len(rates) // 10]:.1f}, p90 {sorted(rates)[9 * len(rates) // 10]:.1f}")
