"""Qwen3Guard-Stream against Qwen3Guard-Gen: guard verdicts per second on the same conversations
(issue 28), with random weights at a real Qwen3 shape.

    .venv/bin/python experiments/bench/stream/stream_vs_gen.py OUT_DIR [--shape qwen3-0.6b]
        [--dtype float32|bfloat16] [--prompts 2] [--group 8] [--rounds 3]
        [--hf-modes per-conversation,padded] [--hf-batch 8] [--safrl build/src/cli/safrl]
    ... OUT_DIR --quick        tiny shape, 2 x 2 workload, 2 rounds (well under a minute)

The workload is `safrl bench --dump-workload`'s (the headline's GRPO-shaped one: P prompts, G
responses each, every other response with a think block); every side judges the same
conversations: each answer, and each thinking trace, as a response to its prompt (`safrl score`
with reward.type guard_only judges the answer and, by default, the thinking trace). Three sides:

  (a) stream       `safrl score`, guard.kind stream (a random-weight Qwen3ForGuardModel,
                   safrl.testing.stream_guard_model), refusal_source none
  (b) gen          `safrl score`, guard.kind gen with constrained decoding, the guard
                   safrl.testing.verdict_writer (its greedy path writes the 13-token verdict
                   "Safety: Safe\\nCategories: None\\nRefusal: No<|im_end|>" by construction, so
                   the work is a real verdict's). verdict_writer has no 4B shape: at qwen3-4b the
                   Gen side is a random Qwen3ForCausalLM decoding exactly 13 tokens (free
                   decoding, max_new_tokens 13): the same work, noise for text.
  (c) transformers the Stream reference model (stream_guard_model.Qwen3ForGuardModel, loaded in
                   fp32 as safrl computes on the CPU) on the token ids `safrl tokenize --stream`
                   gives, one conversation per forward ("per-conversation", as eval_stream.py
                   runs) or right-padded batches of --hf-batch ("padded"); verdicts by the rule
                   of docs/reward.md ("The Stream guard") from the official labels and
                   debouncing (safrl.testing.stream_reference.consecutive_unsafe).

The sides run in turn in every round (the order rotates each round), so the slow phases of a
shared machine spread over all of them. (a) and (b) are timed as whole processes (model load,
tokenizing, scoring); their `guard_s` is safrl's own guard prefill + decode seconds (the summary
line of `safrl score`), the figure to set against (c)'s in-process forward seconds. Verdicts per
second = the verdicts judged (answers + thinking traces) / seconds; medians over rounds, and the
median of each round's ratio.

Checks (exit status 1 when one fails): (a) and (c) agree on every verdict: outcome, category and
the probabilities of the verdict's position (within --prob-atol); (c)'s two modes agree with each
other; every (b) verdict is the verdict_writer's (Safe, constrained) where that guard is used.

Writes OUT_DIR/summary.json (also printed) and OUT_DIR/runs.jsonl (each run as it ends), and
keeps the models, configs and outputs in OUT_DIR.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "experiments", "bench", "peer"))

from transformers_peer import run_cli, split_thinking  # noqa: E402

SIDES = ("stream", "gen", "transformers")
GEN_TOKENS = 13   # "Safety: Safe\nCategories: None\nRefusal: No<|im_end|>"
SUMMARY = re.compile(r"guard prefill ([0-9.e+-]+) s, guard decode ([0-9.e+-]+) s")


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--shape", default="qwen3-0.6b",
                        choices=("tiny", "qwen3-0.6b", "qwen3-4b"))
    parser.add_argument("--dtype", default="float32", choices=("float32", "bfloat16"),
                        help="storage dtype of both guards' weights (compute is fp32)")
    parser.add_argument("--prompts", type=int, default=2)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--hf-modes", default="per-conversation,padded",
                        help="comma-separated: per-conversation, padded")
    parser.add_argument("--hf-batch", type=int, default=8, help="rows per padded batch")
    parser.add_argument("--prob-atol", type=float, default=1e-3)
    parser.add_argument("--safrl", default=os.environ.get(
        "SAFRL_BIN", os.path.join(REPO, "build", "src", "cli", "safrl")))
    parser.add_argument("--tokenizer", default=os.path.join(REPO, ".deps", "qwen3-tokenizer"))
    parser.add_argument("--quick", action="store_true",
                        help="tiny shape, 2 prompts x 2, 2 rounds: the harness's own test")
    args = parser.parse_args()
    if args.quick:
        args.shape, args.prompts, args.group, args.rounds = "tiny", 2, 2, 2
    args.hf_modes = args.hf_modes.split(",")
    if not set(args.hf_modes) <= {"per-conversation", "padded"} or not args.hf_modes:
        parser.error("--hf-modes takes per-conversation and/or padded")
    return args


def write_models(args):
    """The two guards in OUT_DIR (kept: a second run with the same shape and dtype reuses them).
    Returns (stream_dir, gen_dir, gen_settings)."""
    import torch

    from safrl.testing import checkpoints, embedded_models, stream_guard_model, verdict_writer
    dtype = getattr(torch, args.dtype)
    stream_dir = os.path.join(args.out_dir, f"stream-{args.shape}-{args.dtype}")
    gen_dir = os.path.join(args.out_dir, f"gen-{args.shape}-{args.dtype}")
    if not os.path.exists(os.path.join(stream_dir, "config.json")):
        stream_guard_model.write_stream_checkpoint(stream_dir, args.shape, args.tokenizer, dtype)
    constructed = args.shape in verdict_writer.SHAPES
    if not os.path.exists(os.path.join(gen_dir, "config.json")):
        if constructed:
            verdict_writer.write(gen_dir, args.shape, "safe", args.tokenizer, dtype)
        else:
            config = checkpoints.base_config("qwen3", "Qwen3ForCausalLM", **dict(
                embedded_models.SHAPES[args.shape], tie_word_embeddings=True,
                torch_dtype=args.dtype))
            embedded_models.write_model(gen_dir, args.tokenizer, config, seed=1)
    gen = ({"decoding": "constrained", "writer": "verdict_writer"} if constructed else
           {"decoding": "free", "max_new_tokens": GEN_TOKENS, "writer": "random"})
    return stream_dir, gen_dir, gen


def write_configs(args, stream_dir, gen_dir, gen):
    """The two `safrl score` configs: the guard alone (reward.type guard_only)."""
    paths = {"stream": os.path.join(args.out_dir, "stream.yaml"),
             "gen": os.path.join(args.out_dir, "gen.yaml")}
    storage = f", storage_dtype: {args.dtype}" if args.dtype != "float32" else ""
    with open(paths["stream"], "w") as out:
        out.write(f"guard: {{model: {stream_dir}, kind: stream, refusal_source: none}}\n"
                  f"reward: {{type: guard_only}}\nruntime: {{dtype: float32{storage}}}\n")
    length = f", max_new_tokens: {gen['max_new_tokens']}" if "max_new_tokens" in gen else ""
    with open(paths["gen"], "w") as out:
        out.write(f"guard: {{model: {gen_dir}, decoding: {gen['decoding']}{length}}}\n"
                  f"reward: {{type: guard_only}}\nruntime: {{dtype: float32{storage}}}\n")
    return paths


def conversations(workload):
    """The conversations every side judges, in `safrl score`'s line order: for each sample its
    answer, then its thinking trace where it has one; keys (sample id, "answer" | "thinking")."""
    out = []
    for line in open(workload):
        sample = json.loads(line)
        trace, answer = split_thinking(sample["response"])
        for part, text in (("answer", answer), ("thinking", trace)):
            if text is not None:
                out.append(((sample["id"], part),
                            [{"role": "user", "content": sample["prompt"]},
                             {"role": "assistant", "content": text}]))
    return out


def run_score(args, side, config, workload):
    """One whole `safrl score` process: (wall seconds, {"guard_s", "guard_prefill_s",
    "guard_decode_s"}, {key: verdict})."""
    out = os.path.join(args.out_dir, f"{side}.jsonl")
    for stale in (out, out + ".meta.json", out + ".errors.jsonl"):
        if os.path.exists(stale):   # `safrl score` resumes an output file: start afresh
            os.remove(stale)
    start = time.perf_counter()
    proc = subprocess.run([args.safrl, "score", "--config", config, "--input", workload,
                           "--output", out], capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"safrl score ({side}) failed:\n{proc.stderr}")
    found = SUMMARY.search(proc.stderr)
    if " 0 resumed" not in proc.stderr:
        raise SystemExit(f"safrl score ({side}) resumed earlier output:\n{proc.stderr[-500:]}")
    verdicts = {}
    for line in map(json.loads, open(out)):
        for part in ("answer", "thinking"):
            if line.get(part) is not None:
                verdicts[(line["id"], part)] = line[part]
    prefill, decode = float(found.group(1)), float(found.group(2))
    return seconds, {"guard_s": prefill + decode, "guard_prefill_s": prefill,
                     "guard_decode_s": decode}, verdicts


def verdict_of(risk_logits, category_logits):
    """The response verdict docs/reward.md's rule reads from one conversation's response
    positions: the debounced outcome; when not Safe, the flagging position's category and
    probabilities; when Safe, the probabilities of the first position with the lowest P(Safe)."""
    import torch

    from safrl.testing.stream_guard_model import RESPONSE_CATEGORIES, RISK_LEVELS
    from safrl.testing.stream_reference import consecutive_unsafe
    probs = torch.softmax(risk_logits.double(), dim=-1)
    labels = [RISK_LEVELS[i] for i in probs.argmax(dim=-1).tolist()]
    outcome, index = consecutive_unsafe(labels)
    if outcome == "Safe":
        index = int(probs[:, 0].argmin())
        categories = []
    else:
        categories = [RESPONSE_CATEGORIES[int(category_logits[index].argmax())]]
    return {"safety": outcome, "categories": categories, "probs": probs[index].tolist(),
            "labels": labels}


class Reference:
    """(c): the transformers Stream reference model on safrl's Stream token ids."""

    def __init__(self, stream_dir, inputs):
        import torch

        from safrl.testing.stream_guard_model import Qwen3ForGuardModel
        torch.set_grad_enabled(False)
        self.model = Qwen3ForGuardModel.from_pretrained(stream_dir, dtype=torch.float32).eval()
        self.inputs = inputs   # [(key, {"ids", "response_begin", ...})]
        self.forward([inputs[0][1]["ids"][:8]])   # warm-up, untimed

    def forward(self, rows):
        """Risk and category logits of each row, right-padded into one batch."""
        import torch
        width = max(map(len, rows))
        ids = torch.zeros((len(rows), width), dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for r, row in enumerate(rows):
            ids[r, :len(row)] = torch.tensor(row)
            mask[r, :len(row)] = 1
        out = self.model(ids, attention_mask=mask if len(rows) > 1 else None)
        return [(out.risk_level_logits[r, :len(row)], out.category_logits[r, :len(row)])
                for r, row in enumerate(rows)]

    def run(self, mode, batch):
        """(seconds, {key: verdict}, padded tokens computed)."""
        size = 1 if mode == "per-conversation" else batch
        groups = [self.inputs[i:i + size] for i in range(0, len(self.inputs), size)]
        start = time.perf_counter()
        logits = [x for group in groups for x in self.forward([s["ids"] for _, s in group])]
        seconds = time.perf_counter() - start
        verdicts = {key: verdict_of(risk[s["response_begin"]:], category[s["response_begin"]:])
                    for (key, s), (risk, category) in zip(self.inputs, logits)}
        return seconds, verdicts, sum(len(g) * max(len(s["ids"]) for _, s in g) for g in groups)


def compare(safrl_verdicts, reference, atol):
    """(a) against (c): every verdict's outcome, categories and probabilities."""
    mismatches, max_diff = [], 0.0
    for key, want in reference.items():
        got = safrl_verdicts.get(key)
        if got is None:
            mismatches.append({"key": list(key), "why": "missing in safrl's output"})
            continue
        probs = [got["probs"][k] for k in ("Safe", "Unsafe", "Controversial")]
        diff = max(abs(a - b) for a, b in zip(probs, want["probs"]))
        max_diff = max(max_diff, diff)
        same = (got["safety"], got["categories"]) == (want["safety"], want["categories"])
        if not same or diff > atol:
            mismatches.append({"key": list(key), "safrl": [got["safety"], got["categories"], probs],
                               "transformers": [want["safety"], want["categories"],
                                                want["probs"]]})
    outcomes = {}
    for v in reference.values():
        outcomes[v["safety"]] = outcomes.get(v["safety"], 0) + 1
    return {"verdicts": len(reference), "equal": len(reference) - len(mismatches),
            "max_prob_diff": max_diff, "prob_atol": atol, "outcomes": outcomes,
            "mismatches": mismatches[:3]}


def median_ratio(rates, top, bottom):
    return statistics.median(a / b for a, b in zip(rates[top], rates[bottom]))


def main():
    args = parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    load_before = open("/proc/loadavg").read().split()[:3]
    stream_dir, gen_dir, gen = write_models(args)
    configs = write_configs(args, stream_dir, gen_dir, gen)
    workload = os.path.join(args.out_dir, f"workload-{args.prompts}x{args.group}.jsonl")
    subprocess.run([args.safrl, "bench", "--config", configs["gen"], "--prompts",
                    str(args.prompts), "--group", str(args.group), "--dump-workload", workload],
                   check=True, capture_output=True)
    convs = conversations(workload)
    ids = run_cli(args.safrl, ["tokenize", "--stream", "--tokenizer", stream_dir],
                  [{"messages": m} for _, m in convs])
    reference = Reference(stream_dir, [(key, x) for (key, _), x in zip(convs, ids)])

    import torch
    hf_sides = [f"transformers-{mode}" for mode in args.hf_modes]
    sides = ["stream", "gen"] + hf_sides
    runs, results = [], {}
    for r in range(args.rounds):
        order = sides[r % len(sides):] + sides[:r % len(sides)]
        for side in order:
            if side in ("stream", "gen"):
                seconds, run, verdicts = run_score(args, side, configs[side], workload)
            else:
                seconds, verdicts, padded = reference.run(side.split("-", 1)[1], args.hf_batch)
                run = {"padded_tokens": padded}
            results[side] = verdicts
            runs.append(dict(run, round=r + 1, side=side, seconds=seconds,
                             verdicts=len(verdicts), verdicts_per_s=len(verdicts) / seconds,
                             loadavg=open("/proc/loadavg").read().split()[:3]))
            with open(os.path.join(args.out_dir, "runs.jsonl"), "a") as out:   # progress
                out.write(json.dumps(runs[-1]) + "\n")
    load_after = open("/proc/loadavg").read().split()[:3]

    def rates(side, field="seconds"):
        return [x["verdicts"] / x[field] for x in runs if x["side"] == side]
    per_s = {side: rates(side) for side in sides}
    guard_per_s = {side: rates(side, "guard_s") for side in ("stream", "gen")}
    fastest_hf = max(hf_sides, key=lambda s: statistics.median(per_s[s]))
    agreement = compare(results["stream"], results[fastest_hf], args.prob_atol)
    hf_modes_agree = all(
        [results[s][k]["labels"] for k in results[s]] ==
        [results[fastest_hf][k]["labels"] for k in results[s]] for s in hf_sides)
    gen_verdicts = list(results["gen"].values())
    gen_check = {"verdicts": len(gen_verdicts),
                 "safe_constrained": sum(v["safety"] == "Safe" and v["decoding"] == "constrained"
                                         for v in gen_verdicts)}
    ok = (agreement["equal"] == agreement["verdicts"] == len(convs) and hf_modes_agree
          and (gen["writer"] != "verdict_writer" or
               gen_check["safe_constrained"] == len(gen_verdicts)))
    tokens = [len(x["ids"]) for x in ids]
    summary = {
        "shape": args.shape, "storage_dtype": args.dtype, "compute_dtype": "float32",
        "prompts": args.prompts, "group": args.group, "rounds": args.rounds,
        "verdicts": len(convs), "stream_tokens": sum(tokens),
        "stream_tokens_min_median_max": [min(tokens), statistics.median(tokens), max(tokens)],
        "gen_guard": gen, "transformers_fastest": fastest_hf,
        "threads": {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
                    "torch": torch.get_num_threads()},
        "loadavg_before": load_before, "loadavg_after": load_after,
        "median_verdicts_per_s": {side: statistics.median(v) for side, v in per_s.items()},
        "median_guard_verdicts_per_s": {side: statistics.median(v)
                                        for side, v in guard_per_s.items()},
        "ratios": {"stream_over_gen": median_ratio(per_s, "stream", "gen"),
                   "stream_over_gen_guard_s": median_ratio(guard_per_s, "stream", "gen"),
                   "stream_over_transformers": median_ratio(per_s, "stream", fastest_hf),
                   "stream_guard_s_over_transformers": statistics.median(
                       a / b for a, b in zip(guard_per_s["stream"], per_s[fastest_hf]))},
        "agreement_stream_vs_transformers": agreement,
        "transformers_modes_agree": hf_modes_agree, "gen_check": gen_check, "ok": ok,
        "runs": runs}
    with open(os.path.join(args.out_dir, "summary.json"), "w") as out:
        json.dump(summary, out, indent=1)
    print(json.dumps(summary))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
