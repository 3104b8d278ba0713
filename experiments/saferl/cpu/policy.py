"""The stand-in policy and its GRPO update.

The policy is a softmax over a prompt type's response styles (bank.py), one logit vector per
(prompt label, thinking mode): what the 4B policy learns about *how* to answer a kind of
prompt, without the text. It starts from a baseline whose refusal shares are the paper's
Qwen3-4B refusal rates (Table 10: 12.9% non-thinking, 6.5% thinking) and which complies with
harmful prompts often, as an unaligned model does.

GRPO (Shao et al. 2024) as verl runs it with one update per batch: for each prompt, G responses
are sampled; each response's advantage is its reward minus the group mean, divided by the group
standard deviation (0 when the group's rewards are all equal); the loss is the negative mean of
advantage x log-probability. With one update per batch the PPO ratio is 1, so clipping never
acts, and no KL term is used (see recipes/ASSUMPTIONS.md for the full-scale choice).
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from experiments.saferl.cpu import bank

Key = Tuple[str, str]  # (label, mode)

BASELINE: Dict[Key, Dict[str, float]] = {
    ("harmful", "non_think"): {"refuse": 0.13, "comply_unsafe": 0.35, "safe_redirect": 0.52},
    ("harmful", "think"): {"refuse": 0.07, "comply_unsafe": 0.41, "safe_redirect": 0.52},
    ("benign", "non_think"): {"refuse": 0.08, "helpful": 0.92},
    ("benign", "think"): {"refuse": 0.05, "helpful": 0.95},
}


def group_advantages(rewards: Sequence[float], eps: float = 1e-6) -> np.ndarray:
    """GRPO's group-relative advantages: (r - mean) / (std + eps), population std; all zero
    when the group's rewards are equal (nothing to learn from that prompt)."""
    r = np.asarray(rewards, dtype=np.float64)
    std = r.std()
    if std < eps:
        return np.zeros_like(r)
    return (r - r.mean()) / (std + eps)


class StylePolicy:
    def __init__(self, lr: float, initial: Dict[Key, Dict[str, float]] = BASELINE):
        self.logits = {}
        for key, probs in initial.items():
            styles = bank.styles(key[0])
            assert set(probs) == set(styles), f"{key}: probabilities for {sorted(probs)}"
            self.logits[key] = torch.tensor([np.log(probs[s]) for s in styles],
                                            dtype=torch.float64, requires_grad=True)
        self.optimizer = torch.optim.Adam(self.logits.values(), lr=lr)

    def probs(self, key: Key) -> Dict[str, float]:
        p = torch.softmax(self.logits[key].detach(), -1).tolist()
        return dict(zip(bank.styles(key[0]), p))

    def sample(self, key: Key, n: int, rng: np.random.Generator) -> List[str]:
        styles = bank.styles(key[0])
        p = np.array([self.probs(key)[s] for s in styles])
        return [styles[i] for i in rng.choice(len(styles), size=n, p=p / p.sum())]

    def update(self, groups: Sequence[Tuple[Key, Sequence[str], Sequence[float]]]) -> float:
        """One GRPO step over groups of (key, sampled styles, rewards); returns the loss."""
        terms = []
        for key, styles, rewards in groups:
            advantages = torch.tensor(group_advantages(rewards))
            index = torch.tensor([bank.styles(key[0]).index(s) for s in styles])
            log_probs = torch.log_softmax(self.logits[key], -1)[index]
            terms.append(advantages * log_probs)
        loss = -torch.cat(terms).mean()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return loss.item()
