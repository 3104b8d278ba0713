#!/usr/bin/env bash
# safrl against the transformers-style baseline (hf_style_baseline.py) on one GRPO-shaped workload,
# one after the other in this shell so that both see the same machine. Needs a Release build.
#   bash experiments/bench/run_baseline_comparison.sh CONFIG.yaml PROMPTS GROUP OUT_DIR
# CONFIG's guard.model and helpfulness.model are the checkpoints both sides load.
set -euo pipefail
cd "$(dirname "$0")/../.."
config=$1 prompts=$2 group=$3 out=$4
mkdir -p "$out"
safrl=build/src/cli/safrl
model_of() {  # the absolute model directory of a section, as safrl resolves it
  /usr/bin/python3 - "$config" "$1" <<'PY'
import os, sys, yaml
path, section = sys.argv[1], sys.argv[2]
model = yaml.safe_load(open(path))[section]["model"]
print(os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(path)), model)))
PY
}
guard=$(model_of guard) reward=$(model_of helpfulness)
workload="$out/workload-$prompts-$group.jsonl"
$safrl bench --config "$config" --prompts "$prompts" --group "$group" --dump-workload "$workload"
echo "== load before: $(cut -d' ' -f1-3 /proc/loadavg)"
$safrl bench --config "$config" --prompts "$prompts" --group "$group" | tee "$out/safrl.json"
$safrl bench --config "$config" --prompts "$prompts" --group "$group" --no-prefix-reuse | tee "$out/safrl-noshare.json"
/usr/bin/python3 experiments/bench/hf_style_baseline.py --guard "$guard" --reward "$reward" \
  --workload "$workload" | tee "$out/baseline.json"
/usr/bin/python3 experiments/bench/hf_style_baseline.py --guard "$guard" --reward "$reward" \
  --workload "$workload" --last-logits-only | tee "$out/baseline-last-logits.json"
echo "== load after: $(cut -d' ' -f1-3 /proc/loadavg)"
