"""A trainable Qwen3 forward on torch, for the tiny stand-in judges.

It computes what transformers' Qwen3 computes (per-head q/k RMSNorm before rotate-half RoPE,
grouped-query attention, SwiGLU MLP, RMSNorm in float32; transformers' Qwen3Model is the check,
tests/experiments/test_cpu_parts.py), organised for training on two CPU cores:

- Every sequence of a batch starts with the same tokens (the guard template's head, about 280
  tokens): that prefix is computed once and its keys and values are shared by the batch, with
  gradients flowing back through it.
- The last layer computes queries only at the positions the loss reads (the guard's output
  tokens, the reward model's last token); the other positions only provide keys and values.
- Only the embedding rows of the token ids given as used are trained; the other rows keep the
  values they were given (stand_in.py zeroes them for the guard, which makes its full-vocabulary
  softmax cheap to compute exactly).

Weights are held under their Hugging Face names, so `export()` is the checkpoint. rotate-half is
transformers' own.
"""
from typing import Dict, List, Sequence

import torch
from transformers.models.qwen3.modeling_qwen3 import rotate_half as _rotate_half


def _rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Qwen3RMSNorm's arithmetic as a function of the weight (the module owns its weight)."""
    return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps))


class TinyQwen3:
    def __init__(self, config: dict, weights: Dict[str, torch.Tensor], used_ids: Sequence[int]):
        """`weights`: a full checkpoint's tensors (float32) to start from; `used_ids`: every token
        id the inputs and targets contain."""
        self.config = config
        self.heads = config["num_attention_heads"]
        self.kv_heads = config["num_key_value_heads"]
        self.head_dim = config["head_dim"]
        self.eps = config["rms_norm_eps"]
        self.layers = config["num_hidden_layers"]
        self.full = {k: v.detach().clone().float() for k, v in weights.items()}
        used = torch.tensor(sorted(set(used_ids)), dtype=torch.long)
        self.used = used
        self.compact = torch.full((config["vocab_size"],), -1, dtype=torch.long)
        self.compact[used] = torch.arange(len(used))
        # The trained tensors: every weight but the embedding, and the embedding's used rows.
        self.w = {k: v.clone().requires_grad_() for k, v in self.full.items()
                  if k != "model.embed_tokens.weight"}
        self.w["model.embed_tokens.weight"] = \
            self.full["model.embed_tokens.weight"][used].clone().requires_grad_()
        inv_freq = 1.0 / (config["rope_theta"] ** (
            torch.arange(0, self.head_dim, 2, dtype=torch.int64).float() / self.head_dim))
        self.inv_freq = inv_freq

    def parameters(self) -> List[torch.Tensor]:
        return list(self.w.values())

    def export(self) -> Dict[str, torch.Tensor]:
        """The full checkpoint: trained weights, the embedding's trained rows scattered back."""
        out = {k: v.detach().clone() for k, v in self.w.items()}
        embed = self.full["model.embed_tokens.weight"].clone()
        embed[self.used] = self.w["model.embed_tokens.weight"].detach()
        out["model.embed_tokens.weight"] = embed
        return out

    def embed_rows(self, ids: torch.Tensor) -> torch.Tensor:
        """Trained embedding rows of token ids (all must be in used_ids)."""
        index = self.compact[ids]
        assert bool((index >= 0).all()), "a token id outside used_ids"
        return self.w["model.embed_tokens.weight"][index]

    def _rope(self, positions):
        angles = positions.float()[..., None] * self.inv_freq
        emb = torch.cat((angles, angles), dim=-1)
        return emb.cos()[..., None, :], emb.sin()[..., None, :]  # broadcast over heads

    def _qkv(self, p, h, positions, with_q):
        def proj(name, n):
            out = h @ self.w[p + f"self_attn.{name}_proj.weight"].T
            return out.unflatten(-1, (n, self.head_dim))
        cos, sin = self._rope(positions)
        k = _rms_norm(proj("k", self.kv_heads), self.w[p + "self_attn.k_norm.weight"], self.eps)
        k = k * cos + _rotate_half(k) * sin
        v = proj("v", self.kv_heads)
        if not with_q:
            return None, k, v
        q = _rms_norm(proj("q", self.heads), self.w[p + "self_attn.q_norm.weight"], self.eps)
        return q * cos + _rotate_half(q) * sin, k, v

    def _attend(self, p, x, q, k, v, bias):
        """x: residual [B, Q, hidden]; q [B, Q, H, d]; k, v [B, K, kvH, d]; bias: 0 where a
        query may see a key, -inf elsewhere, broadcast to [B, 1, 1, Q, K]."""
        batch, n_q = q.shape[:2]
        group = self.heads // self.kv_heads
        # Head h uses kv head h // group: view the heads as [kv head, member] instead of copying
        # keys and values for every member.
        q = q.view(batch, n_q, self.kv_heads, group, self.head_dim) / self.head_dim ** 0.5
        scores = torch.einsum("bqcgd,bkcd->bcgqk", q, k) + bias
        attn = torch.einsum("bcgqk,bkcd->bqcgd", scores.softmax(-1), v).flatten(2)
        x = x + attn @ self.w[p + "self_attn.o_proj.weight"].T
        h = _rms_norm(x, self.w[p + "post_attention_layernorm.weight"], self.eps)
        gate = torch.nn.functional.silu(h @ self.w[p + "mlp.gate_proj.weight"].T)
        up = h @ self.w[p + "mlp.up_proj.weight"].T
        return x + (gate * up) @ self.w[p + "mlp.down_proj.weight"].T

    def hidden(self, prefix: Sequence[int], rest: torch.Tensor,
               query: torch.Tensor) -> torch.Tensor:
        """Final-norm hidden states [B, Q, hidden] at `query` positions.

        prefix: the ids every sequence starts with (may be empty); rest: [B, T] each sequence's
        ids after the prefix, right-padded with any used id; query: [B, Q] positions within
        `rest` (each before that sequence's end) to compute the last layer at.
        """
        batch, t = rest.shape
        n = len(prefix)
        prefix = torch.tensor(list(prefix), dtype=torch.long)
        xp = self.embed_rows(prefix)[None]                        # [1, P, hidden]
        x = self.embed_rows(rest)                                 # [B, T, hidden]
        pos_p = torch.arange(n)                                   # [P]
        pos_r = n + torch.arange(t)                               # [T]
        pos_k = torch.arange(n + t)                               # [P + T]
        q_pos = n + query                                         # [B, Q]

        def causal(q_positions, k_positions):
            """0 where a query sees a key (key position <= query position), else -inf."""
            hidden = k_positions[..., None, :] > q_positions[..., :, None]
            bias = torch.zeros(hidden.shape).masked_fill(hidden, float("-inf"))
            return bias[:, None, None] if bias.dim() == 3 else bias

        bias_p, bias_r, bias_q = causal(pos_p, pos_p), causal(pos_r, pos_k), causal(q_pos, pos_k)
        for layer in range(self.layers):
            p = f"model.layers.{layer}."
            last = layer == self.layers - 1
            ln = self.w[p + "input_layernorm.weight"]
            q, k, v = self._qkv(p, _rms_norm(x, ln, self.eps), pos_r, with_q=not last)
            if n:
                q_p, k_p, v_p = self._qkv(p, _rms_norm(xp, ln, self.eps), pos_p, with_q=not last)
                if not last:
                    xp = self._attend(p, xp, q_p, k_p, v_p, bias_p)
                k = torch.cat((k_p.expand(batch, -1, -1, -1), k), dim=1)
                v = torch.cat((v_p.expand(batch, -1, -1, -1), v), dim=1)
            if last:
                xq = torch.gather(x, 1, query[..., None].expand(-1, -1, x.shape[-1]))
                q, _, _ = self._qkv(p, _rms_norm(xq, ln, self.eps), q_pos, with_q=True)
                x = self._attend(p, xq, q, k, v, bias_q)
            else:
                x = self._attend(p, x, q, k, v, bias_r)
        return _rms_norm(x, self.w["model.norm.weight"], self.eps)


def common_prefix(sequences: Sequence[Sequence[int]]) -> List[int]:
    """The longest prefix all sequences share, kept one token short of the shortest one so that
    every sequence has at least one token of its own."""
    first = sequences[0]
    n = min(len(s) for s in sequences) - 1
    for s in sequences[1:]:
        i = 0
        while i < n and s[i] == first[i]:
            i += 1
        n = i
    return list(first[:n])


def pad(rows: Sequence[Sequence[int]], value: int) -> torch.Tensor:
    width = max(len(r) for r in rows)
    return torch.tensor([list(r) + [value] * (width - len(r)) for r in rows], dtype=torch.long)
