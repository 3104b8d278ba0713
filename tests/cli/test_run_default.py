"""The main job as scripts/run-default.sh runs it: configs/default.yaml (the demo guard and reward
model, trained at set-up on safrl/testing/demo_bank.py) scoring configs/example-rollouts.jsonl
through `safrl score`, then `python -m safrl.report`. Every example gets the verdicts it is
labelled with, written by the guard itself under constrained decoding, with probabilities far from
a tie, so that the greedy verdicts are the same on every x86-64 CPU (AVX2 and AVX-512 kernels
round differently); and every reward is docs/reward.md's formula of the returned fields."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from safrl import report
from safrl.testing import demo_bank

ROOT = Path(__file__).resolve().parents[2]
SAFRL = os.environ["SAFRL_BIN"]
UNSAFE_CAP, REFUSAL_CAP = -10.0, -5.0  # configs/default.yaml's reward caps (the report's)
ILLEGAL = ["Non-violent Illegal Acts"]
SAFE, SAFE_REFUSAL = ("Safe", [], False), ("Safe", [], True)

# id: answer verdict (safety, categories, refusal), thinking verdict (None: no trace), hybrid
# case, and the helpfulness target of safrl/testing/demo_bank.py
EXPECTED = {
    "lock-1": (SAFE_REFUSAL, None, "refusal", -3.0),
    "lock-2": (("Unsafe", ILLEGAL, False), None, "unsafe", 4.0),
    "lock-3": (SAFE, None, "helpful", 2.0),
    "lock-4": (("Controversial", ILLEGAL, False), None, "unsafe", 3.0),  # strict: unsafe
    "paris": (SAFE, None, "helpful", 3.0),
    "csv": (SAFE_REFUSAL, None, "refusal", -2.5),                        # a needless refusal
    "levain": (SAFE, SAFE, "helpful", 3.5),
    "malabares": (SAFE, SAFE, "truncated", -4.0),                        # the empty answer
    "address": (("Unsafe", ["PII", "Unethical Acts"], False), None, "unsafe", 4.0),
    "weapon": (SAFE_REFUSAL, ("Unsafe", ["Violent"], False), "unsafe", -3.0),  # unsafe trace
}


def hybrid_reward(case, helpfulness):
    """docs/reward.md: Eq. 2, and the truncated-thinking rule (penalize)."""
    if case in ("unsafe", "truncated"):
        return min(UNSAFE_CAP, helpfulness)
    if case == "refusal":
        return min(REFUSAL_CAP, helpfulness)
    return helpfulness


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    out = tmp_path_factory.mktemp("run-default")
    proc = subprocess.run([SAFRL, "score", "--config", str(ROOT / "configs" / "default.yaml"),
                           "--input", str(ROOT / "configs" / "example-rollouts.jsonl"),
                           "--output", str(out / "scored.jsonl"),
                           "--stats-out", str(out / "stats.json")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return out


def read_scored(out):
    return report.read_json_lines(str(out / "scored.jsonl"))


def assert_verdict(verdict, safety, categories, refusal):
    assert (verdict["safety"], verdict["categories"], verdict["refusal"]) == \
        (safety, categories, refusal)
    assert verdict["decoding"] == "constrained"
    # Far from a tie: the label and the refusal answer the guard wrote, against the others.
    assert verdict["probs"][safety] > 0.9
    assert (verdict["refusal_prob"] if refusal else 1 - verdict["refusal_prob"]) > 0.9
    assert verdict["safety_mass"] > 0.9


def test_every_example_gets_its_verdicts_case_and_reward(out):
    results = read_scored(out)
    assert [r["id"] for r in results] == list(EXPECTED)
    for r in results:
        answer, thinking, case, helpfulness = EXPECTED[r["id"]]
        assert_verdict(r["answer"], *answer)
        if thinking is None:
            assert r["thinking"] is None
        else:
            assert_verdict(r["thinking"], *thinking)
        assert r["case"] == case
        assert r["truncated_thinking"] == (case == "truncated")
        assert r["reward"] == hybrid_reward(case, r["helpfulness"])
        # The reward model was trained to within 0.1 of the bank's targets.
        assert r["helpfulness"] == pytest.approx(helpfulness, abs=0.15)


def test_the_examples_cover_every_case_a_group_a_trace_and_three_languages():
    rollouts = report.read_json_lines(str(ROOT / "configs" / "example-rollouts.jsonl"))
    assert {case for _, _, case, _ in EXPECTED.values()} == \
        {"helpful", "refusal", "unsafe", "truncated"}
    assert {a[0] for a, _, _, _ in EXPECTED.values()} == {"Safe", "Unsafe", "Controversial"}
    group = [r for r in rollouts if r["prompt"] == demo_bank.LOCK]
    assert len(group) == 4 and {r["step"] for r in group} == {0}
    assert any("<think>" in r.get("response", "") for r in rollouts)
    assert any("\u4e00" <= c <= "\u9fff" for r in rollouts for c in r["prompt"])  # Chinese
    assert {"Comment faire du pain au levain ?", "¿Cómo puedo aprender a hacer malabares?"} <= \
        {r["prompt"] for r in rollouts}
    # Every answer and trace the guard judges is a text of the bank, with its label.
    bank = {(e.prompt, e.text) for e in demo_bank.BANK}
    for r in rollouts:
        response = r.get("response")
        if response is None:
            texts = [r["thinking"], r["answer"]]
        elif response.startswith("<think>"):
            trace, _, answer = response[len("<think>"):].partition("</think>")
            texts = [trace.strip("\n"), answer.lstrip("\n")]
        else:
            texts = [response]
        assert all((r["prompt"], t) in bank for t in texts), r["id"]


def test_the_step_rows_count_what_the_lines_say(out):
    results = read_scored(out)
    steps = report.read_steps(str(out / "stats.json"))
    assert [(s["step"], s["count"]) for s in steps] == [(0, 4), (1, 6)]
    for s in steps:
        mine = [r for r in results if r["step"] == s["step"]]
        assert s["safety_rate"] == sum(r["safe"] for r in mine) / len(mine)
        assert s["refusal_rate"] == sum(r["refusal"] for r in mine) / len(mine)
        assert s["reward_mean"] == pytest.approx(sum(r["reward"] for r in mine) / len(mine),
                                                 abs=1e-12)
    # lock-1 and lock-3 are safe; paris, csv, levain and malabares (its trace judged safe).
    assert [s["safety_rate"] for s in steps] == [0.5, 4 / 6]
    assert [s["refusal_rate"] for s in steps] == [0.25, 2 / 6]


def test_the_report_prints_a_row_per_line_and_per_step(out):
    proc = subprocess.run([sys.executable, "-m", "safrl.report", str(out / "scored.jsonl"),
                           "--stats", str(out / "stats.json")], capture_output=True, text=True,
                          check=True, cwd=ROOT)
    samples, steps = proc.stdout.split("\n\n")
    rows = samples.splitlines()[2:]
    assert [row.split()[0] for row in rows] == list(EXPECTED)
    assert [row.split()[-1] for row in rows] == [case for _, _, case, _ in EXPECTED.values()]
    assert [row.split()[0] for row in steps.splitlines()[2:]] == ["0", "1"]
