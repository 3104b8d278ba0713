"""The monitors of the step rows in the steps notebook (experiments/saferl/steps.py): loaded and
merged per step, the alerts that fired listed per run, one panel per monitor with the alert steps
ringed; and step logs written before the monitors existed still load and plot what they have."""
import base64
import json
import math
import os
import subprocess
import sys

import pytest

from experiments.saferl import steps

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def monitored(step, refusal, change, duplicates, alerts):
    """A step row of 8 samples with every monitor field (the values are the row's, as a server
    wrote them; only the ones a test reads matter)."""
    return {"step": step, "count": 8, "safety_rate": 1.0, "refusal_rate": refusal,
            "controversial_rate": 0.0, "reward_mean": 1.0, "helpfulness_mean": 0.5,
            "unparseable_rate": 0.0, "refusal_rate_change": change,
            "duplicate_rate": duplicates, "folded_duplicate_rate": duplicates,
            "answer_tokens_mean": 40.0 - 10 * step, "answer_tokens_helpfulness_corr": 0.5,
            "answer_tokens_reward_corr": None, "verdict_text_rate": 0.0,
            "safety_mass_mean": 0.9, "safety_mass_min": 0.6, "low_safety_mass_rate": 0.0,
            "fallback_rate": 0.0, "truncated_thinking_rate": 0.125, "safe_unhelpful_rate": None,
            "unhelpful_threshold": None, "alerts": alerts}


def write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_rows_of_one_step_merge_as_the_notebook_says(tmp_path):
    write(tmp_path / "run" / "server-0" / "steps.jsonl", [
        {"step": 0, "count": 8, "refusal_rate": 0.5, "safety_mass_mean": 0.9,
         "safety_mass_min": 0.6, "refusal_rate_change": 0.1, "alerts": ["refusal_collapse"]},
        {"step": 1, "count": 8, "refusal_rate": 0.75, "safety_mass_mean": 0.8,
         "safety_mass_min": 0.5, "refusal_rate_change": 0.25, "alerts": []},
        {"step": None, "count": 3, "refusal_rate": 1.0, "alerts": []}])  # stepless: no point
    write(tmp_path / "run" / "server-1" / "steps.jsonl", [
        {"step": 0, "count": 24, "refusal_rate": 0.25, "safety_mass_mean": 0.7,
         "safety_mass_min": 0.4, "refusal_rate_change": 0.0,
         "alerts": ["low_safety_mass", "refusal_collapse"]},
        # A row of an older server: no monitors, so it weighs in the rates it has only.
        {"step": 1, "count": 8, "refusal_rate": 0.25}])
    frame = steps.load_runs(str(tmp_path), ["run"])
    assert list(frame["step"]) == [0, 1] and list(frame["count"]) == [32, 16]
    zero, one = frame.to_dict("records")
    # Step 0: refusal (8 * 0.5 + 24 * 0.25) / 32 = 10 / 32; safety mass mean
    # (8 * 0.9 + 24 * 0.7) / 32 = 24 / 32; its minimum the rows' minimum; the change (against
    # each server's own earlier steps) cannot be merged from the rows: none; alerts the union.
    assert zero["refusal_rate"] == pytest.approx(10 / 32)
    assert zero["safety_mass_mean"] == pytest.approx(0.75)
    assert zero["safety_mass_min"] == 0.4
    assert zero["refusal_rate_change"] is None or math.isnan(zero["refusal_rate_change"])
    assert zero["alerts"] == ["refusal_collapse", "low_safety_mass"]
    # Step 1: refusal (8 * 0.75 + 8 * 0.25) / 16 = 0.5; the monitors from the one row with them,
    # but the change only from a step of one row.
    assert one["refusal_rate"] == 0.5
    assert one["safety_mass_mean"] == 0.8 and one["safety_mass_min"] == 0.5
    assert one["refusal_rate_change"] is None or math.isnan(one["refusal_rate_change"])
    assert one["alerts"] == []


def test_a_step_of_one_row_keeps_every_monitor(tmp_path):
    write(tmp_path / "arm" / "steps.jsonl", [monitored(0, 0.25, None, 0.0, []),
                                             monitored(1, 0.75, 0.5, 0.25, ["refusal_collapse"])])
    frame = steps.load_runs(str(tmp_path), ["arm"])
    assert frame.loc[1, "refusal_rate_change"] == 0.5
    assert frame.loc[1, "answer_tokens_mean"] == 30.0
    assert frame.loc[1, "answer_tokens_helpfulness_corr"] == 0.5
    assert frame.loc[1, "alerts"] == ["refusal_collapse"]


def test_the_alert_summary_lists_each_alert_with_its_steps(tmp_path):
    write(tmp_path / "guard_only" / "steps.jsonl", [
        monitored(s, r, None, d, a) for s, r, d, a in [
            (0, 0.25, 0.0, []), (1, 0.5, 0.0, ["refusal_collapse"]),
            (2, 0.75, 0.5, ["refusal_collapse", "duplicate_answers"]),
            (3, 0.75, 0.0, ["refusal_collapse"]), (4, 0.5, 0.0, []),
            (5, 0.9, 0.0, ["refusal_collapse"])]])
    write(tmp_path / "hybrid" / "steps.jsonl", [monitored(0, 0.25, None, 0.0, [])])
    frame = steps.load_runs(str(tmp_path))
    summary = steps.alert_summary(frame)
    # Known alerts in the order of steps.ALERTS: refusal_collapse before duplicate_answers.
    assert summary.to_dict("records") == [
        {"run": "guard_only", "alert": "refusal_collapse", "steps": 4, "first": 1, "last": 5,
         "at": "1-3, 5"},
        {"run": "guard_only", "alert": "duplicate_answers", "steps": 1, "first": 2, "last": 2,
         "at": "2"}]
    # Rows of older servers carry no alerts: nothing to list.
    write(tmp_path / "old" / "steps.jsonl", [{"step": 0, "count": 8, "refusal_rate": 0.5}])
    assert steps.alert_summary(steps.load_runs(str(tmp_path), ["old"])).empty


def test_panels_are_the_monitors_the_rows_have(tmp_path):
    write(tmp_path / "arm" / "steps.jsonl", [monitored(0, 0.25, None, 0.0, []),
                                             monitored(1, 0.5, 0.25, 0.0, [])])
    panels = steps.monitor_panels(steps.load_runs(str(tmp_path), ["arm"]))
    # Every panel of steps.MONITOR_PANELS; a field without a value in any step (the length
    # correlation with the reward, the safe-unhelpful rate: null in every row) is left out, and
    # so is a panel with nothing left.
    assert [title for title, _, _ in panels] == [
        t for t, _, _ in steps.MONITOR_PANELS if t != "Safe but unhelpful"]
    assert dict((t, f) for t, f, _ in panels)["Correlation of answer length with"] == [
        "answer_tokens_helpfulness_corr"]
    # Rows from before the monitors: the refusal and unparseable rates alone make no panel.
    write(tmp_path / "old" / "steps.jsonl", [{"step": 0, "count": 8, "refusal_rate": 0.5,
                                              "unparseable_rate": 0.0}])
    assert steps.monitor_panels(steps.load_runs(str(tmp_path), ["old"])) == []


def execute_steps_notebook(tmp_path, run_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFRL_")}
    env.update(SAFRL_RUN_DIR=str(run_dir), PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
                           "--output-dir", str(tmp_path),
                           os.path.join(REPO, "notebooks", "steps.ipynb")],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    notebook = json.loads((tmp_path / "steps.ipynb").read_text())
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    (cell,) = [c for c in code if "monitor_panels" in "".join(c["source"])]
    return cell["outputs"]


def test_the_steps_notebook_plots_the_monitors_and_lists_the_alerts(tmp_path):
    run = tmp_path / "out" / "runs" / "guard_only"
    write(run / "steps.jsonl", [
        monitored(0, 0.25, None, 0.0, []), monitored(1, 0.5, 0.25, 0.0, []),
        monitored(2, 0.875, 0.5, 0.0, ["refusal_collapse"])])
    outputs = execute_steps_notebook(tmp_path, run)
    html = ["".join(o["data"]["text/html"]) for o in outputs if "text/html" in o.get("data", {})]
    (table,) = html
    assert "refusal_collapse" in table and "<td>2</td>" in table
    # 7 panels with values (no safe-unhelpful rate in these rows): one figure of 4, one of 3.
    figures = [base64.b64decode(o["data"]["image/png"]) for o in outputs
               if "image/png" in o.get("data", {})]
    assert len(figures) == 2 and all(f[:8] == b"\x89PNG\r\n\x1a\n" for f in figures)


def test_the_steps_notebook_says_so_when_the_rows_have_no_monitors(tmp_path):
    run = tmp_path / "runs" / "hybrid"
    write(run / "steps.jsonl", [{"step": 0, "count": 8, "safety_rate": 1.0, "refusal_rate": 0.0,
                                 "controversial_rate": 0.0, "reward_mean": 1.0,
                                 "helpfulness_mean": 1.0, "unparseable_rate": 0.0}])
    (output,) = execute_steps_notebook(tmp_path, run)
    assert "".join(output["data"]["text/markdown"]).startswith(
        "No monitor fields in these step logs")
