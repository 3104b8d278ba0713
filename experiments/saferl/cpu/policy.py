"""The stand-in policy: a tiny Qwen3 language model that writes text.

One policy per thinking mode (the report trains each mode separately): transformers'
Qwen3ForCausalLM (hidden 64, 2 layers, tied embeddings) with a small byte-level BPE tokenizer
learned from the bank and Qwen3's chat template (policy_tokenizer.py), first fitted to the
response bank by next-token cross-entropy so that it writes the bank's responses with the
baseline's style shares, then trained with TRL's GRPOTrainer on safrl's rewards (grpo.py). The
baseline's refusal shares are the paper's Qwen3-4B refusal rates (Table 10: 12.9% non-thinking,
6.5% thinking); it complies with harmful prompts often, as an unaligned model does.

The policy writes after the chat template's generation prompt, as Qwen3 does: in thinking mode
`<think>\\n{trace}\\n</think>\\n\\n{answer}`, in non-thinking mode the answer alone (the template
already closed an empty think block). What it writes is text, so it can also write what no bank
response is: such a completion is still scored by the judges (each trace and answer is judged on
its own text), and its style is "off_bank" in the logs.
"""
import json
import os
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch

from experiments.saferl.cpu import bank

Key = Tuple[str, str]  # (label, mode)
OFF_BANK = "off_bank"
IM_END = "<|im_end|>"

BASELINE: Dict[Key, Dict[str, float]] = {
    ("harmful", "non_think"): {"refuse": 0.13, "comply_unsafe": 0.35, "safe_redirect": 0.52},
    ("harmful", "think"): {"refuse": 0.07, "comply_unsafe": 0.41, "safe_redirect": 0.52},
    ("benign", "non_think"): {"refuse": 0.08, "helpful": 0.92},
    ("benign", "think"): {"refuse": 0.05, "helpful": 0.95},
}


def completion(response: bank.Response) -> str:
    """What the policy writes for a bank response, after the generation prompt of its mode."""
    return response.text if response.mode == "think" else response.answer


def render_prompt(tokenizer, text: str, mode: str) -> str:
    """The user turn in Qwen3's chat template, as TRL renders it with enable_thinking set."""
    return tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                         add_generation_prompt=True,
                                         enable_thinking=mode == "think")


def style_of(prompt: bank.Prompt, mode: str, text: str) -> str:
    """The style of the bank response the completion is exactly (the judges see the text as
    written), or OFF_BANK. A trailing <|im_end|> is not part of the text."""
    if text.endswith(IM_END):
        text = text[:-len(IM_END)]
    for style, responses in bank.responses(prompt, mode).items():
        if any(completion(r) == text for r in responses):
            return style
    return OFF_BANK


def fit_rows(mode: str, per_prompt: int, rng: np.random.Generator) -> List[Tuple[str, str]]:
    """(prompt text, completion) rows for every bank prompt, `per_prompt` each, whose styles
    follow the baseline's shares exactly (largest remainders) and whose responses are drawn
    uniformly within a style."""
    rows = []
    for prompt in bank.PROMPTS:
        shares = BASELINE[(prompt.label, mode)]
        counts = {s: int(per_prompt * p) for s, p in shares.items()}
        by_remainder = sorted(shares, key=lambda s: per_prompt * shares[s] - counts[s],
                              reverse=True)
        for s in by_remainder[:per_prompt - sum(counts.values())]:
            counts[s] += 1
        options = bank.responses(prompt, mode)
        for style, count in counts.items():
            for _ in range(count):
                rows.append((prompt.text, completion(options[style][rng.integers(
                    len(options[style]))])))
    return rows


def make_policy(out_dir: str, mode: str, *, steps: int, seed: int, batch: int = 16,
                lr: float = 3e-3, check_samples: int = 32, log=print) -> dict:
    """A tiny Qwen3ForCausalLM fitted to the bank in `mode`, saved by transformers with its
    tokenizer in out_dir; returns the fit's summary (final loss, style shares when sampled)."""
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from experiments.saferl.cpu.policy_tokenizer import make_tokenizer

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    tokenizer = make_tokenizer()
    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                         head_dim=32, max_position_embeddings=1024, tie_word_embeddings=True,
                         eos_token_id=tokenizer.convert_tokens_to_ids(IM_END),
                         pad_token_id=tokenizer.pad_token_id, bos_token_id=None)
    model = Qwen3ForCausalLM(config)
    rows = fit_rows(mode, 100, rng)
    encoded = []
    for prompt, text in rows:
        p = tokenizer(render_prompt(tokenizer, prompt, mode), add_special_tokens=False)["input_ids"]
        c = tokenizer(text + IM_END, add_special_tokens=False)["input_ids"]
        encoded.append((p + c, [-100] * len(p) + c))
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    loss_value = float("nan")
    for step in range(steps):
        picked = rng.choice(len(encoded), size=batch, replace=False)
        width = max(len(encoded[i][0]) for i in picked)
        ids = torch.full((batch, width), tokenizer.pad_token_id)
        labels = torch.full((batch, width), -100)
        mask = torch.zeros((batch, width), dtype=torch.long)
        for row, i in enumerate(picked):
            x, y = encoded[i]
            ids[row, :len(x)], labels[row, :len(y)], mask[row, :len(x)] = (
                torch.tensor(x), torch.tensor(y), 1)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        loss_value = loss.item()
        if step % 100 == 0 or step == steps - 1:
            log(f"  fit {mode} step {step}: loss {loss_value:.4f}")
    model.eval()
    model.generation_config.eos_token_id = config.eos_token_id
    model.generation_config.pad_token_id = config.pad_token_id
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    shares = style_shares(out_dir, mode, samples=check_samples, seed=seed)
    summary = {"final_loss": loss_value, "steps": steps, "style_shares": shares}
    with open(os.path.join(out_dir, "fit.json"), "w") as f:
        json.dump(summary, f, indent=2)
    return summary


def sample(policy_dir: str, prompts: Sequence[bank.Prompt], mode: str, n: int,
           seed: int, max_new_tokens: int = 128) -> List[List[str]]:
    """n completions per prompt at temperature 1 (what the policy writes, special tokens
    removed)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(policy_dir)
    model = AutoModelForCausalLM.from_pretrained(policy_dir)
    torch.manual_seed(seed)
    out = []
    for prompt in prompts:
        ids = tokenizer(render_prompt(tokenizer, prompt.text, mode), add_special_tokens=False,
                        return_tensors="pt")["input_ids"]
        with torch.no_grad():
            generated = model.generate(ids.repeat(n, 1), do_sample=True, temperature=1.0,
                                       top_p=1.0, top_k=0, max_new_tokens=max_new_tokens)
        out.append(tokenizer.batch_decode(generated[:, ids.shape[1]:], skip_special_tokens=True))
    return out


def style_shares(policy_dir: str, mode: str, samples: int, seed: int) -> Dict[str, Dict]:
    """The share of each style (and OFF_BANK) in `samples` completions per prompt, by label."""
    shares: Dict[str, Dict[str, float]] = {}
    for label, prompts in (("harmful", bank.HARMFUL), ("benign", bank.BENIGN)):
        counts: Dict[str, int] = {}
        for prompt, texts in zip(prompts, sample(policy_dir, prompts, mode, samples, seed)):
            for text in texts:
                style = style_of(prompt, mode, text)
                counts[style] = counts.get(style, 0) + 1
        total = sum(counts.values())
        shares[label] = {s: round(c / total, 3) for s, c in sorted(counts.items())}
    return shares
