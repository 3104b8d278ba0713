"""An independent reference forward of Qwen2 / Qwen3 checkpoints on Debian's python3-torch.

Written from the model description (transformers' modeling_qwen3 semantics), not from the C++
code: one sequence at a time, a full causal mask, keys/values repeated for grouped-query
attention, everything in float32. Used to produce the expected outputs the C++ tests compare to.
"""
import json
import os

import torch

import safetensors_io


def load_checkpoint(model_dir):
    config = json.load(open(os.path.join(model_dir, "config.json")))
    index = os.path.join(model_dir, "model.safetensors.index.json")
    weights = {}
    if os.path.exists(index):
        for shard in sorted(set(json.load(open(index))["weight_map"].values())):
            weights.update(safetensors_io.load(os.path.join(model_dir, shard)))
    else:
        weights = safetensors_io.load(os.path.join(model_dir, "model.safetensors"))
    return config, {k: v.to(torch.float32) for k, v in weights.items()}


def rms_norm(x, weight, eps):
    variance = x.pow(2).mean(-1, keepdim=True)
    return weight * (x * torch.rsqrt(variance + eps))


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward_hidden(config, w, ids):
    """Final-norm hidden states [T, hidden] of one sequence."""
    qwen3 = config["model_type"] == "qwen3"
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim", 128 if qwen3 else config["hidden_size"] // heads)
    eps, theta = config["rms_norm_eps"], config.get("rope_theta", 10000.0)
    t = len(ids)
    x = w["model.embed_tokens.weight"][torch.tensor(ids)]
    inv_freq = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    angles = torch.arange(t).float()[:, None] * inv_freq[None, :]
    emb = torch.cat((angles, angles), dim=-1)
    cos, sin = emb.cos()[:, None, :], emb.sin()[:, None, :]
    causal = torch.full((t, t), float("-inf")).triu(1)

    def linear(name, h):
        out = h @ w[name + ".weight"].T
        return out + w[name + ".bias"] if name + ".bias" in w else out

    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        h = rms_norm(x, w[p + "input_layernorm.weight"], eps)
        q = linear(p + "self_attn.q_proj", h).view(t, heads, head_dim)
        k = linear(p + "self_attn.k_proj", h).view(t, kv_heads, head_dim)
        v = linear(p + "self_attn.v_proj", h).view(t, kv_heads, head_dim)
        if qwen3:
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        group = heads // kv_heads
        k = k.repeat_interleave(group, dim=1)  # [t, heads, d]: head h uses kv head h // group
        v = v.repeat_interleave(group, dim=1)
        scores = torch.einsum("qhd,khd->hqk", q, k) / head_dim ** 0.5 + causal
        attn = torch.einsum("hqk,khd->qhd", scores.softmax(-1), v).reshape(t, heads * head_dim)
        x = x + linear(p + "self_attn.o_proj", attn)
        h = rms_norm(x, w[p + "post_attention_layernorm.weight"], eps)
        gate = torch.nn.functional.silu(linear(p + "mlp.gate_proj", h))
        x = x + linear(p + "mlp.down_proj", gate * linear(p + "mlp.up_proj", h))
    return rms_norm(x, w["model.norm.weight"], eps)


def head_output(config, w, hidden_last):
    """The head applied to the last position's hidden state: logits or scores."""
    arch = config["architectures"][0]
    if arch.endswith("ForCausalLM"):
        lm = w.get("lm_head.weight")
        if config.get("tie_word_embeddings", False) or lm is None:
            lm = w["model.embed_tokens.weight"]
        return hidden_last @ lm.T
    if arch.endswith("ForSequenceClassification"):
        return hidden_last @ w["score.weight"].T
    if arch == "Qwen2ForRewardModel":
        h = torch.relu(hidden_last @ w["score.0.weight"].T + w["score.0.bias"])
        return h @ w["score.2.weight"].T + w["score.2.bias"]
    raise ValueError("unknown architecture " + arch)
