#!/usr/bin/env bash
# Makes tests/fixtures/import/vllm-*.json: real `vllm bench serve --save-result` files,
# produced by vLLM's own benchmark client against the project's llama.cpp test server
# (tests/llm/setup.sh), three runs with 4 server slots (labelled `np4`) and three with 1
# (unlabelled), the same vLLM configuration each time. The import test (tests/it/import.rs)
# reads them; vLLM itself is not needed to run it.
#
#   bench/import/vllm-fixtures.sh      # vLLM 0.33 into target/vllm-venv first (pip: ~9 GB with torch)
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/llm/setup.sh >/dev/null
VENV=${VLLM_VENV:-target/vllm-venv}
if [ ! -x "$VENV/bin/vllm" ]; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "vllm==${VLLM_VERSION:-0.33.0}"
fi
TOK=$(mktemp -d)
cp target/llm/gpt2-tokenizer.json "$TOK/tokenizer.json"
echo '{"model_type": "gpt2"}' > "$TOK/config.json"
echo '{"tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": 1024}' > "$TOK/tokenizer_config.json"
OUTDIR=tests/fixtures/import
PORT=${PORT:-18094}
for slots in 4 1; do
  target/llm/bin/llama-server -m target/llm/small.gguf --host 127.0.0.1 --port "$PORT" \
    -c 4096 -np "$slots" >/dev/null 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null || true' EXIT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  label=(); [ "$slots" = 4 ] && label=(--label np4)
  for run in 1 2 3; do
    res=$(mktemp -d)
    "$VENV/bin/vllm" bench serve --backend openai-chat --base-url "http://127.0.0.1:$PORT" \
      --endpoint /v1/chat/completions --model m --tokenizer "$TOK" --dataset-name random \
      --random-input-len 32 --random-output-len 16 --num-prompts 40 --max-concurrency 4 \
      --ignore-eos --seed "$run" --percentile-metrics ttft,tpot,itl,e2el --metric-percentiles 50,90,99 \
      "${label[@]}" --save-result --result-dir "$res" --result-filename r.json >/dev/null 2>&1
    # The tokenizer is a temporary path: made stable for the fixture.
    python3 - "$res/r.json" "$OUTDIR/vllm-np$slots-$run.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["tokenizer_id"] = "gpt2-tokenizer"
json.dump(d, open(sys.argv[2], "w"), indent=1)
PY
    rm -rf "$res"
  done
  kill "$server"; wait "$server" 2>/dev/null || true
done
ls -la "$OUTDIR"
