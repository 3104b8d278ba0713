#!/usr/bin/env bash
# Sets safrl up on a fresh Debian 12 machine (scripts/setup.sh) and runs every test:
#   1. the Release build's suites through CTest (C++ GoogleTest suites, the checkpoint and golden
#      fixtures written by transformers, the Python tests of the CLI, the set-up scripts, the
#      plugin, the server, the experiments, the oracle tests against transformers and tokenizers,
#      the real trainers, and the vLLM backend against a real vLLM server), those labelled slow
#      included (docs/setup.md: the quick ones alone);
#   2. the same suites built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. a short run of each libFuzzer target (scripts/fuzz-smoke.sh).
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# The real vLLM server that tests/vllm checks the vLLM helpfulness backend against (.venv-vllm).
bash scripts/setup-vllm.sh
jobs=$(nproc)
# CTest runs $jobs tests at once. LibTorch's OpenMP pool would give each of them every core, and
# with more threads than cores libgomp's spinning barriers stall small models 10 to 50 times over
# (a 5 x 128-token decode: 1.6 s alone, 47 s beside a build). One thread per test keeps the cores
# busy without oversubscribing them; the numbers tested do not depend on the thread count.
export OMP_NUM_THREADS=1

echo "== Release suites"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== Sanitizer suites (ASan + UBSan)"
bash scripts/configure.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSAFRL_SANITIZE=ON
cmake --build build-asan -j "$jobs"
# LibTorch's own allocations are outside our instrumented code; leak checking stays on for ours.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE python

echo "== Fuzz smoke runs"
bash scripts/fuzz-smoke.sh 10
