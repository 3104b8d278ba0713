"""experiments/bench/stream/stream_vs_gen.py, the Stream vs Gen benchmark (issue 28): its --quick
run (tiny shapes, real Qwen3 vocabulary) gives the summary's structure, the transformers Stream
reference agrees with safrl's Stream guard on every verdict, and the Gen side reads the
verdict_writer's verdict with constrained decoding. Speed is not asserted. The verdict rule the
reference side applies is checked on hand-made logits."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "experiments", "bench", "stream", "stream_vs_gen.py")
SAFRL = os.environ["SAFRL_BIN"]
TOKENIZER = os.environ.get("SAFRL_TOKENIZER_DIR", os.path.join(REPO, ".deps", "qwen3-tokenizer"))


def load_script():
    spec = importlib.util.spec_from_file_location("stream_vs_gen", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("stream-vs-gen")
    proc = subprocess.run([sys.executable, SCRIPT, str(out), "--quick", "--safrl", SAFRL,
                           "--tokenizer", TOKENIZER], capture_output=True, text=True,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.splitlines()[-1])
    assert summary == json.load(open(out / "summary.json"))
    return summary


def test_quick_run_measures_every_side_on_the_same_verdicts(quick):
    # --quick: 2 prompts x 2 responses; the workload gives every other response a think block,
    # so 4 answers + 2 thinking traces = 6 verdicts per side.
    assert (quick["shape"], quick["prompts"], quick["group"], quick["rounds"]) == ("tiny", 2, 2, 2)
    assert quick["verdicts"] == 6
    sides = ["stream", "gen", "transformers-per-conversation", "transformers-padded"]
    # Two rounds of every side, the order rotated by one side in the second round; the second
    # round's `safrl score` runs start afresh (a resumed output would be refused, exit 1).
    assert [x["side"] for x in quick["runs"]] == sides + sides[1:] + sides[:1]
    assert [x["round"] for x in quick["runs"]] == [1] * 4 + [2] * 4
    for run in quick["runs"]:
        assert run["verdicts"] == 6
        assert run["verdicts_per_s"] == pytest.approx(6 / run["seconds"])
    assert set(quick["median_verdicts_per_s"]) == set(sides)
    assert set(quick["ratios"]) == {"stream_over_gen", "stream_over_gen_guard_s",
                                    "stream_over_transformers", "stream_guard_s_over_transformers"}
    # The median over two rounds of each round's stream / gen ratio is their mean.
    seconds = {(x["round"], x["side"]): x["seconds"] for x in quick["runs"]}
    ratios = [seconds[(r, "gen")] / seconds[(r, "stream")] for r in (1, 2)]
    assert quick["ratios"]["stream_over_gen"] == pytest.approx(sum(ratios) / 2)
    assert quick["transformers_fastest"] in sides[2:]
    assert len(quick["loadavg_before"]) == len(quick["loadavg_after"]) == 3


def test_safrl_stream_agrees_with_the_transformers_reference(quick):
    agreement = quick["agreement_stream_vs_transformers"]
    assert agreement["verdicts"] == agreement["equal"] == 6, agreement["mismatches"]
    assert agreement["mismatches"] == []
    assert agreement["max_prob_diff"] < 1e-4   # fp32 on both sides
    assert sum(agreement["outcomes"].values()) == 6
    assert quick["transformers_modes_agree"] is True


def test_the_gen_side_reads_the_verdict_writer_verdict(quick):
    assert quick["gen_guard"] == {"decoding": "constrained", "writer": "verdict_writer"}
    assert quick["gen_check"] == {"verdicts": 6, "safe_constrained": 6}
    assert quick["ok"] is True


def logits_for(labels):
    """Risk logits whose argmax is each label: 2.0 on it, 0.0 elsewhere."""
    index = {"Safe": 0, "Unsafe": 1, "Controversial": 2}
    rows = torch.zeros((len(labels), 3))
    for r, label in enumerate(labels):
        rows[r, index[label]] = 2.0
    return rows


def test_the_reference_verdict_is_the_debounced_outcome_at_its_position():
    script = load_script()
    category = torch.zeros((6, 8))
    category[5, 4] = 1.0   # PII at position 5
    labels = ["Safe", "Controversial", "Controversial", "Unsafe", "Safe", "Unsafe"]
    # A Controversial pair at (1, 2) but no Unsafe pair: Controversial, flagged at 2.
    verdict = script.verdict_of(logits_for(labels), category)
    assert (verdict["safety"], verdict["categories"]) == ("Controversial", ["Violent"])
    # softmax([0, 0, 2]): e^2 / (e^2 + 2) = 7.389 / 9.389 = 0.7870; the others 1 / 9.389.
    assert verdict["probs"] == pytest.approx([0.10651, 0.10651, 0.78699], abs=1e-5)
    # An Unsafe pair (4, 5) wins over the earlier Controversial pair: flagged at 5, PII.
    verdict = script.verdict_of(logits_for(labels[:3] + ["Safe", "Unsafe", "Unsafe"]), category)
    assert (verdict["safety"], verdict["categories"]) == ("Unsafe", ["PII"])
    # No pair: Safe, no category, the probabilities of the first lowest-P(Safe) position (1).
    verdict = script.verdict_of(logits_for(["Safe", "Unsafe", "Safe", "Unsafe"]), category)
    assert (verdict["safety"], verdict["categories"]) == ("Safe", [])
    assert verdict["probs"] == pytest.approx([0.10651, 0.78699, 0.10651], abs=1e-5)
