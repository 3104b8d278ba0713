"""Over- and under-refusal per training step, from the step logs of servers that judged the
prompts (`reward.judge_prompt`, or `reward.refusal_penalty: prompt_aware`; docs/reward.md):
over-refusal is the refusals among the rollouts whose prompt the guard judged safe, under-refusal
the unsafe rollouts among those whose prompt it judged harmful.

The rates are recomputed from each row's counts (`sums.by_prompt`), which add exactly over the
rows of one step (several servers, or a step written in parts), as `safrl merge-steps` adds them;
weighting the rows' rates by `count` would be wrong, since each rate has its own denominator.
Rows written before prompts were judged have no such counts and add nothing.
"""
import json
import os
from typing import List

import pandas as pd

from experiments.saferl import steps

METRICS = {"over_refusal_rate": "Over-refusal (refusals of safe prompts)",
           "under_refusal_rate": "Under-refusal (unsafe answers to harmful prompts)"}


def _rate(part: int, whole: int):
    return part / whole if whole else None


def load(run_dir: str, runs: List[str]) -> pd.DataFrame:
    """One row per run and numbered step with a judged prompt: run, step, prompts_judged,
    over_refusal_rate, under_refusal_rate (NaN when no prompt of that kind was judged). Empty
    when no row of these runs judged a prompt."""
    records = []
    for run in runs:
        counts = {}  # step -> [safe prompts, their refusals, harmful prompts, their unsafe]
        for path in steps.step_files(os.path.join(run_dir, run)):
            with open(path) as f:
                for line in f:
                    if not line.strip():
                        continue
                    row = json.loads(line)
                    by_prompt = row.get("sums", {}).get("by_prompt")
                    if row.get("step") is None or not by_prompt:
                        continue
                    total = counts.setdefault(row["step"], [0, 0, 0, 0])
                    for i, value in enumerate((by_prompt["safe"]["count"],
                                               by_prompt["safe"]["refusal"],
                                               by_prompt["harmful"]["count"],
                                               by_prompt["harmful"]["unsafe"])):
                        total[i] += value
        for step in sorted(counts):
            safe, refused, harmful, unsafe = counts[step]
            if safe + harmful:
                records.append({"run": run, "step": step, "prompts_judged": safe + harmful,
                                "over_refusal_rate": _rate(refused, safe),
                                "under_refusal_rate": _rate(unsafe, harmful)})
    return pd.DataFrame(records, columns=["run", "step", "prompts_judged", *METRICS])
