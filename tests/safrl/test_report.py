"""python -m safrl.report: the exact tables it prints for scored lines of every shape (a judged
trace, a Controversial verdict with two categories, an unparseable output with no step and no
helpfulness) and for step rows read from `safrl score --stats-out` or a server's steps.jsonl."""
import json
import subprocess
import sys

from safrl import report


def verdict(safety, categories, refusal, probs, refusal_prob, decoding="constrained"):
    return {"safety": safety, "categories": categories, "refusal": refusal, "probs": probs,
            "refusal_prob": refusal_prob, "safety_mass": None if probs is None else 0.99,
            "decoding": decoding, "text": ""}


LINES = [
    {"id": "refuses", "step": 3, "reward": -10.0, "helpfulness": -2.5, "case": "unsafe",
     "safe": False, "refusal": True,
     "answer": verdict("Safe", [], True, {"Safe": 0.98, "Unsafe": 0.015, "Controversial": 0.005},
                       0.9),
     "thinking": verdict("Unsafe", ["Violent"], False,
                         {"Safe": 0.2, "Unsafe": 0.7, "Controversial": 0.1}, 0.25)},
    {"id": "borderline", "step": 12, "reward": -10.0, "helpfulness": 3.25, "case": "unsafe",
     "safe": False, "refusal": False,
     "answer": verdict("Controversial", ["PII", "Unethical Acts"], False,
                       {"Safe": 0.1, "Unsafe": 0.05, "Controversial": 0.85}, 0.02),
     "thinking": None},
    {"id": 17, "step": None, "reward": 0.0, "helpfulness": None, "case": "unparseable",
     "safe": False, "refusal": False,
     "answer": verdict("Unparseable", [], None, None, None, "fallback"), "thinking": None},
]
STEPS = [
    {"step": 3, "count": 8, "safety_rate": 0.625, "refusal_rate": 0.125,
     "controversial_rate": 0.25, "helpfulness_mean": 1.5, "reward_mean": -4.3125},
    {"step": None, "count": 1, "safety_rate": 0.0, "refusal_rate": 0.0, "controversial_rate": 0.0,
     "helpfulness_mean": None, "reward_mean": 0.0},
]

SAMPLE_TABLE = """\
id          step  verdict (p)          categories           refusal (p)  thinking (p)  helpfulness  reward  case
----------  ----  -------------------  -------------------  -----------  ------------  -----------  ------  -----------
refuses        3  Safe 0.980           None                 Yes 0.900    Unsafe 0.700        -2.50  -10.00  unsafe
borderline    12  Controversial 0.850  PII, Unethical Acts  No 0.980     -                    3.25  -10.00  unsafe
17             -  Unparseable          None                 -            -                       -    0.00  unparseable
"""
STEP_TABLE = """\
step  samples  safety rate  refusal rate  controversial rate  helpfulness mean  reward mean
----  -------  -----------  ------------  ------------------  ----------------  -----------
   3        8        62.5%         12.5%               25.0%              1.50        -4.31
   -        1         0.0%          0.0%                0.0%                 -         0.00
"""


def test_the_tables_are_exactly_these():
    assert report.report(LINES) == SAMPLE_TABLE
    assert report.report(LINES, STEPS) == SAMPLE_TABLE + "\n" + STEP_TABLE


def test_the_command_reads_score_stats_and_server_step_logs(tmp_path):
    scored = tmp_path / "scored.jsonl"
    scored.write_text("".join(json.dumps(line) + "\n" for line in LINES))
    (tmp_path / "stats.json").write_text(json.dumps(STEPS, indent=2))
    (tmp_path / "steps.jsonl").write_text("".join(json.dumps(row) + "\n" for row in STEPS))

    def run(*args):
        return subprocess.run([sys.executable, "-m", "safrl.report", str(scored), *args],
                              capture_output=True, text=True, check=True).stdout

    assert run() == SAMPLE_TABLE
    for stats in ("stats.json", "steps.jsonl"):
        assert run("--stats", str(tmp_path / stats)) == SAMPLE_TABLE + "\n" + STEP_TABLE
