#!/usr/bin/env bash
# Checks on an NVIDIA machine that CI (no GPU) cannot make: the two GPU examples run end to
# end (shortened), a foreign GPU process is flagged, and the gate fails trials it cannot
# open. Writes reports and stores into OUTDIR.
#
#   cargo build --release && bench/gpu/device-checks.sh OUTDIR
set -uo pipefail
cd "$(dirname "$0")/../.."
RIGOR=$(pwd)/${RIGOR:-target/release/rigor}
OUT=$(mkdir -p "${1:?OUTDIR}" && cd "$1" && pwd)
W=$(mktemp -d)

# The examples, with fewer trials so that both fit in a few minutes.
sed -e 's/^trials = 10/trials = 3/' -e 's/^cooldown = "2s"/cooldown = "200ms"/' examples/gpu-matmul.toml > "$W/gpu-matmul.toml"
sed -e 's/^trials = 10/trials = 3/' examples/pcie-chunks.toml > "$W/pcie-chunks.toml"
for e in gpu-matmul pcie-chunks; do
  "$RIGOR" run "$W/$e.toml" --store "$OUT/$e.db" --progress lines 2>&1 | tail -3
  "$RIGOR" report "$OUT/$e.db" --format md,json --out "$OUT/$e"
done

cat > "$W/shared.toml" <<'TOML'
[experiment]
name = "shared"
trials = 2
[[workload]]
name = "small"
kind = "gemm"
m = 2048
n = 2048
k = 2048
iterations = 200
TOML
{ cat "$W/shared.toml"; printf '[gate]\nno_foreign_processes = true\ntimeout = "3s"\n'; } > "$W/gated.toml"
sed -i 's/name = "shared"/name = "gated"/' "$W/gated.toml"

# Another tenant on the GPU for the next ~40 s.
python3 -c "import torch, time; x = torch.ones(1 << 28, device='cuda'); time.sleep(40)" &
TENANT=$!
sleep 8
"$RIGOR" run "$W/shared.toml" --store "$OUT/shared.db" -q
"$RIGOR" run "$W/gated.toml" --store "$OUT/gated.db" -q
kill $TENANT; wait $TENANT 2>/dev/null
"$RIGOR" report "$OUT/shared.db" --format md,json --out "$OUT/shared"
"$RIGOR" report "$OUT/gated.db" --format md,json --out "$OUT/gated"
echo "== flags with a tenant (expect gpu-shared):"
grep -E "gpu-shared|gpu-throttled" "$OUT/shared/report.md" | cut -c1-400
echo "== gate with a tenant (expect failed trials, reason gate):"
grep -E "^\| .*gate" "$OUT/gated/report.md" | cut -c1-300 | head -3
echo "== gpu-matmul: TFLOP/s per dtype, telemetry"
grep -A8 "### gemm.tflops" "$OUT/gpu-matmul/report.md" | tail -6
grep -A20 "### Telemetry" "$OUT/gpu-matmul/report.md" | head -22
echo "== pcie-chunks"
grep -A11 "### copy.link_pct" "$OUT/pcie-chunks/report.md" | tail -9
grep -E "warnings|^- \*\*" "$OUT/gpu-matmul/report.md" "$OUT/pcie-chunks/report.md" | cut -c1-300
echo "== sampler cost per reading (gpu-matmul, 10 ms): ms per sample"
python3 - "$OUT/gpu-matmul.db" <<'PY'
import json, sqlite3, sys
tel = [json.loads(t) for (t,) in sqlite3.connect(sys.argv[1]).execute("SELECT telemetry FROM trial WHERE telemetry IS NOT NULL")]
ticks = sum(t["ticks"] for t in tel)
tot = {}
for t in tel:
    for k, v in t.get("cost_ms", {}).items():
        tot[k] = tot.get(k, 0) + v
for k, v in sorted(tot.items(), key=lambda x: -x[1]):
    print(f"  {k:28s} {v / ticks:8.3f}")
print(f"  samples {ticks}, mean {sum(t['sample_ms_mean'] for t in tel)/len(tel):.3f} ms, worst gap {max(t['max_gap_ms'] for t in tel):.1f} ms")
PY
