#!/usr/bin/env bash
# Builds what the llm-serve tests run against: the real llama.cpp server (`llama-server`),
# compiled from the llama.cpp sources vendored in llama-cpp-python's source package on PyPI,
# and small random-weight GGUF models (tests/llm/make_model.py; vocabularies from the
# vocab-only GGUFs in those sources) with a tokenizer.json for the byte-level BPE one
# (tests/llm/make_tokenizer.py). Results go to target/llm/; what is there is reused.
#
#   tests/llm/setup.sh        # ~12-15 min the first time on 2 cores, then instant
# (scripts/test runs it; `cargo test` runs it too, when the server is missing)
set -euo pipefail
cd "$(dirname "$0")/../.."
VERSION=0.3.36
OUT=target/llm
SERVER="$OUT/bin/llama-server"
MODELS=(tiny.gguf small.gguf tiny-gpt2.gguf gpt2-tokenizer.json)
missing_model() {
  for m in "${MODELS[@]}"; do [ -f "$OUT/$m" ] || return 0; done
  return 1
}
if [ -x "$SERVER" ] && ! missing_model; then
  exit 0
fi
mkdir -p "$OUT/bin" "$OUT/src"
# What the build needs; scripts/test installs it (this script installs nothing itself).
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v g++ >/dev/null || need+=(g++)
python3 -c "import numpy" 2>/dev/null || need+=(numpy)
python3 -c "import yaml" 2>/dev/null || need+=(PyYAML)
if [ ${#need[@]} -gt 0 ]; then
  echo "tests/llm/setup.sh: building the llama.cpp server needs ${need[*]}, which is missing." >&2
  echo "Run scripts/test, which installs what the tests need (it asks before using sudo)." >&2
  exit 1
fi
if [ ! -f "$OUT/src/llama_cpp_python-$VERSION.tar.gz" ]; then
  # Only this package as its source; its build tools as wheels (from source, ninja alone
  # takes many minutes).
  python3 -m pip download -q --no-deps --no-binary llama-cpp-python "llama-cpp-python==$VERSION" -d "$OUT/src"
fi
tar xzf "$OUT/src/llama_cpp_python-$VERSION.tar.gz" -C "$OUT/src"
SRC="$OUT/src/llama_cpp_python-$VERSION/vendor/llama.cpp"
trap 'rm -rf "$OUT/build" "$OUT/src/llama_cpp_python-$VERSION"' EXIT

if [ ! -x "$SERVER" ]; then
  cmake -S "$SRC" -B "$OUT/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
    -DBUILD_SHARED_LIBS=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF >/dev/null
  cmake --build "$OUT/build" --target llama-server -j"$(nproc)" >/dev/null
  cp "$OUT/build/bin/llama-server" "$SERVER"
fi

make_model() { PYTHONPATH="$SRC/gguf-py" python3 tests/llm/make_model.py "$@"; }
SPM="$SRC/models/ggml-vocab-llama-spm.gguf"
GPT2="$SRC/models/ggml-vocab-gpt-2.gguf"
[ -f "$OUT/tiny.gguf" ] || make_model "$SPM" "$OUT/tiny.gguf" 64 2
[ -f "$OUT/small.gguf" ] || make_model "$SPM" "$OUT/small.gguf" 256 4
# A byte-level BPE vocabulary, with the equivalent tokenizer.json for rigor's local tokenizer.
[ -f "$OUT/tiny-gpt2.gguf" ] || make_model "$GPT2" "$OUT/tiny-gpt2.gguf" 64 2
[ -f "$OUT/gpt2-tokenizer.json" ] \
  || PYTHONPATH="$SRC/gguf-py" python3 tests/llm/make_tokenizer.py "$GPT2" "$OUT/gpt2-tokenizer.json"
"$SERVER" --version 2>&1 | head -1
