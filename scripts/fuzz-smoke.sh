#!/usr/bin/env bash
# fuzz-smoke.sh [SECONDS] [BUILD_DIR]: runs each libFuzzer target for SECONDS (default 15).
# Without BUILD_DIR it configures and builds them in build-fuzz: clang, ASan and UBSan, without
# LibTorch. With BUILD_DIR it runs them from that tree, which must have been configured with clang,
# -DSAFRL_FUZZ=ON and -DSAFRL_SANITIZE=ON (scripts/test.sh passes build-asan, where it built them
# with the sanitizer suites: one sanitizer build instead of two).
# Longer campaigns: the same binaries with -max_total_time=N and a corpus folder (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
build=${2:-}
if [ -z "$build" ]; then
  build=build-fuzz
  CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DSAFRL_WITH_TORCH=OFF -DSAFRL_FUZZ=ON -DSAFRL_SANITIZE=ON -DSAFRL_BUILD_TESTS=OFF >/dev/null
else
  for option in SAFRL_FUZZ SAFRL_SANITIZE; do
    grep -qx "$option:BOOL=ON" "$build/CMakeCache.txt" 2>/dev/null || {
      echo "fuzz-smoke: $build is not a build configured with -D$option=ON; configure it with" \
        "CC=clang CXX=clang++ -DSAFRL_FUZZ=ON -DSAFRL_SANITIZE=ON, or leave out BUILD_DIR" \
        "(then build-fuzz is made)" >&2
      exit 1
    }
  done
fi
fuzzers=(fuzz_safetensors fuzz_tokenizer_encode fuzz_request_decoder fuzz_http_request
  fuzz_model_config fuzz_tokenizer_json fuzz_verdict fuzz_config_yaml fuzz_score_line)
# nproc counts $OMP_NUM_THREADS, which scripts/test.sh sets to 1 before calling this.
cmake --build "$build" -j "$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)" \
  --target "${fuzzers[@]}"
for fuzzer in "${fuzzers[@]}"; do
  echo "-- $fuzzer (${seconds}s)"
  mkdir -p "$build/corpus/$fuzzer"
  log="$build/$fuzzer.log"
  # Seed inputs (fuzz/make_seeds.py) for the targets that cannot start from nothing.
  seeds=()
  if [ -d "fuzz/seeds/$fuzzer" ]; then seeds=("fuzz/seeds/$fuzzer"); fi
  # A failing input is written next to the log, not into the source tree.
  if ! "$build/fuzz/$fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$build/$fuzzer-" "$build/corpus/$fuzzer" "${seeds[@]}" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz-smoke: $fuzzer found a failure (log: $log)" >&2
    exit 1
  fi
  grep -E "^stat::number_of_executed_units" "$log"
done
