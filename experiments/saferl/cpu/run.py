"""The SafeRL experiment on CPU, end to end through `safrl serve` (bash run_cpu.sh OUTDIR
[--quick] [--steps N] [--arms ARM,...]; --steps and --arms make a longer run of some arms).

1. Trains the stand-in judges on the response bank (judges.py) and checks that the C++ program,
   scoring every bank response with `safrl score`, reproduces every label.
2. Fits the baseline policy of each thinking mode, a tiny Qwen3 language model, to the bank
   with the baseline's style shares (policy.py).
3. For each arm (guard_only, hybrid, helpfulness_only) starts a `safrl serve` with that
   `reward.type` and trains both modes' policies with TRL's GRPOTrainer (grpo.py, one process
   per mode, side by side): every step generates G completions for each harmful prompt, scored
   by the server through safrl.trl.reward_func with TRL's global_step, so the server's
   steps.jsonl / steps.csv (both modes merged into one row per step) are the training curves.
4. Samples generations from the baseline policies and from each trained policy for every prompt,
   harmful and benign, in both modes, and evaluates them with the evaluation pipeline (eval/).
   Only the arms of --arms are trained, evaluated and tabled.
5. Writes OUTDIR/table.csv (arm,safety_rate,refusal_rate,reward_mean), the paper-layout table
   OUTDIR/eval/table.md, plots OUTDIR/plots/*.png and OUTDIR/summary.json.

Layout: OUTDIR/judges/{guard,reward}, OUTDIR/policies/baseline_<mode>/ (transformers layout),
OUTDIR/configs/*.yaml, OUTDIR/runs/<arm>/ (the server's run dir: steps.jsonl, steps.csv,
serve.log; and <mode>/: the trained policy, policy.csv, TRL's log and grpo.log),
OUTDIR/generations/<arm>.jsonl, OUTDIR/eval/, OUTDIR/plots/.
"""
import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace

import safrl

from experiments.saferl import service, steps
from experiments.saferl.cpu import bank, judges, policy
from experiments.saferl.cpu.policy import BASELINE
from experiments.saferl.eval import pipeline
from safrl.testing import toolchain

ARMS = ("guard_only", "hybrid", "helpfulness_only")
# Arms run only when --arms names them: the hybrid reward under `reward.safety_signal: expected`
# (docs/reward.md), issue 27's question whether it changes the outcome.
EXTRA_ARMS = ("hybrid_expected",)
# Each arm's reward section: (reward type, extra settings).
ARM_REWARDS = {"guard_only": ("guard_only", ""), "hybrid": ("hybrid", ""),
               "helpfulness_only": ("helpfulness_only", ""),
               "hybrid_expected": ("hybrid", ", safety_signal: expected")}


@dataclass
class Settings:
    steps: int = 30            # GRPO steps per arm (each mode)
    group_size: int = 8        # G completions per prompt
    lr: float = 5e-4           # TRL's Adam, constant
    beta: float = 0.04         # KL to the fitted policy: keeps the tiny model writing the bank's text
    fit_steps: int = 800       # fitting the baseline policy to the bank
    eval_samples: int = 32     # generations per (prompt, mode) for the final evaluation
    seed: int = 0


QUICK = Settings(steps=15, eval_samples=16)


def parse_arms(text: str) -> tuple:
    """--arms: a comma-separated subset of ARMS and EXTRA_ARMS, each at most once."""
    arms = tuple(a.strip() for a in text.split(",") if a.strip())
    unknown = [a for a in arms if a not in ARM_REWARDS]
    if not arms or unknown or len(set(arms)) != len(arms):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give one or more of {', '.join(ARMS + EXTRA_ARMS)}, comma-separated, "
            f"each once")
    return arms


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text}: give a number of steps of at least 1")
    return value


def log(message: str) -> None:
    print(message, flush=True)


def write_configs(out: str) -> dict:
    """One server config per arm (guard and helpfulness model both loaded, so the step logs
    carry helpfulness for every arm), the evaluation config (judging does not depend on the
    reward type; hybrid gives every field) and its free-decoding twin for the judges' check."""
    os.makedirs(os.path.join(out, "configs"), exist_ok=True)
    paths = {}
    entries = ([(arm, *ARM_REWARDS[arm], "constrained") for arm in ARMS + EXTRA_ARMS] +
               [("eval", "hybrid", "", "constrained"), ("eval_free", "hybrid", "", "free")])
    for name, reward, extra, decoding in entries:
        paths[name] = os.path.join(out, "configs", f"{name}.yaml")
        with open(paths[name], "w") as f:
            f.write(f"# The CPU SafeRL experiment, {name}: the stand-in judges trained on the "
                    f"response bank.\n"
                    f"guard: {{model: ../judges/guard, decoding: {decoding}}}\n"
                    f"helpfulness: {{model: ../judges/reward, chat_format: qwen3}}\n"
                    f"reward: {{type: {reward}, controversial: strict, judge_thinking: true"
                    f"{extra}}}\n"
                    f"runtime: {{device: cpu, dtype: float32}}\n"
                    # The two modes' trainers run side by side at their own pace: every step
                    # stays open until the end, so each is one row over both modes.
                    f"server: {{steps_kept_open: 1000, step_idle_seconds: 3600}}\n")
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


def train_arm(arm: str, config: str, run_dir: str, baselines: dict, s: Settings) -> dict:
    """GRPO with TRL on the harmful prompts (the paper trains on WildJailbreak's harmful prompts
    only), one trainer process per mode against the arm's server; returns {mode: policy dir}."""
    trained = {}
    with service.serve(config, run_dir) as endpoint:
        procs = {}
        for mode in bank.MODES:
            out = os.path.join(run_dir, mode)
            os.makedirs(out, exist_ok=True)
            with open(os.path.join(out, "grpo.log"), "w") as log:
                procs[mode] = subprocess.Popen(
                    [sys.executable, "-m", "experiments.saferl.cpu.grpo", "--policy",
                     baselines[mode], "--mode", mode, "--endpoint", endpoint, "--out", out,
                     "--steps", str(s.steps), "--group", str(s.group_size), "--lr", str(s.lr),
                     "--beta", str(s.beta), "--seed", str(s.seed)],
                    stdout=log, stderr=subprocess.STDOUT,
                    env=dict(os.environ, OMP_NUM_THREADS="1", TOKENIZERS_PARALLELISM="false"))
        try:
            for mode, proc in procs.items():
                if proc.wait() != 0:
                    with open(os.path.join(run_dir, mode, "grpo.log")) as f:
                        tail = f.read()[-3000:]
                    raise RuntimeError(f"{arm} {mode}: GRPO failed ({proc.returncode}):\n{tail}")
                trained[mode] = os.path.join(run_dir, mode, "policy")
        finally:
            for proc in procs.values():  # the other mode's trainer, when one failed
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        with safrl.Client(endpoint) as client:
            client.stats(flush=True)
    return trained


def write_generations(policies: dict, path: str, s: Settings, seed: int) -> None:
    """The policies' generations for every prompt, harmful and benign, in both modes."""
    with open(path, "w") as f:
        for mode in bank.MODES:
            texts = policy.sample(policies[mode], bank.PROMPTS, mode, s.eval_samples, seed)
            for prompt, completions in zip(bank.PROMPTS, texts):
                for k, text in enumerate(completions):
                    f.write(json.dumps({"id": f"{prompt.id}/{mode}/{k}", "prompt": prompt.text,
                                        "label": prompt.label, "response": text, "mode": mode,
                                        "meta": {"style": policy.style_of(prompt, mode, text)}})
                            + "\n")


def final_styles(run_dir: str) -> dict:
    """The style shares of each mode's last GRPO step (policy.csv)."""
    out = {}
    for mode in bank.MODES:
        with open(os.path.join(run_dir, mode, "policy.csv")) as f:
            rows = list(csv.DictReader(f))
        last = max(int(r["step"]) for r in rows)
        out[mode] = {r["style"]: round(float(r["share"]), 3) for r in rows
                     if int(r["step"]) == last}
    return out


def pooled(by_mode: dict, key: str) -> float:
    """A harmful-prompt rate over both modes, each mode weighted by its harmful count."""
    total = sum(m["n_harmful"] for m in by_mode.values())
    return sum(m[key] * m["n_harmful"] for m in by_mode.values()) / total


def parse_args(argv=None):
    """(args, settings, arms): the command line, the Settings it asks for and the arms to run."""
    parser = argparse.ArgumentParser(prog="run_cpu.sh", description=__doc__.split("\n")[0])
    parser.add_argument("outdir")
    parser.add_argument("--quick", action="store_true", help="the short version the tests run")
    parser.add_argument("--steps", type=positive_int, metavar="N",
                        help="GRPO steps per arm and mode (default 30, 15 with --quick): a longer "
                             "run shows where an arm's curves go")
    parser.add_argument("--arms", type=parse_arms, default=ARMS, metavar="ARM[,ARM...]",
                        help=f"the arms to train, in this order (default {','.join(ARMS)}; also "
                             f"{','.join(EXTRA_ARMS)})")
    args = parser.parse_args(argv)
    s = QUICK if args.quick else Settings()
    if args.steps is not None:
        s = replace(s, steps=args.steps)
    return args, s, args.arms


def main(argv=None) -> None:
    args, s, arms = parse_args(argv)
    # SIGTERM unwinds like Ctrl-C, so every server started is stopped by its `with` block.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
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

    t = time.time()
    baselines, fits = {}, {}
    for mode in bank.MODES:
        baselines[mode] = os.path.join(out, "policies", f"baseline_{mode}")
        fits[mode] = policy.make_policy(baselines[mode], mode, steps=s.fit_steps, seed=s.seed,
                                        log=log)
    timings["policies"] = time.time() - t
    log(f"baseline policies fitted to the bank in {timings['policies']:.0f} s: "
        f"{ {m: f['style_shares'] for m, f in fits.items()} }")

    os.makedirs(os.path.join(out, "generations"), exist_ok=True)
    runs = {"baseline": os.path.join(out, "generations", "baseline.jsonl")}
    write_generations(baselines, runs["baseline"], s, seed=s.seed + 1000)
    final = {}
    for arm in arms:
        t = time.time()
        run_dir = os.path.join(out, "runs", arm)
        trained = train_arm(arm, configs[arm], run_dir, baselines, s)
        runs[arm] = os.path.join(out, "generations", f"{arm}.jsonl")
        write_generations(trained, runs[arm], s, seed=s.seed + 1000)
        timings[arm] = time.time() - t
        final[arm] = final_styles(run_dir)
        log(f"{arm}: {s.steps} GRPO steps per mode in {timings[arm]:.0f} s; last step's styles "
            f"{final[arm]}")

    t = time.time()
    pipeline.evaluate(runs, os.path.join(out, "eval"), config=configs["eval"],
                      title="## SafeRL on CPU: stand-in judges and policy "
                            "(experiments/saferl/RESULTS.md)")
    with open(os.path.join(out, "eval", "metrics.json")) as f:
        measured = json.load(f)
    timings["evaluation"] = time.time() - t

    frame = steps.load_runs(os.path.join(out, "runs"), list(arms))
    rows = []
    for arm in arms:
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
        json.dump({"settings": asdict(s), "quick": args.quick, "arms": list(arms),
                   "judges": judge_summary,
                   "baseline_policy": {f"{k[0]}/{k[1]}": v for k, v in BASELINE.items()},
                   "baseline_fit": fits, "final_styles": final,
                   "table": rows, "seconds": {k: round(v, 1) for k, v in timings.items()}},
                  f, indent=2)
    for row in rows:
        log(f"{row['arm']:17s} safety {row['safety_rate']:.3f}  refusal "
            f"{row['refusal_rate']:.3f}  reward {row['reward_mean']:.3f}")
    log(f"wrote {out}/table.csv, {out}/eval/table.md, {out}/plots in {timings['total']:.0f} s")


if __name__ == "__main__":
    main()
