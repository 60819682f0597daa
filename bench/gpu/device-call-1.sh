#!/usr/bin/env bash
# One device call (10 minutes at most): telemetry cadence (issue 23), then the serving
# cross-checks (issues 14, 17). Results to $OUT (at most 8 files come back).
set -uo pipefail
cd "$(dirname "$0")/../.."
W=/tmp/work; mkdir -p "$W"
save() {
  cp "$W/cadence/cadence.md" "$W/cadence/cadence.db" "$OUT/" 2>/dev/null
  cp "$W/serve/serve.json" "$W/serve/serve.md" "$OUT/" 2>/dev/null
  mkdir -p "$OUT/streams"; cp "$W"/serve/streams/*.jsonl "$OUT/streams/" 2>/dev/null
  tail -c 2000000 "$W/run.log" > "$OUT/run.log" 2>/dev/null
}
trap save EXIT
{
  nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm --format=csv
  timeout 120 bench/gpu/cadence.sh "$W/cadence"
  SUSTAIN=${SUSTAIN:-60} timeout "${SERVE_LIMIT:-400}" bench/gpu/serve.sh check "$W/serve" --levels "${LEVELS:-1:16,16:128,64:256}"
  echo "--- server log tail"; tail -30 "$W/serve/server.log"
} > "$W/run.log" 2>&1
tail -c 9000 "$W/run.log"
