# verl's command-line overrides of one training run, sourced after settings.sh by train.sh and by
# tests/trainers/test_verl_recipes.py (which composes them with verl's own configuration and runs
# the checks verl makes before it needs a GPU).
#
#   verl_args ARM MODE      # fills the array VERL_ARGS; exits 2 on settings verl would refuse
#
# Written for verl 0.9 (requirements-trainers.txt pins the verl the tests use): the reward is
# configured under `reward.` (verl >= 0.7 runs rewards in its reward loop, whose managers score
# one rollout at a time and await coroutine reward functions; the top-level
# `custom_reward_function` and `reward_model.reward_manager` of verl <= 0.6 are no longer read).

verl_args() {  # ARM MODE (the arms differ only in their reward servers, started by train.sh)
  local mode=$2 run="$1_$2" algo max_resp thinking use_kl policy_gpus
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
  check_batch_sizes
  use_kl=$(python3 -c "print(str(float('$KL_COEF') > 0).lower())")
  thinking=$([ "$mode" = think ] && echo true || echo false)
  max_resp=$(max_response "$mode")
  IFS=, read -r -a policy_gpus <<< "$POLICY_GPUS"
  # data.shuffle=false keeps prepare.sh's order, in which row i belongs to step i // TRAIN_BATCH
  # (its extra_info["step"], which safrl.verl sends with the rollout); the epochs are already
  # laid out in the file, so verl runs one pass. verl's own validation is off: the policies are
  # evaluated by evaluate.sh, on a server of their own.
  VERL_ARGS=(
    algorithm.adv_estimator=grpo
    "${algo[@]}"
    algorithm.use_kl_in_reward=false
    actor_rollout_ref.actor.use_kl_loss="$use_kl"
    actor_rollout_ref.actor.kl_loss_coef="$KL_COEF"
    actor_rollout_ref.actor.kl_loss_type=low_var_kl
    data.train_files="$DATA/verl_$mode/train.parquet"
    data.val_files="$DATA/verl_$mode/val.parquet"
    data.shuffle=false
    data.filter_overlong_prompts=false
    data.truncation=error
    data.train_batch_size="$TRAIN_BATCH"
    data.max_prompt_length="$MAX_PROMPT_TOKENS"
    data.max_response_length="$max_resp"
    ++data.apply_chat_template_kwargs.enable_thinking="$thinking"
    actor_rollout_ref.model.path="$POLICY_MODEL"
    actor_rollout_ref.model.use_remove_padding=true
    actor_rollout_ref.model.enable_gradient_checkpointing=true
    actor_rollout_ref.actor.optim.lr="$LR"
    actor_rollout_ref.actor.optim.lr_warmup_steps_ratio="$WARMUP_RATIO"
    actor_rollout_ref.actor.optim.weight_decay=0.01
    actor_rollout_ref.actor.ppo_mini_batch_size="$MINI_BATCH"
    actor_rollout_ref.actor.ppo_micro_batch_size_per_gpu="$MICRO_BATCH_PER_GPU"
    actor_rollout_ref.actor.use_dynamic_bsz=true
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu=$(( (MAX_PROMPT_TOKENS + max_resp) * 2 ))
    actor_rollout_ref.actor.entropy_coeff="$ENTROPY_COEF"
    actor_rollout_ref.actor.grad_clip=1.0
    actor_rollout_ref.ref.log_prob_use_dynamic_bsz=true
    actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=$(( (MAX_PROMPT_TOKENS + max_resp) * 3 ))
    actor_rollout_ref.rollout.name=vllm
    actor_rollout_ref.rollout.n="$GROUP_SIZE"
    actor_rollout_ref.rollout.temperature="$TEMPERATURE"
    actor_rollout_ref.rollout.top_p=1.0
    actor_rollout_ref.rollout.tensor_model_parallel_size=1
    actor_rollout_ref.rollout.gpu_memory_utilization=0.6
    actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=true
    actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=$(( (MAX_PROMPT_TOKENS + max_resp) * 3 ))
    actor_rollout_ref.rollout.agent.num_workers="$AGENT_WORKERS"
    # The reward loop's naive manager awaits safrl.verl.compute_score_async once per rollout;
    # REWARD_WORKERS reward-loop workers keep a step's rollouts in flight together on the servers.
    reward.reward_model.enable=false
    reward.reward_manager.name=naive
    reward.num_workers="$REWARD_WORKERS"
    reward.custom_reward_function.path=pkg://safrl.verl
    reward.custom_reward_function.name=compute_score_async
    trainer.n_gpus_per_node="${#policy_gpus[@]}"
    trainer.nnodes=1
    trainer.total_epochs=1
    trainer.val_before_train=false
    trainer.test_freq=-1
    trainer.save_freq="$SAVE_FREQ"
    trainer.resume_mode=auto
    trainer.default_local_dir="$CHECKPOINTS/$run"
    trainer.project_name=saferl
    trainer.experiment_name="$run"
    trainer.logger='["console"]'
  )
}

# verl splits each step's TRAIN_BATCH x GROUP_SIZE rollouts evenly over the policy GPUs (sequence
# balancing) and over its AGENT_WORKERS rollout workers, and each mini-batch of MINI_BATCH x
# GROUP_SIZE over the policy GPUs; it asserts these deep into start-up or in the first step,
# after the models are loaded. Said here first, with what to change.
check_batch_sizes() {
  local gpus rollouts mini name
  IFS=, read -r -a gpus <<< "$POLICY_GPUS"
  for name in TRAIN_BATCH MINI_BATCH GROUP_SIZE AGENT_WORKERS; do
    if ! [[ "${!name}" =~ ^[1-9][0-9]*$ ]]; then
      echo "$name must be a positive integer, got '${!name}'" >&2
      exit 2
    fi
  done
  if [ ${#gpus[@]} -eq 0 ]; then
    echo "POLICY_GPUS is empty: list the policy GPUs, as in POLICY_GPUS=0,1,2,3,4,5" >&2
    exit 2
  fi
  rollouts=$(( TRAIN_BATCH * GROUP_SIZE )) mini=$(( MINI_BATCH * GROUP_SIZE ))
  if (( rollouts % ${#gpus[@]} != 0 || mini % ${#gpus[@]} != 0 || TRAIN_BATCH % MINI_BATCH != 0 )); then
    echo "TRAIN_BATCH=$TRAIN_BATCH and MINI_BATCH=$MINI_BATCH do not fit ${#gpus[@]} policy GPUs" \
      "(POLICY_GPUS=$POLICY_GPUS) with GROUP_SIZE=$GROUP_SIZE: TRAIN_BATCH x GROUP_SIZE" \
      "($rollouts) and MINI_BATCH x GROUP_SIZE ($mini) must both be multiples of the GPU count," \
      "and TRAIN_BATCH a multiple of MINI_BATCH" >&2
    exit 2
  fi
  if (( rollouts % AGENT_WORKERS != 0 )); then
    echo "TRAIN_BATCH x GROUP_SIZE ($rollouts) must be a multiple of AGENT_WORKERS" \
      "($AGENT_WORKERS), verl's rollout workers, which share each step evenly" >&2
    exit 2
  fi
}
