"""The baseline of issue 8: the scoring workload computed the way Hugging Face transformers and
TRL compute it, on Debian's PyTorch, with the same weights and the same token ids as safrl.

    /usr/bin/python3 experiments/bench/hf_style_baseline.py --guard DIR --reward DIR \
        --workload W.jsonl [--batch 16] [--new-tokens 12] [--safrl build/src/cli/safrl]

W.jsonl comes from `safrl bench --dump-workload W.jsonl` (same P x G workload). What makes it the
transformers way, on purpose:
- one padded batch per `--batch` sequences (left padding for the guard's generation, right padding
  for the reward model), attention over the padding masked, not skipped;
- the LM head over every position of the prefill (a plain forward returns all logits);
- every group member recomputes the shared prompt (no prefix reuse);
- greedy generation of `--new-tokens` tokens with a KV cache and the full-vocabulary LM head.
Token ids come from `safrl render` + `safrl tokenize` (exact, and not timed). Prints one JSON line.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "tests", "python"))
import reference_qwen  # noqa: E402


def run_cli(safrl, args, lines):
    out = subprocess.run([safrl] + args, input="".join(json.dumps(x) + "\n" for x in lines),
                         capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines()]


def split(response):
    if "</think>" not in response:
        return None, response
    thinking, answer = response.split("</think>", 1)
    return thinking.replace("<think>", "").strip("\n"), answer.lstrip("\n")


def rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class PaddedModel:
    """A batched Qwen3 forward with an attention mask and a KV cache (transformers' eager path)."""

    def __init__(self, model_dir):
        self.config, self.w = reference_qwen.load_checkpoint(model_dir)
        c = self.config
        self.heads, self.kv = c["num_attention_heads"], c["num_key_value_heads"]
        self.dim = c.get("head_dim", 128)
        self.eps = c["rms_norm_eps"]
        self.inv_freq = 1.0 / (c.get("rope_theta", 10000.0) ** (
            torch.arange(0, self.dim, 2, dtype=torch.int64).float() / self.dim))

    def linear(self, name, h):
        return h @ self.w[name + ".weight"].T

    def forward(self, ids, positions, key_mask, cache):
        """ids, positions [B, T]; key_mask [B, L_total] (True = a real token); returns hidden."""
        b, t = ids.shape
        x = self.w["model.embed_tokens.weight"][ids]
        angles = positions.float()[..., None] * self.inv_freq
        emb = torch.cat((angles, angles), -1)
        cos, sin = emb.cos()[:, None], emb.sin()[:, None]
        total = key_mask.shape[1]
        causal = torch.ones(t, total, dtype=torch.bool).tril(total - t)
        allowed = causal[None, None] & key_mask[:, None, None, :]
        for layer in range(self.config["num_hidden_layers"]):
            p = f"model.layers.{layer}."
            h = rms_norm(x, self.w[p + "input_layernorm.weight"], self.eps)
            q = self.linear(p + "self_attn.q_proj", h).view(b, t, self.heads, self.dim).transpose(1, 2)
            k = self.linear(p + "self_attn.k_proj", h).view(b, t, self.kv, self.dim).transpose(1, 2)
            v = self.linear(p + "self_attn.v_proj", h).view(b, t, self.kv, self.dim).transpose(1, 2)
            q = rms_norm(q, self.w[p + "self_attn.q_norm.weight"], self.eps)
            k = rms_norm(k, self.w[p + "self_attn.k_norm.weight"], self.eps)
            q, k = q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin
            if cache is not None:
                if layer in cache:
                    k = torch.cat((cache[layer][0], k), 2)
                    v = torch.cat((cache[layer][1], v), 2)
                cache[layer] = (k, v)
            group = self.heads // self.kv
            k, v = k.repeat_interleave(group, 1), v.repeat_interleave(group, 1)
            scores = (q @ k.transpose(2, 3)) / self.dim ** 0.5
            scores = scores.masked_fill(~allowed, float("-inf")).softmax(-1).nan_to_num(0.0)
            attn = (scores @ v).transpose(1, 2).reshape(b, t, self.heads * self.dim)
            x = x + self.linear(p + "self_attn.o_proj", attn)
            h = rms_norm(x, self.w[p + "post_attention_layernorm.weight"], self.eps)
            gate = torch.nn.functional.silu(self.linear(p + "mlp.gate_proj", h))
            x = x + self.linear(p + "mlp.down_proj", gate * self.linear(p + "mlp.up_proj", h))
        return rms_norm(x, self.w["model.norm.weight"], self.eps)


def guard_batch(model, batch, new_tokens, last_logits_only):
    """Left-padded prefill with logits at every position (or, as transformers' generate() does since
    it passes logits_to_keep=1, at the last one only), then greedy decoding with a cache."""
    lm = model.w.get("lm_head.weight", model.w["model.embed_tokens.weight"])
    width = max(len(x) for x in batch)
    ids = torch.tensor([[0] * (width - len(x)) + x for x in batch])
    mask = torch.tensor([[False] * (width - len(x)) + [True] * len(x) for x in batch])
    positions = (mask.long().cumsum(1) - 1).clamp(min=0)
    cache = {}
    hidden = model.forward(ids, positions, mask, cache)
    if last_logits_only:
        next_ids = (hidden[:, -1] @ lm.T).argmax(-1)
    else:
        logits = hidden @ lm.T  # every position, as a plain forward returns them
        next_ids = logits[:, -1].argmax(-1)
    for _ in range(new_tokens - 1):
        mask = torch.cat((mask, torch.ones(len(batch), 1, dtype=torch.bool)), 1)
        positions = positions[:, -1:] + 1
        hidden = model.forward(next_ids[:, None], positions, mask, cache)
        next_ids = (hidden[:, -1] @ lm.T).argmax(-1)


def reward_batch(model, batch):
    width = max(len(x) for x in batch)
    ids = torch.tensor([x + [0] * (width - len(x)) for x in batch])
    mask = torch.tensor([[True] * len(x) + [False] * (width - len(x)) for x in batch])
    positions = torch.arange(width).expand(len(batch), width)
    hidden = model.forward(ids, positions, mask, None)
    scores = hidden @ model.w["score.weight"].T  # every position, pooled afterwards
    return scores[torch.arange(len(batch)), mask.sum(1) - 1]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--guard", required=True)
    parser.add_argument("--reward", required=True)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--new-tokens", type=int, default=12)
    parser.add_argument("--safrl", default="build/src/cli/safrl")
    parser.add_argument("--dump-ids", help="write the token ids of both models here (JSON) and "
                        "exit: the input of experiments/bench/gpu/transformers_baseline.py")
    parser.add_argument("--count-only", action="store_true",
                        help="print the tokens each side computes and exit (no forwards)")
    parser.add_argument("--last-logits-only", action="store_true",
                        help="the guard's prefill computes logits at the last position only")
    args = parser.parse_args()
    samples = [json.loads(line) for line in open(args.workload)]
    guard_conversations, reward_conversations = [], []
    for s in samples:
        thinking, answer = split(s["response"])
        guard_conversations.append([{"role": "user", "content": s["prompt"]},
                                    {"role": "assistant", "content": answer}])
        if thinking:
            guard_conversations.append([{"role": "user", "content": s["prompt"]},
                                        {"role": "assistant", "content": thinking}])
        reward_conversations.append([{"role": "user", "content": s["prompt"]},
                                     {"role": "assistant", "content": answer}])

    def ids_of(fmt, conversations, model_dir):
        texts = run_cli(args.safrl, ["render", "--format", fmt], [{"messages": c} for c in conversations])
        return [x["ids"] for x in run_cli(args.safrl, ["tokenize", "--tokenizer", model_dir], texts)]

    guard_ids = ids_of("guard", guard_conversations, args.guard)
    reward_ids = ids_of("qwen3", reward_conversations, args.reward)

    def padded_tokens(ids):  # what one padded batch of --batch sequences computes
        return sum(len(chunk) * max(len(x) for x in chunk)
                   for chunk in (ids[i:i + args.batch] for i in range(0, len(ids), args.batch)))
    counts = {"guard_sequences": len(guard_ids),
              "guard_real_tokens": sum(len(x) for x in guard_ids),
              "guard_padded_tokens": padded_tokens(guard_ids),
              "helpfulness_real_tokens": sum(len(x) for x in reward_ids),
              "helpfulness_padded_tokens": padded_tokens(reward_ids)}
    if args.dump_ids:
        with open(args.dump_ids, "w") as out:
            json.dump({"samples": len(samples), "guard": guard_ids, "helpfulness": reward_ids}, out)
        return
    if args.count_only:
        print(json.dumps(dict(counts, batch=args.batch)))
        return
    torch.set_grad_enabled(False)
    guard, reward = PaddedModel(args.guard), PaddedModel(args.reward)
    start = time.time()
    for i in range(0, len(guard_ids), args.batch):
        guard_batch(guard, guard_ids[i:i + args.batch], args.new_tokens, args.last_logits_only)
    guard_seconds = time.time() - start
    start = time.time()
    for i in range(0, len(reward_ids), args.batch):
        reward_batch(reward, reward_ids[i:i + args.batch])
    reward_seconds = time.time() - start
    total = guard_seconds + reward_seconds
    print(json.dumps({"mode": "hf_style_baseline", "samples": len(samples), "batch": args.batch,
                      "last_logits_only": args.last_logits_only,
                      "torch_threads": torch.get_num_threads(), "guard_s": guard_seconds,
                      "helpfulness_s": reward_seconds, "seconds": total,
                      "samples_per_s": len(samples) / total, **counts}))


if __name__ == "__main__":
    main()
