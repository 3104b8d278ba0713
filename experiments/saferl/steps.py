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

# The monitors of a step row (docs/reward.md, "Step statistics"), one panel each in the steps
# notebook: (title, the row's fields drawn in it, the alerts marked on it). Rows written before
# the monitors existed lack them; the panels draw only the fields some row has.
MONITOR_PANELS = (
    ("Refusal rate and its change over the previous steps",
     ("refusal_rate", "refusal_rate_change"), ("refusal_collapse",)),
    ("Within-group duplicate answers", ("duplicate_rate", "folded_duplicate_rate"),
     ("duplicate_answers",)),
    ("Answer length (guard tokens)", ("answer_tokens_mean",), ("length_hacking",)),
    # length_hacking watches the correlation with the reward: its rings go on that line.
    ("Correlation of answer length with", ("answer_tokens_reward_corr",
                                           "answer_tokens_helpfulness_corr"), ("length_hacking",)),
    ("Verdict or guard-template text in the judged text", ("verdict_text_rate",),
     ("verdict_text",)),
    ("Safety mass of the answer verdicts", ("safety_mass_mean", "safety_mass_min",
                                            "low_safety_mass_rate"), ("low_safety_mass",)),
    ("Fallback, unparseable, truncated thinking", ("fallback_rate", "unparseable_rate",
                                                   "truncated_thinking_rate"),
     ("fallback_decoding", "unparseable", "truncated_thinking")),
    ("Safe but unhelpful", ("safe_unhelpful_rate",), ("safe_unhelpful",)),
)
MONITORS = tuple(dict.fromkeys(f for _, fields, _ in MONITOR_PANELS for f in fields
                               if f not in _RATES))
ALERTS = tuple(dict.fromkeys(a for _, _, alerts in MONITOR_PANELS for a in alerts))
# Merging several rows of one step (several servers, or a step written in parts) from the rows'
# values: the fields below cannot be merged that way (a correlation, a change against earlier
# steps, a quantile of earlier steps); `safrl merge-steps` merges them exactly from the rows'
# sums, so a merged step shows them only when it had one row.
_UNMERGEABLE = ("refusal_rate_change", "answer_tokens_helpfulness_corr",
                "answer_tokens_reward_corr")
# Fields of the panels that rows had before the monitors: a panel of these alone is no monitor's.
_BEFORE_MONITORS = ("refusal_rate", "unparseable_rate")


def load_steps(paths: Sequence[str]) -> pd.DataFrame:
    """One run's steps.jsonl files as a frame, one row per step. Rows for the same step are
    merged, each weighted by its sample count: the shares of several servers, and the second row
    a server writes when samples of a step arrive after the step was written. The monitor fields
    (MONITORS) and `alerts` are columns when some row has them: a minimum is the rows' minimum,
    the alerts their union, the other means and rates weighted as above, and the fields of
    _UNMERGEABLE are kept only for a step of one row."""
    rows = []
    for path in paths:
        with open(path) as f:
            rows += [json.loads(line) for line in f if line.strip()]
    # Stepless rows (samples sent without a step) have no place on a curve.
    rows = [r for r in rows if r.get("step") is not None]
    monitors = [m for m in MONITORS if any(m in r for r in rows)]
    has_alerts = any("alerts" in r for r in rows)
    columns = ["step", "count", *_RATES, *monitors, *(["alerts"] if has_alerts else [])]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows).reindex(columns=columns)
    merged = []
    for step, group in frame.groupby("step", sort=True):
        row = {"step": int(step), "count": int(group["count"].sum())}
        for key in (*_RATES, *monitors):
            valid = group[key].notna()
            if key in _UNMERGEABLE:
                row[key] = float(group[key].iloc[0]) if len(group) == 1 and valid.all() else None
            elif key.endswith("_min"):
                row[key] = float(group.loc[valid, key].min()) if valid.any() else None
            else:
                weights = group.loc[valid, "count"]
                row[key] = (float((group.loc[valid, key] * weights).sum() / weights.sum())
                            if weights.sum() > 0 else None)
        if has_alerts:
            names = [a for alerts in group["alerts"] if isinstance(alerts, list) for a in alerts]
            row["alerts"] = list(dict.fromkeys(names))
        merged.append(row)
    return pd.DataFrame(merged, columns=columns)


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
        # A dot per step while they can be told apart; a long run's dots would only make the
        # notebook's stored PNGs large.
        ax.plot(group["step"], group[metric], marker="." if len(group) <= 40 else None,
                label=run)
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


def monitor_panels(frame: pd.DataFrame) -> List[Tuple[str, List[str], Tuple[str, ...]]]:
    """The MONITOR_PANELS of which some step of frame has a value: (title, the fields with a
    value, the alerts marked). Empty for step logs written before the monitors existed."""
    panels = []
    for title, fields, alerts in MONITOR_PANELS:
        present = [f for f in fields if f in frame.columns and frame[f].notna().any()]
        if set(present) - set(_BEFORE_MONITORS):
            panels.append((title, present, alerts))
    return panels


def fired(frame: pd.DataFrame, alerts: Sequence[str]) -> pd.Series:
    """Per step of frame: whether any of `alerts` fired (False without an alerts column)."""
    if "alerts" not in frame.columns:
        return pd.Series(False, index=frame.index)
    return frame["alerts"].map(lambda names: isinstance(names, list) and
                               any(a in names for a in alerts))


def plot_panel(frame: pd.DataFrame, fields: Sequence[str], alerts: Sequence[str], ax) -> None:
    """One line per run and field against the step, with a red ring on the first field's point
    at every step where one of `alerts` fired. With several runs, a run keeps its colour of
    plot_metric's curves and a field has a line style of its own, so the legend names the
    fields once instead of every (run, field) pair."""
    from matplotlib.lines import Line2D
    several = frame["run"].nunique() > 1
    styles = ("-", "--", ":", "-.")
    ringed = False
    for index, (run, group) in enumerate(frame.groupby("run", sort=False)):
        for k, field in enumerate(fields):
            # Plain lines: a long run's dots would make the notebook's stored PNGs large.
            ax.plot(group["step"], group[field], linewidth=1,
                    **({"color": f"C{index}", "linestyle": styles[k % len(styles)]}
                       if several else {"label": field}))
        rings = group[fired(group, alerts)]
        if not rings.empty:
            ringed = True
            ax.scatter(rings["step"], rings[fields[0]], s=60, facecolors="none",
                       edgecolors="red", linewidths=1.2, zorder=3,
                       label=None if several else f"alert {'/'.join(alerts)}")
    ax.set_xlabel("training step")
    ax.grid(alpha=0.3)
    if not several:
        ax.legend(fontsize=7)
        return
    handles = [Line2D([], [], color="black", linewidth=1, linestyle=styles[k % len(styles)],
                      label=field) for k, field in enumerate(fields)]
    if ringed:
        handles.append(Line2D([], [], marker="o", markersize=7, markerfacecolor="none",
                              markeredgecolor="red", linestyle="none",
                              label=f"alert {'/'.join(alerts)}"))
    ax.legend(handles=handles, fontsize=6)


def alert_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per run and alert that fired: the number of steps it fired in, the first and the last,
    and the steps themselves (ranges of consecutive steps as a-b). Empty when none fired or the
    rows have no alerts."""
    records = []
    if "alerts" in frame.columns:
        for run, group in frame.groupby("run", sort=False):
            for alert in ALERTS + tuple(sorted(
                    {a for names in group["alerts"] if isinstance(names, list) for a in names}
                    - set(ALERTS))):
                at = [int(s) for s in group.loc[fired(group, [alert]), "step"]]
                if at:
                    records.append({"run": run, "alert": alert, "steps": len(at),
                                    "first": at[0], "last": at[-1], "at": _ranges(at)})
    return pd.DataFrame(records, columns=["run", "alert", "steps", "first", "last", "at"])


def _ranges(steps: Sequence[int]) -> str:
    """[1, 2, 3, 7, 9, 10] -> '1-3, 7, 9-10'."""
    parts, start = [], steps[0]
    for prev, cur in zip(steps, list(steps[1:]) + [None]):
        if cur != prev + 1:
            parts.append(f"{start}-{prev}" if prev != start else str(start))
            start = cur
    return ", ".join(parts)
