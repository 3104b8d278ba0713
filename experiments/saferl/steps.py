"""Per-step training curves from the step logs of `safrl serve` (RUN_DIR/steps.jsonl).

A run directory holds one subdirectory per training run (an arm, or an arm and a mode at full
scale): the `--run-dir` of that run's server, or, when several servers shared the run's
rollouts, one subdirectory per server inside it (recipes/servers.sh writes RUN/server-<i>/). The
notebooks and the CPU experiment read them with load_runs() and draw them with plot_metric();
locate_runs() finds them from whichever folder a user has at hand.
"""
import glob
import json
import os
import re
from typing import Dict, List, Optional, Sequence, Tuple

import pandas as pd

METRICS = {"safety_rate": "Safety rate", "refusal_rate": "Refusal rate",
           "reward_mean": "Mean reward"}
_RATES = ("safety_rate", "refusal_rate", "controversial_rate", "reward_mean", "helpfulness_mean")


def load_steps(paths: Sequence[str]) -> pd.DataFrame:
    """One run's steps.jsonl files as a frame, one row per step. Rows for the same step are
    merged, each weighted by its sample count: the shares of several servers, and the second row
    a server writes when samples of a step arrive after the step was written."""
    rows = []
    for path in paths:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    if not rows:
        return pd.DataFrame(columns=["step", "count", *_RATES])
    frame = pd.DataFrame(rows)[["step", "count", *_RATES]]
    merged = []
    for step, group in frame.groupby("step", sort=True):
        row = {"step": int(step), "count": int(group["count"].sum())}
        for key in _RATES:
            valid = group[key].notna()
            weights = group.loc[valid, "count"]
            row[key] = (float((group.loc[valid, key] * weights).sum() / weights.sum())
                        if weights.sum() > 0 else None)
        merged.append(row)
    return pd.DataFrame(merged)


def step_files(run: str) -> List[str]:
    """RUN/steps.jsonl and RUN/*/steps.jsonl (one per server)."""
    return sorted(glob.glob(os.path.join(run, "steps.jsonl")) +
                  glob.glob(os.path.join(run, "*", "steps.jsonl")))


def _run_names(folder: str) -> List[str]:
    """The subdirectories of folder that hold a run's step logs."""
    return sorted(d for d in os.listdir(folder)
                  if os.path.isdir(os.path.join(folder, d)) and step_files(os.path.join(folder, d)))


def _is_one_run(folder: str) -> bool:
    """A server's --run-dir (steps.jsonl in it), or a run whose servers each wrote a
    server-<i>/ folder in it (recipes/servers.sh)."""
    if os.path.isfile(os.path.join(folder, "steps.jsonl")):
        return True
    names = _run_names(folder)
    return bool(names) and all(re.fullmatch(r"server-\d+", n) for n in names)


def locate_runs(path: str) -> Tuple[str, List[str]]:
    """(folder, run names) for load_runs() from what a user points at: one run (a server's
    --run-dir, such as OUTDIR/runs/<arm> of run_cpu.sh, or a recipe run with server-<i>/
    folders), a folder of runs (OUTDIR/runs, the recipes' RUNS), or run_cpu.sh's OUTDIR."""
    path = os.path.abspath(path)
    if not os.path.isdir(path):
        raise FileNotFoundError(f"{path}: no such directory (expected a run directory with "
                                "steps.jsonl, a folder of runs, or the OUTDIR of run_cpu.sh)")
    if _is_one_run(path):
        return os.path.dirname(path), [os.path.basename(path)]
    # OUTDIR/runs first: step_files() would take OUTDIR's runs/ for one run of several servers.
    for folder in (os.path.join(path, "runs"), path):
        if os.path.isdir(folder) and _run_names(folder):
            return folder, _run_names(folder)
    raise FileNotFoundError(
        f"{path}: no step logs. Expected one of: a run directory holding steps.jsonl (a "
        "server's --run-dir, e.g. OUTDIR/runs/hybrid of run_cpu.sh) or server-<i>/steps.jsonl; "
        "a folder with one such run per subdirectory (OUTDIR/runs, the recipes' RUNS); the "
        "OUTDIR of experiments/saferl/run_cpu.sh (with runs/)")


def load_runs(run_dir: str, runs: Optional[List[str]] = None) -> pd.DataFrame:
    """Every run under run_dir (subdirectories with step logs), with a `run` column."""
    names = runs or _run_names(run_dir)
    if not names:
        raise FileNotFoundError(f"{run_dir}: no subdirectory with a steps.jsonl")
    frames = []
    for name in names:
        frame = load_steps(step_files(os.path.join(run_dir, name)))
        frame.insert(0, "run", name)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def user_path(path: str, repo: str) -> str:
    """path as given, or under repo when it is relative and not found from the current folder:
    nbconvert runs a notebook in notebooks/, while the READMEs' commands name paths from the
    repository root."""
    if os.path.isabs(path) or os.path.exists(path):
        return path
    return os.path.join(repo, path)


def plot_metric(frame: pd.DataFrame, metric: str, ax) -> None:
    """One line per run of `metric` against the training step."""
    for run, group in frame.groupby("run", sort=False):
        ax.plot(group["step"], group[metric], marker=".", label=run)
    ax.set_xlabel("training step")
    ax.set_ylabel(METRICS.get(metric, metric))
    if metric.endswith("_rate"):
        ax.set_ylim(-0.03, 1.03)
    ax.grid(alpha=0.3)
    ax.legend()


def write_plots(frame: pd.DataFrame, out_dir: str) -> Dict[str, str]:
    """OUT_DIR/<metric>.png for safety rate, refusal rate and mean reward."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    os.makedirs(out_dir, exist_ok=True)
    paths = {}
    for metric, title in METRICS.items():
        fig, ax = plt.subplots(figsize=(6, 4))
        plot_metric(frame, metric, ax)
        ax.set_title(title + (" (each run in its own reward's units)"
                              if metric == "reward_mean" else ""))
        fig.tight_layout()
        paths[metric] = os.path.join(out_dir, f"{metric}.png")
        fig.savefig(paths[metric], dpi=100)
        plt.close(fig)
    return paths
