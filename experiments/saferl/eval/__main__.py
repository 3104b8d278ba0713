"""Command line of the evaluation pipeline (see __init__.py)."""
import argparse
import sys

from experiments.saferl.eval import pipeline


def _pairs(values, flag):
    out = {}
    for value in values or []:
        arm, sep, path = value.partition("=")
        if not sep or not arm or not path:
            sys.exit(f"{flag} {value!r}: expected ARM=PATH")
        if arm in out:
            sys.exit(f"{flag}: arm {arm!r} given twice")
        out[arm] = path
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python3 -m experiments.saferl.eval",
                                     description="Safety and refusal rates beside Table 10.")
    parser.add_argument("--out", required=True, help="output directory")
    judge = parser.add_mutually_exclusive_group()
    judge.add_argument("--endpoint", help="a running `safrl serve` (given to evaluation only)")
    judge.add_argument("--config", help="a safrl config: judge with `safrl score`")
    parser.add_argument("--run", action="append", required=True, metavar="ARM=GENERATIONS.jsonl",
                        help="arms: baseline, guard_only, hybrid (the paper's rows) or any name")
    parser.add_argument("--wildguard", action="append", metavar="ARM=OUTPUTS.jsonl",
                        help="WildGuard outputs for an arm's generations")
    parser.add_argument("--title", default="", help="a heading for table.md")
    args = parser.parse_args(argv)
    rows = pipeline.evaluate(_pairs(args.run, "--run"), args.out, endpoint=args.endpoint,
                             config=args.config,
                             wildguard_outputs=_pairs(args.wildguard, "--wildguard"),
                             title=args.title)
    print(f"wrote {args.out}/table.md and table.csv ({len(rows)} rows)")


if __name__ == "__main__":
    main()
