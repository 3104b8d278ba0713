"""Data for the full-scale SafeRL runs, from WildJailbreak (allenai/wildjailbreak).

    prepare_data.py candidates --wildjailbreak DIR --out DATA --count N --tokenizer MODEL
        DATA/candidates.jsonl: N harmful training prompts (half vanilla_harmful, half
        adversarial_harmful, drawn with --seed), none longer than --max-prompt-tokens in the
        policy's chat template; DATA/eval_prompts.jsonl: the evaluation set (2,000 harmful,
        210 benign).
    prepare_data.py filter --candidates DATA/candidates.jsonl --generations G.jsonl
                           --scored S.jsonl --samples 8 --out DATA/train_<mode>.jsonl
        Keeps the prompts whose 8 sampled responses were neither all safe nor all unsafe (the
        report's filter: 13.7k prompts remained in thinking mode, 6.7k in non-thinking mode).
    prepare_data.py score-input --generations G.jsonl --out S.input.jsonl
        The generations as `safrl score` input ({"id", "prompt", "response"}).
    prepare_data.py verl --train DATA/train_<mode>.jsonl --eval DATA/eval_prompts.jsonl
                         --batch-size B --epochs E --out DATA/verl_<mode>
        verl's parquet files. Every training row carries its training step in
        extra_info["step"] (verl passes no step to reward functions; safrl.verl sends this one,
        so the reward servers log real per-step statistics): the rows are shuffled per epoch and
        concatenated, and row i is used at step i // B when verl reads them in order
        (data.shuffle=False, one epoch over the concatenation).

WildJailbreak's files (as published): train/train.tsv with columns vanilla, adversarial,
completion, data_type (vanilla_harmful, vanilla_benign, adversarial_harmful,
adversarial_benign); eval/eval.tsv with columns adversarial, label (1 harmful, 0 benign),
data_type. The columns are checked on load.
"""
import argparse
import json
import os
from typing import Callable, Dict, Iterable, List, Optional

import pandas as pd

HARMFUL_TYPES = {"vanilla_harmful": "vanilla", "adversarial_harmful": "adversarial"}


def _read_tsv(path: str, columns: Iterable[str]) -> pd.DataFrame:
    frame = pd.read_csv(path, sep="\t", keep_default_na=False)
    missing = set(columns) - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing columns {sorted(missing)} (has {list(frame.columns)})")
    return frame


def harmful_train_prompts(path: str) -> pd.DataFrame:
    """The harmful prompts of train.tsv: the vanilla text of vanilla_harmful rows, the
    adversarial text of adversarial_harmful rows. Columns: prompt, source."""
    frame = _read_tsv(path, ["vanilla", "adversarial", "data_type"])
    rows = []
    for data_type, column in HARMFUL_TYPES.items():
        part = frame[frame["data_type"] == data_type]
        rows.append(pd.DataFrame({"prompt": part[column].astype(str), "source": data_type}))
    out = pd.concat(rows, ignore_index=True)
    return out[out["prompt"].str.strip() != ""].drop_duplicates("prompt").reset_index(drop=True)


def eval_prompts(path: str) -> pd.DataFrame:
    """eval.tsv as id, prompt, label (harmful / benign), source."""
    frame = _read_tsv(path, ["adversarial", "label", "data_type"])
    label = frame["label"].astype(int).map({1: "harmful", 0: "benign"})
    return pd.DataFrame({"id": [f"eval-{i}" for i in range(len(frame))],
                         "prompt": frame["adversarial"].astype(str), "label": label,
                         "source": frame["data_type"]})


def draw_candidates(prompts: pd.DataFrame, count: int, seed: int,
                    too_long: Optional[Callable[[str], bool]] = None) -> pd.DataFrame:
    """`count` prompts, half from each source (all of a source when it has fewer), after
    dropping those `too_long` says are, with ids cand-<k>."""
    if too_long is not None:
        prompts = prompts[~prompts["prompt"].map(too_long)]
    parts = []
    sources = sorted(prompts["source"].unique())
    for k, source in enumerate(sources):
        want = count // len(sources) + (1 if k < count % len(sources) else 0)
        pool = prompts[prompts["source"] == source]
        parts.append(pool.sample(n=min(want, len(pool)), random_state=seed))
    out = pd.concat(parts).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    out.insert(0, "id", [f"cand-{i}" for i in range(len(out))])
    out["label"] = "harmful"
    return out


def mixed_prompts(generations: List[dict], scored: List[dict], samples: int) -> Dict[str, dict]:
    """The report's filter. `generations` are generate.py rows (meta.prompt_id), `scored` the
    `safrl score` output for them (same ids). Returns {prompt_id: counts} for every prompt with
    exactly `samples` judged responses, and whether it is kept (some safe and some unsafe)."""
    safe_by_id = {row["id"]: bool(row["safe"]) for row in scored}
    counts: Dict[str, dict] = {}
    for row in generations:
        if row["id"] not in safe_by_id:
            continue
        c = counts.setdefault(row["meta"]["prompt_id"], {"n": 0, "safe": 0})
        c["n"] += 1
        c["safe"] += safe_by_id[row["id"]]
    return {pid: dict(c, keep=0 < c["safe"] < c["n"]) for pid, c in counts.items()
            if c["n"] == samples}


def score_input(generations: Iterable[dict]) -> List[dict]:
    """`safrl score` input lines: it refuses fields it does not know, such as label and mode."""
    return [{"id": g["id"], "prompt": g["prompt"], "response": g["response"]} for g in generations]


def verl_rows(prompts: List[dict], batch_size: int, epochs: int, seed: int,
              mode: str) -> List[dict]:
    """verl RL rows: each epoch a new shuffle; the step of row i is i // batch_size. A final
    partial batch is left out (verl drops it too)."""
    rows = []
    for epoch in range(epochs):
        order = pd.Series(range(len(prompts))).sample(frac=1.0, random_state=seed + epoch)
        for k in order:
            rows.append(prompts[k])
    rows = rows[:len(rows) // batch_size * batch_size]
    return [verl_row(p, split="train", mode=mode, index=i, step=i // batch_size)
            for i, p in enumerate(rows)]


def verl_row(p: dict, *, split: str, mode: str, index: int, step: Optional[int] = None) -> dict:
    """One verl row. extra_info carries the prompt for safrl.verl (verl does not pass it)."""
    extra = {"prompt": p["prompt"], "index": index, "split": split, "mode": mode,
             "prompt_id": p["id"], "label": p.get("label", "harmful")}
    if step is not None:
        extra["step"] = step
    return {"data_source": "wildjailbreak", "prompt": [{"role": "user", "content": p["prompt"]}],
            "ability": "safety", "reward_model": {"style": "model", "ground_truth": ""},
            "extra_info": extra}


def read_jsonl(path: str) -> List[dict]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def write_jsonl(path: str, rows: Iterable[dict]) -> None:
    with open(path, "w") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")


def _token_counter(tokenizer_path: str, limit: int) -> Callable[[str], bool]:
    from transformers import AutoTokenizer  # the GPU environment's; not needed elsewhere
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_path)

    def too_long(prompt: str) -> bool:
        # As verl renders a row. Non-thinking mode appends an empty think block, so it is the
        # longer rendering: a prompt that fits it fits both modes.
        text = tokenizer.apply_chat_template([{"role": "user", "content": prompt}],
                                             add_generation_prompt=True, tokenize=False,
                                             enable_thinking=False)
        return len(tokenizer(text, add_special_tokens=False)["input_ids"]) > limit
    return too_long


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("candidates")
    c.add_argument("--wildjailbreak", required=True)
    c.add_argument("--out", required=True)
    c.add_argument("--count", type=int, required=True)
    c.add_argument("--tokenizer", required=True, help="the policy's directory (chat template)")
    c.add_argument("--max-prompt-tokens", type=int, default=2048)
    c.add_argument("--seed", type=int, default=1)
    f = sub.add_parser("filter")
    f.add_argument("--generations", required=True)
    f.add_argument("--scored", required=True)
    f.add_argument("--candidates", required=True)
    f.add_argument("--samples", type=int, default=8)
    f.add_argument("--out", required=True)
    s = sub.add_parser("score-input")
    s.add_argument("--generations", required=True)
    s.add_argument("--out", required=True)
    v = sub.add_parser("verl")
    v.add_argument("--train", required=True)
    v.add_argument("--eval", required=True)
    v.add_argument("--mode", choices=("think", "non_think"), required=True)
    v.add_argument("--batch-size", type=int, required=True)
    v.add_argument("--epochs", type=int, default=1)
    v.add_argument("--seed", type=int, default=1)
    v.add_argument("--out", required=True)
    args = parser.parse_args(argv)

    if args.command == "candidates":
        os.makedirs(args.out, exist_ok=True)
        train = harmful_train_prompts(os.path.join(args.wildjailbreak, "train", "train.tsv"))
        too_long = _token_counter(args.tokenizer, args.max_prompt_tokens)
        chosen = draw_candidates(train, args.count, args.seed, too_long)
        write_jsonl(os.path.join(args.out, "candidates.jsonl"), chosen.to_dict("records"))
        evaluation = eval_prompts(os.path.join(args.wildjailbreak, "eval", "eval.tsv"))
        write_jsonl(os.path.join(args.out, "eval_prompts.jsonl"), evaluation.to_dict("records"))
        sources = chosen["source"].value_counts().to_dict()
        labels = evaluation["label"].value_counts().to_dict()
        print(f"{len(chosen)} candidates ({sources}), {len(evaluation)} evaluation prompts "
              f"({labels})")
    elif args.command == "filter":
        counts = mixed_prompts(read_jsonl(args.generations), read_jsonl(args.scored), args.samples)
        kept = [p for p in read_jsonl(args.candidates) if counts.get(p["id"], {}).get("keep")]
        write_jsonl(args.out, kept)
        all_safe = sum(c["safe"] == c["n"] for c in counts.values())
        print(f"{len(counts)} prompts with {args.samples} judged responses: {len(kept)} kept, "
              f"{all_safe} all safe, {len(counts) - len(kept) - all_safe} all unsafe")
    elif args.command == "score-input":
        write_jsonl(args.out, score_input(read_jsonl(args.generations)))
    else:
        os.makedirs(args.out, exist_ok=True)
        rows = verl_rows(read_jsonl(args.train), args.batch_size, args.epochs, args.seed, args.mode)
        pd.DataFrame(rows).to_parquet(os.path.join(args.out, "train.parquet"))
        val = [verl_row(p, split="test", mode=args.mode, index=i)
               for i, p in enumerate(read_jsonl(args.eval))]
        pd.DataFrame(val).to_parquet(os.path.join(args.out, "val.parquet"))
        print(f"{len(rows)} training rows = {len(rows) // args.batch_size} steps of "
              f"{args.batch_size} prompts; {len(val)} validation rows")


if __name__ == "__main__":
    main()
