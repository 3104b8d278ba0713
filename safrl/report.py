"""Prints scored rollouts and step statistics as aligned text tables (docs/score.md).

    python -m safrl.report OUT.jsonl [--stats STATS.json]

OUT.jsonl is `safrl score`'s output; STATS.json its `--stats-out` file (a JSON array) or a
server's RUN_DIR/steps.jsonl (one row per line). One row per scored line: the answer's verdict
with its probability, its categories, its refusal answer with its probability, the thinking
trace's verdict (when it was judged), the helpfulness score, the reward and its case. Then one
row per step. The standard library only, so it runs wherever the plugin is installed.
"""
import argparse
import json
import sys
from typing import Iterable, List, Optional, Sequence

NONE = "-"


def _probability(value: Optional[float]) -> str:
    return "" if value is None else f" {value:.3f}"


def verdict_cell(verdict: Optional[dict]) -> str:
    """`Unsafe 0.987`: the label and the probability the guard gave it among the three."""
    if verdict is None:
        return NONE
    probs = verdict.get("probs") or {}
    return verdict["safety"] + _probability(probs.get(verdict["safety"]))


def refusal_cell(verdict: dict) -> str:
    """`Yes 0.990`: the answer to the refusal question and its probability."""
    refusal, p_yes = verdict.get("refusal"), verdict.get("refusal_prob")
    if refusal is None:
        return NONE
    return ("Yes" if refusal else "No") + _probability(
        None if p_yes is None else p_yes if refusal else 1.0 - p_yes)


def _number(value: Optional[float], digits: int = 2) -> str:
    return NONE if value is None else f"{value:.{digits}f}"


def _rate(value: Optional[float]) -> str:
    return NONE if value is None else f"{100 * value:.1f}%"


def sample_rows(lines: Iterable[dict]) -> List[List[str]]:
    return [[str(line["id"]), NONE if line.get("step") is None else str(line["step"]),
             verdict_cell(line["answer"]), ", ".join(line["answer"]["categories"]) or "None",
             refusal_cell(line["answer"]), verdict_cell(line.get("thinking")),
             _number(line.get("helpfulness")), _number(line["reward"]), line["case"]]
            for line in lines]


def step_rows(rows: Iterable[dict]) -> List[List[str]]:
    return [[NONE if row["step"] is None else str(row["step"]), str(row["count"]),
             _rate(row["safety_rate"]), _rate(row["refusal_rate"]),
             _rate(row["controversial_rate"]), _number(row["helpfulness_mean"]),
             _number(row["reward_mean"])] for row in rows]


SAMPLE_HEADER = ["id", "step", "verdict (p)", "categories", "refusal (p)", "thinking (p)",
                 "helpfulness", "reward", "case"]
SAMPLE_RIGHT = {1, 6, 7}
STEP_HEADER = ["step", "samples", "safety rate", "refusal rate", "controversial rate",
               "helpfulness mean", "reward mean"]
STEP_RIGHT = {0, 1, 2, 3, 4, 5, 6}


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set) -> str:
    """Columns two spaces apart, numbers right-aligned, a rule under the header."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
    return "\n".join([line(header), line(["-" * w for w in widths]), *map(line, rows)]) + "\n"


def read_json_lines(path: str) -> List[dict]:
    with open(path, encoding="utf-8") as f:
        return [json.loads(text) for text in f if text.strip()]


def read_steps(path: str) -> List[dict]:
    """`safrl score --stats-out`'s array, or a server's steps.jsonl."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        rows = json.loads(text)
    except json.JSONDecodeError:
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return rows if isinstance(rows, list) else [rows]


def report(scored: Sequence[dict], steps: Optional[Sequence[dict]] = None) -> str:
    out = table(SAMPLE_HEADER, sample_rows(scored), SAMPLE_RIGHT)
    if steps is not None:
        out += "\n" + table(STEP_HEADER, step_rows(steps), STEP_RIGHT)
    return out


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m safrl.report", description=__doc__.split(
        "\n")[0])
    parser.add_argument("scored", help="safrl score's output (JSON lines)")
    parser.add_argument("--stats", help="safrl score's --stats-out file, or a steps.jsonl")
    args = parser.parse_args(argv)
    sys.stdout.write(report(read_json_lines(args.scored),
                            read_steps(args.stats) if args.stats else None))


if __name__ == "__main__":
    main()
