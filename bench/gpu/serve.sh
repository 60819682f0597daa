#!/usr/bin/env bash
# LLM serving on a real GPU (issues 14 and 17), one invocation on the GPU machine:
# `transformers serve --continuous-batching` with a Llama-3.1-8B-shaped model with random
# weights, made there (bench/gpu/make_llama.py), then
#   check  (default): recordings for the replay tests, server detection, rigor against vLLM's
#          benchmark request function and a standard-library client at 1, 16 and 64 clients,
#          rigor's CPU time per request, a sustained load near saturation
#          (bench/gpu/serve_check.py);
#   study: the seeds' question, does the environment cost throughput, latency or energy:
#          `rigor run bench/gpu/serve-study.toml` (a fresh server per trial, adaptive trials,
#          the thermal gate, telemetry) and its report.
# The machine reaches no registry: bench/gpu/bundle.sh makes .gpu/ (wheels, vLLM's request
# function) here first; carry .gpu and target/release/rigor.
#
#   bench/gpu/serve.sh [check|study] OUT_DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
PHASE=${1:-check}
OUT=${2:-/tmp/serve-out}
MODEL=${MODEL:-/tmp/llama8b}
RIGOR=${RIGOR:-$PWD/target/release/rigor}
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl
export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export HF_HUB_OFFLINE=1 HF_HUB_DISABLE_TELEMETRY=1 TRANSFORMERS_OFFLINE=1
[ -f "$MODEL/config.json" ] || python3 bench/gpu/make_llama.py "$MODEL" | tee "$OUT/model.json"
case "$PHASE" in
  check) python3 bench/gpu/serve_check.py "$RIGOR" "$MODEL" "$OUT" .gpu/endpoint_request_func.py ${SUSTAIN:+--sustain "$SUSTAIN"} "${@:3}" ;;
  study)
    sed "s#@MODEL@#$MODEL#g; s#@PY@#$(command -v python3)#g" bench/gpu/serve-study.toml > "$OUT/serve-study.toml"
    # A run begun in an earlier device call continues (RESUME=path of its store, carried).
    [ -n "${RESUME:-}" ] && cp "$RESUME" "$OUT/study.db"
    # Stopped (SIGTERM) before the device call's end, so that the report is still made from
    # the trials that finished.
    timeout "${RUN_LIMIT:-430}" "$RIGOR" run "$OUT/serve-study.toml" --store "$OUT/study.db" --progress lines ${RUN_FLAGS:-} || true
    "$RIGOR" report "$OUT/study.db" --format md,json --out "$OUT/report"
    ;;
  *) echo "bench/gpu/serve.sh: unknown phase $PHASE (check or study)" >&2; exit 2 ;;
esac
