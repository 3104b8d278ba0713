"""transformers on the GPU, on the same token ids safrl scores: issue 8's GPU baseline.

    python3 experiments/bench/gpu/transformers_baseline.py --guard DIR --reward DIR --ids IDS.json \
        [--batch 16] [--new-tokens 12] [--dtype bfloat16]

IDS.json comes from prepare.sh (the guard prompts and reward-model inputs of `safrl bench`'s
workload, rendered and tokenized by safrl). The guard runs as users run it with transformers:
left-padded batches through `generate()` (greedy, exactly --new-tokens new tokens, KV cache,
SDPA attention); the reward model as TRL and OpenRLHF run it: right-padded batches through
AutoModelForSequenceClassification. Prints one JSON line. Written for transformers 5.x with a CUDA
PyTorch; NOT RUN YET (no GPU session so far): check its output before quoting it.
"""
import argparse
import json
import time

import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

PAD = 151643  # <|endoftext|>, Qwen3's pad token


def batches(ids, size):
    return [ids[i:i + size] for i in range(0, len(ids), size)]


def padded(batch, left, device):
    width = max(len(x) for x in batch)
    rows = [[PAD] * (width - len(x)) + x if left else x + [PAD] * (width - len(x)) for x in batch]
    mask = [[0] * (width - len(x)) + [1] * len(x) if left else [1] * len(x) + [0] * (width - len(x))
            for x in batch]
    return torch.tensor(rows, device=device), torch.tensor(mask, device=device)


def timed(fn):
    torch.cuda.synchronize()
    start = time.perf_counter()
    fn()
    torch.cuda.synchronize()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--guard", required=True)
    parser.add_argument("--reward", required=True)
    parser.add_argument("--ids", required=True)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=12)
    parser.add_argument("--dtype", default="bfloat16")
    args = parser.parse_args()
    ids = json.load(open(args.ids))
    dtype = getattr(torch, args.dtype)
    device = "cuda"
    torch.set_grad_enabled(False)
    guard = AutoModelForCausalLM.from_pretrained(args.guard, dtype=dtype).to(device).eval()
    reward = AutoModelForSequenceClassification.from_pretrained(args.reward, dtype=dtype).to(device).eval()
    reward.config.pad_token_id = PAD

    def run_guard():
        for batch in batches(ids["guard"], args.batch):
            input_ids, mask = padded(batch, True, device)
            guard.generate(input_ids=input_ids, attention_mask=mask, do_sample=False,
                           max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                           pad_token_id=PAD)

    def run_reward():
        for batch in batches(ids["helpfulness"], args.batch):
            input_ids, mask = padded(batch, False, device)
            reward(input_ids=input_ids, attention_mask=mask).logits.float().cpu()

    run_guard_warm = ids["guard"][:2]
    guard.generate(input_ids=padded(run_guard_warm, True, device)[0], do_sample=False,
                   max_new_tokens=2, pad_token_id=PAD)  # warm-up: kernels, allocator
    guard_s, reward_s = timed(run_guard), timed(run_reward)
    samples = ids["samples"]
    print(json.dumps({"mode": "transformers", "device": torch.cuda.get_device_name(),
                      "torch": torch.__version__, "dtype": args.dtype, "batch": args.batch,
                      "samples": samples, "guard_s": guard_s, "helpfulness_s": reward_s,
                      "seconds": guard_s + reward_s, "samples_per_s": samples / (guard_s + reward_s),
                      "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2 ** 20}))


if __name__ == "__main__":
    main()
