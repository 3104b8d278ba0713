#!/usr/bin/env bash
# Sets safrl up on a fresh Debian 12 machine (as root): Debian packages (scripts/install-deps.sh),
# the Python environment .venv with PyPI's torch, transformers and tokenizers
# (scripts/setup-python.sh), the real Qwen3 tokenizer in .deps/qwen3-tokenizer
# (scripts/get-tokenizer.sh), a Release build in build/ against the LibTorch inside .venv's torch,
# and the embedded default models. Safe to rerun: every step skips what is already done.
#
#   setup.sh           everything the tests need (scripts/test.sh)
#   setup.sh --main    only what the main job needs (scripts/run-default.sh): no test-only Debian
#                      packages, no RL trainers in .venv, only the safrl program built
#
# Each step prints how long it took (docs/setup.md has the table for a fresh machine).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-}
[ -z "$mode" ] || [ "$mode" = --main ] || { echo "setup: unknown option $mode (--main or none)" >&2; exit 2; }
tests=--tests
[ "$mode" = --main ] && tests=""

step() {  # step NAME COMMAND...: runs it, then says how long it took
  local name=$1 start=$SECONDS
  shift
  "$@"
  echo "setup: $name $((SECONDS - start)) s" >&2
}

step "Debian packages" bash scripts/install-deps.sh $tests
step "Python environment" bash scripts/setup-python.sh $tests
step "tokenizer" bash scripts/get-tokenizer.sh

build_dir=${SAFRL_BUILD_DIR:-build}
step configure bash scripts/configure.sh "$build_dir" -DCMAKE_BUILD_TYPE=Release ${SAFRL_CMAKE_ARGS:-}
if [ -n "$tests" ]; then
  step build cmake --build "$build_dir" -j "$(nproc)"
else
  step build cmake --build "$build_dir" -j "$(nproc)" --target safrl
fi

# The embedded models (tiny, the real tokenizer), so every command runs with no downloads:
# guard/ and reward/ with random weights, which the tests use, and demo-guard/ and demo-reward/,
# which configs/default.yaml names, trained on a hand-labelled bank (safrl/testing/demo_bank.py;
# under a minute on 2 cores, skipped while the bank is unchanged).
start=$SECONDS
if [ ! -f "$build_dir/embedded/guard/model.safetensors" ]; then
  .venv/bin/python -m safrl.testing.embedded_models "$build_dir/embedded" .deps/qwen3-tokenizer
fi
SAFRL_BIN="$build_dir/src/cli/safrl" \
  .venv/bin/python -m safrl.testing.demo_models "$build_dir/embedded" .deps/qwen3-tokenizer
echo "setup: embedded models $((SECONDS - start)) s" >&2
