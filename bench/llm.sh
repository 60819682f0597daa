#!/usr/bin/env bash
# Load-generator speed (issue 5), against bench/llm/fixture: a local endpoint that streams
# fixed one-token chunks as fast as it can (for this measurement only; tests use a real
# server). Prints, in one invocation on one machine:
#   - time to first token at low load (1 client, 16-token streams): rigor vs a raw socket
#     reading the same stream (bench/llm/fixture/src/bin/raw-ttft.rs), medians of N requests;
#   - the sustained request and chunk rate at 16 and 64 concurrent clients of rigor and of
#     NVIDIA's AIPerf (installed from PyPI into a venv here; its tokenizer is a local
#     tokenizer.json, as no model hub is reachable), 16-token streams, same endpoint.
# vLLM's client and GuideLLM both need torch from PyPI (about 3 GB); they are not run here.
#
#   cargo build --release && tests/llm/setup.sh && bench/llm.sh
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
VENV=${AIPERF_VENV:-target/bench-venv}
if [ ! -x "$VENV/bin/aiperf" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q aiperf
fi
TOK=$(mktemp -d)
cp target/llm/gpt2-tokenizer.json "$TOK/tokenizer.json"
echo '{"tokenizer_class": "PreTrainedTokenizerFast"}' > "$TOK/tokenizer_config.json"
aiperf_rate() {
  local out; out=$(mktemp -d)
  "$VENV/bin/aiperf" profile --model m --url "$URL" --endpoint-type completions --streaming \
    --concurrency "$1" --request-count 5000 --synthetic-input-tokens-mean 3 --output-tokens-mean 16 \
    --tokenizer "$TOK" --artifact-dir "$out" >/dev/null 2>&1
  python3 -c "import json,sys; d=json.load(open('$out/profile_export_aiperf.json')); r=d['request_throughput']['avg']; print(f\"{r:.0f} {r*16:.0f} {d.get('error_summary') and len(d['error_summary']) or 0}\")"
}
a16=$(aiperf_rate 16); a64=$(aiperf_rate 64)
python3 - /tmp/raw-ttft.$$ /tmp/rigor-ttft.$$ "$r16" "$r64" "$a16" "$a64" <<'PY'
import statistics as st, sys
raw = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
rig = [list(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
m = lambda rows, i: st.median(r[i] for r in rows)
print("| measurement | rigor | raw socket | difference |")
print("|---|---:|---:|---:|")
print(f"| TTFT median, µs (1 client) | {m(rig,0):.1f} | {m(raw,0):.1f} | {m(rig,0)-m(raw,0):+.1f} (target ≤ +100) |")
print(f"| TTFT p90, µs | {m(rig,1):.1f} | {m(raw,1):.1f} | {m(rig,1)-m(raw,1):+.1f} |")
print()
print("| clients | rigor req/s | rigor chunks/s | AIPerf req/s | AIPerf chunks/s | rigor / AIPerf |")
print("|---:|---:|---:|---:|---:|---:|")
for label, r, a in (("16", sys.argv[3], sys.argv[5]), ("64", sys.argv[4], sys.argv[6])):
    rq, rc, _ = r.split()
    aq, ac, _ = a.split()
    print(f"| {label} | {rq} | {rc} | {aq} | {ac} | {float(rq)/float(aq):.1f}× |")
PY
rm -f /tmp/raw-ttft.$$ /tmp/rigor-ttft.$$
