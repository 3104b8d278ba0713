"""The measured rates in the layout of the paper's Table 10, with the paper's figures beside
them, as Markdown and CSV. Rates are percentages here, as in the paper."""
import csv
import os
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

from experiments.saferl.eval import paper

# (CSV key, Markdown header, where the value comes from): "paper" columns are Table 10's
# figures; "measured" columns come from metrics.rates().
COLUMNS = (
    ("paper_safety_qwen3_235b", "Safety, Qwen3-235B judge (paper)", "paper", "safety_qwen3_235b"),
    ("paper_safety_wildguard", "Safety, WildGuard (paper)", "paper", "safety_wildguard"),
    ("safety_wildguard", "Safety, WildGuard (measured)", "measured", "safety_wildguard"),
    ("safety_guard", "Safety, Qwen3Guard via safrl (measured)", "measured", "safety_guard"),
    ("safety_guard_answer_only", "Safety of the answer alone, Qwen3Guard (measured)", "measured",
     "safety_guard_answer_only"),
    ("paper_refusal_wildguard", "Refusal, WildGuard (paper)", "paper", "refusal_wildguard"),
    ("refusal_wildguard", "Refusal, WildGuard (measured)", "measured", "refusal_wildguard"),
    ("refusal_guard", "Refusal, Qwen3Guard (measured)", "measured", "refusal_guard"),
    ("refusal_wildguard_benign", "Benign refusal, WildGuard (measured)", "measured",
     "refusal_wildguard_benign"),
    ("refusal_guard_benign", "Benign refusal, Qwen3Guard (measured)", "measured",
     "refusal_guard_benign"),
)
# The paper's capability columns: not measured by this pipeline (they need the benchmarks' own
# harnesses), shown for completeness.
CAPABILITY = ("arenahard_v2", "aime25", "lcb_v6", "gpqa")


def arm_order(arms: Sequence[str]) -> List[str]:
    """The paper's three arms first, in its order, then any others in the given order."""
    return [a for a in paper.ARMS if a in arms] + [a for a in arms if a not in paper.ARMS]


def rows(measured: Mapping[str, Mapping[str, Mapping]]) -> List[Dict]:
    """One row per (mode, arm): measured[arm][mode] as from metrics.rates(). Modes in the
    paper's order (Non-Think first); every mode the paper or a run has."""
    out = []
    for mode in paper.MODES:
        for arm in arm_order(list(measured)):
            m = measured[arm].get(mode)
            if m is None:
                continue
            row = {"mode": mode, "arm": arm, "model": paper.ARM_NAMES.get(arm, arm),
                   "n_harmful": m["n_harmful"], "n_benign": m["n_benign"]}
            for key, _, source, field in COLUMNS:
                value = (paper.figure(mode, arm, field) if source == "paper"
                         else _percent(m.get(field)))
                row[key] = value
            for key in CAPABILITY:
                row["paper_" + key] = paper.figure(mode, arm, key)
            out.append(row)
    return out


def _percent(fraction: Optional[float]) -> Optional[float]:
    return None if fraction is None else 100.0 * fraction


def _cell(value) -> str:
    if value is None:
        return "—"
    return f"{value:.1f}" if isinstance(value, float) else str(value)


def markdown(table: Sequence[Mapping]) -> str:
    headers = (["Mode", "Model", "n (harmful / benign)"] + [c[1] for c in COLUMNS])
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    for row in table:
        cells = [paper.MODE_NAMES[row["mode"]], row["model"],
                 f"{row['n_harmful']} / {row['n_benign']}"]
        cells += [_cell(row[c[0]]) for c in COLUMNS]
        lines.append("| " + " | ".join(cells) + " |")
    capability = ["", "The paper's capability columns (not measured here):", "",
                  "| Mode | Model | " + " | ".join(paper.COLUMNS[k] for k in CAPABILITY) + " |",
                  "|" + " --- |" * (2 + len(CAPABILITY))]
    for row in table:
        if row["arm"] in paper.ARMS:
            capability.append(f"| {paper.MODE_NAMES[row['mode']]} | {row['model']} | " +
                              " | ".join(_cell(row["paper_" + k]) for k in CAPABILITY) + " |")
    return "\n".join(lines + capability) + "\n"


def csv_columns() -> List[str]:
    return (["mode", "arm", "model", "n_harmful", "n_benign"] + [c[0] for c in COLUMNS] +
            ["paper_" + k for k in CAPABILITY])


def write(table: Sequence[Mapping], md_path: str, csv_path: str, title: str = "") -> None:
    with open(md_path, "w") as f:
        if title:
            f.write(f"{title}\n\n")
        f.write("Percentages. Safety and refusal are over the responses to the harmful prompts; "
                "benign refusal over the benign prompts; — where not measured or not in the "
                "paper.\n\n")
        f.write(markdown(table))
    with open(csv_path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=csv_columns())
        writer.writeheader()
        for row in table:
            writer.writerow({k: ("" if row[k] is None else row[k]) for k in csv_columns()})


def locate(path: str) -> Tuple[str, Optional[str]]:
    """(the evaluation directory holding table.csv, run_cpu.sh's OUTDIR/table.csv or None) from
    what a user points at: an evaluation directory (`--out` of the pipeline), the OUTDIR of
    run_cpu.sh, or a run directory inside it (OUTDIR/runs, OUTDIR/runs/<arm>), whose OUTDIR
    holds the evaluation of all its arms."""
    path = os.path.abspath(path)
    outdirs = [path]
    if os.path.basename(path) == "runs":
        outdirs.append(os.path.dirname(path))
    elif os.path.basename(os.path.dirname(path)) == "runs":
        outdirs.append(os.path.dirname(os.path.dirname(path)))
    for outdir in outdirs:
        if os.path.isfile(os.path.join(outdir, "eval", "table.csv")):
            cpu_table = os.path.join(outdir, "table.csv")
            return os.path.join(outdir, "eval"), cpu_table if os.path.isfile(cpu_table) else None
    if os.path.isfile(os.path.join(path, "table.csv")):
        return path, None
    raise FileNotFoundError(
        f"{path}: no evaluation table. Expected one of: an evaluation directory with table.csv "
        "(python3 -m experiments.saferl.eval --out DIR); the OUTDIR of "
        "experiments/saferl/run_cpu.sh (with eval/table.csv), or its runs/ or runs/<arm>")
