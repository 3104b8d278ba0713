"""Samples a Qwen3 policy's responses with vLLM, in thinking or non-thinking mode, as the
evaluation pipeline's generations JSONL.

    python3 generate.py --model DIR --prompts P.jsonl --mode think|non_think --samples N \
        --out G.jsonl [--shard I --num-shards K] [--max-tokens T] [--seed S]

P.jsonl rows: {"id", "prompt", "label"} (prepare_data.py writes them). Output rows:
{"id": "<prompt id>/<mode>/<k>", "prompt", "label", "response", "mode", "meta": {"prompt_id",
"sample"}}: the mode is in the id, so both modes' generations of an arm can share one file.
The prompt is the user turn alone in the model's chat template, with enable_thinking set by the
mode (non-thinking: the template closes an empty think block, so the response is the answer;
thinking: the response starts with the trace). Sampling defaults are the Qwen3 model card's
recommendations per mode (ASSUMPTIONS.md: evaluation and filtering decoding).
"""
import argparse
import json

# Qwen3 model card: thinking T=0.6, top-p 0.95, top-k 20; non-thinking T=0.7, top-p 0.8, top-k 20.
SAMPLING = {"think": {"temperature": 0.6, "top_p": 0.95, "top_k": 20},
            "non_think": {"temperature": 0.7, "top_p": 0.8, "top_k": 20}}


def shard(rows, index, count):
    """Every count-th row from index: disjoint shards that together cover all rows."""
    return rows[index::count]


def output_rows(prompts, texts_per_prompt, mode):
    for p, texts in zip(prompts, texts_per_prompt):
        for k, text in enumerate(texts):
            yield {"id": f"{p['id']}/{mode}/{k}", "prompt": p["prompt"], "label": p["label"],
                   "response": text, "mode": mode, "meta": {"prompt_id": p["id"], "sample": k}}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--prompts", required=True)
    parser.add_argument("--mode", choices=tuple(SAMPLING), required=True)
    parser.add_argument("--samples", type=int, default=1)
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-tokens", type=int, default=8192)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--num-shards", type=int, default=1)
    args = parser.parse_args(argv)

    from vllm import LLM, SamplingParams  # the GPU environment's

    with open(args.prompts) as f:
        rows = [json.loads(line) for line in f if line.strip()]
    prompts = shard(rows, args.shard, args.num_shards)
    llm = LLM(model=args.model, seed=args.seed, max_model_len=args.max_tokens + 4096)
    tokenizer = llm.get_tokenizer()
    texts = [tokenizer.apply_chat_template([{"role": "user", "content": p["prompt"]}],
                                           tokenize=False, add_generation_prompt=True,
                                           enable_thinking=args.mode == "think")
             for p in prompts]
    params = SamplingParams(n=args.samples, max_tokens=args.max_tokens, seed=args.seed,
                            **SAMPLING[args.mode])
    outputs = llm.generate(texts, params)
    with open(args.out, "w") as f:
        for row in output_rows(prompts, [[c.text for c in o.outputs] for o in outputs], args.mode):
            f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
