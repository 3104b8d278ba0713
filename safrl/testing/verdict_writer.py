"""Writes a Qwen3ForCausalLM checkpoint whose greedy decoding after the Qwen3Guard-Gen prompt writes
a valid verdict, by construction: "Safety: Safe\\nCategories: None\\nRefusal: No<|im_end|>" for
response moderation, "Safety: Safe\\nCategories: None<|im_end|>" for prompt moderation (--verdict
unsafe: Unsafe and Violent), whatever the conversation. It gives benchmarks a guard that follows
the format at a real model's shape (issue 29): a peer such as vLLM must decode every verdict token,
while safrl's constrained decoding feeds the tokens the format forces (a random-weight guard never
follows the format, so constrained decoding falls back to free decoding there).

    .venv/bin/python -m safrl.testing.verdict_writer OUT_DIR --shape tiny|qwen3-0.6b \
        [--verdict safe|unsafe] [--tokenizer DIR] [--dtype bfloat16|float32] \
        [--check N [--safrl BIN]]

Writes OUT_DIR as transformers' save_pretrained does (config.json, model.safetensors), plus
tokenizer.json and tokenizer_config.json from --tokenizer (default .deps/qwen3-tokenizer).
--check N renders N conversations of each task with `safrl render --format guard` and prints
transformers' greedy output for each (exit status 1 unless every one is the verdict).

The construction. The next verdict token is a function of the current token, the previous one
(":" is followed by " Safe", " None" or " No" depending on the token before it, "\\n" by
"Categories" or "Ref") and the task (what follows " None" is "<|im_end|>" for the prompt task,
"\\n" for the response task). The hidden state holds, in its first dimensions, a constant 1
("bias"), a one-hot of the current token among the few tokens the verdict uses, a one-hot of the
previous token and a task sign; the other dimensions hold random values for every other token.
Layer 0 computes the two attention features:
- head 0 attends to relative distance D = 1 and copies the previous token's one-hot. Its query and
  key come from the bias dimension only, so after Qwen3's per-head q/k RMSNorm they are the same
  vector at every position; in the 10 fastest rotary pairs the key is real and the query carries
  the phase exp(-i * D * theta_j), so the score at distance d is proportional to
  sum_j cos((d - D) * theta_j), which peaks at d = D and is at least 30.6 lower (at d = D +- 1)
  at every other distance up to max_position_embeddings (write() checks at least 25, for the
  weights as stored).
- one head on the second KV head does the same at the distance from the verdict's category token
  back to the guard prompt's fixed tail, where the template holds " No" ('Refusal: No'.) for
  responses and " None" ('Categories: None'.) for prompts: its value is +1 or -1, the task.
q_norm and k_norm are shared by all heads of a layer, so their weights carry only the scale; the
phases are in q_proj's rows. An untied lm_head scores the features so that the verdict token
beats every other token by 24 logits (write() checks at least 20 at every position of the
verdict).

Every other weight is random (the usual small normal values), except o_proj and down_proj, which
are zero wherever the construction does not write: the residual stream then carries only the
embedding and layer 0's features. The compute is exactly that of the real shape: zeros cost the
same in the dense fp32/bf16 matrix products of every engine (safrl, transformers and vLLM run the
same GEMMs whatever the values), and the attention spans every position as usual. Verdict and
categories mean nothing: the model writes the same verdict for every conversation.
"""
import argparse
import json
import math
import os
import random
import shutil
import subprocess
import sys

import torch

from safrl.testing import checkpoints, embedded_models

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_TOKENIZER = os.path.join(REPO, ".deps", "qwen3-tokenizer")
IM_END = "<|im_end|>"
IM_END_ID = 151645

# The tiny shape keeps head_dim 128 and rope_theta 1e6, so its rotary frequencies, and thus its
# attention construction, are those of the real Qwen3 shapes.
TINY = dict(embedded_models.TINY, head_dim=128)
SHAPES = {"tiny": TINY, "qwen3-0.6b": embedded_models.QWEN3_06B}
VERDICTS = {"safe": ("Safe", "None"), "unsafe": ("Unsafe", "Violent")}

# The last characters of each guard prompt (qwen3guard.md section 1, PROMPT_TAIL and
# RESPONSE_TAIL): the tokens counted back from the end are the same for every conversation.
PROMPT_END = " use 'Categories: None'.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
RESPONSE_END = " 'Refusal: No'.<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"

ROTARY_PAIRS = 10      # the fastest pairs: the smallest worst-case margin over 40,960 positions
QK_SCALE = 4.5         # q_norm and k_norm weight on those pairs: margin about 30 logits
MIN_ATTENTION_MARGIN = 25.0
MIN_LOGIT_MARGIN = 20.0


def verdict_texts(verdict):
    safety, category = VERDICTS[verdict]
    prompt = f"Safety: {safety}\nCategories: {category}"
    return {"prompt": prompt, "response": prompt + "\nRefusal: No"}


class Plan:
    """Which tokens the construction tracks and what follows what, from the real tokenizer."""

    def __init__(self, tokenizer, verdict):
        def encode(text):
            return tokenizer.encode(text, add_special_tokens=False).ids

        ends = {"prompt": encode(PROMPT_END), "response": encode(RESPONSE_END)}
        # The task marker: the last token where the two prompt endings differ.
        back = next(i for i in range(1, 20) if ends["prompt"][-i] != ends["response"][-i])
        self.markers = {task: ends[task][-back] for task in ends}
        start = ends["prompt"][-2:]                 # "</think>", "\n\n"
        texts = verdict_texts(verdict)
        self.sequences = {task: start + encode(texts[task]) + [IM_END_ID] for task in texts}
        p, r = self.sequences["prompt"], self.sequences["response"]
        k = next(i for i in range(len(p)) if p[i] != r[i]) - 1   # the task token's index
        self.task_rule = (p[k], p[k - 1])
        self.task_next = {"prompt": p[k + 1], "response": r[k + 1]}
        # The task token sits at prompt position L - 2 + k (sequence index 1 is the prompt's
        # last token, L - 1); the marker at L - back.
        self.task_distance = k - 2 + back
        # (current, previous) -> next at every other verdict position.
        self.rules = {}
        for seq in self.sequences.values():
            for i in range(1, len(seq) - 1):
                key = (seq[i], seq[i - 1])
                if key != self.task_rule and self.rules.setdefault(key, seq[i + 1]) != seq[i + 1]:
                    raise ValueError(f"tokens {key} are followed by two different tokens")
        self.tokens = sorted({t for s in self.sequences.values() for t in s}
                             | set(self.markers.values()))
        self.index = {t: i for i, t in enumerate(self.tokens)}
        # A current token that always has the same successor decides alone; the others (":",
        # "\n") need the previous token.
        self.by_current = {}
        for (cur, _), nxt in self.rules.items():
            self.by_current.setdefault(cur, set()).add(nxt)
        if len(self.by_current.get(self.task_rule[0], ())) > 0:
            raise ValueError("the task token also has other successors: not supported")

    def contexts(self):
        """Every (current, previous, next-by-task) the greedy path meets."""
        out = [(cur, prev, {"prompt": nxt, "response": nxt})
               for (cur, prev), nxt in self.rules.items()]
        return out + [(*self.task_rule, self.task_next)]


class Layout:
    """Dimensions of the hidden state the construction uses; the rest hold random values."""

    def __init__(self, plan, hidden):
        n = len(plan.tokens)
        self.bias, self.cur, self.prev, self.task = 0, 1, 1 + n, 1 + 2 * n
        self.features = 2 + 2 * n
        if self.features > hidden:
            raise ValueError(f"hidden_size {hidden} is too small for {n} tracked tokens")


def rotary_frequencies(config):
    head_dim = config["head_dim"]
    return config["rope_theta"] ** (-torch.arange(0, head_dim, 2, dtype=torch.float64) / head_dim)


def query_pattern(config, distance):
    """q_proj's rows for a head that attends to `distance` (its key pattern: key_pattern)."""
    half = config["head_dim"] // 2
    angles = distance * rotary_frequencies(config)[:ROTARY_PAIRS]
    q = torch.zeros(config["head_dim"], dtype=torch.float64)
    q[:ROTARY_PAIRS], q[half:half + ROTARY_PAIRS] = torch.cos(angles), -torch.sin(angles)
    return q


def key_pattern(config):
    k = torch.zeros(config["head_dim"], dtype=torch.float64)
    k[:ROTARY_PAIRS] = 1.0
    return k


def rms_normed(x, weight):
    return x / x.pow(2).mean().sqrt() * weight


def attention_margin(config, q_row, k_row, q_norm, k_norm, distance):
    """min over d != distance of score(distance) - score(d), d up to max_position_embeddings,
    for the stored weights (q and k after q_norm/k_norm, RoPE's rotate-half pairs, the
    1/sqrt(head_dim) scaling)."""
    half = config["head_dim"] // 2
    q = rms_normed(q_row.double(), q_norm.double())
    k = rms_normed(k_row.double(), k_norm.double())
    q_c, k_c = torch.complex(q[:half], q[half:]), torch.complex(k[:half], k[half:])
    d = torch.arange(config["max_position_embeddings"], dtype=torch.float64)
    rotation = torch.polar(torch.ones(len(d), half, dtype=torch.float64),
                           torch.outer(d, rotary_frequencies(config)))
    scores = (rotation * (q_c * k_c.conj())).real.sum(-1) / math.sqrt(config["head_dim"])
    others = torch.cat([scores[:distance], scores[distance + 1:]])
    return float(scores[distance] - others.max())


def fill(model, config, plan, gen):
    """Writes the construction into `model` (transformers' Qwen3ForCausalLM, any dtype); returns
    the margins it checks."""
    hidden, head_dim = config["hidden_size"], config["head_dim"]
    groups = config["num_attention_heads"] // config["num_key_value_heads"]
    lay = Layout(plan, hidden)
    n, f = len(plan.tokens), lay.features
    tracked = torch.tensor(plan.tokens)
    params = dict(model.named_parameters(remove_duplicate=False))

    def random_like(name, std, mean=0.0):
        p = params[name]
        return torch.randn(p.shape, generator=gen) * std + mean

    def store(name, value):
        with torch.no_grad():
            params[name].copy_(value)

    # Embedding: bias 1 everywhere; tracked tokens are bias + their one-hot and nothing else.
    embed = random_like("model.embed_tokens.weight", 1.0)
    embed[:, :f] = 0
    embed[:, lay.bias] = 1
    embed[tracked] = 0
    embed[tracked, lay.bias] = 1
    embed[tracked, lay.cur + torch.arange(n)] = 1
    store("model.embed_tokens.weight", embed)
    del embed
    norm = random_like("model.norm.weight", 0.1, 1.0)
    norm[:f] = 1
    store("model.norm.weight", norm)

    value_scale = math.sqrt(2 / hidden)   # a tracked token's one-hot after RMSNorm: sqrt(H / 2)
    task_head = groups                    # the first query head of KV head 1
    q_rows = {0: query_pattern(config, 1), task_head: query_pattern(config, plan.task_distance)}
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        for name in ("input_layernorm", "post_attention_layernorm", "self_attn.q_norm",
                     "self_attn.k_norm"):
            store(p + name + ".weight", random_like(p + name + ".weight", 0.1, 1.0))
        for name in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "mlp.gate_proj",
                     "mlp.up_proj"):
            store(p + name + ".weight", random_like(p + name + ".weight", 0.02))
        for name in ("self_attn.o_proj", "mlp.down_proj"):
            store(p + name + ".weight", torch.zeros(params[p + name + ".weight"].shape))
    p = "model.layers.0."
    with torch.no_grad():
        params[p + "input_layernorm.weight"][:f] = 1
        half = head_dim // 2
        pairs = list(range(ROTARY_PAIRS)) + list(range(half, half + ROTARY_PAIRS))
        params[p + "self_attn.q_norm.weight"][pairs] = QK_SCALE
        params[p + "self_attn.k_norm.weight"][pairs] = QK_SCALE
        q, k = params[p + "self_attn.q_proj.weight"], params[p + "self_attn.k_proj.weight"]
        v, o = params[p + "self_attn.v_proj.weight"], params[p + "self_attn.o_proj.weight"]
        for head, pattern in q_rows.items():
            rows = slice(head * head_dim, (head + 1) * head_dim)
            q[rows] = 0
            q[rows, lay.bias] = pattern.to(q.dtype)
        for kv_head in (0, 1):   # KV head 0: the previous token; KV head 1: the task marker
            rows = slice(kv_head * head_dim, (kv_head + 1) * head_dim)
            k[rows] = 0
            k[rows, lay.bias] = key_pattern(config).to(k.dtype)
            v[kv_head * head_dim:kv_head * head_dim + n] = 0
        v[torch.arange(n), lay.cur + torch.arange(n)] = 1
        o[lay.prev + torch.arange(n), torch.arange(n)] = value_scale
        v[head_dim] = 0
        v[head_dim, lay.cur + plan.index[plan.markers["response"]]] = 1
        v[head_dim, lay.cur + plan.index[plan.markers["prompt"]]] = -1
        o[lay.task, task_head * head_dim] = value_scale
        margins = {f"attention_{name}": attention_margin(
            config, q[head * head_dim:(head + 1) * head_dim, lay.bias],
            k[(head // groups) * head_dim:(head // groups + 1) * head_dim, lay.bias],
            params[p + "self_attn.q_norm.weight"], params[p + "self_attn.k_norm.weight"],
            distance) for name, head, distance in (("previous", 0, 1),
                                                    ("task", task_head, plan.task_distance))}
        head = lm_head_rows(plan, lay, hidden)
        lm_head = random_like("lm_head.weight", 0.02)
        lm_head[:, :f] = 0
        lm_head[tracked] = head
        params["lm_head.weight"].copy_(lm_head)
        margins["logits"] = logit_margin(plan, lay, params["lm_head.weight"][tracked, :f].float(),
                                         hidden)
    return margins


def lm_head_rows(plan, lay, hidden):
    """The lm_head rows of the tracked tokens (features only). A current token with one successor
    gives it 2a; ":" and "\\n" give a, and the previous token another a; the task token gives
    both its successors 2a and the task sign +-a/2."""
    a = 48 / math.sqrt(hidden)   # features after the final norm are about sqrt(H / 4): margin 24
    rows = torch.zeros(len(plan.tokens), hidden)
    for (cur, prev), nxt in plan.rules.items():
        row = rows[plan.index[nxt]]
        if len(plan.by_current[cur]) == 1:
            row[lay.cur + plan.index[cur]] = 2 * a
        else:
            row[lay.cur + plan.index[cur]] = a
            row[lay.prev + plan.index[prev]] = a
    cur = plan.task_rule[0]
    for task, sign in (("response", 1), ("prompt", -1)):
        row = rows[plan.index[plan.task_next[task]]]
        row[lay.cur + plan.index[cur]] = 2 * a
        row[lay.task] = sign * a / 2
    return rows


def logit_margin(plan, lay, rows, hidden):
    """The smallest lead of the verdict token over every other token, over every context the
    greedy path meets, with the task feature as it is there (+1 response, -1 prompt) or, where it
    does not decide, any of -1, 0, 1 (what the task head reads elsewhere). Untracked tokens score
    0: their rows are zero on the features, and the features are all a tracked position holds."""
    worst = math.inf
    for cur, prev, nxt in plan.contexts():
        for task, sign in (("response", 1), ("prompt", -1)):
            signs = (sign,) if (cur, prev) == plan.task_rule else (-1, 0, 1)
            for t in signs:
                h = torch.zeros(lay.features)
                h[lay.bias], h[lay.cur + plan.index[cur]], h[lay.task] = 1, 1, t
                if prev in plan.index:
                    h[lay.prev + plan.index[prev]] = 1
                h = h / (h.pow(2).sum() / hidden).sqrt()   # the final RMSNorm (weight 1)
                logits = torch.cat([rows @ h, torch.zeros(1)])
                target = plan.index[nxt[task]]
                others = torch.cat([logits[:target], logits[target + 1:]])
                worst = min(worst, float(logits[target] - others.max()))
    return worst


def write(out_dir, shape="tiny", verdict="safe", tokenizer_dir=DEFAULT_TOKENIZER,
          dtype=torch.bfloat16, seed=1):
    """Writes the checkpoint; returns the margins it checked (attention scores and logits)."""
    from tokenizers import Tokenizer

    plan = Plan(Tokenizer.from_file(os.path.join(tokenizer_dir, "tokenizer.json")), verdict)
    config = checkpoints.base_config("qwen3", "Qwen3ForCausalLM",
                                     **dict(SHAPES[shape], tie_word_embeddings=False,
                                            torch_dtype=str(dtype).split(".")[-1]))
    with torch.device("meta"):   # no initialisation: fill() writes every parameter
        model = checkpoints.new_model(config)
    model = model.to_empty(device="cpu").to(dtype)
    margins = fill(model, config, plan, torch.Generator().manual_seed(seed))
    low = {k: v for k, v in margins.items()
           if v < (MIN_LOGIT_MARGIN if k == "logits" else MIN_ATTENTION_MARGIN)}
    if low:
        raise ValueError(f"the construction's margins are too small: {margins}")
    model.save_pretrained(out_dir)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tokenizer_dir, name), os.path.join(out_dir, name))
    return margins


WORDS = ("the a of to and in is that it for on with as was at by this be from or have an are "
         "bomb recipe weather river garden engine history safety policy ASSISTANT USER None No "
         "Yes Safe Unsafe refusal Categories Violent : \n \n\n , . ' ! ? 42 2026 naïve café "
         "日本語 données").split(" ")


def random_text(rng, words):
    return " ".join(rng.choice(WORDS) for _ in range(words))


def conversations(count, seed=0):
    """`count` conversations of each task ({"messages": [...]}, last role user for the prompt
    task, assistant for the response task), random texts (verdict lines and template words among
    them), some multi-turn or with a system message, the last of each task 800 to 2000 tokens
    long (400 words in each of its user turns)."""
    rng = random.Random(seed)
    out = []
    for task in ("prompt", "response"):
        for i in range(count):
            long = i == count - 1
            turns = 1 + (i % 3)
            messages = [{"role": "system", "content": random_text(rng, 12)}] if i % 2 else []
            for turn in range(turns):
                messages.append({"role": "user", "content": random_text(rng, 400 if long else
                                                                         rng.randint(1, 40))})
                if turn < turns - 1 or task == "response":
                    messages.append({"role": "assistant",
                                     "content": random_text(rng, rng.randint(1, 60))})
            out.append({"task": task, "messages": messages})
    return out


def render_guard(safrl, conversation_list):
    lines = "".join(json.dumps({"messages": c["messages"]}) + "\n" for c in conversation_list)
    proc = subprocess.run([safrl, "render", "--format", "guard"], input=lines,
                          capture_output=True, text=True, check=True)
    return [json.loads(line)["text"] for line in proc.stdout.splitlines()]


def greedy_outputs(model_dir, texts, max_new_tokens=24, dtype=torch.float32):
    """transformers' greedy generation (computing in `dtype`, the official stop at <|im_end|>)
    for each text: (prompt tokens, generated ids, the decoded text with special tokens
    skipped)."""
    import transformers
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    model = transformers.Qwen3ForCausalLM.from_pretrained(model_dir, dtype=dtype).eval()
    out = []
    for text in texts:
        ids = torch.tensor([tokenizer.encode(text, add_special_tokens=False).ids])
        with torch.no_grad():
            generated = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False,
                                       max_new_tokens=max_new_tokens, eos_token_id=IM_END_ID,
                                       pad_token_id=151643)[0, ids.shape[1]:].tolist()
        out.append((ids.shape[1], generated, tokenizer.decode(generated, skip_special_tokens=True)))
    return out


def check(model_dir, verdict, count, safrl):
    """Prints transformers' greedy output for `count` conversations of each task; True when every
    one is the verdict followed by <|im_end|>."""
    convs = conversations(count)
    expected = verdict_texts(verdict)
    ok = True
    for conv, (length, ids, text) in zip(convs, greedy_outputs(model_dir,
                                                                render_guard(safrl, convs))):
        good = text == expected[conv["task"]] and ids[-1] == IM_END_ID
        ok &= good
        print(json.dumps({"task": conv["task"], "prompt_tokens": length,
                          "new_tokens": len(ids), "text": text, "ok": good}))
    return ok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("out_dir")
    parser.add_argument("--shape", choices=sorted(SHAPES), default="tiny")
    parser.add_argument("--verdict", choices=sorted(VERDICTS), default="safe")
    parser.add_argument("--tokenizer", default=DEFAULT_TOKENIZER)
    parser.add_argument("--dtype", choices=("bfloat16", "float32"), default="bfloat16")
    parser.add_argument("--check", type=int, default=0, metavar="N",
                        help="then check transformers' greedy output on N conversations per task")
    parser.add_argument("--safrl", default=os.environ.get(
        "SAFRL_BIN", os.path.join(REPO, "build", "src", "cli", "safrl")))
    args = parser.parse_args()
    margins = write(args.out_dir, args.shape, args.verdict, args.tokenizer,
                    getattr(torch, args.dtype))
    print(json.dumps({"out_dir": args.out_dir, "shape": args.shape, "verdict": args.verdict,
                      "dtype": args.dtype, "margins": margins}))
    if args.check and not check(args.out_dir, args.verdict, args.check, args.safrl):
        sys.exit(1)


if __name__ == "__main__":
    main()
