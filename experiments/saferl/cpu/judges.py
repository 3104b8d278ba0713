"""The CPU experiment's stand-in judges: safrl.testing.stand_in's guard and reward model trained
on the response bank (bank.py). stand_in.py says how they are made and what they are."""
from typing import List, Tuple

from experiments.saferl.cpu import bank
from safrl.testing import stand_in


def bank_guard_examples() -> List[Tuple[List[dict], str]]:
    """The bank's (conversation, guard output) pairs: each answer or thinking trace judged as a
    response to its prompt."""
    return [stand_in.response_example(p, t, v.target()) for p, t, v in bank.guard_examples()]


def train_guard(out_dir: str, tokenizer: str, **options) -> dict:
    """The guard, until greedy decoding writes every verdict of the bank (stand_in.train_guard's
    options)."""
    return stand_in.train_guard(out_dir, tokenizer, bank_guard_examples(), **options)


def train_reward(out_dir: str, tokenizer: str, **options) -> dict:
    """The reward model, until it scores every bank answer within tolerance of its target."""
    return stand_in.train_reward(out_dir, tokenizer, bank.helpfulness_examples(), **options)
