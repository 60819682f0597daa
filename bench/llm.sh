#!/usr/bin/env bash
# Load-generator speed (issue 5), against bench/llm/fixture: a local endpoint that streams
# fixed one-token chunks as fast as it can (for this measurement only; tests use a real
# server). Prints, in one invocation on one machine:
#   - time to first token at low load (1 client, 16-token streams): rigor vs a raw socket
#     reading the same stream (bench/llm/fixture/src/bin/raw-ttft.rs), medians of N requests;
#   - the sustained request and chunk rate at 16 and 64 concurrent clients of rigor, of
#     NVIDIA's AIPerf (installed from PyPI into a venv here; its tokenizer is a local
#     tokenizer.json, as no model hub is reachable) and of vLLM's benchmark client, 16-token
#     streams, same endpoint. The vllm package needs torch (about 3 GB), so vLLM's request
#     function is taken from its sdist on PyPI (pinned) and driven as `vllm bench serve`
#     drives it (bench/llm/vllm_client.py). GuideLLM also needs torch; it is not run.
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
# Checked by import, so that a venv from an older version of this script gets what it lacks.
if ! "$VENV/bin/python" -c 'import aiperf, aiohttp, regex, tqdm' 2>/dev/null; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q aiperf aiohttp regex tqdm
fi
VLLM=${VLLM_VERSION:-0.33.0}
ERF=target/bench-vllm-$VLLM/endpoint_request_func.py
if [ ! -f "$ERF" ]; then
  mkdir -p "$(dirname "$ERF")"
  # The one file, from vLLM's wheel as pip downloads it (no dependencies; the wheel is
  # large but nothing of it is installed).
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 "vllm==$VLLM" -d "$tmp"
  python3 -c "import sys, zipfile; sys.stdout.write(zipfile.ZipFile(sys.argv[1]).read('vllm/benchmarks/lib/endpoint_request_func.py').decode())" \
    "$(ls "$tmp"/vllm-"$VLLM"-*.whl)" > "$ERF"
  rm -rf "$tmp"
fi
TOK=$(mktemp -d)
cp target/llm/gpt2-tokenizer.json "$TOK/tokenizer.json"
echo '{"tokenizer_class": "PreTrainedTokenizerFast"}' > "$TOK/tokenizer_config.json"
aiperf_rate() {
  local out; out=$(mktemp -d)
  "$VENV/bin/aiperf" profile --model m --url "$URL" --endpoint-type completions --streaming \
    --concurrency "$1" --request-count 5000 --synthetic-input-tokens-mean 3 --output-tokens-mean 16 \
    --tokenizer "$TOK" --artifact-dir "$out" >/dev/null 2>&1
  python3 -c "import json,sys; d=json.load(open('$out/profile_export_aiperf.json')); r=d['request_throughput']['avg']; print(f\"{r:.0f} {r*16:.0f} {sum(e.get('count', 1) for e in d.get('error_summary') or [])}\")"
}
a16=$(aiperf_rate 16); a64=$(aiperf_rate 64)
vllm_rate() {
  "$VENV/bin/python" bench/llm/vllm_client.py "$ERF" "$URL" 5000 "$1" 16 |
    python3 -c "import json,sys; d=json.load(sys.stdin); print(f\"{d['req_s']:.0f} {d['req_s']*16:.0f} {d['failed']}\")"
}
v16=$(vllm_rate 16); v64=$(vllm_rate 64)
python3 - /tmp/raw-ttft.$$ /tmp/rigor-ttft.$$ "$r16" "$r64" "$a16" "$a64" "$v16" "$v64" <<'PY'
import statistics as st, sys
raw = [list(map(float, l.split())) for l in open(sys.argv[1]) if l.strip()]
rig = [list(map(float, l.split())) for l in open(sys.argv[2]) if l.strip()]
m = lambda rows, i: st.median(r[i] for r in rows)
print("| measurement | rigor | raw socket | difference |")
print("|---|---:|---:|---:|")
print(f"| TTFT median, µs (1 client) | {m(rig,0):.1f} | {m(raw,0):.1f} | {m(rig,0)-m(raw,0):+.1f} (target ≤ +100) |")
print(f"| TTFT p90, µs | {m(rig,1):.1f} | {m(raw,1):.1f} | {m(rig,1)-m(raw,1):+.1f} |")
print()
# Chunks/s is completed requests/s × the fixture's fixed 16 chunks per request (no client
# reported a failed request when the column is printed without a failure note).
print("| clients | rigor req/s (chunks/s) | AIPerf req/s (chunks/s) | vLLM client req/s (chunks/s) | rigor / best other |")
print("|---:|---:|---:|---:|---:|")
for label, r, a, v in (("16", sys.argv[3], sys.argv[5], sys.argv[7]), ("64", sys.argv[4], sys.argv[6], sys.argv[8])):
    (rq, rc, rf), (aq, ac, af), (vq, vc, vf) = r.split(), a.split(), v.split()
    fails = f" (failed: rigor {rf}, AIPerf {af}, vLLM {vf})" if (rf, af, vf) != ("0", "0", "0") else ""
    best = max(float(aq), float(vq))
    print(f"| {label} | {rq} ({rc}) | {aq} ({ac}) | {vq} ({vc}) | {float(rq)/best:.1f}×{fails} |")
PY
rm -f /tmp/raw-ttft.$$ /tmp/rigor-ttft.$$
