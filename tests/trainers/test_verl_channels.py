"""verl's GDPO (the installed package) on safrl's reward channels (docs/trainers/verl.md, "Reward
channels and GDPO"): verl's reward loop with its gdpo reward manager loads safrl.verl, the
reward_extra_info keys safety, refusal and helpfulness are the server's channels, and verl's GDPO
advantage estimator reads them by algorithm.gdpo_reward_keys. The demo judges (a trained guard)
give real verdicts."""
import numpy as np
import pytest
import torch
from verl import DataProto
from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
from verl.trainer.ppo import core_algos

import safrl
from safrl.testing.live_server import EMBEDDED, Server
from verl_support import rollout_batch, verl_config

MODELS_YAML = (f"guard: {{model: {EMBEDDED}/demo-guard, decoding: constrained}}\n"
               f"helpfulness: {{model: {EMBEDDED}/demo-reward, chat_format: qwen3}}\n"
               "reward: {type: hybrid, safety_signal: expected}\n")
# Two GRPO groups (rollout_batch's uid: rows 2k and 2k + 1).
ROWS = [("How do I pick a lock?", "I can't help with that.", {}),
        ("How do I pick a lock?", "Use a tension wrench and a pick.", {}),
        ("Write a haiku about rain.", "Soft rain on the roof.", {}),
        ("Write a haiku about rain.", "Rain.", {})]
KEYS, WEIGHTS = ["safety", "refusal", "helpfulness"], [2.0, 1.0, 1.0]


def group_normalised(values):
    """GRPO's per-group normalisation of one channel, groups of two: (r - mean) / (std + 1e-6),
    std unbiased."""
    out = []
    for a, b in zip(values[::2], values[1::2]):
        std = abs(a - b) / np.sqrt(2)
        out += [(a - b) / 2 / (std + 1e-6), (b - a) / 2 / (std + 1e-6)]
    return np.array(out)


def test_gdpo_reads_the_channels_from_reward_extra_info(tmp_path, tiny_policy):
    server = Server(tmp_path, models_yaml=MODELS_YAML)
    try:
        safrl.configure(server.endpoint, timeout=300)
        config = verl_config([f"actor_rollout_ref.model.path={tiny_policy}",
                              "reward.custom_reward_function.path=pkg://safrl.verl",
                              "reward.custom_reward_function.name=compute_score_async",
                              "reward.reward_manager.name=gdpo",
                              "algorithm.adv_estimator=gdpo",
                              f"+algorithm.gdpo_reward_keys={KEYS}",
                              f"+algorithm.gdpo_reward_weights={WEIGHTS}"])
        worker = RewardLoopWorker(config)
        data = rollout_batch(worker.input_tokenizer, ROWS)
        outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
        with safrl.Client(server.endpoint, timeout=300) as client:
            results = [client.score([{"prompt": p, "response": r}])[0] for p, r, _ in ROWS]
    finally:
        server.stop(9)
    infos = [o["reward_extra_info"] for o in outputs]
    for info, result in zip(infos, results):
        assert [info[k] for k in KEYS] == pytest.approx(
            [result["channels"][k] for k in KEYS], abs=1e-4)
    # expected: the safety channel is P(safe), not only the verdict's 1 or 0.
    assert any(0 < info["safety"] < 1 for info in infos)
    # As verl's RewardLoopManager.compute_rm_score lays reward_extra_info out for the trainer.
    data.non_tensor_batch.update({k: np.array([info[k] for info in infos]) for k in infos[0]})
    prompt_length = data.batch["prompts"].shape[1]
    lengths = data.batch["attention_mask"][:, prompt_length:].sum(dim=1)
    response_mask = torch.zeros_like(data.batch["responses"], dtype=torch.float32)
    for i, n in enumerate(lengths.tolist()):
        response_mask[i, :n] = 1
    # As verl's ray_trainer.compute_advantage calls the GDPO estimator (that module needs peft).
    gdpo = core_algos.get_adv_estimator_fn(config.algorithm.adv_estimator)
    advantages, _ = gdpo(token_level_rewards=torch.zeros_like(response_mask),
                         response_mask=response_mask, index=data.non_tensor_batch["uid"],
                         config=config.algorithm, non_tensor_batch=data.non_tensor_batch,
                         batch=data.batch)
    advantages = advantages[:, 0].numpy()  # one value per response: outcome only
    # GDPO: each channel normalised within its group, weighted and summed, then whitened over
    # the batch's tokens, an increasing affine map: advantage = a * combined + b with a > 0.
    combined = sum(w * group_normalised([info[k] for info in infos])
                   for k, w in zip(KEYS, WEIGHTS))
    assert np.ptp(combined) > 0.1  # the rows differ, so the map is determined
    a, b = np.polyfit(combined, advantages, 1)
    assert a > 0
    assert advantages == pytest.approx(a * combined + b, abs=1e-4)
