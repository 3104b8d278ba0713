#!/usr/bin/env bash
# Sets safrl up on a fresh Debian 12 machine (scripts/setup.sh) and runs every test:
#   1. the Release build's suites through CTest (C++ GoogleTest suites, the generated-checkpoint
#      and embedded-model fixtures, the Python tests of the CLI);
#   2. the same suites built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   3. a short run of each libFuzzer target (scripts/fuzz-smoke.sh).
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
jobs=$(nproc)

echo "== Release suites"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "== Sanitizer suites (ASan + UBSan)"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSAFRL_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$jobs"
# LibTorch's own allocations are outside our instrumented code; leak checking stays on for ours.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE python

echo "== Fuzz smoke runs"
bash scripts/fuzz-smoke.sh 10
