"""Trains tiny stand-in judges on hand-labelled examples and writes them as Hugging Face
checkpoints: the CPU experiment's judges (experiments/saferl/cpu/judges.py, on its response bank)
and the embedded demo models of the default config (demo_models.py, on demo_bank.py).

    guard    Qwen3ForCausalLM shaped like the embedded tiny guard (hidden 64, 2 layers, head_dim
             32, tied embeddings, vocabulary 151936, the real Qwen3 tokenizer), trained with
             next-token cross-entropy over the whole vocabulary on the guard's output
             ("Safety: Safe\\nCategories: None\\nRefusal: Yes<|im_end|>") after the exact
             Qwen3Guard-Gen response-moderation prompt, until greedy decoding (free or
             constrained) writes every verdict of the examples.
    reward   Qwen3ForSequenceClassification (one label, pad 151643), the same shape, trained by
             regression on the examples' helpfulness targets for (prompt, answer) in the Qwen3
             chat format, read at the last token as transformers pools.

Inputs are rendered and tokenized by the C++ program itself (`safrl render`, `safrl tokenize`),
so training sees exactly what the server will feed. The configs and the weight layout come from
safrl.testing (embedded_models, checkpoints); weights are written in float32 so the server
computes on exactly the trained values.
"""
import math
import os
import shutil
import time
from typing import Callable, Dict, List, Sequence, Tuple

import torch

from safrl.testing import checkpoints, embedded_models, toolchain
from safrl.testing.tiny_qwen3 import TinyQwen3, common_prefix, pad

RESPONSE_CATEGORIES = ("Violent", "Non-violent Illegal Acts", "Sexual Content or Sexual Acts",
                       "PII", "Suicide & Self-Harm", "Unethical Acts",
                       "Politically Sensitive Topics", "Copyright Violation")
IM_END = "<|im_end|>"
PAD_ID = 151643


def tiny_config(arch: str, **extra) -> dict:
    shape = dict(embedded_models.TINY, torch_dtype="float32")
    return checkpoints.base_config("qwen3", arch, **shape, **extra)


def save_judge(out_dir: str, config: dict, weights: Dict[str, torch.Tensor],
               tokenizer: str) -> None:
    checkpoints.write_checkpoint(out_dir, config, weights, torch.float32, shards=1)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tokenizer, name), os.path.join(out_dir, name))


def _fit(model: TinyQwen3, n: int, batch_loss: Callable, check: Callable, *, lr: float,
         batch_size: int, max_epochs: int, seed: int, name: str, log) -> dict:
    """Adam on shuffled minibatches (small ones converge in far less time here than full
    batches) until `check()` (no gradients, all examples) says done. batch_loss(indices) -> loss;
    check() -> (done, message)."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    start = time.time()
    for epoch in range(1, max_epochs + 1):
        order = torch.randperm(n, generator=generator)
        for begin in range(0, n, batch_size):
            loss = batch_loss(order[begin:begin + batch_size])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        with torch.no_grad():
            done, message = check()
        log(f"{name} epoch {epoch}: {message}, {time.time() - start:.0f} s")
        if done:
            break
    return {"examples": n, "epochs": epoch, "converged": done, "check": message,
            "seconds": round(time.time() - start, 1)}


def verdict_text(safety: str, categories: Sequence[str], refusal: bool) -> str:
    """The guard's output text for a response verdict (three lines, without the end token)."""
    return (f"Safety: {safety}\nCategories: {', '.join(categories) or 'None'}\n"
            f"Refusal: {'Yes' if refusal else 'No'}")


VERDICT_TEXTS = [verdict_text(s, cats, r) + IM_END
                 for s in ("Safe", "Unsafe", "Controversial")
                 for cats in [()] + [(c,) for c in RESPONSE_CATEGORIES] + [RESPONSE_CATEGORIES[:2]]
                 for r in (True, False)]


def response_example(prompt: str, text: str, verdict: str) -> Tuple[List[dict], str]:
    """A (conversation, guard output) pair: `text` judged as the answer to `prompt`, and the
    verdict's text with <|im_end|>."""
    return ([{"role": "user", "content": prompt}, {"role": "assistant", "content": text}],
            verdict + IM_END)


def guard_data(examples: Sequence[Tuple[List[dict], str]], tokenizer: str):
    """Prompt ids (the exact guard rendering), target ids (the output text), and every token any
    response verdict can contain, including categories the examples never use: constrained
    decoding chooses among these, so all of them must be trained rows. One `safrl tokenize` call
    (each loads the tokenizer, about two seconds)."""
    n = len(examples)
    texts = toolchain.render("guard", [c for c, _ in examples]) + [t for _, t in examples]
    ids = toolchain.tokenize(texts + VERDICT_TEXTS, tokenizer)
    return ids[:n], ids[n:2 * n], sorted({i for row in ids[2 * n:] for i in row})


def train_guard(out_dir: str, tokenizer: str, examples: Sequence[Tuple[List[dict], str]], *,
                seed: int = 1, max_epochs: int = 60, margin: float = 1.0, lr: float = 1e-2,
                batch_size: int = 8, log=print) -> dict:
    """Trains on (conversation, guard output) pairs until every output token of every example
    beats every other token of the vocabulary by `margin` logits, so that greedy decoding, free
    or constrained, writes the examples' outputs. Returns a summary.

    The embedding rows of tokens that occur nowhere in the bank (and are not verdict tokens) are
    zero, so their logits are exactly 0: the full-vocabulary cross-entropy is then the softmax
    over the used rows plus one column holding log(number of zero rows), exact and cheap (a
    softmax over all 151,936 rows costs about 3 s a step here)."""
    examples = list(examples)
    prompts, targets, verdict_tokens = guard_data(examples, tokenizer)
    config = tiny_config("Qwen3ForCausalLM", tie_word_embeddings=True)
    weights = checkpoints.random_weights(config, torch.Generator().manual_seed(seed))
    used = sorted({i for ids in prompts + targets for i in ids} | set(verdict_tokens))
    embed = torch.zeros_like(weights["model.embed_tokens.weight"])
    embed[used] = weights["model.embed_tokens.weight"][used]
    weights["model.embed_tokens.weight"] = embed
    model = TinyQwen3(config, weights, used)
    zero_rows = torch.tensor(math.log(config["vocab_size"] - len(used)))

    sequences = [p + t for p, t in zip(prompts, targets)]
    prefix = common_prefix(sequences)
    n = len(prefix)
    rest = pad([s[n:] for s in sequences], used[0])
    # The output token k of a sequence is predicted at the position just before it.
    query = pad([list(range(len(p) - 1 - n, len(p) - 1 - n + len(t)))
                 for p, t in zip(prompts, targets)], 0)
    slot = {token: i for i, token in enumerate(used)}
    labels = pad([[slot[i] for i in t] for t in targets], -100)
    rows = torch.tensor(used)

    def logits(index):
        """[B, Q, used + 1]: the used rows' logits, then the zero rows' log-mass."""
        out = model.hidden(prefix, rest[index], query[index]) @ model.embed_rows(rows).T
        return torch.cat((out, zero_rows.expand(*out.shape[:-1], 1)), dim=-1)

    def batch_loss(index):
        return torch.nn.functional.cross_entropy(logits(index).flatten(0, 1),
                                                 labels[index].flatten(), ignore_index=-100)

    def check():
        out = logits(torch.arange(len(examples)))
        out[..., -1] = 0.0  # each zero row's own logit
        target = labels.clamp(min=0)[..., None]
        others = out.scatter(-1, target, float("-inf")).max(-1).values
        worst = (out.gather(-1, target)[..., 0] - others)[labels >= 0].min().item()
        return worst > margin, f"smallest margin {worst:.2f}"

    summary = _fit(model, len(examples), batch_loss, check, lr=lr, batch_size=batch_size,
                   max_epochs=max_epochs, seed=seed, name="guard", log=log)
    save_judge(out_dir, config, model.export(), tokenizer)
    return summary


def train_reward(out_dir: str, tokenizer: str, examples: Sequence[Tuple[str, str, float]], *,
                 seed: int = 2, max_epochs: int = 60, tolerance: float = 0.1, lr: float = 1e-2,
                 batch_size: int = 8, log=print) -> dict:
    """Trains on (prompt, answer, helpfulness) triples until every answer's score is within
    `tolerance` of its target."""
    conversations = [[{"role": "user", "content": p}, {"role": "assistant", "content": a}]
                     for p, a, _ in examples]
    sequences = toolchain.tokenize(toolchain.render("qwen3", conversations), tokenizer)
    targets = torch.tensor([h for _, _, h in examples])
    config = tiny_config("Qwen3ForSequenceClassification", num_labels=1, pad_token_id=PAD_ID)
    weights = checkpoints.random_weights(config, torch.Generator().manual_seed(seed))
    model = TinyQwen3(config, weights, sorted({i for s in sequences for i in s}))
    prefix = common_prefix(sequences)
    n = len(prefix)
    rest = pad([s[n:] for s in sequences], sequences[0][-1])
    query = torch.tensor([[len(s) - 1 - n] for s in sequences])  # the last token

    def scores(index):
        hidden = model.hidden(prefix, rest[index], query[index])[:, 0]
        return (hidden @ model.w["score.weight"].T)[:, 0]

    def batch_loss(index):
        return torch.nn.functional.mse_loss(scores(index), targets[index])

    def check():
        error = (scores(torch.arange(len(examples))) - targets).abs().max().item()
        return error < tolerance, f"largest error {error:.3f}"

    summary = _fit(model, len(examples), batch_loss, check, lr=lr, batch_size=batch_size,
                   max_epochs=max_epochs, seed=seed, name="reward", log=log)
    save_judge(out_dir, config, model.export(), tokenizer)
    return summary
