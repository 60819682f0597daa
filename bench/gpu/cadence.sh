#!/usr/bin/env bash
# Telemetry cadence, cost and fidelity at 10 ms on a GPU machine (issue 23):
#   bench/gpu/cadence.sh OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/cadence-out}
RIGOR=${RIGOR:-target/release/rigor}
mkdir -p "$OUT"
"$RIGOR" run bench/gpu/cadence.toml --store "$OUT/cadence.db" --new-run -q || true
python3 - "$OUT/cadence.db" <<'PY' | tee "$OUT/cadence.md"
import json, sqlite3, sys
c = sqlite3.connect(sys.argv[1])
rows = c.execute("SELECT id, telemetry FROM trial WHERE phase = 'measure' AND status = 'ok' ORDER BY id").fetchall()
m = lambda t, n: (c.execute("SELECT value FROM metric WHERE trial_id = ? AND name = ?", (t, n)).fetchone() or [None])[0]
print("| trial | samples | gap median ms | gap p99 ms | gap max ms | ms per sample | slow samples | energy counter J | energy ∫power J | ratio | power instant W | power NVML avg W |")
print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
for tid, tel in rows:
    t = json.loads(tel or "{}")
    e, ei = m(tid, "gpu.energy_j"), m(tid, "gpu.energy_integrated_j")
    ratio = f"{ei / e:.4f}" if e and ei else "—"
    f = lambda v, d=2: f"{v:.{d}f}" if isinstance(v, (int, float)) else "—"
    print(f"| {tid} | {f(m(tid, 'telemetry.samples'), 0)} | {f(m(tid, 'telemetry.gap_ms.median'))} | {f(m(tid, 'telemetry.gap_ms.p99'))} | "
          f"{f(m(tid, 'telemetry.gap_ms.max'))} | {f(m(tid, 'telemetry.sample_ms.mean'), 3)} | {t.get('slow_ticks', '—')} | "
          f"{f(e, 1)} | {f(ei, 1)} | {ratio} | {f(m(tid, 'gpu.power_w.mean'), 1)} | {f(m(tid, 'gpu.power_avg_w.mean'), 1)} |")
costs = {}
for _, tel in rows:
    for k, v in json.loads(tel or "{}").get("cost_ms", {}).items():
        costs[k] = costs.get(k, 0) + v
print("\ncost by reading over all trials (ms):", json.dumps({k: round(v, 1) for k, v in sorted(costs.items(), key=lambda x: -x[1])}))
un = json.loads(rows[0][1] or "{}").get("unavailable", {}) if rows else {}
print("unavailable readings:", json.dumps(un))
PY
"$RIGOR" report "$OUT/cadence.db" --format md --out "$OUT/report" >/dev/null
