#!/usr/bin/env bash
# Makes tests/fixtures/import/pytest-benchmark.json: a real pytest-benchmark result file
# (`--benchmark-json` with `--benchmark-save-data`, so every round's time is kept), from the
# small benchmark beside this script. The import test (tests/it/import.rs) reads it;
# pytest-benchmark itself is not needed to run it.
#
#   bench/import/pytest-benchmark-fixture.sh     # pytest-benchmark into target/bench-venv first
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV=${BENCH_VENV:-target/bench-venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c 'import pytest_benchmark' 2>/dev/null || "$VENV/bin/pip" install -q pytest pytest-benchmark
out=$(mktemp -d)
"$VENV/bin/python" -m pytest -q -p no:cacheprovider bench/import/pytest-benchmark/test_hashes.py \
  --benchmark-save-data --benchmark-json "$out/b.json" --benchmark-min-rounds 20 \
  --benchmark-max-time 0.03 --benchmark-disable-gc >/dev/null
# Machine-specific paths and names are not needed by the import: made stable for the fixture.
python3 - "$out/b.json" tests/fixtures/import/pytest-benchmark.json <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d.get("machine_info", {})["node"] = "dev"
d.pop("commit_info", None)
json.dump(d, open(sys.argv[2], "w"), indent=1)
PY
rm -rf "$out"
