#!/usr/bin/env bash
# Sets safrl up on a fresh Debian 12 machine (scripts/setup.sh) and runs every test:
#   1. the Release build's suites through CTest (C++ GoogleTest suites, the checkpoint and golden
#      fixtures written by transformers, the Python tests of the CLI, the set-up scripts, the
#      plugin, the server, the experiments, the oracle tests against transformers and tokenizers,
#      the real trainers, and the vLLM backend against a real vLLM server), those labelled slow
#      included (docs/setup.md: the quick ones alone);
#   2. on a host with AVX-512, the suites that compute with LibTorch again on the AVX2 kernels (a
#      Zen 3 host's), forced by SAFRL_FORCE_AVX2 (docs/setup.md, "Which CPUs");
#   3. the same suites built with AddressSanitizer + UndefinedBehaviorSanitizer;
#   4. a short run of each libFuzzer target (scripts/fuzz-smoke.sh), built in the same sanitizer
#      tree.
# Where this CPU cannot run vLLM's CPU build, scripts/setup-vllm.sh says so and tests/vllm is
# reported as skipped (CTest's "Not Run ... Skipped"); every other suite runs.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
# The real vLLM server that tests/vllm checks the vLLM helpfulness backend against (.venv-vllm),
# after checking that this CPU can run it.
bash scripts/setup-vllm.sh
jobs=$(nproc)
# CTest runs $jobs tests at once. LibTorch's OpenMP pool would give each of them every core, and
# with more threads than cores libgomp's spinning barriers stall small models 10 to 50 times over
# (a 5 x 128-token decode: 1.6 s alone, 47 s beside a build). One thread per test keeps the cores
# busy without oversubscribing them; the numbers tested do not depend on the thread count.
export OMP_NUM_THREADS=1

echo "== Release suites"
ctest --test-dir build --output-on-failure -j "$jobs"

# The suites that compute with LibTorch, again on the kernels a CPU without AVX-512 runs (AMD
# Zen 3: AVX2 only), forced on this host (safrl.testing.cpu_isa; test_cpu_isa checks that they
# compute bit for bit what an emulated Zen 3 computes). python_vllm_avx2 above already ran vLLM's
# AVX2 kernel library. On a host without AVX-512 the suites above ran these kernels already.
if grep -qw avx512f /proc/cpuinfo; then
  echo "== LibTorch suites on the AVX2 kernels (SAFRL_FORCE_AVX2=1)"
  (eval "$(.venv/bin/python -m safrl.testing.cpu_isa)" &&
    ctest --test-dir build --output-on-failure -j "$jobs" -L 'test_engine|test_reward_models')
else
  echo "== LibTorch suites on the AVX2 kernels: this CPU has no AVX-512, the Release suites ran them"
fi

echo "== Sanitizer suites (ASan + UBSan)"
# One sanitizer tree for the suites and the fuzzers: clang (libFuzzer needs it), the fuzz targets
# in it (-DSAFRL_FUZZ=ON also instruments the libraries the suites link for coverage). Before, the
# fuzzers had a torch-free clang tree of their own, a second sanitizer build of the libraries.
CC=clang CXX=clang++ bash scripts/configure.sh build-asan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSAFRL_SANITIZE=ON -DSAFRL_FUZZ=ON
cmake --build build-asan -j "$jobs"
# LibTorch's own allocations are outside our instrumented code; leak checking stays on for ours.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -LE python

echo "== Fuzz smoke runs"
bash scripts/fuzz-smoke.sh 10 build-asan
