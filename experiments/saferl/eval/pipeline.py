"""The evaluation pipeline: generations in, the SafeRL table out.

For each arm (baseline, guard_only, hybrid, or any other name) a JSONL of generations, one
`{"prompt", "label": "harmful"|"benign", "response", "mode": "think"|"non_think"}` per line
(optional "id", "meta"), is judged by Qwen3Guard through safrl — a running `safrl serve`
(`endpoint`) or `safrl score` on a config (`config`) — and, when WildGuard outputs are given for
the arm, by WildGuard. The rates (metrics.py) per mode go into OUT/table.md and OUT/table.csv
beside the paper's figures, with OUT/metrics.json and the raw guard results
OUT/scored/<arm>.jsonl.
"""
import json
import os
from typing import Dict, List, Mapping, Optional

import safrl

from experiments.saferl import service
from experiments.saferl.eval import metrics, table, wildguard
from experiments.saferl.eval.metrics import Generation, GuardJudgement


def load_generations(path: str) -> List[Generation]:
    out = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                out.append(metrics.parse_generation(json.loads(line), number - 1,
                                                    f"{path} line {number}"))
    if not out:
        raise ValueError(f"{path}: no generations")
    seen = set()
    for g in out:
        key = json.dumps(g.id)
        if key in seen:
            raise ValueError(f"{path}: generation id {g.id!r} appears more than once (ids must be "
                             "unique in a run's file, across modes too)")
        seen.add(key)
    return out


def judge_with_safrl(generations: List[Generation], output: str, *, endpoint: Optional[str] = None,
                     config: Optional[str] = None) -> List[GuardJudgement]:
    """Qwen3Guard's judgement of every generation, through a server (`endpoint`) or `safrl
    score` (`config`). The raw results are written to `output` (safrl score resumes from it).
    The samples carry no step: an evaluation is not a training step. On a server shared with a
    training run they would land in its step-0 statistics, so give evaluation its own server."""
    samples = [{"id": i, "prompt": g.prompt, "response": g.response}
               for i, g in enumerate(generations)]
    if config:
        results = service.score_offline(config, samples, output)
    else:
        with safrl.Client(endpoint) as client:
            results = client.score(samples)
        with open(output, "w") as f:
            for result in results:
                f.write(json.dumps(result) + "\n")
    return [GuardJudgement.from_result(r) for r in results]


def evaluate(runs: Mapping[str, str], out_dir: str, *, endpoint: Optional[str] = None,
             config: Optional[str] = None, wildguard_outputs: Optional[Mapping[str, str]] = None,
             title: str = "") -> List[Dict]:
    """runs: {arm: generations.jsonl}; wildguard_outputs: {arm: WildGuard outputs JSONL}
    (wildguard.read_judgements). Without `endpoint` and `config` only WildGuard judges. Returns
    the table rows (table.rows)."""
    wildguard_outputs = dict(wildguard_outputs or {})
    unknown = set(wildguard_outputs) - set(runs)
    if unknown:
        raise ValueError(f"WildGuard outputs for arms without generations: {sorted(unknown)}")
    if not (endpoint or config or wildguard_outputs):
        raise ValueError("no judge: give a safrl endpoint or config, or WildGuard outputs")
    os.makedirs(os.path.join(out_dir, "scored"), exist_ok=True)
    measured = {}
    for arm, path in runs.items():
        generations = load_generations(path)
        guard = ([None] * len(generations) if not (endpoint or config) else
                 judge_with_safrl(generations, os.path.join(out_dir, "scored", f"{arm}.jsonl"),
                                  endpoint=endpoint, config=config))
        judged = None
        if arm in wildguard_outputs:
            verdicts = wildguard.read_judgements(wildguard_outputs[arm],
                                                 [g.id for g in generations])
            judged = [verdicts[g.id] for g in generations]
        measured[arm] = metrics.rates(generations, guard, judged)
    rows = table.rows(measured)
    table.write(rows, os.path.join(out_dir, "table.md"), os.path.join(out_dir, "table.csv"), title)
    with open(os.path.join(out_dir, "metrics.json"), "w") as f:
        json.dump(measured, f, indent=2)
    return rows
