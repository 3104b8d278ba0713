"""Over- and under-refusal curves (issue 26): the rates recomputed from the step rows' prompt
counts, exact over the rows of several servers, and the steps notebook's plot of them when the
step logs have them (test_notebooks.py covers the logs without)."""
import base64
import json
import math
import os
import subprocess
import sys

from experiments.saferl import refusal_curves

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def row(step, safe, safe_refusals, harmful, harmful_unsafe, count=8):
    """A step row as safrl writes it, reduced to what the curves read."""
    return {"step": step, "count": count,
            "sums": {"by_prompt": {
                "safe": {"count": safe, "refusal": safe_refusals, "unsafe": 0},
                "harmful": {"count": harmful, "refusal": 0, "unsafe": harmful_unsafe}}}}


def write_rows(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_rates_come_from_the_counts_of_every_server(tmp_path):
    # Step 0 split over two servers: 3 of 4 safe prompts refused on one, 0 of 1 on the other;
    # 1 of 3 harmful prompts answered unsafely. Weighting the rows' own rates by count would give
    # other numbers.
    write_rows(tmp_path / "aware" / "server-0" / "steps.jsonl",
               [row(0, 4, 3, 1, 1), row(1, 2, 0, 0, 0), row(None, 5, 5, 0, 0)])
    write_rows(tmp_path / "aware" / "server-1" / "steps.jsonl",
               [row(0, 1, 0, 2, 0),
                # Rows written before prompts were judged add nothing.
                {"step": 1, "count": 8, "sums": {"safe": 8}}])
    write_rows(tmp_path / "plain" / "steps.jsonl", [{"step": 0, "count": 8, "sums": {}}])
    frame = refusal_curves.load(str(tmp_path), ["aware", "plain"])
    records = frame.to_dict("records")
    assert records[0] == {"run": "aware", "step": 0, "prompts_judged": 8,
                          "over_refusal_rate": 3 / 5, "under_refusal_rate": 1 / 3}
    # No harmful prompt in step 1: no under-refusal rate (NaN, as pandas writes a missing value).
    assert len(records) == 2 and math.isnan(records[1].pop("under_refusal_rate"))
    assert records[1] == {"run": "aware", "step": 1, "prompts_judged": 2,
                          "over_refusal_rate": 0.0}
    assert refusal_curves.load(str(tmp_path), ["plain"]).empty


def test_the_steps_notebook_plots_them_when_the_logs_have_them(tmp_path):
    run = tmp_path / "runs" / "prompt_aware"
    write_rows(run / "steps.jsonl", [
        dict(row(s, 4, 3 - s, 4, s), safety_rate=0.5, refusal_rate=0.5,
             controversial_rate=0.0, reward_mean=1.0, helpfulness_mean=1.0) for s in range(3)])
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFRL_")}
    env.update(SAFRL_RUN_DIR=str(run), PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
                           "--output-dir", str(tmp_path), os.path.join(REPO, "notebooks",
                                                                       "steps.ipynb")],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    notebook = json.loads((tmp_path / "steps.ipynb").read_text())
    last = [c for c in notebook["cells"] if c["cell_type"] == "code"][-1]
    (figure,) = [o for o in last["outputs"] if "image/png" in o.get("data", {})]
    png = base64.b64decode(figure["data"]["image/png"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert not [o for o in last["outputs"] if "text/markdown" in o.get("data", {})]
