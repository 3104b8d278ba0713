"""What checking constrained decoding against the model costs: `safrl score` on the same
workload with two safrl programs (one before the check, one with it), alternating, and the head
FLOPs the check adds per verdict at real model shapes.

    .venv/bin/python -m experiments.bench.guard.constrained_cost OLD_SAFRL NEW_SAFRL GUARDS_DIR \
        [--copies 32] [--rounds 3]

GUARDS_DIR is what `python -m experiments.saferl.cpu.format_guard` writes: its trained guard and
the cases that follow the verdict format (response moderation) make the workload, each case
copied --copies times with distinct ids, scored guard_only with constrained decoding. Both
programs write the same verdicts (checked). The tiny guard (hidden 64, 2 layers, vocabulary
151,936) spends nearly all its FLOPs in the LM head, so its timing is the worst case; the FLOP
figures below it say what the check adds to a real guard.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import tempfile
import time

# Qwen3Guard-Gen shapes: hidden size (config.json of the released checkpoints) and non-embedding
# parameters (the Qwen3 model cards: 0.44B, 3.6B, 6.95B); a prompt token costs about twice the
# latter in FLOPs.
SHAPES = {"Qwen3Guard-Gen-0.6B": (1024, 0.44e9), "Qwen3Guard-Gen-4B": (2560, 3.6e9),
          "Qwen3Guard-Gen-8B": (4096, 6.95e9)}
VOCAB = 151936


def run(safrl, config, inputs, out):
    if os.path.exists(out):
        os.remove(out)
    start = time.perf_counter()
    done = subprocess.run([safrl, "score", "--config", config, "--input", inputs, "--output", out,
                           "--chunk", "1000"], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{safrl} failed: {done.stderr}")
    decode = float(re.search(r"guard decode ([0-9.e-]+) s", done.stderr).group(1))
    lines = [json.loads(line) for line in open(out)]
    return seconds, decode, [(x["answer"]["safety"], x["answer"]["categories"]) for x in lines]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("guards")
    parser.add_argument("--copies", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.guards = os.path.abspath(args.guards)
    cases = json.load(open(os.path.join(args.guards, "cases.json")))["cases"]
    cases = [c for c in cases if c["follows_format"] and len(c["messages"]) == 2]
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "config.yaml")
        with open(config, "w") as out:
            out.write(f"guard: {{model: {os.path.join(args.guards, 'format-guard')}}}\n"
                      "reward: {type: guard_only}\n")
        inputs = os.path.join(tmp, "in.jsonl")
        with open(inputs, "w") as out:
            for k in range(args.copies):
                for c in cases:
                    out.write(json.dumps({"id": f"{c['name']}/{k}",
                                          "prompt": c["messages"][0]["content"],
                                          "response": c["messages"][1]["content"]}) + "\n")
        samples = args.copies * len(cases)
        times = {"old": [], "new": []}
        verdicts = {}
        for _ in range(args.rounds):
            for name in ("old", "new"):
                seconds, decode, verdicts[name] = run(getattr(args, name), config, inputs,
                                                      os.path.join(tmp, f"{name}.jsonl"))
                times[name].append((seconds, decode))
        assert verdicts["old"] == verdicts["new"], "the two programs disagree"
        tokens = [len(c["target_ids"]) for c in cases]
    report = {"samples": samples, "rounds": args.rounds,
              "verdict_tokens": tokens,
              "old_samples_per_s": samples / statistics.median(t for t, _ in times["old"]),
              "new_samples_per_s": samples / statistics.median(t for t, _ in times["new"]),
              "old_decode_s": statistics.median(d for _, d in times["old"]),
              "new_decode_s": statistics.median(d for _, d in times["new"]),
              "head_gflop_added_per_verdict": {
                  name: round(statistics.mean(tokens) * 2 * hidden * VOCAB / 1e9, 2)
                  for name, (hidden, _) in SHAPES.items()},
              "layer_gflop_per_prompt_token": {
                  name: round(2 * params / 1e9, 2) for name, (_, params) in SHAPES.items()}}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
