#!/usr/bin/env bash
# Sets safrl up (scripts/setup.sh) and runs the main job on the embedded default: scores the
# example rollouts with configs/default.yaml (tiny random-weight guard and reward model, the real
# Qwen3 tokenizer) and prints the scored lines and the per-step statistics. The rewards are
# meaningless with random weights; point configs/default.yaml at real checkpoints for real ones.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
out=build/run-default
mkdir -p "$out"
rm -f "$out/scored.jsonl"
build/src/cli/safrl score --config configs/default.yaml \
  --input configs/example-rollouts.jsonl --output "$out/scored.jsonl" \
  --stats-out "$out/stats.json"
echo "== $out/scored.jsonl"
cat "$out/scored.jsonl"
