"""Writes the embedded demo models that configs/default.yaml names: a guard and a reward model of
the embedded tiny shape, trained (stand_in.py, as the CPU experiment makes its judges) on the
hand-labelled demo bank (demo_bank.py), so that `bash scripts/run-default.sh` shows real verdicts
with categories, refusals and probabilities, and every case of the hybrid reward.

    .venv/bin/python -m safrl.testing.demo_models OUT_DIR TOKENIZER_DIR

Writes OUT_DIR/demo-guard, OUT_DIR/demo-reward and, last, OUT_DIR/demo-models.json (the bank's
and the settings' hash, each model's training summary). Does nothing when that file holds the
current hash, so set-up reruns skip it and a changed bank retrains. Needs the built safrl program
($SAFRL_BIN, else build/src/cli/safrl): training inputs are its renderings and token ids.

They are stand-ins that reproduce the bank and nothing else: on any other text their verdicts
and scores mean nothing. The tests that need random weights use embedded_models' guard and
reward model, which stay as they are.
"""
import hashlib
import json
import os
import sys
import time

from safrl.testing import demo_bank

# Every output token beats every other token by 4 logits, so P(label) among the three safety
# labels (and P(answer) between Yes and No) is at least 1 / (1 + 2 e^-4) = 0.96: greedy
# verdicts then hold whatever the host's CPU rounding (AVX2 or AVX-512 kernels differ in the
# last bits), and tests/cli/test_run_default.py asserts the probabilities stay above 0.9.
SETTINGS = {"guard": {"seed": 1, "margin": 4.0, "max_epochs": 200},
            "reward": {"seed": 2, "tolerance": 0.1, "max_epochs": 200}}


def bank_hash() -> str:
    data = {"bank": [list(entry) for entry in demo_bank.BANK], "settings": SETTINGS}
    return hashlib.sha256(json.dumps(data, ensure_ascii=False).encode()).hexdigest()


def train(out_dir: str, tokenizer: str) -> dict:
    """Both models, each until it reproduces the bank; their training summaries."""
    # Imported here, so that a rerun that finds the models up to date skips loading torch and
    # transformers (several seconds).
    import torch

    from safrl.testing import stand_in

    # One thread: on matrices this small, a second one only waits at OpenMP barriers, and
    # stalls outright where other work shares the cores (3-4x slower beside a build); the
    # weights then also do not depend on the machine's core count.
    torch.set_num_threads(1)

    def log(line):
        print(line, file=sys.stderr)

    guard = [stand_in.response_example(
        e.prompt, e.text, stand_in.verdict_text(e.safety, e.categories, e.refusal))
        for e in demo_bank.BANK]
    reward = [(e.prompt, e.text, e.helpfulness) for e in demo_bank.BANK
              if e.helpfulness is not None]
    return {"guard": stand_in.train_guard(os.path.join(out_dir, "demo-guard"), tokenizer, guard,
                                          log=log, **SETTINGS["guard"]),
            "reward": stand_in.train_reward(os.path.join(out_dir, "demo-reward"), tokenizer,
                                            reward, log=log, **SETTINGS["reward"])}


def main(out_dir: str, tokenizer: str) -> None:
    record = os.path.join(out_dir, "demo-models.json")
    want = bank_hash()
    if os.path.exists(record):
        with open(record) as f:
            if json.load(f).get("sha256") == want:
                print(f"the demo models in {out_dir} are up to date")
                return
    start = time.time()
    summaries = train(out_dir, tokenizer)
    failed = [name for name, s in summaries.items() if not s["converged"]]
    if failed:
        raise SystemExit(f"demo models: {', '.join(failed)} did not converge: {summaries}")
    with open(record, "w") as out:
        json.dump({"sha256": want, **summaries}, out, indent=1)
    print(f"trained the demo guard and reward model on {len(demo_bank.BANK)} labelled texts in "
          f"{time.time() - start:.0f} s, into {out_dir}")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
