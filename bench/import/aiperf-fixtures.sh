#!/usr/bin/env bash
# Makes tests/fixtures/import/aiperf-*.json: real AIPerf result files, produced by AIPerf's
# own client against the project's llama.cpp test server (tests/llm/setup.sh), three runs
# with 4 server slots and three with 1, the same AIPerf configuration each time. The
# import test (tests/it/import.rs) reads them; AIPerf itself is not needed to run it.
#
#   bench/import/aiperf-fixtures.sh      # AIPerf into target/bench-venv (as bench/llm.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
tests/llm/setup.sh >/dev/null
VENV=${AIPERF_VENV:-target/bench-venv}
if ! "$VENV/bin/python" -c 'import aiperf' 2>/dev/null; then
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q aiperf
fi
TOK=$(mktemp -d)
cp target/llm/gpt2-tokenizer.json "$TOK/tokenizer.json"
echo '{"tokenizer_class": "PreTrainedTokenizerFast"}' > "$TOK/tokenizer_config.json"
OUTDIR=tests/fixtures/import
PORT=${PORT:-18093}
for slots in 4 1; do
  target/llm/bin/llama-server -m target/llm/small.gguf --host 127.0.0.1 --port "$PORT" \
    -c 4096 -np "$slots" >/dev/null 2>&1 &
  server=$!
  trap 'kill $server 2>/dev/null' EXIT
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
  for run in 1 2 3; do
    art=$(mktemp -d)
    "$VENV/bin/aiperf" profile --model m --url "http://127.0.0.1:$PORT" --endpoint-type chat \
      --streaming --concurrency 4 --request-count 40 --synthetic-input-tokens-mean 32 \
      --output-tokens-mean 16 --tokenizer "$TOK" --artifact-dir "$art" >/dev/null 2>&1
    # The artifact directory and tokenizer are temporary paths: made stable for the fixture.
    python3 - "$art/profile_export_aiperf.json" "$OUTDIR/aiperf-np$slots-$run.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["input_config"].get("artifacts", {})["dir"] = "artifacts"
d["input_config"].get("tokenizer", {})["name"] = "gpt2-tokenizer"
json.dump(d, open(sys.argv[2], "w"), indent=1)
PY
    rm -rf "$art"
  done
  kill "$server"; wait "$server" 2>/dev/null || true
done
ls -la "$OUTDIR"
