#!/usr/bin/env bash
# Builds the libFuzzer targets with clang, ASan and UBSan, and runs each for SECONDS (default 15).
# Longer campaigns: the same binaries with -max_total_time=N and a corpus folder (docs/fuzzing.md).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-15}
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DSAFRL_WITH_TORCH=OFF -DSAFRL_FUZZ=ON -DSAFRL_SANITIZE=ON -DSAFRL_BUILD_TESTS=OFF >/dev/null
fuzzers=(fuzz_safetensors fuzz_tokenizer_encode fuzz_request_decoder fuzz_http_request
  fuzz_model_config fuzz_tokenizer_json fuzz_verdict fuzz_config_yaml fuzz_score_line)
cmake --build build-fuzz -j "$(nproc)" --target "${fuzzers[@]}"
for fuzzer in "${fuzzers[@]}"; do
  echo "-- $fuzzer (${seconds}s)"
  mkdir -p "build-fuzz/corpus/$fuzzer"
  log="build-fuzz/$fuzzer.log"
  # Seed inputs (fuzz/make_seeds.py) for the targets that cannot start from nothing.
  seeds=()
  if [ -d "fuzz/seeds/$fuzzer" ]; then seeds=("fuzz/seeds/$fuzzer"); fi
  # A failing input is written next to the log, not into the source tree.
  if ! "build-fuzz/fuzz/$fuzzer" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="build-fuzz/$fuzzer-" "build-fuzz/corpus/$fuzzer" "${seeds[@]}" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz-smoke: $fuzzer found a failure (log: $log)" >&2
    exit 1
  fi
  grep -E "^stat::number_of_executed_units" "$log"
done
