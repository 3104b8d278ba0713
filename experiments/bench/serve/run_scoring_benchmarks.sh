#!/usr/bin/env bash
# The scoring benchmarks of RESULTS.md: in process on the embedded random-weight models
# (experiments/bench/embedded.yaml) and on random models with the real Qwen3-0.6B shapes (with
# and without shared group prefixes), and through the service with a GRPO-shaped load (64 prompts
# x 8 responses). Needs a Release build (build/), .venv
# and the Qwen3 tokenizer ($SAFRL_TOKENIZER_DIR, else .deps/qwen3-tokenizer): bash scripts/setup.sh.
#   bash experiments/bench/serve/run_scoring_benchmarks.sh [OUT_DIR]   (default: build/bench)
set -euo pipefail
cd "$(dirname "$0")/../../.."
out=${1:-build/bench}
mkdir -p "$out"
safrl=build/src/cli/safrl
tokenizer=${SAFRL_TOKENIZER_DIR:-.deps/qwen3-tokenizer}

echo "== embedded random-weight models, in process (64 prompts x 8)"
$safrl bench --config experiments/bench/embedded.yaml --prompts 64 --group 8 | tee "$out/embedded.json"
$safrl bench --config experiments/bench/embedded.yaml --prompts 64 --group 8 --no-prefix-reuse |
  tee "$out/embedded-noshare.json"

echo "== embedded random-weight models, through the service (64 prompts x 8, 8 requests in flight)"
for share in true false; do
  cat > "$out/serve-$share.yaml" <<YAML
guard: {model: $PWD/build/embedded/guard}
helpfulness: {model: $PWD/build/embedded/reward, chat_format: qwen3}
batching: {share_prefixes: $share}
server: {endpoint: "tcp://127.0.0.1:5599"}
YAML
  $safrl serve --config "$out/serve-$share.yaml" --run-dir "$out/run-$share" 2>"$out/serve-$share.log" &
  pid=$!
  trap 'kill $pid 2>/dev/null || true' EXIT
  $safrl bench --endpoint tcp://127.0.0.1:5599 --prompts 64 --group 8 --in-flight 8 | tee "$out/service-share-$share.json"
  kill -TERM $pid; wait $pid || true
  trap - EXIT
done

echo "== random models with the real Qwen3-0.6B shapes, in process (2 prompts x 8)"
if [ ! -f "$out/qwen3-0.6b/guard/model.safetensors" ]; then
  .venv/bin/python -m safrl.testing.embedded_models "$out/qwen3-0.6b" "$tokenizer" \
    --shape qwen3-0.6b
fi
cat > "$out/qwen3-0.6b.yaml" <<YAML
guard: {model: $PWD/$out/qwen3-0.6b/guard}
helpfulness: {model: $PWD/$out/qwen3-0.6b/reward, chat_format: qwen3}
YAML
$safrl bench --config "$out/qwen3-0.6b.yaml" --prompts 2 --group 8 | tee "$out/qwen3-0.6b.json"
$safrl bench --config "$out/qwen3-0.6b.yaml" --prompts 2 --group 8 --no-prefix-reuse | tee "$out/qwen3-0.6b-noshare.json"
