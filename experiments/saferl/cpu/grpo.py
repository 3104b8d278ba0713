"""GRPO on one thinking mode with TRL's GRPOTrainer, every completion scored by `safrl serve`
through the plugin's TRL reward function (safrl.trl.reward_func), on the CPU.

    python -m experiments.saferl.cpu.grpo --policy DIR --mode think|non_think \
        --endpoint tcp://... --out DIR --steps N [--group G] [--lr LR] [--seed S]

Trains the fitted policy in --policy on the bank's harmful prompts (the report trains on
harmful prompts only), all of them in every step, G completions each, one policy update per
step (on-policy), with a KL term of --beta to the fitted policy; writes the trained policy to OUT/policy (transformers layout),
OUT/policy.csv (the share and mean reward of each style among the step's completions),
OUT/off_bank.jsonl (the completions that are no bank response) and OUT/log_history.json (what
TRL logged). The server's step is TRL's global_step, which run.py's two trainers (one per
mode) share, so the server merges both modes into one row per step.
"""
import argparse
import csv
import json
import os

import safrl
import safrl.trl
from experiments.saferl.cpu import bank
from experiments.saferl.cpu.policy import OFF_BANK, style_of


class StyleLog:
    """The reward function TRL calls: safrl's, plus a record of each completion's style (the
    share of each style among the step's completions, and their mean reward), and the text of
    the step's completions that are no bank response."""

    def __init__(self, out: str, mode: str):
        self.mode = mode
        self.file = open(os.path.join(out, "policy.csv"), "w", newline="")
        self.writer = csv.writer(self.file)
        self.writer.writerow(["step", "mode", "style", "share", "reward_mean"])
        self.off_bank = open(os.path.join(out, "off_bank.jsonl"), "w")
        self.prompts = {p.text: p for p in bank.HARMFUL}
        self.__name__ = "safrl"  # TRL logs rewards/safrl/mean

    def __call__(self, prompts, completions, **kwargs):
        rewards = safrl.trl.reward_func(prompts=prompts, completions=completions, **kwargs)
        step = kwargs["trainer_state"].global_step
        by_style = {}
        for p, c, r in zip(prompts, completions, rewards):
            text = c[-1]["content"]
            style = style_of(self.prompts[p[-1]["content"]], self.mode, text)
            by_style.setdefault(style, []).append(r)
            if style == OFF_BANK:
                self.off_bank.write(json.dumps({"step": step, "prompt": p[-1]["content"],
                                                "completion": text, "reward": r}) + "\n")
        for style in bank.HARMFUL_STYLES + (OFF_BANK,):
            got = by_style.get(style, [])
            self.writer.writerow([step, self.mode, style, len(got) / len(completions),
                                  sum(got) / len(got) if got else ""])
        self.file.flush()
        self.off_bank.flush()
        return rewards


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policy", required=True)
    parser.add_argument("--mode", choices=bank.MODES, required=True)
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--beta", type=float, default=0.0, help="KL coefficient to the start")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    os.makedirs(args.out, exist_ok=True)
    safrl.configure(args.endpoint)
    prompts = [[{"role": "user", "content": p.text}] for p in bank.HARMFUL]
    completions_per_step = len(prompts) * args.group
    config = GRPOConfig(
        output_dir=os.path.join(args.out, "trl"), use_cpu=True, bf16=False, report_to=[],
        seed=args.seed, max_steps=args.steps, logging_steps=1, save_strategy="no",
        # One generation of every prompt per step, learned from in micro-batches of 8 with one
        # optimizer step (GRPO on-policy: the ratio is 1).
        per_device_train_batch_size=8, gradient_accumulation_steps=completions_per_step // 8,
        num_generations=args.group, max_completion_length=128, temperature=1.0, top_p=1.0,
        learning_rate=args.lr, lr_scheduler_type="constant", warmup_steps=0, beta=args.beta,
        chat_template_kwargs={"enable_thinking": args.mode == "think"},
        dataloader_num_workers=0, log_completions=False)
    reward = StyleLog(args.out, args.mode)
    trainer = GRPOTrainer(model=args.policy, reward_funcs=[reward], args=config,
                          train_dataset=Dataset.from_dict({"prompt": prompts}))
    trainer.train()
    trainer.save_model(os.path.join(args.out, "policy"))
    trainer.processing_class.save_pretrained(os.path.join(args.out, "policy"))
    with open(os.path.join(args.out, "log_history.json"), "w") as f:
        json.dump(trainer.state.log_history, f, indent=1)


if __name__ == "__main__":
    main()
