"""The peer of `safrl bench`: Hugging Face transformers itself on the same GRPO-shaped workload,
the same weights and the same token ids (issue 13). One script for the CPU (fp32) and the GPU
(bf16).

    .venv/bin/python experiments/bench/peer/transformers_peer.py (--guard DIR --reward DIR | \
        --config C.yaml) --workload W.jsonl [--safrl build/src/cli/safrl] [--batch 16] \
        [--new-tokens verdict] [--device cpu|cuda] [--dtype float32|bfloat16] [--threads N] \
        [--check-against C.yaml]
    ... --ids IDS.json ...            token ids written earlier by --dump-ids (no safrl needed)
    ... --dump-ids IDS.json           write the token ids and exit
    ... --count-only                  print the tokens each padded batch computes and exit

--config C.yaml takes the models from a safrl config: guard.model and helpfulness.model, resolved
as safrl resolves them (relative to the config's folder).

W.jsonl comes from `safrl bench --config C --prompts P --group G --dump-workload W.jsonl`. Each
sample is split into answer and thinking as safrl splits it; the guard judges every answer, then
every thinking trace (as `judge_thinking: true` does), the reward model scores (prompt, answer).
safrl renders (`safrl render`) and tokenizes (`safrl tokenize`) the conversations, untimed, so
both sides compute exactly the same ids. Then, timed:

- the guard as Qwen3Guard-Gen's own quick start runs it: AutoModelForCausalLM with the attention
  transformers picks by default (recorded), `generate()` with its KV cache, greedy, on left-padded
  batches of --batch conversations; generate computes the LM head at the last position only;
- the reward model as TRL's reward path runs it: AutoModelForSequenceClassification on
  right-padded batches, pad_token_id set, the score read at each row's last non-pad token.

--new-tokens: how many tokens generate() makes per batch.
  verdict   (default) exactly the tokens of the shortest complete response verdict,
            "Safety: Safe\\nCategories: None\\nRefusal: No<|im_end|>" (13 Qwen3 tokens): what a real
            guard generates for a harmless response before it stops at <|im_end|>, and what
            safrl's constrained decoding emits for it. Random weights never stop by themselves,
            so the length must be fixed for the work to be that of a real verdict.
  official  the quick start as written: at most 128 new tokens, stopping at <|im_end|> or
            <|endoftext|> (the checkpoints' generation_config); with random weights this is 128
            tokens of noise per batch.
  N         exactly N new tokens.

--check-against C.yaml runs `safrl score` with C (the same model directories) twice, with
constrained and with free guard decoding, and compares: the reward model's scores (must agree
within --check-rtol), and the text transformers generates with the official settings against
safrl's free decoding (same greedy tokens, so the same work per token); it also reports how many
tokens safrl's constrained verdicts have. Prints one JSON line; exits 1 when the check fails.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time

# The shortest complete verdict for a response (the bench workload judges responses only).
VERDICT = "Safety: Safe\nCategories: None\nRefusal: No<|im_end|>"
OFFICIAL_MAX_NEW_TOKENS = 128


def config_models(path):
    """A safrl config, and its guard's and reward model's directories resolved as safrl resolves
    model paths: relative to the config file's folder (None where a section names no model)."""
    import yaml

    config = yaml.safe_load(open(path))
    folder = os.path.dirname(os.path.abspath(path))

    def model(section):
        name = (config.get(section) or {}).get("model")
        return os.path.realpath(os.path.join(folder, name)) if name else None
    return config, model("guard"), model("helpfulness")


def run_cli(safrl, args, lines):
    """Runs `safrl ARGS` with JSON lines on stdin; returns its JSON lines."""
    out = subprocess.run([safrl] + args, input="".join(json.dumps(x) + "\n" for x in lines),
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def split_thinking(response):
    """(thinking or None, answer), as safrl's chat::split_thinking splits a response."""
    close = response.find("</think>")
    if close < 0:
        if response.lstrip().startswith("<think>"):
            raise SystemExit("a response with an unclosed think block: not a bench workload")
        return None, response
    trace = response[:close]
    if trace.lstrip().startswith("<think>"):
        trace = trace.lstrip()[len("<think>"):]
    trace = trace.strip("\n")
    return (trace if trace.strip() else None), response[close + len("</think>"):].lstrip("\n")


def token_ids(args):
    """The ids both models see, from safrl (or from an --ids file written earlier)."""
    if args.ids:
        return json.load(open(args.ids))
    samples = [json.loads(line) for line in open(args.workload)]
    answers, thinking, reward = [], [], []
    for s in samples:
        trace, answer = split_thinking(s["response"])
        answers.append([{"role": "user", "content": s["prompt"]},
                        {"role": "assistant", "content": answer}])
        if trace is not None:
            thinking.append([{"role": "user", "content": s["prompt"]},
                             {"role": "assistant", "content": trace}])
        reward.append([{"role": "user", "content": s["prompt"]},
                       {"role": "assistant", "content": answer}])

    def tokenize(texts, model_dir):
        return [x["ids"] for x in run_cli(args.safrl, ["tokenize", "--tokenizer", model_dir],
                                          [{"text": t} for t in texts])]

    def ids_of(fmt, conversations, model_dir):
        texts = run_cli(args.safrl, ["render", "--format", fmt],
                        [{"messages": c} for c in conversations])
        return tokenize([x["text"] for x in texts], model_dir)

    verdict, im_end, end_of_text = tokenize([VERDICT, "<|im_end|>", "<|endoftext|>"], args.guard)
    return {"samples": len(samples),
            "guard": ids_of("guard", answers + thinking, args.guard),
            "helpfulness": ids_of("qwen3", reward, args.reward),
            "verdict": verdict, "stop": im_end + end_of_text, "pad": end_of_text[0]}


def batches(ids, size):
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def padded_tokens(ids, size):
    """Tokens one padded batch of `size` sequences computes, summed over the batches."""
    return sum(len(b) * max(len(x) for x in b) for b in batches(ids, size))


def add_workload_arguments(parser, ids_help="token ids written by --dump-ids"):
    """The options every peer shares: the two models (or a safrl config naming them), the
    workload or its token ids, the safrl program, and the check against `safrl score`."""
    parser.add_argument("--guard", help="the guard's checkpoint directory")
    parser.add_argument("--reward", help="the reward model's checkpoint directory")
    parser.add_argument("--config", help="a safrl config whose models are --guard and --reward")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--workload", help="JSON lines from `safrl bench --dump-workload`")
    source.add_argument("--ids", help=ids_help)
    parser.add_argument("--safrl", default="build/src/cli/safrl")
    parser.add_argument("--check-against", metavar="CONFIG",
                        help="compare with `safrl score --config CONFIG` (see the top)")
    parser.add_argument("--check-rtol", type=float, default=1e-4)


def resolve_workload_arguments(parser, args):
    """--config's models where --guard / --reward are not given; refuses what cannot run."""
    if args.config:
        _, guard, reward = config_models(args.config)
        args.guard, args.reward = args.guard or guard, args.reward or reward
    if not (args.guard and args.reward):
        parser.error("give --guard and --reward, or a --config that names both models")
    if args.check_against and not args.workload:
        parser.error("--check-against needs --workload (safrl scores the workload's samples)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_workload_arguments(parser)
    parser.add_argument("--batch", type=int, default=16, help="sequences per padded batch")
    parser.add_argument("--new-tokens", default="verdict", help="verdict | official | N")
    parser.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    parser.add_argument("--dtype", help="float32 (CPU default) | bfloat16 (CUDA default)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--dump-ids", help="write the token ids here (JSON) and exit")
    parser.add_argument("--count-only", action="store_true",
                        help="print the tokens the padded batches compute and exit")
    args = parser.parse_args()
    resolve_workload_arguments(parser, args)

    ids = token_ids(args)
    if args.dump_ids:
        with open(args.dump_ids, "w") as out:
            json.dump(ids, out)
        return
    counts = {"guard_sequences": len(ids["guard"]),
              "guard_real_tokens": sum(map(len, ids["guard"])),
              "guard_padded_tokens": padded_tokens(ids["guard"], args.batch),
              "helpfulness_real_tokens": sum(map(len, ids["helpfulness"])),
              "helpfulness_padded_tokens": padded_tokens(ids["helpfulness"], args.batch)}
    if args.count_only:
        print(json.dumps(dict(counts, batch=args.batch)))
        return

    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    device = torch.device(args.device)
    dtype = getattr(torch, args.dtype or ("bfloat16" if device.type == "cuda" else "float32"))
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_grad_enabled(False)
    pad, stop = ids["pad"], ids["stop"]
    guard = AutoModelForCausalLM.from_pretrained(args.guard, dtype=dtype).to(device).eval()
    reward = AutoModelForSequenceClassification.from_pretrained(args.reward, dtype=dtype)
    reward = reward.to(device).eval()
    if reward.config.pad_token_id is None:
        reward.config.pad_token_id = pad  # TRL sets it from the tokenizer's pad token

    def padded(batch, left):
        width = max(len(x) for x in batch)
        rows = torch.full((len(batch), width), pad, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, x in enumerate(batch):
            cols = slice(width - len(x), width) if left else slice(0, len(x))
            rows[row, cols] = torch.tensor(x)
            mask[row, cols] = 1
        return rows.to(device), mask.to(device)

    def generate(batch, new_tokens):
        """New tokens of each row, cut after its first stop token ([B] lists)."""
        if new_tokens == "official":
            lengths = {"max_new_tokens": OFFICIAL_MAX_NEW_TOKENS}
        else:
            n = len(ids["verdict"]) if new_tokens == "verdict" else int(new_tokens)
            lengths = {"max_new_tokens": n, "min_new_tokens": n}
        input_ids, mask = padded(batch, left=True)
        out = guard.generate(input_ids=input_ids, attention_mask=mask, do_sample=False,
                             pad_token_id=pad, eos_token_id=stop, **lengths)
        rows = []
        for row in out[:, input_ids.shape[1]:].tolist():
            end = next((i + 1 for i, t in enumerate(row) if t in stop), len(row))
            rows.append(row[:end])
        return rows

    def score(batch):
        input_ids, mask = padded(batch, left=False)
        return reward(input_ids=input_ids, attention_mask=mask).logits[:, 0].float().tolist()

    def timed(fn):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start, result

    # Warm-up, untimed (safrl bench scores one sample first too): kernels, allocator.
    generate(ids["guard"][:1], "2")
    score(ids["helpfulness"][:1])
    guard_s, generated = timed(lambda: [generate(b, args.new_tokens)
                                        for b in batches(ids["guard"], args.batch)])
    reward_s, scores = timed(lambda: [s for b in batches(ids["helpfulness"], args.batch)
                                      for s in score(b)])
    total = guard_s + reward_s
    result = {
        "mode": "transformers", "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": str(dtype).replace("torch.", ""), "torch": torch.__version__,
        "transformers": transformers.__version__,
        "attn_implementation": guard.config._attn_implementation,
        "reward_attn_implementation": reward.config._attn_implementation,
        "threads": torch.get_num_threads(), "batch": args.batch, "new_tokens": args.new_tokens,
        "samples": ids["samples"], "seconds": total, "samples_per_s": ids["samples"] / total,
        "guard_s": guard_s, "helpfulness_s": reward_s,
        # generate()'s forwards: one prefill plus one step per further new token, per batch.
        "guard_forwards": sum(max(len(r) for r in b) for b in generated),
        "guard_generated_tokens": sum(len(r) for b in generated for r in b),
        **counts,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        result["peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2 ** 20
    ok = True
    if args.check_against:
        official = [r for b in batches(ids["guard"], args.batch) for r in generate(b, "official")]
        result["check"] = check(args, ids, official, scores)
        ok = result["check"]["ok"]
    print(json.dumps(result))
    sys.exit(0 if ok else 1)


def check(args, ids, official, scores):
    """safrl's scores and free-decoding texts against transformers' (see the top of the file)."""
    import yaml
    from tokenizers import Tokenizer

    config, guard, reward = config_models(args.check_against)
    helpfulness = config.get("helpfulness") or {}
    if guard != os.path.realpath(args.guard) or reward != os.path.realpath(args.reward):
        raise SystemExit(f"{args.check_against} names other models than --guard / --reward")
    if (helpfulness.get("chat_format", "qwen3") != "qwen3"
            or helpfulness.get("score_token", "last") != "last"):
        raise SystemExit("--check-against needs helpfulness chat_format qwen3, score_token last "
                         "(what this script renders)")
    if config["guard"].get("max_new_tokens", OFFICIAL_MAX_NEW_TOKENS) != OFFICIAL_MAX_NEW_TOKENS:
        raise SystemExit(f"--check-against needs guard max_new_tokens {OFFICIAL_MAX_NEW_TOKENS}")

    def safrl_score(decoding, work):
        changed = dict(config, guard=dict(config["guard"], model=guard, decoding=decoding),
                       helpfulness=dict(helpfulness, model=reward))
        path = os.path.join(work, f"{decoding}.yaml")
        with open(path, "w") as out:
            yaml.safe_dump(changed, out)
        subprocess.run([args.safrl, "score", "--config", path, "--input", args.workload,
                        "--output", os.path.join(work, f"{decoding}.jsonl")],
                       check=True, capture_output=True)
        lines = [json.loads(x) for x in open(os.path.join(work, f"{decoding}.jsonl"))]
        lines.sort(key=lambda x: x["id"])
        # Guard texts in this script's order: every answer, then every thinking trace.
        texts = [x["answer"]["text"] for x in lines] + [x["thinking"]["text"] for x in lines
                                                       if x["thinking"] is not None]
        return lines, texts

    with tempfile.TemporaryDirectory() as work:
        free_lines, free_texts = safrl_score("free", work)
        _, constrained_texts = safrl_score("constrained", work)
    safrl_scores = [x["helpfulness"] for x in free_lines]
    differences = [abs(a - b) for a, b in zip(scores, safrl_scores)]
    relative = [d / max(abs(b), 1e-12) for d, b in zip(differences, safrl_scores)]

    # Decoded as safrl decodes: special tokens skipped, ids past the tokenizer's vocabulary
    # (unused embedding rows) dropped.
    tokenizer = Tokenizer.from_file(os.path.join(args.guard, "tokenizer.json"))
    vocabulary = tokenizer.get_vocab_size(with_added_tokens=True)
    hf_texts = [tokenizer.decode([t for t in row if t < vocabulary], skip_special_tokens=True)
                for row in official]
    mismatched = [i for i, (a, b) in enumerate(zip(hf_texts, free_texts)) if a != b]
    # safrl's constrained verdicts, in tokens (+1: the <|im_end|> the text leaves out).
    verdict_tokens = [len(x["ids"]) + 1 for x in run_cli(
        args.safrl, ["tokenize", "--tokenizer", args.guard],
        [{"text": t} for t in constrained_texts])]
    scores_ok = all(r <= args.check_rtol for r in relative)
    return {
        "ok": scores_ok and not mismatched and len(hf_texts) == len(free_texts),
        "reward_scores": len(scores), "reward_max_abs_diff": max(differences),
        "reward_max_rel_diff": max(relative), "reward_rtol": args.check_rtol,
        "reward_first": [[a, b] for a, b in zip(scores[:3], safrl_scores[:3])],
        "guard_texts": len(hf_texts),
        "guard_texts_equal_to_safrl_free": len(hf_texts) - len(mismatched),
        "guard_mismatches": [{"index": i, "transformers": hf_texts[i][:80],
                              "safrl": free_texts[i][:80]} for i in mismatched[:3]],
        "transformers_official_tokens": [min(map(len, official)), max(map(len, official))],
        "safrl_constrained_verdict_tokens": [min(verdict_tokens), statistics.median(verdict_tokens),
                                             max(verdict_tokens)],
        "safrl_constrained_example": constrained_texts[0],
        "peer_verdict_tokens": len(ids["verdict"])}


if __name__ == "__main__":
    main()
