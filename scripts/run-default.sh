#!/usr/bin/env bash
# Sets safrl up for the main job alone (scripts/setup.sh --main) and runs the main job on the embedded default: scores the
# example rollouts with configs/default.yaml (a tiny guard and reward model trained at set-up on
# a hand-labelled bank, the real Qwen3 tokenizer) and prints the scored lines, then them and the
# per-step statistics as tables (python -m safrl.report). The stand-ins judge the example rollouts
# as labelled and any other text meaninglessly; point configs/default.yaml at real checkpoints for
# real rewards.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --main
out=build/run-default
mkdir -p "$out"
# --overwrite: each run scores the examples afresh (an earlier output is not resumed).
build/src/cli/safrl score --config configs/default.yaml --overwrite \
  --input configs/example-rollouts.jsonl --output "$out/scored.jsonl" \
  --stats-out "$out/stats.json"
echo "== $out/scored.jsonl"
cat "$out/scored.jsonl"
echo
echo "== the scored lines and the steps ($out/stats.json) as tables"
.venv/bin/python -m safrl.report "$out/scored.jsonl" --stats "$out/stats.json"
