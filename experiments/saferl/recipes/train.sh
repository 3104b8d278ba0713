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
case "$ALGO" in
  # GSPO (Zheng et al. 2025): sequence-level ratio and clipping, with the paper's clip range.
  gspo) algo=(actor_rollout_ref.actor.policy_loss.loss_mode=gspo
              actor_rollout_ref.actor.loss_agg_mode=seq-mean-token-mean
              actor_rollout_ref.actor.clip_ratio_low=3e-4
              actor_rollout_ref.actor.clip_ratio_high=4e-4) ;;
  grpo) algo=(actor_rollout_ref.actor.policy_loss.loss_mode=vanilla
              actor_rollout_ref.actor.loss_agg_mode=token-mean
              actor_rollout_ref.actor.clip_ratio_low=0.2
              actor_rollout_ref.actor.clip_ratio_high=0.2) ;;
  *) echo "ALGO must be gspo or grpo, got '$ALGO'" >&2; exit 2 ;;
esac
# compute_score_batch sends a step's rollouts in one call (verl's batch reward manager);
# compute_score sends them one at a time (the naive manager).
case "$SAFRL_REWARD_FN" in
  compute_score_batch) manager=batch ;;
  compute_score) manager=naive ;;
  *) echo "SAFRL_REWARD_FN must be compute_score_batch or compute_score" >&2; exit 2 ;;
esac
use_kl=$(python3 -c "print(str(float('$KL_COEF') > 0).lower())")
thinking=$([ "$mode" = think ] && echo true || echo false)
max_resp=$(max_response "$mode")
IFS=, read -r -a policy_gpus <<< "$POLICY_GPUS"

trap stop_servers EXIT
start_servers "$RUNS/$run" "$config"

# verl's data.shuffle=false keeps prepare.sh's order, in which row i belongs to step
# i // TRAIN_BATCH (its extra_info["step"], which safrl.verl sends with the rollout); the epochs
# are already laid out in the file, so verl runs one pass. verl's own validation is off: the
# policies are evaluated by evaluate.sh, on a server of their own.
CUDA_VISIBLE_DEVICES=$POLICY_GPUS python3 -m verl.trainer.main_ppo \
  algorithm.adv_estimator=grpo \
  "${algo[@]}" \
  algorithm.use_kl_in_reward=false \
  actor_rollout_ref.actor.use_kl_loss="$use_kl" \
  actor_rollout_ref.actor.kl_loss_coef="$KL_COEF" \
  actor_rollout_ref.actor.kl_loss_type=low_var_kl \
  data.train_files="$data/train.parquet" \
  data.val_files="$data/val.parquet" \
  data.shuffle=false \
  data.filter_overlong_prompts=false \
  data.truncation=error \
  data.train_batch_size="$TRAIN_BATCH" \
  data.max_prompt_length="$MAX_PROMPT_TOKENS" \
  data.max_response_length="$max_resp" \
  ++data.apply_chat_template_kwargs.enable_thinking="$thinking" \
  actor_rollout_ref.model.path="$POLICY_MODEL" \
  actor_rollout_ref.model.use_remove_padding=true \
  actor_rollout_ref.model.enable_gradient_checkpointing=true \
  actor_rollout_ref.actor.optim.lr="$LR" \
  actor_rollout_ref.actor.optim.lr_warmup_steps_ratio="$WARMUP_RATIO" \
  actor_rollout_ref.actor.optim.weight_decay=0.01 \
  actor_rollout_ref.actor.ppo_mini_batch_size="$MINI_BATCH" \
  actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu="$MICRO_BATCH_PER_GPU" \
  actor_rollout_ref.actor.use_dynamic_bsz=true \
  actor_rollout_ref.actor.ppo_max_token_len_per_gpu=$(( (MAX_PROMPT_TOKENS + max_resp) * 2 )) \
  actor_rollout_ref.actor.entropy_coeff="$ENTROPY_COEF" \
  actor_rollout_ref.actor.grad_clip=1.0 \
  actor_rollout_ref.ref.log_prob_use_dynamic_bsz=true \
  actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=$(( (MAX_PROMPT_TOKENS + max_resp) * 3 )) \
  actor_rollout_ref.rollout.name=vllm \
  actor_rollout_ref.rollout.n="$GROUP_SIZE" \
  actor_rollout_ref.rollout.temperature="$TEMPERATURE" \
  actor_rollout_ref.rollout.top_p=1.0 \
  actor_rollout_ref.rollout.tensor_model_parallel_size=1 \
  actor_rollout_ref.rollout.gpu_memory_utilization=0.6 \
  actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=true \
  actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=$(( (MAX_PROMPT_TOKENS + max_resp) * 3 )) \
  reward_model.enable=false \
  reward_model.reward_manager="$manager" \
  reward_model.launch_reward_fn_async=false \
  custom_reward_function.path="$SAFRL_REPO/safrl/verl.py" \
  custom_reward_function.name="$SAFRL_REWARD_FN" \
  trainer.n_gpus_per_node="${#policy_gpus[@]}" \
  trainer.nnodes=1 \
  trainer.total_epochs=1 \
  trainer.val_before_train=false \
  trainer.test_freq=-1 \
  trainer.save_freq="$SAVE_FREQ" \
  trainer.resume_mode=auto \
  trainer.default_local_dir="$CHECKPOINTS/$run" \
  trainer.project_name=saferl \
  trainer.experiment_name="$run" \
  trainer.logger='["console"]' \
  "$@"

# The last checkpoint in Hugging Face layout (verl >= 0.5; older verl: scripts/model_merger.py).
step=$(cat "$CHECKPOINTS/$run/latest_checkpointed_iteration.txt")
python3 -m verl.model_merger merge --backend fsdp \
  --local_dir "$CHECKPOINTS/$run/global_step_$step/actor" --target_dir "$CHECKPOINTS/$run/hf"
echo "trained $run: step logs in $RUNS/$run, policy in $CHECKPOINTS/$run/hf"
