#!/usr/bin/env bash
# Makes .gpu/ (git-ignored): what bench/gpu/serve.sh needs on a GPU machine that reaches
# no package registry: wheels for `transformers serve` (FastAPI, Uvicorn, pydantic, the
# OpenAI client) and for vLLM's benchmark request function (aiohttp), and that function's
# file, taken from the vLLM wheel (pip downloads it; only the one file is kept).
#
#   bench/gpu/bundle.sh && du -sh .gpu     # then carry .gpu with the release binary
set -euo pipefail
cd "$(dirname "$0")/../.."
VLLM=${VLLM_VERSION:-0.33.0}
mkdir -p .gpu/whl
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >> .git/info/exclude
# The registry's resolver picks the closure for the device's Python (3.12); what the
# device already has (transformers, torch, numpy) is not asked for.
pkgs=(fastapi uvicorn openai aiohttp rich typer)
plat=(--only-binary=:all: --python-version 3.12 --implementation cp
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
  --platform any)
rm -f .gpu/whl/*.whl
python3 -m pip download -q "${plat[@]}" -d .gpu/whl "${pkgs[@]}"
# The closure is complete: a dry-run install from these files alone resolves.
python3 -m pip install -q --dry-run --ignore-installed --no-index --find-links .gpu/whl \
  "${plat[@]}" --target /tmp/rigor-bundle-check "${pkgs[@]}"
if [ ! -f .gpu/endpoint_request_func.py ]; then
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux_2_28_x86_64 "vllm==$VLLM" -d "$tmp"
  unzip -p "$tmp"/vllm-"$VLLM"-*.whl vllm/benchmarks/lib/endpoint_request_func.py > .gpu/endpoint_request_func.py
  rm -rf "$tmp"
fi
ls .gpu/whl | wc -l
du -sh .gpu
