"""Evaluation of SafeRL policies: Safety Rate and Refusal Rate per thinking mode, judged by
Qwen3Guard through safrl and, when given, by WildGuard, in the layout of the paper's Table 10.

    python3 -m experiments.saferl.eval --out OUT (--endpoint tcp://HOST:PORT | --config C.yaml) \\
        --run baseline=base.jsonl --run guard_only=guard.jsonl --run hybrid=hybrid.jsonl \\
        [--wildguard baseline=base.wildguard.jsonl ...]

pipeline.py runs it, metrics.py defines the rates, wildguard.py parses WildGuard's output,
table.py writes the table, paper.py holds Table 10.
"""
