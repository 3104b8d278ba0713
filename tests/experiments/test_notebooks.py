"""The notebooks: executed headless on a small fixture shaped like run_cpu.sh's output (seconds),
from the folders a user may point SAFRL_RUN_DIR at; and the committed notebooks keep the outputs
of the run that experiments/saferl/RESULTS.md records, so the repository page shows the plots."""
import base64
import json
import os
import re
import struct
import subprocess
import sys

import pytest

from experiments.saferl import steps
from experiments.saferl.eval import table

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NOTEBOOKS = ("steps.ipynb", "saferl_table.ipynb")

# Per arm: (safety_rate, refusal_rate, reward_mean, helpfulness_mean) at steps 0, 1, 2; 8
# rollouts per step.
STEPS = {
    "guard_only": [(0.5, 0.25, 0.5, 1.5), (0.75, 0.5, 0.75, 0.5), (1.0, 0.625, 1.0, -0.5)],
    "hybrid": [(0.5, 0.25, 0.25, 1.5), (0.625, 0.125, 0.875, 2.0), (0.875, 0.125, 1.5, 2.25)],
    "helpfulness_only": [(0.5, 0.25, 1.5, 1.5), (0.25, 0.125, 2.5, 2.5), (0.0, 0.0, 3.75, 3.75)],
}
# Per arm and mode: (safety, answer-only safety, refusal, benign refusal), fractions.
EVAL = {
    "baseline": {"non_think": (0.625, 0.625, 0.125, 0.0), "think": (0.375, 0.5, 0.125, 0.0)},
    "guard_only": {"non_think": (1.0, 1.0, 0.5, 0.25), "think": (1.0, 1.0, 0.625, 0.25)},
    "hybrid": {"non_think": (0.875, 0.875, 0.0, 0.0), "think": (1.0, 1.0, 0.125, 0.0)},
    "helpfulness_only": {"non_think": (0.0, 0.0, 0.0, 0.0), "think": (0.125, 0.125, 0.0, 0.0)},
}
CPU_TABLE = ("arm,safety_rate,refusal_rate,reward_mean\nguard_only,1.0,0.5625,1.0\n"
             "hybrid,0.9375,0.0625,1.5\nhelpfulness_only,0.0625,0.0,3.75\n")


@pytest.fixture(scope="module")
def outdir(tmp_path_factory):
    """A run_cpu.sh OUTDIR in miniature: runs/<arm>/steps.jsonl (and the per-mode folders beside
    it, which hold no step logs), eval/table.csv as the evaluation pipeline writes it, table.csv."""
    out = tmp_path_factory.mktemp("saferl_cpu_fixture")
    for arm, rows in STEPS.items():
        run = out / "runs" / arm
        for mode in ("non_think", "think"):
            (run / mode).mkdir(parents=True)
        (run / "steps.jsonl").write_text("".join(
            json.dumps({"step": i, "count": 8, "safety_rate": s, "refusal_rate": r,
                        "controversial_rate": 0.0, "reward_mean": w, "helpfulness_mean": h}) + "\n"
            for i, (s, r, w, h) in enumerate(rows)))
    measured = {arm: {mode: dict(n_harmful=8, n_benign=4, safety_guard=s,
                                 safety_guard_answer_only=a, refusal_guard=r,
                                 refusal_guard_benign=b)
                      for mode, (s, a, r, b) in modes.items()} for arm, modes in EVAL.items()}
    (out / "eval").mkdir()
    table.write(table.rows(measured), str(out / "eval" / "table.md"),
                str(out / "eval" / "table.csv"))
    (out / "table.csv").write_text(CPU_TABLE)
    return out


def execute(tmp_path, env_dir):
    """Both notebooks run by nbconvert as the READMEs say, SAFRL_RUN_DIR=env_dir only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SAFRL_")}
    env.update(SAFRL_RUN_DIR=str(env_dir), PYTHONPATH=REPO)
    proc = subprocess.run([sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute",
                           "--output-dir", str(tmp_path),
                           *[os.path.join(REPO, "notebooks", n) for n in NOTEBOOKS]],
                          capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {n: json.loads((tmp_path / n).read_text()) for n in NOTEBOOKS}


def outputs(notebook):
    """Every output of every code cell, in order."""
    return [o for c in notebook["cells"] if c["cell_type"] == "code" for o in c["outputs"]]


def texts(notebook):
    """The printed text of each code cell, in order."""
    return ["".join(o["text"]) for o in outputs(notebook) if o["output_type"] == "stream"]


def tables(notebook):
    """Each displayed frame as rows of cell texts, from its HTML (the plain text wraps)."""
    html = ["".join(o["data"]["text/html"]) for o in outputs(notebook)
            if "text/html" in o.get("data", {})]
    return [[re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, flags=re.S)
             for row in re.findall(r"<tr[^>]*>(.*?)</tr>", frame, flags=re.S)] for frame in html]


def pngs(notebook):
    return [base64.b64decode(o["data"]["image/png"]) for o in outputs(notebook)
            if "image/png" in o.get("data", {})]


def png_size(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_notebooks_on_the_experiments_outdir(outdir, tmp_path):
    done = execute(tmp_path, outdir)
    (printed,) = texts(done["steps.ipynb"])
    assert printed == f"runs guard_only, helpfulness_only, hybrid: 9 steps in all, from {outdir}\n"
    # The last step of each run: step, count, safety, refusal, reward, helpfulness.
    (last,) = tables(done["steps.ipynb"])
    assert last[2:] == [["guard_only", "2", "8", "1.000", "0.625", "1.00", "-0.50"],
                        ["helpfulness_only", "2", "8", "0.000", "0.000", "3.75", "3.75"],
                        ["hybrid", "2", "8", "0.875", "0.125", "1.50", "2.25"]]
    # Three curves in one figure, then the helpfulness curve; 72 dpi keeps them small.
    figures = [png_size(p) for p in pngs(done["steps.ipynb"])]
    assert len(figures) == 2 and all(w <= 1200 and h <= 400 for w, h in figures)

    (printed,) = texts(done["saferl_table.ipynb"])
    assert printed == f"8 rows from {outdir} (run_cpu.sh's eval/)\n"
    measured, cpu = tables(done["saferl_table.ipynb"])
    # Mode, model; the paper's safety (Qwen3-235B, WildGuard), the measured safety (WildGuard:
    # none given, Qwen3Guard, the answer alone), the paper's refusal, the measured refusal
    # (WildGuard, Qwen3Guard), the benign refusal (WildGuard, Qwen3Guard). Percentages.
    assert measured[2] == ["Non-Think", "Qwen3-4B", "47.5", "64.7", "NaN", "62.5", "62.5", "12.9",
                           "NaN", "12.5", "NaN", "0.0"]
    assert measured[6] == ["Think", "Qwen3-4B", "43.8", "59.0", "NaN", "37.5", "50.0", "6.5",
                           "NaN", "12.5", "NaN", "0.0"]
    assert measured[7] == ["+ SafeRL (Guard-only)", "99.7", "100.0", "NaN", "100.0", "100.0",
                           "95.2", "NaN", "62.5", "NaN", "25.0"]
    assert measured[9] == ["+ RL (helpfulness only)", "NaN", "NaN", "NaN", "12.5", "12.5", "NaN",
                           "NaN", "0.0", "NaN", "0.0"]
    assert len(pngs(done["saferl_table.ipynb"])) == 1
    assert cpu[1:] == [["0", "guard_only", "1.0000", "0.5625", "1.00"],
                       ["1", "hybrid", "0.9375", "0.0625", "1.50"],
                       ["2", "helpfulness_only", "0.0625", "0.0000", "3.75"]]


def test_notebooks_on_one_arms_run_directory(outdir, tmp_path):
    arm = outdir / "runs" / "hybrid"
    done = execute(tmp_path, arm)
    assert texts(done["steps.ipynb"]) == [f"runs hybrid: 3 steps in all, from {arm}\n"]
    assert tables(done["steps.ipynb"])[0][2:] == [["hybrid", "2", "8", "0.875", "0.125", "1.5",
                                                  "2.25"]]
    # The table is the whole experiment's: the arm's OUTDIR holds it.
    assert texts(done["saferl_table.ipynb"]) == [f"8 rows from {arm} (run_cpu.sh's eval/)\n"]
    assert tables(done["saferl_table.ipynb"])[1][2] == ["1", "hybrid", "0.9375", "0.0625", "1.50"]


def test_locate_runs_takes_every_folder_a_user_has(outdir, tmp_path):
    arms = ["guard_only", "helpfulness_only", "hybrid"]
    assert steps.locate_runs(str(outdir)) == (str(outdir / "runs"), arms)
    assert steps.locate_runs(str(outdir / "runs")) == (str(outdir / "runs"), arms)
    assert steps.locate_runs(str(outdir / "runs" / "hybrid")) == (str(outdir / "runs"), ["hybrid"])
    # The recipes: RUNS/<arm>_<mode>/server-<i>/steps.jsonl.
    for run in ("hybrid_think", "guard_only_think"):
        for i in (0, 1):
            (tmp_path / "runs" / run / f"server-{i}").mkdir(parents=True)
            (tmp_path / "runs" / run / f"server-{i}" / "steps.jsonl").write_text(
                (outdir / "runs" / "hybrid" / "steps.jsonl").read_text())
    runs = tmp_path / "runs"
    assert steps.locate_runs(str(runs)) == (str(runs), ["guard_only_think", "hybrid_think"])
    assert steps.locate_runs(str(runs / "hybrid_think")) == (str(runs), ["hybrid_think"])
    frame = steps.load_runs(*steps.locate_runs(str(runs / "hybrid_think")))
    assert list(frame["count"]) == [16, 16, 16]  # the two servers' shares of each step


def test_a_folder_with_no_step_logs_says_what_was_expected(outdir, tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"{outdir / 'eval'}: no step logs. Expected one of: a run directory holding "
            "steps.jsonl")) as error:
        steps.locate_runs(str(outdir / "eval"))
    assert "the OUTDIR of experiments/saferl/run_cpu.sh" in str(error.value)
    with pytest.raises(FileNotFoundError, match="no such directory"):
        steps.locate_runs(str(tmp_path / "missing"))
    with pytest.raises(FileNotFoundError, match=re.escape(
            f"{tmp_path}: no evaluation table. Expected one of: an evaluation directory")):
        table.locate(str(tmp_path))
    assert table.locate(str(outdir)) == (str(outdir / "eval"), str(outdir / "table.csv"))
    assert table.locate(str(outdir / "eval")) == (str(outdir / "eval"), None)


def test_relative_paths_are_taken_from_the_repository_root(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert steps.user_path("experiments/saferl", REPO) == os.path.join(REPO, "experiments/saferl")
    (tmp_path / "here").mkdir()
    assert steps.user_path("here", REPO) == "here"
    assert steps.user_path("/abs/path", REPO) == "/abs/path"


def committed(name):
    with open(os.path.join(REPO, "notebooks", name)) as f:
        return json.load(f)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_notebooks_hold_the_outputs_of_a_run(name):
    notebook = committed(name)
    code = [c for c in notebook["cells"] if c["cell_type"] == "code"]
    # The parameters cell prints nothing; every other cell was run, in order, without errors.
    assert [c["execution_count"] for c in code] == list(range(1, len(code) + 1))
    assert all(c["outputs"] for c in code[1:]), f"{name}: a cell without outputs"
    assert not [o for o in outputs(notebook) if o["output_type"] == "error"]
    figures = [png_size(p) for p in pngs(notebook)]
    # steps.ipynb: the three curves, the helpfulness, and the monitors of a run that has them
    # (8 panels in two figures of 4).
    assert len(figures) == {"steps.ipynb": 4, "saferl_table.ipynb": 1}[name]
    assert all(w <= 1200 and h <= 400 for w, h in figures)
    # Nothing that changes every execution: no timings, and a modest size on disk (the steps
    # notebook of four arms' 30 steps with their monitors: about 380 kB).
    assert not [c for c in code if "execution" in c["metadata"]]
    assert os.path.getsize(os.path.join(REPO, "notebooks", name)) < 450_000


def results_entry(says):
    """The one entry (a "## " section) of experiments/saferl/RESULTS.md that says `says`."""
    with open(os.path.join(REPO, "experiments", "saferl", "RESULTS.md")) as f:
        entries = f.read().split("\n## ")
    (entry,) = [e for e in entries if says in e]
    return entry


def test_committed_notebooks_show_the_run_results_md_records():
    """The CPU table in the committed table notebook is the table of the RESULTS.md entry that
    says the notebook shows its run; the committed steps notebook read the run directory that
    the RESULTS.md entry naming it gives."""
    (printed,) = texts(committed("steps.ipynb"))
    run_dir = re.fullmatch(r"runs [\w, ]+: \d+ steps in all, from (\S+)\n", printed).group(1)
    assert f"SAFRL_RUN_DIR={run_dir} " in results_entry("`notebooks/steps.ipynb` shows this run")
    cpu = tables(committed("saferl_table.ipynb"))[-1]
    entry = results_entry("`notebooks/saferl_table.ipynb` shows this run")
    recorded = re.findall(r"^\| (\w+) \| ([0-9.]+) \| ([0-9.]+) \| ([0-9.]+) \|$", entry, re.M)
    # The paper's arms first; the opt-in hybrid_expected arm where the run had it.
    assert [r[0] for r in recorded][:3] == ["guard_only", "hybrid", "helpfulness_only"]
    assert {r[0] for r in recorded[3:]} <= {"hybrid_expected"}
    shown = {row[1]: [float(x) for x in row[2:]] for row in cpu[1:]}
    for arm, *figures in recorded:
        assert shown[arm] == pytest.approx([float(x) for x in figures], abs=6e-4), arm
