#!/usr/bin/env bash
# The load generator against a healthy server: ROUNDS × REQUESTS requests at each of
# 1, 4 and 64 clients against the real llama.cpp server (tests/llm/setup.sh builds it),
# counting failed, stalled, retried and cancelled requests. On a healthy server every
# count but `ok` must be 0. Prints one line per round and a total per concurrency.
#
#   cargo build --release && bench/llm-reliability.sh        # ROUNDS=10 REQUESTS=1000
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-10}
REQUESTS=${REQUESTS:-1000}
RIGOR=${RIGOR:-target/release/rigor}
[ -x "$RIGOR" ] || { echo "build first: cargo build --release" >&2; exit 1; }
tests/llm/setup.sh >/dev/null
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
target/llm/bin/llama-server -m target/llm/small.gguf --host 127.0.0.1 --port "$port" \
  -c 4096 -np 4 --metrics >/dev/null 2>&1 &
server=$!
trap 'kill $server 2>/dev/null' EXIT
until curl -sf "http://127.0.0.1:$port/health" >/dev/null 2>&1; do sleep 0.2; done
tmp=$(mktemp -d)
for clients in 1 4 64; do
  for round in $(seq 1 "$ROUNDS"); do
    start=$(date +%s.%N)
    "$RIGOR" serve-bench "http://127.0.0.1:$port" --json --concurrency "$clients" \
      --requests "$REQUESTS" --input_len 64 --output_len 32 >"$tmp/$clients-$round.json" || true
    end=$(date +%s.%N)
    python3 - "$tmp/$clients-$round.json" "$clients" "$round" "$start" "$end" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = d["summary"]
print(f"clients {sys.argv[2]:>2} round {sys.argv[3]:>2}: ok {s['ok']} failed {s['failed']} "
      f"errors {s['errors'] or '{}'} retries {s['retries']} cancelled {s['cancelled']} "
      f"in {float(sys.argv[5]) - float(sys.argv[4]):.1f} s ({s['req_s']:.1f} req/s), "
      f"slowest E2E {s['e2e_ms']['max'] if s['e2e_ms'] else float('nan'):.0f} ms")
PY
  done
  python3 - "$tmp" "$clients" <<'PY'
import glob, json, sys
ok = failed = retries = stalled = 0
for f in glob.glob(f"{sys.argv[1]}/{sys.argv[2]}-*.json"):
    s = json.load(open(f))["summary"]
    ok += s["ok"]; failed += s["failed"]; retries += s["retries"]; stalled += s["errors"].get("stalled", 0)
print(f"== {sys.argv[2]} clients: {ok} ok, {failed} failed ({stalled} stalled), {retries} retried")
PY
done
