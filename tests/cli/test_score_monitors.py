"""`safrl score`'s step rows carry the monitors as the server's do (issue 27, section 1): the
duplicates of each step's group of one prompt, read from the input (so a resumed run counts the
lines of earlier runs too), the answer lengths from the output lines, and the alert lines."""
import json
import subprocess

import pytest

from embedded import SAFRL, write_config


def write_input(tmp_path):
    path = tmp_path / "in.jsonl"
    with open(path, "w") as f:
        for step in (0, 1):
            # One prompt's group: the second answer repeats the first, the third repeats it after
            # folding; the fourth is new. A fifth sample of another prompt repeats the first
            # answer too, but is no duplicate: it is in a group of its own.
            answers = ["Same answer.", "Same answer.", "  same   ANSWER.", f"Other {step}."]
            for k, answer in enumerate(answers):
                f.write(json.dumps({"id": f"{step}-{k}", "step": step, "prompt": f"p{step}",
                                    "response": answer}) + "\n")
            f.write(json.dumps({"id": f"{step}-x", "step": step, "prompt": "another",
                                "response": "Same answer."}) + "\n")
    return path


def run(config, inp, out, stats):
    proc = subprocess.run([SAFRL, "score", "--config", str(config), "--input", str(inp),
                           "--output", str(out), "--stats-out", str(stats)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr, json.load(open(stats))


def test_score_rows_carry_duplicates_lengths_and_alerts_also_when_resumed(tmp_path):
    config = write_config(tmp_path, extra="monitors: {duplicate_rate: 0.4, window: 1}\n")
    inp, out, stats = write_input(tmp_path), tmp_path / "out.jsonl", tmp_path / "stats.json"
    log, rows = run(config, inp, out, stats)
    lines = [json.loads(line) for line in open(out)]
    assert [r["step"] for r in rows] == [0, 1]
    for row in rows:
        step_lines = [x for x in lines if x["step"] == row["step"]]
        assert row["duplicate_rate"] == pytest.approx(1 / 5)
        assert row["folded_duplicate_rate"] == pytest.approx(2 / 5)
        lengths = [x["answer_tokens"] for x in step_lines]
        assert all(length > 0 for length in lengths)
        assert row["answer_tokens_mean"] == pytest.approx(sum(lengths) / 5)
        assert "duplicate_answers" in row["alerts"]
        assert (f" WARN score: step {row['step']}: alert duplicate_answers: 0.4 duplicate "
                f"answers within groups (after folding) (monitors.duplicate_rate 0.4)") in log
    refusals = [sum(x["refusal"] for x in lines if x["step"] == s) / 5 for s in (0, 1)]
    assert rows[0]["refusal_rate_change"] is None
    assert rows[1]["refusal_rate_change"] == pytest.approx(refusals[1] - refusals[0])
    # Step 1's threshold: the 0.25 quantile of step 0's H (linear interpolation).
    h = sorted(x["helpfulness"] for x in lines if x["step"] == 0)
    position = (len(h) - 1) * 0.25
    low = int(position)
    assert rows[1]["unhelpful_threshold"] == pytest.approx(
        h[low] + (position - low) * (h[low + 1] - h[low]))

    # A rerun resumes every line: the same rows, duplicates included.
    log_again, rows_again = run(config, inp, out, stats)
    assert "resuming; 10 samples already scored" in log_again
    for row, again in zip(rows, rows_again):
        for key in ("duplicate_rate", "folded_duplicate_rate", "answer_tokens_mean", "alerts",
                    "refusal_rate_change", "unhelpful_threshold", "safe_unhelpful_rate"):
            assert again[key] == row[key], key
