#!/usr/bin/env bash
# The SafeRL table: the baseline (Qwen3-4B) and the trained policies answer WildJailbreak's
# evaluation set (2,000 harmful, 210 benign prompts) in both modes; Qwen3Guard-Gen-4B judges them
# through `safrl score`, WildGuard too when $WILDGUARD_MODEL exists; the evaluation pipeline
# writes the table beside the paper's Table 10.
#
#   bash experiments/saferl/recipes/evaluate.sh
#
# Uses CHECKPOINTS/<arm>_<mode>/hf from train.sh (an arm or mode not trained yet is skipped).
# Writes WORK/eval/generations/, WORK/eval/wildguard/ and WORK/eval/table.{md,csv}.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/settings.sh"
source "$here/servers.sh"
out="$WORK/eval"
mkdir -p "$out/generations" "$out/wildguard"
IFS=, read -r -a gpus <<< "$POLICY_GPUS,$REWARD_GPUS"

# One generation job per (arm, mode), spread over the GPUs.
jobs=() pids=()
for arm in baseline guard_only hybrid; do
  for mode in non_think think; do
    model="$POLICY_MODEL"
    [ "$arm" = baseline ] || model="$CHECKPOINTS/${arm}_${mode}/hf"
    if [ ! -d "$model" ]; then
      echo "skipping $arm $mode: no $model" >&2
      continue
    fi
    target="$out/generations/${arm}_${mode}.jsonl"
    [ -s "$target" ] && continue
    gpu=${gpus[$(( ${#pids[@]} % ${#gpus[@]} ))]}
    ( CUDA_VISIBLE_DEVICES=$gpu python3 "$here/generate.py" --model "$model" \
        --prompts "$DATA/eval_prompts.jsonl" --mode "$mode" --samples 1 \
        --max-tokens "$(max_response "$mode")" --seed "$SEED" --out "$target.tmp" &&
      mv "$target.tmp" "$target" ) &
    pids+=($!)
    # No more jobs than GPUs at a time.
    if [ ${#pids[@]} -ge ${#gpus[@]} ]; then wait "${pids[@]}"; pids=(); fi
  done
done
[ ${#pids[@]} -eq 0 ] || wait "${pids[@]}"

runs=() judged=()
for arm in baseline guard_only hybrid; do
  files=("$out"/generations/"${arm}"_*.jsonl)
  [ -e "${files[0]}" ] || continue
  cat "${files[@]}" > "$out/generations/$arm.all.jsonl"
  runs+=(--run "$arm=$out/generations/$arm.all.jsonl")
  if [ -d "$WILDGUARD_MODEL" ]; then
    if [ ! -s "$out/wildguard/$arm.jsonl" ]; then
      CUDA_VISIBLE_DEVICES=${gpus[0]} python3 "$here/wildguard_judge.py" --model "$WILDGUARD_MODEL" \
        --generations "$out/generations/$arm.all.jsonl" --out "$out/wildguard/$arm.jsonl"
    fi
    judged+=(--wildguard "$arm=$out/wildguard/$arm.jsonl")
  fi
done
render_config "$here/configs/safrl-eval.yaml" "$out/safrl.yaml"
CUDA_VISIBLE_DEVICES=${gpus[0]} python3 -m experiments.saferl.eval --config "$out/safrl.yaml" \
  --out "$out" --title "## SafeRL reproduction: Qwen3-4B on WildJailbreak's evaluation set" \
  "${runs[@]}" ${judged[@]+"${judged[@]}"}
