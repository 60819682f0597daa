#!/usr/bin/env bash
# GPU acceptance benchmark (issue 4), one invocation on an NVIDIA machine:
#   1. GEMM bf16 8192³: `rigor probe gemm` vs PyTorch's `a @ b`, TFLOP/s
#   2. host→device pinned copy of 1 GiB: `rigor probe copy` vs PyTorch's `copy_`, GB/s
#   3. telemetry at 10 ms vs none: GEMM time per product, whole rigor runs interleaved
# Each pair runs in alternating order, ROUNDS times, every call a fresh process; the table
# reports medians over rounds and their ratio. Needs python3 with torch; no network.
#
#   cargo build --release && bench/gpu.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RIGOR=${RIGOR:-target/release/rigor}
ROUNDS=${ROUNDS:-5}
OUT=${1:-$(mktemp -d)}
mkdir -p "$OUT"
N=8192
SIZE=$((1 << 30))

"$RIGOR" env | tee "$OUT/env.txt" | grep -E "gpu|driver|cpu " || true

val() { python3 -c "import json,sys; print([json.loads(l)['value'] for l in sys.stdin if '\"$1\"' in l][-1])"; }
ref() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

: > "$OUT/gemm.tsv"; : > "$OUT/copy.tsv"
for r in $(seq 1 "$ROUNDS"); do
  for who in $( ((r % 2)) && echo "rigor torch" || echo "torch rigor"); do
    if [ "$who" = rigor ]; then
      g=$("$RIGOR" probe gemm --m $N --n $N --k $N --dtype bf16 --iterations 50 --warmup_iterations 10 2>>"$OUT/probe.log" | val gemm.tflops)
      c=$("$RIGOR" probe copy --direction h2d --memory pinned --size $SIZE --iterations 20 --warmup_iterations 3 2>>"$OUT/probe.log" | val copy.gbs)
    else
      g=$(python3 bench/gpu_reference.py gemm $N $N $N bf16 50 10 | ref tflops)
      c=$(python3 bench/gpu_reference.py copy $SIZE 20 3 | ref gbs)
    fi
    printf '%s\t%s\n' "$who" "$g" >> "$OUT/gemm.tsv"
    printf '%s\t%s\n' "$who" "$c" >> "$OUT/copy.tsv"
  done
done

# Telemetry on vs off: whole rigor runs, alternating; each trial's value is its mean time
# per product (400 products, ~0.6 s of GEMM).
for r in $(seq 1 "$ROUNDS"); do
  for mode in $( ((r % 2)) && echo "on off" || echo "off on"); do
    "$RIGOR" run "bench/gpu/telemetry-$mode.toml" --store "$OUT/tele-$mode.db" --new-run -q
  done
done
python3 bench/gpu/export_recording.py "$OUT/tele-on.db" > "$OUT/recording.json"

python3 - "$OUT" <<'PY'
import json, sqlite3, statistics as st, sys
out = sys.argv[1]
def pairs(path):
    rows = [l.split("\t") for l in open(path).read().split("\n") if l]
    return [float(v) for w, v in rows if w == "rigor"], [float(v) for w, v in rows if w == "torch"]
def times(db):
    c = sqlite3.connect(db)
    return [v for (v,) in c.execute("SELECT m.value FROM metric m JOIN trial t ON t.id = m.trial_id "
                                    "WHERE m.name = 'gemm.time_ms' AND t.status = 'ok'")]
def cost(db):
    c = sqlite3.connect(db)
    tel = [json.loads(t) for (t,) in c.execute("SELECT telemetry FROM trial WHERE telemetry IS NOT NULL")]
    return (st.mean(t["sample_ms_mean"] for t in tel), max(t["sample_ms_max"] for t in tel),
            st.mean(t["max_gap_ms"] for t in tel), st.mean(t["ticks"] for t in tel))
gr, gt = pairs(f"{out}/gemm.tsv"); cr, ct = pairs(f"{out}/copy.tsv")
on, off = times(f"{out}/tele-on.db"), times(f"{out}/tele-off.db")
open(f"{out}/tele-on.txt", "w").write("\n".join(map(str, on)) + "\n")
open(f"{out}/tele-off.txt", "w").write("\n".join(map(str, off)) + "\n")
m_cost, max_cost, gap, ticks = cost(f"{out}/tele-on.db")
print()
print("| measurement | rigor | reference | ratio | target |")
print("|---|---:|---:|---:|---|")
print(f"| GEMM bf16 {8192}³, TFLOP/s (median of {len(gr)} runs) | {st.median(gr):.1f} | {st.median(gt):.1f} (PyTorch) | {st.median(gr)/st.median(gt):.3f} | ≥ 0.97 |")
print(f"| H2D pinned 1 GiB, GB/s (median of {len(cr)} runs) | {st.median(cr):.2f} | {st.median(ct):.2f} (PyTorch) | {st.median(cr)/st.median(ct):.3f} | ≥ 0.97 |")
print(f"| GEMM ms/product, telemetry 10 ms vs none (mean of {len(on)} / {len(off)} trials) | {st.mean(on):.4f} | {st.mean(off):.4f} (no telemetry) | {st.mean(on)/st.mean(off):.4f} | within 1% |")
print(f"\nsampler: {m_cost:.3f} ms per sample on average, {max_cost:.2f} ms worst; {ticks:.0f} samples per trial, worst gap {gap:.1f} ms")
print(f"all values: {out}")
PY
"$RIGOR" stats "$OUT/tele-off.txt" "$OUT/tele-on.txt" --time --margin 0.01 | tail -4
