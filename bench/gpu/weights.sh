#!/usr/bin/env bash
# Where the weights live, on a real GPU (issue 18), one invocation on the GPU machine: an
# 8-layer Llama-3.1-8B-shaped model with random weights (bench/gpu/make_llama.py, 5.6 GB in
# bf16), then
#   bench/gpu/stream-003.toml   the weight-streaming seed: resident vs Accelerate's CPU
#                               offload (all, half) vs the link's bound for the same traffic;
#   bench/gpu/decode-002.toml   the seeds' decode experiment with a window and exact counts;
#   examples/pcie-chunks.toml   the copy probe's chunk sweep (3 trials a cell): the link's
#                               reference for any traffic;
# each with its report (Markdown, JSON, figures) in OUT_DIR.
#
#   bench/gpu/weights.sh OUT_DIR        (carrying target/release/rigor)
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:-/tmp/weights-out}
MODEL=${MODEL:-/tmp/llama8l}
RIGOR=${RIGOR:-$PWD/target/release/rigor}
mkdir -p "$OUT"
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TRANSFORMERS_OFFLINE=1 PYTHONUNBUFFERED=1
[ -f "$MODEL/config.json" ] || python3 bench/gpu/make_llama.py "$MODEL" --layers 8 | tee "$OUT/model.json"
# A run begun in an earlier device call continues (RESUME=folder of its stores, carried).
if [ -n "${RESUME:-}" ]; then for f in "$RESUME"/*.db; do [ -f "$OUT/${f##*/}" ] || cp "$f" "$OUT/"; done; fi
sed 's/^trials = 10/trials = 3/' examples/pcie-chunks.toml > "$OUT/pcie-sweep.toml"
for exp in ${EXPERIMENTS:-stream-003 decode-002 pcie-sweep}; do
  [ "$exp" = pcie-sweep ] || sed "s#@MODEL@#$MODEL#g; s#@PY@#$(command -v python3)#g; s#@ROOT@#$PWD#g" \
    "bench/gpu/$exp.toml" > "$OUT/$exp.toml"
  echo "=== $exp $(date +%T)"
  # Stopped (SIGTERM) before the device call's end, so that the report is still made.
  timeout "${RUN_LIMIT:-200}" "$RIGOR" run "$OUT/$exp.toml" --store "$OUT/$exp.db" --progress lines ${RUN_FLAGS:-}
  "$RIGOR" report "$OUT/$exp.db" --format md,json --out "$OUT/$exp-report"
done
