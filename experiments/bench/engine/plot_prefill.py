"""Plots prefill throughput against batch tokens from prefill_bench outputs (RESULTS.md).

    build/experiments/bench/prefill_bench CONFIG.json --tokens 128,256,... > sweep.txt
    .venv/bin/python experiments/bench/engine/plot_prefill.py OUT.png sweep.txt[=LABEL] ... \
        [--title T]

Needs matplotlib (in .venv). Top: tokens/s; bottom: achieved GFLOP/s as a fraction of the
matrix-product rate prefill_bench measured in the same run, with the target of 0.6.
"""
import argparse
import re

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def parse(path):
    peak, rows = None, []
    for line in open(path):
        found = re.search(r"matmul .*: ([0-9.]+) GFLOP/s", line)
        if found:
            peak = float(found.group(1))
        fields = line.split()
        if len(fields) == 6 and fields[0].isdigit():
            tokens, _, _, tokens_s, _, ratio = fields
            rows.append((int(tokens), float(tokens_s), float(ratio)))
    if peak is None or not rows:
        raise SystemExit(f"{path}: not prefill_bench output (no matmul line or no rows)")
    return peak, rows


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("sweeps", nargs="+", help="prefill_bench output, optionally =LABEL")
    parser.add_argument("--title", default="safrl prefill, Qwen3-0.6B shapes, CPU fp32")
    args = parser.parse_args()
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    all_tokens = set()
    for sweep in args.sweeps:
        path, _, label = sweep.partition("=")
        peak, rows = parse(path)
        tokens = [r[0] for r in rows]
        all_tokens.update(tokens)
        label = f"{label or path} (matmul {peak:.0f} GFLOP/s)"
        top.plot(tokens, [r[1] for r in rows], "o-", label=label)
        bottom.plot(tokens, [r[2] for r in rows], "s-", label=label)
    bottom.axhline(0.6, color="gray", linewidth=0.8, linestyle=":")
    bottom.text(min(all_tokens), 0.61, "target 0.6", color="gray", fontsize=8)
    top.set_ylabel("tokens/s")
    top.set_ylim(bottom=0)
    bottom.set_ylabel("fraction of the matmul rate")
    bottom.set_ylim(0, 1.05)
    bottom.set_xscale("log", base=2)
    ticks = sorted(all_tokens)
    bottom.set_xticks(ticks)
    bottom.set_xticklabels([str(t) for t in ticks])
    bottom.set_xlabel("tokens per batch (packed sequences of 64-512 tokens, no padding)")
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    top.set_title(args.title, fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
