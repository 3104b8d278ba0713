#!/usr/bin/env bash
# Sets safrl up on a fresh Debian 12 machine (as root): Debian packages (scripts/install-deps.sh),
# the Python environment .venv with PyPI's torch, transformers and tokenizers
# (scripts/setup-python.sh), the real Qwen3 tokenizer in .deps/qwen3-tokenizer
# (scripts/get-tokenizer.sh), a Release build in build/ against the LibTorch inside .venv's torch,
# and the embedded default models. Safe to rerun: every step skips what is already done.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/setup-python.sh
bash scripts/get-tokenizer.sh

build_dir=${SAFRL_BUILD_DIR:-build}
bash scripts/configure.sh "$build_dir" -DCMAKE_BUILD_TYPE=Release ${SAFRL_CMAKE_ARGS:-}
cmake --build "$build_dir" -j "$(nproc)"

# The embedded default models (tiny, random weights, the real tokenizer) that configs/default.yaml
# points at, so every command runs with no downloads.
if [ ! -f "$build_dir/embedded/guard/model.safetensors" ]; then
  .venv/bin/python -m safrl.testing.embedded_models "$build_dir/embedded" .deps/qwen3-tokenizer
fi
