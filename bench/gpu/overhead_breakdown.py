#!/usr/bin/env python3
"""Where a short trial's time outside its timed region goes, from a store of `true` trials
(e.g. `rigor compare true true -n 200 --store o.db`):
    python3 bench/gpu/overhead_breakdown.py o.db
Prints the median gap between one trial's end (start + wall time) and the next one's start,
and the median per-trial cost of each telemetry reading the recording kept (its cost_ms),
so the gap can be split into the sampler's part and the rest (store, logs, bookkeeping)."""
import datetime as dt
import json
import sqlite3
import statistics
import sys

c = sqlite3.connect(sys.argv[1])
rows = c.execute(
    "SELECT started_at, wall_s, telemetry FROM trial WHERE status = 'ok' ORDER BY started_at"
).fetchall()
t = [dt.datetime.fromisoformat(r[0].replace("Z", "+00:00")).timestamp() for r in rows]
gaps = [(t[i + 1] - (t[i] + rows[i][1])) * 1e3 for i in range(len(rows) - 1)]
print(f"trials: {len(rows)}; gap between trials, median {statistics.median(gaps):.3f} ms, "
      f"p90 {sorted(gaps)[int(0.9 * len(gaps))]:.3f} ms")
costs = {}
for _, _, tel in rows:
    for k, v in json.loads(tel or "{}").get("cost_ms", {}).items():
        costs.setdefault(k, []).append(v)
print("| reading | median ms per trial | trials with it |")
print("|---|---:|---:|")
for k, v in sorted(costs.items(), key=lambda kv: -statistics.median(kv[1])):
    print(f"| {k} | {statistics.median(v):.4f} | {len(v)} |")
