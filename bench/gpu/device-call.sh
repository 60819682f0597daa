#!/usr/bin/env bash
# One device call (10 minutes at most) running the named steps in order, results to $OUT:
#   costs    NVML's cost per reading, straight from the driver (bench/gpu/nvml_costs.py), and
#            a PCIe counter read's after a pause (bench/gpu/pcie_read_latency.py)
#   cadence  telemetry cadence, cost and fidelity at 10 ms (bench/gpu/cadence.sh; issue 23)
#   check    the serving cross-checks and recordings (bench/gpu/serve.sh check; issue 14)
#   paired   rigor and vLLM's client at the same time on one server (bench/gpu/serve_check.py --paired)
#   study    the environment study (bench/gpu/serve.sh study; issue 17)
#   alone    rigor's and vLLM's clients each alone, in randomised rounds (bench/gpu/clients-alone.toml),
#            then a sustained load at saturation for SUSTAIN seconds at RATE (issue 17)
#   sustain  only the sustained load
#   lanes    issue 20's acceptance on two GPUs (bench/gpu/lanes.sh): needs kind nvidia-h200-x2
#   weights  where the weights live: the streaming seed, the decode experiment, the copy sweep
#            (bench/gpu/weights.sh; issue 18)
# e.g. with the device tool, carrying target/release/rigor and .gpu:
#   OUT=... bench/gpu/device-call.sh costs cadence check
set -uo pipefail
cd "$(dirname "$0")/../.."
W=/tmp/work; mkdir -p "$W"
save() {
  cp "$W"/costs.md "$W/cadence/cadence.md" "$W/cadence/cadence.db" "$OUT/" 2>/dev/null
  cp "$W/serve/serve.json" "$W/serve/serve.md" "$OUT/" 2>/dev/null
  mkdir -p "$OUT/streams"; cp "$W"/serve/streams/*.jsonl "$OUT/streams/" 2>/dev/null
  cp "$W/study/study.db" "$OUT/" 2>/dev/null; cp -r "$W/study/report" "$OUT/study-report" 2>/dev/null
  for d in weights alone sustain lanes; do [ -d "$W/$d" ] && tar czf "$OUT/$d.tgz" -C "$W" "$d"; done
  tail -c 2000000 "$W/run.log" > "$OUT/run.log" 2>/dev/null
}
trap save EXIT
{
  nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv
  for step in "$@"; do
    echo "=== $step $(date +%T)"
    case "$step" in
      costs) python3 bench/gpu/nvml_costs.py 300 | tee "$W/costs.md"
        python3 bench/gpu/pcie_read_latency.py 200 | tee -a "$W/costs.md" ;;
      cadence) timeout 120 bench/gpu/cadence.sh "$W/cadence" ;;
      check)
        SUSTAIN=${SUSTAIN:-45} timeout "${SERVE_LIMIT:-400}" bench/gpu/serve.sh check "$W/serve" \
          --levels "${LEVELS:-1:16,16:128,64:256}"
        echo "--- server log tail"; tail -30 "$W/serve/server.log" ;;
      # Written straight to $OUT: kept even if the call's time runs out.
      paired) timeout "${PAIRED_LIMIT:-200}" bench/gpu/serve.sh check "$OUT/paired" --paired \
          --levels "${LEVELS:-1:12,8:64,32:128}" ;;
      alone) timeout "${ALONE_STEP_LIMIT:-560}" bench/gpu/serve.sh check "$W/alone" \
          --alone bench/gpu/clients-alone.toml --sustain-only --sustain "${SUSTAIN:-180}" --rate "${RATE:-13.7}"
        echo "--- server log tail"; tail -5 "$W/alone/server.log" ;;
      sustain) timeout "${SUSTAIN_STEP_LIMIT:-400}" bench/gpu/serve.sh check "$W/sustain" \
          --sustain-only --sustain "${SUSTAIN:-180}" --rate "${RATE:-13.7}" ;;
      weights) timeout "${WEIGHTS_LIMIT:-560}" bench/gpu/weights.sh "$W/weights" ;;
      lanes) timeout "${LANES_LIMIT:-560}" bench/gpu/lanes.sh "$W/lanes" ;;
      study) timeout "${STUDY_LIMIT:-540}" bench/gpu/serve.sh study "$W/study" ;;
      *) echo "unknown step $step" ;;
    esac
  done
  echo "=== done $(date +%T)"
} > "$W/run.log" 2>&1
tail -c 9000 "$W/run.log"
