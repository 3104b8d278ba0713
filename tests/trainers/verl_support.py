"""verl's own objects for the tests: its configuration composed by Hydra as `verl.trainer.main_ppo`
composes it, and a DataProto laid out as verl's rollout hands it to reward managers."""
from pathlib import Path

import numpy as np
import torch
import verl
from hydra import compose, initialize_config_dir
from verl import DataProto

VERL_CONFIG_DIR = Path(verl.__file__).parent / "trainer" / "config"


def verl_config(overrides):
    """verl's ppo_trainer configuration with command-line overrides, as main_ppo's @hydra.main."""
    with initialize_config_dir(config_dir=str(VERL_CONFIG_DIR), version_base=None):
        return compose(config_name="ppo_trainer", overrides=list(overrides))


def rollout_batch(tokenizer, rows):
    """A DataProto of (prompt, response, extra_info) rows: prompts left-padded, responses
    right-padded and ending in <|im_end|>, as verl's rollout returns them."""
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False,
                                             add_generation_prompt=True) for p, _, _ in rows]
    prompt_ids = [tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
    response_ids = [tokenizer(r + "<|im_end|>", add_special_tokens=False)["input_ids"]
                    for _, r, _ in rows]
    pad = tokenizer.pad_token_id
    p_len, r_len = max(map(len, prompt_ids)), max(map(len, response_ids)) + 2
    prompt_t = torch.full((len(rows), p_len), pad)
    response_t = torch.full((len(rows), r_len), pad)
    mask = torch.zeros((len(rows), p_len + r_len), dtype=torch.long)
    for i, (p, r) in enumerate(zip(prompt_ids, response_ids)):
        prompt_t[i, p_len - len(p):] = torch.tensor(p)
        response_t[i, :len(r)] = torch.tensor(r)
        mask[i, p_len - len(p):p_len + len(r)] = 1
    return DataProto.from_dict(
        tensors={"prompts": prompt_t, "responses": response_t, "attention_mask": mask,
                 "input_ids": torch.cat([prompt_t, response_t], dim=1)},
        non_tensors={
            "data_source": np.array(["wildjailbreak"] * len(rows), dtype=object),
            "reward_model": np.array([{"ground_truth": ""} for _ in rows], dtype=object),
            "extra_info": np.array([dict(info, prompt=p) for p, _, info in rows], dtype=object),
            "uid": np.array([str(i // 2) for i in range(len(rows))], dtype=object),
        })


def last_token_rewards(reward_tensor, data):
    """The reward verl put on each row's last valid response token (0 elsewhere, checked)."""
    prompt_len = data.batch["prompts"].shape[1]
    lengths = data.batch["attention_mask"][:, prompt_len:].sum(dim=1)
    rewards = []
    for i, n in enumerate(lengths.tolist()):
        row = reward_tensor[i].clone()
        rewards.append(float(row[n - 1]))
        row[n - 1] = 0
        assert not row.any(), "a reward away from the last response token"
    return rewards
