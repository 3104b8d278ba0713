"""The SafeRL experiment on CPU, end to end through `safrl serve` (bash run_cpu.sh OUTDIR).

1. Trains the stand-in judges on the response bank (judges.py) and checks that the C++ program,
   scoring every bank response with `safrl score`, reproduces every label.
2. For each arm (guard_only, hybrid, helpfulness_only) starts a `safrl serve` with that
   `reward.type`, and trains the style policy with GRPO: every step samples G responses for each
   harmful prompt in each mode and scores them through the Python client (`score_groups`, with
   the step number), so the server's steps.jsonl / steps.csv are the training curves.
3. Samples generations from the baseline policy and from each trained policy for every prompt,
   harmful and benign, in both modes, and evaluates them with the evaluation pipeline (eval/).
4. Writes OUTDIR/table.csv (arm,safety_rate,refusal_rate,reward_mean), the paper-layout table
   OUTDIR/eval/table.md, plots OUTDIR/plots/*.png and OUTDIR/summary.json.

Layout: OUTDIR/judges/{guard,reward}, OUTDIR/configs/*.yaml, OUTDIR/runs/<arm>/ (the server's
run dir: steps.jsonl, steps.csv, serve.log; and policy.csv), OUTDIR/generations/<arm>.jsonl,
OUTDIR/eval/, OUTDIR/plots/.
"""
import argparse
import csv
import json
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass

import numpy as np
import safrl

from experiments.saferl import service, steps
from experiments.saferl.cpu import bank, judges, toolchain
from experiments.saferl.cpu.policy import BASELINE, StylePolicy
from experiments.saferl.eval import pipeline

ARMS = ("guard_only", "hybrid", "helpfulness_only")


@dataclass
class Settings:
    steps: int = 30            # GRPO steps per arm
    group_size: int = 8        # G responses per prompt
    lr: float = 0.5            # Adam on the policy's logits
    eval_samples: int = 32     # generations per (prompt, mode) for the final evaluation
    seed: int = 0


QUICK = Settings(steps=15, eval_samples=16)


def log(message: str) -> None:
    print(message, flush=True)


def write_configs(out: str) -> dict:
    """One server config per arm (guard and helpfulness model both loaded, so the step logs
    carry helpfulness for every arm), the evaluation config (judging does not depend on the
    reward type; hybrid gives every field) and its free-decoding twin for the judges' check."""
    os.makedirs(os.path.join(out, "configs"), exist_ok=True)
    paths = {}
    entries = ([(arm, arm, "constrained") for arm in ARMS] +
               [("eval", "hybrid", "constrained"), ("eval_free", "hybrid", "free")])
    for name, reward, decoding in entries:
        paths[name] = os.path.join(out, "configs", f"{name}.yaml")
        with open(paths[name], "w") as f:
            f.write(f"# The CPU SafeRL experiment, {name}: the stand-in judges trained on the "
                    f"response bank.\n"
                    f"guard: {{model: ../judges/guard, decoding: {decoding}}}\n"
                    f"helpfulness: {{model: ../judges/reward, chat_format: qwen3}}\n"
                    f"reward: {{type: {reward}, controversial: strict, judge_thinking: true}}\n"
                    f"runtime: {{device: cpu, dtype: float32}}\n")
    return paths


def verify_judges(out: str, configs: dict) -> dict:
    """Scores every bank response with the C++ program, with constrained and with free
    decoding, and compares with the bank's labels."""
    responses = bank.all_responses()
    samples = [{"id": i, "prompt": r.prompt.text, "response": r.text}
               for i, r in enumerate(responses)]
    report = {"responses": len(responses)}
    for decoding, config in (("constrained", configs["eval"]), ("free", configs["eval_free"])):
        results = service.score_offline(config, samples,
                                        os.path.join(out, "judges", f"bank.{decoding}.jsonl"))
        wrong, worst_h = [], 0.0
        for r, res in zip(responses, results):
            expected = [("answer", res["answer"], r.answer_verdict)]
            if r.thinking:
                expected.append(("thinking", res["thinking"], r.thinking_verdict))
            elif res["thinking"] is not None:
                wrong.append(f"{r.prompt.id}/{r.style}: a thinking verdict without a trace")
            for part, got, want in expected:
                if got is None or got["text"] != want.target():
                    wrong.append(f"{r.prompt.id}/{r.mode}/{r.style} {part}: got "
                                 f"{got and got['text']!r}, want {want.target()!r}")
            worst_h = max(worst_h, abs(res["helpfulness"] - r.helpfulness))
        report[decoding] = {"verdict_mismatches": wrong, "max_helpfulness_error": worst_h}
    with open(os.path.join(out, "judges", "verification.json"), "w") as f:
        json.dump(report, f, indent=2)
    if any(report[d]["verdict_mismatches"] or report[d]["max_helpfulness_error"] > 0.5
           for d in ("constrained", "free")):
        raise RuntimeError(f"the server does not reproduce the bank's labels: {report}")
    return report


def train_arm(arm: str, config: str, run_dir: str, s: Settings) -> StylePolicy:
    """GRPO on the harmful prompts (the paper trains on WildJailbreak's harmful prompts only),
    both modes, every rollout scored by the arm's server."""
    policy = StylePolicy(lr=s.lr)
    rng = np.random.default_rng(s.seed)
    keys = [(p, mode) for p in bank.HARMFUL for mode in bank.MODES]
    with service.serve(config, run_dir) as endpoint, safrl.Client(endpoint) as client, \
            open(os.path.join(run_dir, "policy.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["step", "mode", "style", "probability"])
        for step in range(s.steps):
            for mode in bank.MODES:
                for style, p in policy.probs(("harmful", mode)).items():
                    writer.writerow([step, mode, style, p])
            rollouts = []
            for prompt, mode in keys:
                options = bank.responses(prompt, mode)
                chosen = policy.sample(("harmful", mode), s.group_size, rng)
                rollouts.append([options[c][rng.integers(len(options[c]))] for c in chosen])
            results = client.score_groups([g[0].prompt.text for g in rollouts],
                                          [[r.text for r in g] for g in rollouts], step=step)
            policy.update([(("harmful", g[0].mode), [r.style for r in g],
                            [x["reward"] for x in res]) for g, res in zip(rollouts, results)])
        client.stats(flush=True)
    return policy


def write_generations(policy: StylePolicy, path: str, s: Settings, seed: int) -> None:
    """The policy's generations for every prompt, harmful and benign, in both modes."""
    rng = np.random.default_rng(seed)
    with open(path, "w") as f:
        for prompt in bank.PROMPTS:
            for mode in bank.MODES:
                options = bank.responses(prompt, mode)
                for k, style in enumerate(policy.sample((prompt.label, mode), s.eval_samples, rng)):
                    r = options[style][rng.integers(len(options[style]))]
                    f.write(json.dumps({"id": f"{prompt.id}/{mode}/{k}", "prompt": prompt.text,
                                        "label": prompt.label, "response": r.text, "mode": mode,
                                        "meta": {"style": style}}) + "\n")


def pooled(by_mode: dict, key: str) -> float:
    """A harmful-prompt rate over both modes, each mode weighted by its harmful count."""
    total = sum(m["n_harmful"] for m in by_mode.values())
    return sum(m[key] * m["n_harmful"] for m in by_mode.values()) / total


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="run_cpu.sh", description=__doc__.split("\n")[0])
    parser.add_argument("outdir")
    parser.add_argument("--quick", action="store_true", help="the short version the tests run")
    args = parser.parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every server started is stopped by its `with` block.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    s = QUICK if args.quick else Settings()
    out = os.path.abspath(args.outdir)
    os.makedirs(out, exist_ok=True)
    started = time.time()
    timings = {}

    tokenizer = toolchain.tokenizer_dir()
    t = time.time()
    judge_summary = {
        "reward": judges.train_reward(os.path.join(out, "judges", "reward"), tokenizer, log=log),
        "guard": judges.train_guard(os.path.join(out, "judges", "guard"), tokenizer, log=log),
    }
    configs = write_configs(out)
    judge_summary["verification"] = verify_judges(out, configs)
    timings["judges"] = time.time() - t
    log(f"judges trained and verified on {judge_summary['verification']['responses']} bank "
        f"responses in {timings['judges']:.0f} s")

    os.makedirs(os.path.join(out, "generations"), exist_ok=True)
    runs = {"baseline": os.path.join(out, "generations", "baseline.jsonl")}
    write_generations(StylePolicy(lr=s.lr), runs["baseline"], s, seed=s.seed + 1000)
    for arm in ARMS:
        t = time.time()
        policy = train_arm(arm, configs[arm], os.path.join(out, "runs", arm), s)
        runs[arm] = os.path.join(out, "generations", f"{arm}.jsonl")
        write_generations(policy, runs[arm], s, seed=s.seed + 1000)
        timings[arm] = time.time() - t
        final = {mode: {k: round(v, 3) for k, v in policy.probs(("harmful", mode)).items()}
                 for mode in bank.MODES}
        log(f"{arm}: {s.steps} GRPO steps in {timings[arm]:.0f} s; final policy {final}")

    t = time.time()
    pipeline.evaluate(runs, os.path.join(out, "eval"), config=configs["eval"],
                      title="## SafeRL on CPU: stand-in judges and policy "
                            "(experiments/saferl/RESULTS.md)")
    with open(os.path.join(out, "eval", "metrics.json")) as f:
        measured = json.load(f)
    timings["evaluation"] = time.time() - t

    frame = steps.load_runs(os.path.join(out, "runs"), list(ARMS))
    rows = []
    for arm in ARMS:
        last = frame[frame["run"] == arm].iloc[-1]
        rows.append({"arm": arm, "safety_rate": pooled(measured[arm], "safety_guard"),
                     "refusal_rate": pooled(measured[arm], "refusal_guard"),
                     "reward_mean": float(last["reward_mean"])})
    with open(os.path.join(out, "table.csv"), "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["arm", "safety_rate", "refusal_rate", "reward_mean"])
        writer.writeheader()
        writer.writerows(rows)
    steps.write_plots(frame, os.path.join(out, "plots"))
    timings["total"] = time.time() - started
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump({"settings": asdict(s), "quick": args.quick, "judges": judge_summary,
                   "baseline_policy": {f"{k[0]}/{k[1]}": v for k, v in BASELINE.items()},
                   "table": rows, "seconds": {k: round(v, 1) for k, v in timings.items()}},
                  f, indent=2)
    for row in rows:
        log(f"{row['arm']:17s} safety {row['safety_rate']:.3f}  refusal "
            f"{row['refusal_rate']:.3f}  reward {row['reward_mean']:.3f}")
    log(f"wrote {out}/table.csv, {out}/eval/table.md, {out}/plots in {timings['total']:.0f} s")


if __name__ == "__main__":
    main()
