# Settings of the full-scale SafeRL runs, sourced by the other scripts of this folder. Every value
# can be overridden from the environment (VAR=value bash train.sh ...). Values the paper does not
# state are explained in ASSUMPTIONS.md, which names each variable below.

# --- where things are ---------------------------------------------------------------
: "${SAFRL_REPO:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)}"
# safrl built against a CUDA LibTorch
: "${SAFRL_BIN:=$SAFRL_REPO/build-cuda/src/cli/safrl}"
: "${MODELS:=/models}"
: "${POLICY_MODEL:=$MODELS/Qwen3-4B}"
: "${GUARD_MODEL:=$MODELS/Qwen3Guard-Gen-4B}"
# or WorldPM-72B-HelpSteer2 with HYBRID_CONFIG=configs/safrl-hybrid-worldpm.yaml, served by vLLM
# at WORLDPM_URL (docs/scaling.md); safrl then reads only its tokenizer from HELPFULNESS_MODEL
: "${HELPFULNESS_MODEL:=$MODELS/Skywork-Reward-V2-Qwen3-8B}"
: "${WORLDPM_URL:=http://127.0.0.1:8000}"
: "${WILDGUARD_MODEL:=$MODELS/wildguard}"     # allenai/wildguard, for evaluation only
: "${WILDJAILBREAK:=/data/wildjailbreak}"     # allenai/wildjailbreak: train/, eval/
: "${WORK:=$SAFRL_REPO/runs/saferl}"          # data, server logs, checkpoints, evaluation
: "${DATA:=$WORK/data}"
: "${RUNS:=$WORK/runs}"                       # RUNS/<arm>_<mode>/server-<i>/steps.jsonl
: "${CHECKPOINTS:=$WORK/checkpoints}"

# --- GPUs (one node of 8) ---------------------------------------------------------
: "${POLICY_GPUS:=0,1,2,3,4,5}"   # verl: actor, rollout (vLLM) and reference
: "${REWARD_GPUS:=6,7}"           # one `safrl serve` per GPU; the plugin spreads requests over them

# --- data --------------------------------------------------------------------------
: "${CANDIDATES:=30000}"          # harmful WildJailbreak training prompts drawn for filtering
: "${FILTER_SAMPLES:=8}"          # the paper: 8 responses per prompt, all-safe / all-unsafe dropped
: "${MAX_PROMPT_TOKENS:=2048}"    # longer prompts are dropped before steps are assigned
: "${SEED:=1}"

# --- RL ----------------------------------------------------------------------------
: "${ALGO:=gspo}"                 # gspo (the paper) or grpo
: "${GROUP_SIZE:=8}"              # responses per prompt (rollout.n)
: "${TRAIN_BATCH:=96}"            # prompts per step (768 rollouts: 128 on each policy GPU)
: "${MINI_BATCH:=24}"             # prompts per policy update: 4 updates per step
: "${EPOCHS:=2}"
: "${LR:=1e-6}"
: "${WARMUP_RATIO:=0.05}"
: "${KL_COEF:=0.0}"               # no KL penalty, as Qwen's GSPO runs
: "${ENTROPY_COEF:=0.0}"
: "${TEMPERATURE:=1.0}"           # rollout sampling
: "${MAX_RESPONSE_THINK:=8192}"
: "${MAX_RESPONSE_NON_THINK:=4096}"
: "${MICRO_BATCH_PER_GPU:=4}"
: "${AGENT_WORKERS:=8}"           # verl's rollout (agent loop) workers; they share each step evenly
: "${SAVE_FREQ:=20}"

# --- the reward service ------------------------------------------------------------
# verl's reward-loop workers, each awaiting safrl.verl.compute_score_async for its share of a
# step's rollouts (verl's default is 8).
: "${REWARD_WORKERS:=8}"
# Where evaluate.sh's `safrl score` runs configs/safrl-eval.yaml (cpu and float32 for a check
# without a GPU).
: "${EVAL_DEVICE:=cuda}"
: "${EVAL_DTYPE:=bfloat16}"

export SAFRL_REPO SAFRL_BIN MODELS POLICY_MODEL GUARD_MODEL HELPFULNESS_MODEL WORLDPM_URL WILDGUARD_MODEL \
  WILDJAILBREAK WORK DATA RUNS CHECKPOINTS EVAL_DEVICE EVAL_DTYPE
export PYTHONPATH="$SAFRL_REPO${PYTHONPATH:+:$PYTHONPATH}"

# max_response_length of a mode.
max_response() {
  if [ "$1" = think ]; then echo "$MAX_RESPONSE_THINK"; else echo "$MAX_RESPONSE_NON_THINK"; fi
}

# Checks a mode or arm argument.
check_mode() {
  case "$1" in
    think|non_think) ;;
    *) echo "mode must be think or non_think, got '$1'" >&2; exit 2 ;;
  esac
}
check_arm() {
  case "$1" in
    guard_only|hybrid) ;;
    *) echo "arm must be guard_only or hybrid, got '$1'" >&2; exit 2 ;;
  esac
}
