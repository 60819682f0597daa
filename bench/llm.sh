#!/usr/bin/env bash
# Load-generator speed (issue 5), against bench/llm/fixture: a local endpoint that streams
# fixed one-token chunks as fast as it can (for this measurement only; tests use a real
# server). Prints, in one invocation on one machine:
#   - time to first token at low load (1 client, 16-token streams): rigor vs a raw socket
#     reading the same stream (bench/llm/fixture/src/bin/raw-ttft.rs), medians of N requests;
#   - rigor's sustained request and chunk rate at 16 and 64 concurrent clients.
# The comparison with other load generators (AIPerf, vLLM's client) is not in this version.
#
#   cargo build --release && bench/llm.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RIGOR=${RIGOR:-target/release/rigor}
N=${N:-1000}
PORT=${PORT:-18090}
cargo build -q --release --manifest-path bench/llm/fixture/Cargo.toml
F=bench/llm/fixture/target/release
"$F/sse-fixture" "$PORT" &
FIX=$!
trap 'kill $FIX 2>/dev/null' EXIT
sleep 0.5
URL=http://127.0.0.1:$PORT
ttft() {
  "$RIGOR" serve-bench "$URL" --requests "$N" --concurrency 1 --output_len 16 --input_len 3 --json |
    python3 -c "import json,sys; t=json.load(sys.stdin)['summary']['ttft_ms']; print(t['median']*1e3, t['p90']*1e3)"
}
raw() { "$F/raw-ttft" "$PORT" "$N" | python3 -c "import json,sys; d=json.load(sys.stdin); print(d['median_us'], d['p90_us'])"; }
# Alternate, three rounds each; medians of the per-round medians.
: > /tmp/rigor-ttft.$$; : > /tmp/raw-ttft.$$
for r in 1 2 3; do raw >> /tmp/raw-ttft.$$; ttft >> /tmp/rigor-ttft.$$; done
rate() {
  "$RIGOR" serve-bench "$URL" --requests 20000 --concurrency "$1" --output_len 16 --input_len 3 --json |
    python3 -c "import json,sys; s=json.load(sys.stdin)['summary']; print(f\"{s['req_s']:.0f} {s['req_s']*16:.0f} {s['failed']}\")"
}
r16=$(rate 16); r64=$(rate 64)
python3 - /tmp/raw-ttft.$$ /tmp/rigor-ttft.$$ "$r16" "$r64" <<'PY'
import statistics as st, sys
raw = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
rig = [list(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
m = lambda rows, i: st.median(r[i] for r in rows)
print("| measurement | rigor | raw socket | difference |")
print("|---|---:|---:|---:|")
print(f"| TTFT median, µs (1 client) | {m(rig,0):.1f} | {m(raw,0):.1f} | {m(rig,0)-m(raw,0):+.1f} (target ≤ +100) |")
print(f"| TTFT p90, µs | {m(rig,1):.1f} | {m(raw,1):.1f} | {m(rig,1)-m(raw,1):+.1f} |")
for label, r in (("16", sys.argv[3]), ("64", sys.argv[4])):
    req, chunks, failed = r.split()
    print(f"| {label} clients: requests/s, chunks/s (failed) | {req}, {chunks} ({failed}) | | |")
PY
rm -f /tmp/raw-ttft.$$ /tmp/rigor-ttft.$$
