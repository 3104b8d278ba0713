"""The full-scale recipe's verl command (experiments/saferl/recipes/verl_args.sh) composed with
verl's own configuration, as `python3 -m verl.trainer.main_ppo` composes it, and put through the
checks verl makes before it needs a GPU: its config validation, the reward manager lookup, the
custom reward function load, and the even splits of a step's rollouts over the policy GPUs."""
import os
import subprocess
from pathlib import Path

import pytest
import torch
from verl import DataProto
from verl.experimental.reward_loop.reward_manager.naive import NaiveRewardManager
from verl.trainer.ppo.reward import get_custom_reward_fn, resolve_reward_manager_cls
from verl.trainer.ppo.utils import need_critic, need_reference_policy
from verl.utils.config import validate_config
from verl.utils.seqlen_balancing import get_seqlen_balanced_partitions

import safrl.verl
from verl_support import verl_config

RECIPES = Path(__file__).resolve().parents[2] / "experiments" / "saferl" / "recipes"


def recipe_args(arm, mode, **settings):
    """VERL_ARGS of `train.sh ARM MODE` under settings.sh (and the given overrides of it)."""
    script = (f'source "{RECIPES}/settings.sh"; source "{RECIPES}/verl_args.sh"; '
              f'verl_args {arm} {mode}; printf "%s\\0" "${{VERL_ARGS[@]}}"')
    env = dict(os.environ, **{k: str(v) for k, v in settings.items()})
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True)
    return run.returncode, run.stdout.split("\0")[:-1], run.stderr


def even_splits(config):
    """verl's sequence balancing of one step, and of one mini-batch, over the policy GPUs
    (verl/utils/seqlen_balancing.py), and its split of a step over the rollout workers
    (DataProto.chunk): each asserts that it splits evenly."""
    gpus = config.trainer.n_gpus_per_node * config.trainer.nnodes
    n = config.actor_rollout_ref.rollout.n
    step = DataProto.from_dict(tensors={"x": torch.zeros(config.data.train_batch_size * n, 1)})
    step.chunk(config.actor_rollout_ref.rollout.agent.num_workers)
    for prompts in (config.data.train_batch_size, config.actor_rollout_ref.actor.ppo_mini_batch_size):
        lengths = [100 + (i * 37) % 900 for i in range(prompts * n)]
        parts = get_seqlen_balanced_partitions(lengths, k_partitions=gpus, equal_size=True)
        assert sorted(len(p) for p in parts) == [prompts * n // gpus] * gpus


@pytest.mark.parametrize("arm", ["guard_only", "hybrid"])
@pytest.mark.parametrize("mode", ["think", "non_think"])
def test_recipe_passes_verls_checks(arm, mode, tiny_policy):
    code, args, err = recipe_args(arm, mode, POLICY_MODEL=tiny_policy)
    assert code == 0, err
    config = verl_config(args)
    validate_config(config, use_reference_policy=need_reference_policy(config),
                    use_critic=need_critic(config))
    even_splits(config)
    # The reward loop (verl >= 0.7) reads reward.*; the keys of verl <= 0.6 stay unset, since
    # verl 0.9's main_ppo does not read them (it would fall back to its rule-based scores).
    assert config.custom_reward_function.path is None
    assert config.reward_model.reward_manager is None
    assert resolve_reward_manager_cls(config) is NaiveRewardManager
    compute_score = get_custom_reward_fn(config)
    assert compute_score.args[0] is safrl.verl.compute_score_async
    assert config.data.apply_chat_template_kwargs.enable_thinking == (mode == "think")


def test_batch_sizes_that_do_not_split_are_refused_before_verl_starts(tiny_policy):
    # The sizes of the first recipes: 128 x 8 rollouts over 6 policy GPUs.
    settings = dict(POLICY_MODEL=tiny_policy, POLICY_GPUS="0,1,2,3,4,5", TRAIN_BATCH=128,
                    MINI_BATCH=32)
    code, _, err = recipe_args("hybrid", "think", **settings)
    assert code == 2 and "must both be multiples of the GPU count" in err
    # verl itself fails on them too, only later (after loading the models).
    with pytest.raises(AssertionError, match="1024 % 6"):
        get_seqlen_balanced_partitions([1] * 1024, k_partitions=6, equal_size=True)
    # Rollouts that do not split over verl's 8 rollout workers, and a size that is not a number.
    code, _, err = recipe_args("hybrid", "think", POLICY_MODEL=tiny_policy, TRAIN_BATCH=30,
                               MINI_BATCH=10, GROUP_SIZE=6)
    assert code == 2 and "must be a multiple of AGENT_WORKERS (8)" in err
    with pytest.raises(AssertionError, match="only support equal chunk"):
        DataProto.from_dict(tensors={"x": torch.zeros(180, 1)}).chunk(8)
    code, _, err = recipe_args("hybrid", "think", POLICY_MODEL=tiny_policy, MINI_BATCH="2x")
    assert code == 2 and "MINI_BATCH must be a positive integer" in err
