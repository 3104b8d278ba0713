"""Identical rollouts scored once (issue 29, "Work that need not be done"): `safrl score` on a
GRPO-shaped workload (steps x 8 prompts x 8 answers) in which a fraction of each group repeats one
refusal, with the judgement cache on (the default) and off (batching.judgement_cache_bytes: 0),
alternating rounds. Prints one JSON line per (duplicates, cache) with the median wall seconds.

    python -m experiments.bench.judgement_cache --safrl build/src/cli/safrl \
        --guard build/embedded/demo-guard --reward build/embedded/demo-reward
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

REFUSAL = "I can't help with that."


def workload(duplicates, steps, prompts, group):
    """Each group: REFUSAL once plus `duplicates * group` copies of it, the rest distinct."""
    copies = round(duplicates * group)
    lines = []
    for step in range(steps):
        for p in range(prompts):
            prompt = f"Step {step}, question {p}: how do I get into a locked shed?"
            answers = [REFUSAL] * (copies + 1)
            answers += [f"Answer {k} to question {p}: ask the owner for the key, or call a "
                        f"locksmith with proof that the shed is yours ({step}.{k})."
                        for k in range(group - len(answers))]
            for k, answer in enumerate(answers):
                lines.append({"id": f"{step}-{p}-{k}", "step": step, "prompt": prompt,
                              "answer": answer})
    return lines


def config(guard, reward, cache_bytes):
    return (f"guard: {{model: {guard}}}\n"
            f"helpfulness: {{model: {reward}, chat_format: qwen3}}\n"
            f"reward: {{type: hybrid}}\n"
            f"batching: {{judgement_cache_bytes: {cache_bytes}}}\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--safrl", required=True)
    parser.add_argument("--guard", required=True)
    parser.add_argument("--reward", required=True)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=4)
    args = parser.parse_args()
    work = tempfile.mkdtemp(prefix="judgement-cache-")
    configs = {}
    for name, cache_bytes in (("on", 256 << 20), ("off", 0)):
        configs[name] = os.path.join(work, f"cache-{name}.yaml")
        with open(configs[name], "w") as f:
            f.write(config(os.path.abspath(args.guard), os.path.abspath(args.reward), cache_bytes))
    for duplicates in (0.0, 0.25, 0.75):
        rollouts = os.path.join(work, f"rollouts-{duplicates}.jsonl")
        lines = workload(duplicates, args.steps, 8, 8)
        with open(rollouts, "w") as f:
            f.writelines(json.dumps(line) + "\n" for line in lines)
        seconds = {"on": [], "off": []}
        outputs = {}
        for _ in range(args.rounds):
            for name in ("off", "on"):  # alternating
                out = os.path.join(work, f"out-{name}.jsonl")
                start = time.perf_counter()
                subprocess.run([args.safrl, "score", "--config", configs[name], "--input",
                                rollouts, "--output", out, "--overwrite"], check=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                seconds[name].append(time.perf_counter() - start)
                with open(out) as f:
                    outputs[name] = [json.loads(line) for line in f]
        # The same verdicts either way; scores within the 1e-5 of other batch shapes.
        for on, off in zip(outputs["on"], outputs["off"]):
            assert on["answer"]["text"] == off["answer"]["text"], (on["id"], on, off)
            assert abs(on["helpfulness"] - off["helpfulness"]) <= 1e-5, (on["id"], on, off)
        tokens = {name: sum(line["tokens"] for line in outputs[name]) for name in outputs}
        for name in ("off", "on"):
            print(json.dumps({"duplicates": duplicates, "cache": name, "samples": len(lines),
                              "rounds": args.rounds,
                              "median_s": round(statistics.median(seconds[name]), 3),
                              "runs_s": [round(s, 3) for s in seconds[name]],
                              "tokens": tokens[name]}))
        print(json.dumps({"duplicates": duplicates, "speedup_off_over_on": round(
            statistics.median(seconds["off"]) / statistics.median(seconds["on"]), 3)}))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
