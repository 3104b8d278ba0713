#!/usr/bin/env bash
# Data for the full-scale SafeRL runs (needs GPUs, vLLM, transformers, pandas + pyarrow):
#   1. candidates: $CANDIDATES harmful WildJailbreak training prompts, and the evaluation set;
#   2. per mode, the report's filter: $FILTER_SAMPLES responses per candidate from the base
#      policy, judged by Qwen3Guard-Gen-4B through `safrl score`; prompts whose responses were
#      all safe or all unsafe are dropped;
#   3. verl's parquet files, with each row's training step in extra_info.
#
#   bash experiments/saferl/recipes/prepare.sh [think] [non_think]     (default: both)
#
# Every stage skips work already done, so a rerun after a crash resumes.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/settings.sh"
source "$here/servers.sh"
modes=("$@")
[ ${#modes[@]} -gt 0 ] || modes=(think non_think)

mkdir -p "$DATA"
if [ ! -s "$DATA/candidates.jsonl" ]; then
  python3 "$here/prepare_data.py" candidates --wildjailbreak "$WILDJAILBREAK" --out "$DATA" \
    --count "$CANDIDATES" --tokenizer "$POLICY_MODEL" --max-prompt-tokens "$MAX_PROMPT_TOKENS" \
    --seed "$SEED"
fi

IFS=, read -r -a gpus <<< "$POLICY_GPUS,$REWARD_GPUS"
for mode in "${modes[@]}"; do
  check_mode "$mode"
  out="$DATA/filter_$mode"
  mkdir -p "$out"
  # One vLLM process per GPU, each on a shard of the candidates.
  pids=()
  for i in "${!gpus[@]}"; do
    [ -s "$out/generations.$i.jsonl" ] && continue
    ( CUDA_VISIBLE_DEVICES=${gpus[$i]} python3 "$here/generate.py" --model "$POLICY_MODEL" \
        --prompts "$DATA/candidates.jsonl" --mode "$mode" --samples "$FILTER_SAMPLES" \
        --max-tokens "$(max_response "$mode")" --seed "$SEED" \
        --shard "$i" --num-shards "${#gpus[@]}" --out "$out/generations.$i.tmp" &&
      mv "$out/generations.$i.tmp" "$out/generations.$i.jsonl" ) &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid"; done
  cat "$out"/generations.[0-9]*.jsonl > "$out/generations.jsonl"

  python3 "$here/prepare_data.py" score-input --generations "$out/generations.jsonl" \
    --out "$out/score.input.jsonl"
  render_config "$here/configs/safrl-eval.yaml" "$out/safrl.yaml"
  # Exit code 1: some responses could not be scored (listed in scored.jsonl.errors.jsonl); their
  # prompts lack judged responses and the filter drops them.
  CUDA_VISIBLE_DEVICES=${gpus[0]} "$SAFRL_BIN" score --config "$out/safrl.yaml" \
    --input "$out/score.input.jsonl" --output "$out/scored.jsonl" --stats-out "$out/stats.json" ||
    [ $? -eq 1 ]

  python3 "$here/prepare_data.py" filter --candidates "$DATA/candidates.jsonl" \
    --generations "$out/generations.jsonl" --scored "$out/scored.jsonl" \
    --samples "$FILTER_SAMPLES" --out "$DATA/train_$mode.jsonl"
  python3 "$here/prepare_data.py" verl --train "$DATA/train_$mode.jsonl" \
    --eval "$DATA/eval_prompts.jsonl" --mode "$mode" --batch-size "$TRAIN_BATCH" \
    --epochs "$EPOCHS" --seed "$SEED" --out "$DATA/verl_$mode"
done
