#!/usr/bin/env bash
# One full-scale SafeRL run: verl trains Qwen3-4B with GSPO (ALGO=grpo for GRPO) in one thinking
# mode, every rollout scored by `safrl serve` through the plugin's verl adapter (safrl/verl.py).
#
#   bash experiments/saferl/recipes/train.sh guard_only|hybrid think|non_think [verl overrides...]
#
# Needs prepare.sh's data for the mode, a CUDA build of safrl ($SAFRL_BIN) and verl with vLLM.
# Writes RUNS/<arm>_<mode>/server-<i>/steps.jsonl (the per-step safety and refusal rates),
# CHECKPOINTS/<arm>_<mode>/ (verl's checkpoints, resumable) and CHECKPOINTS/<arm>_<mode>/hf (the
# final policy in Hugging Face layout, for evaluate.sh). Settings: settings.sh, ASSUMPTIONS.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
source "$here/settings.sh"
source "$here/servers.sh"
source "$here/verl_args.sh"
if [ $# -lt 2 ]; then
  echo "usage: bash train.sh guard_only|hybrid think|non_think [verl overrides...]" >&2
  exit 2
fi
arm=$1 mode=$2
shift 2
check_arm "$arm"
check_mode "$mode"
run="${arm}_${mode}"
data="$DATA/verl_$mode"
if [ ! -s "$data/train.parquet" ]; then
  echo "no $data/train.parquet: run prepare.sh $mode first" >&2
  exit 1
fi
case "$arm" in
  guard_only) config="$here/configs/safrl-guard_only.yaml" ;;
  hybrid) config="${HYBRID_CONFIG:-$here/configs/safrl-hybrid.yaml}" ;;
esac
# A relative HYBRID_CONFIG is the caller's path if it exists there, else one under recipes/
# (the docs write HYBRID_CONFIG=configs/safrl-hybrid-worldpm.yaml).
if [ ! -f "$config" ] && [ -f "$here/$config" ]; then config="$here/$config"; fi
if [ ! -f "$config" ]; then
  echo "no config $config (HYBRID_CONFIG is read from the current directory or recipes/)" >&2
  exit 2
fi
config="$(cd "$(dirname "$config")" && pwd)/$(basename "$config")"
verl_args "$arm" "$mode"

trap stop_servers EXIT
start_servers "$RUNS/$run" "$config"

CUDA_VISIBLE_DEVICES=$POLICY_GPUS python3 -m verl.trainer.main_ppo "${VERL_ARGS[@]}" "$@"

# The last checkpoint in Hugging Face layout.
step=$(cat "$CHECKPOINTS/$run/latest_checkpointed_iteration.txt")
python3 -m verl.model_merger merge --backend fsdp \
  --local_dir "$CHECKPOINTS/$run/global_step_$step/actor" --target_dir "$CHECKPOINTS/$run/hf"
echo "trained $run: step logs in $RUNS/$run, policy in $CHECKPOINTS/$run/hf"
