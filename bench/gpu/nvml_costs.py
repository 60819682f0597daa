#!/usr/bin/env python3
"""Cost of each NVML reading rigor's telemetry takes, timed straight through libnvidia-ml
(ctypes, no wrapper) so the figures are the driver's, not rigor's:
    python3 bench/gpu/nvml_costs.py [N]
Prints a markdown table: reading, median and p99 microseconds per call over N calls."""
import ctypes, statistics, sys, time

from nvml_ctypes import dev, field_values, nvml

N = int(sys.argv[1]) if len(sys.argv) > 1 else 300
def fields(ids):
    arr = field_values(ids)
    def call():
        r = nvml.nvmlDeviceGetFieldValues(dev, len(ids), arr)
        return r if r else max((a.nvmlReturn for a in arr), default=0)
    return call


buf = (ctypes.c_ulonglong * 8)()
# nvmlMemory_v2_t: version, then total, reserved, free, used; NVML_STRUCT_VERSION(Memory, 2).
mem2 = (ctypes.c_uint * 10)()
mem2[0] = 40 | (2 << 24)
u = ctypes.c_uint()
ull = ctypes.c_ulonglong()
readings = {
    "field 186 power instant": fields([186]),
    "field 185 power average": fields([185]),
    "fields 186+185 (rigor's fast batch)": fields([186, 185]),
    "field 82 memory temperature": fields([82]),
    "field 197 PCIe TX bytes": fields([197]),
    "field 198 PCIe RX bytes": fields([198]),
    "fields 82+197+198 (rigor's slow batch)": fields([82, 197, 198]),
    "fields 186+185+82+197+198 (the old fast batch)": fields([186, 185, 82, 197, 198]),
    "nvmlDeviceGetPowerUsage": lambda: nvml.nvmlDeviceGetPowerUsage(dev, ctypes.byref(u)),
    "nvmlDeviceGetMemoryInfo": lambda: nvml.nvmlDeviceGetMemoryInfo(dev, buf),
    "nvmlDeviceGetMemoryInfo_v2": lambda: nvml.nvmlDeviceGetMemoryInfo_v2(dev, mem2),
    "nvmlDeviceGetTemperature": lambda: nvml.nvmlDeviceGetTemperature(dev, 0, ctypes.byref(u)),
    "nvmlDeviceGetClockInfo (SM)": lambda: nvml.nvmlDeviceGetClockInfo(dev, 1, ctypes.byref(u)),
    "nvmlDeviceGetUtilizationRates": lambda: nvml.nvmlDeviceGetUtilizationRates(dev, buf),
    "nvmlDeviceGetCurrentClocksEventReasons": lambda: nvml.nvmlDeviceGetCurrentClocksThrottleReasons(dev, ctypes.byref(ull)),
    "nvmlDeviceGetTotalEnergyConsumption": lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(dev, ctypes.byref(ull)),
}
print(f"| reading ({N} calls) | median µs | p99 µs | status |")
print("|---|---:|---:|---|")
for name, call in readings.items():
    times, status = [], 0
    for _ in range(N):
        t0 = time.perf_counter_ns()
        status = call() or status
        times.append((time.perf_counter_ns() - t0) / 1e3)
    times.sort()
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    print(f"| {name} | {statistics.median(times):.1f} | {p99:.1f} | {'ok' if status == 0 else f'NVML error {status}'} |")

# The fast batch while another thread reads the energy counter back to back (what rigor's
# slow thread does every 100 ms): does NVML serialise calls to one device?
import threading
stop = threading.Event()
def energy_loop():
    while not stop.is_set():
        nvml.nvmlDeviceGetTotalEnergyConsumption(dev, ctypes.byref(ctypes.c_ulonglong()))
th = threading.Thread(target=energy_loop); th.start()
for name in ["fields 186+185 (rigor's fast batch)", "nvmlDeviceGetTemperature"]:
    call, times = readings[name], []
    for _ in range(N):
        t0 = time.perf_counter_ns(); call(); times.append((time.perf_counter_ns() - t0) / 1e3)
    times.sort()
    print(f"| {name}, energy read concurrently | {statistics.median(times):.1f} | {times[int(0.99 * len(times))]:.1f} | |")
stop.set(); th.join()

# The PCIe TX and RX counters read on two threads at once (each its own field call) against
# both in one call: does NVML read them one after the other inside the call?
tx, rx, both = fields([197]), fields([198]), fields([197, 198])
go, done = threading.Barrier(2), threading.Barrier(2)
def rx_loop():
    for _ in range(N):
        go.wait(); rx(); done.wait()
th = threading.Thread(target=rx_loop); th.start()
pair = []
for _ in range(N):
    t0 = time.perf_counter_ns(); go.wait(); tx(); done.wait(); pair.append((time.perf_counter_ns() - t0) / 1e3)
th.join()
one = []
for _ in range(N):
    t0 = time.perf_counter_ns(); both(); one.append((time.perf_counter_ns() - t0) / 1e3)
for name, times in [("fields 197 and 198 on two threads at once", pair), ("fields 197+198 in one call", one)]:
    times.sort()
    print(f"| {name} | {statistics.median(times):.1f} | {times[int(0.99 * len(times))]:.1f} | |")
nvml.nvmlShutdown()
