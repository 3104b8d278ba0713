"""Generates tiny random checkpoints written by transformers itself, with transformers' outputs.

    .venv/bin/python -m safrl.testing.checkpoints OUT_DIR

Each OUT_DIR/<name>/ is what `save_pretrained` writes (config.json in transformers' own spelling,
model.safetensors, or shards + model.safetensors.index.json when a small max_shard_size splits
it) plus reference.json: the input id lists and, from the checkpoint loaded back with
`from_pretrained`,
  outputs          each input alone, fp32: the logits or scores at its last token (scores at its
                   last non-pad token, as transformers' sequence classifiers read them);
  padded_outputs   the same inputs as one right-padded batch with an attention mask;
  bf16_outputs     each input alone with the model computing in bf16 (`dtype=torch.bfloat16`).
The variants cover tied and untied embeddings, single file and sharded, bf16 and fp32 storage,
head_dim * heads != hidden, and every head type the engine supports.

Qwen2ForRewardModel (WorldPM) is remote code, not part of transformers: its checkpoint is written
with the safetensors package, and its reference is transformers' Qwen2Model for the backbone
plus the two-layer score head written out below (the only part written here).

Qwen3ForGuardModel (Qwen3Guard-Stream) is remote code too, but safrl.testing.stream_guard_model
defines it as a transformers model, so its checkpoints are written by save_pretrained and read back
by from_pretrained like the others. It has an output at every token, so its reference.json holds,
instead of the three lists above, each logit tensor at EVERY position (rows = positions):
  stream_outputs          per input alone, fp32: {"risk_level_logits": [T][3],
                          "category_logits": [T][8], "query_risk_level_logits": [T][3],
                          "query_category_logits": [T][9]};
  padded_stream_outputs   the same from one right-padded batch, each row cut to its input's length;
  bf16_stream_outputs     per input alone with the model computing in bf16.
"""
import json
import os
import sys

import torch
import transformers
from safetensors.torch import load_file, save_file

from safrl.testing import stream_guard_model

VOCAB = 101
PAD = 100

# Quiet: no progress bars, and no load report for the remote-code backbone (whose score.* tensors
# transformers' Qwen2Model rightly does not claim).
transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()


def base_config(model_type, arch, **overrides):
    qwen3 = model_type == "qwen3"
    config = {
        "architectures": [arch], "model_type": model_type, "vocab_size": VOCAB,
        "hidden_size": 48, "intermediate_size": 80, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "hidden_act": "silu",
        "max_position_embeddings": 512, "rms_norm_eps": 1e-6, "rope_theta": 10000.0,
        "rope_scaling": None, "tie_word_embeddings": False, "torch_dtype": "float32",
        "bos_token_id": 98, "eos_token_id": 99, "use_cache": True, "use_sliding_window": False,
        "sliding_window": None if qwen3 else 4096, "attention_dropout": 0.0,
    }
    if qwen3:
        config.update({"head_dim": 16, "attention_bias": False})  # 4 * 16 = 64 != 48
    config.update(overrides)
    return config


def weight_specs(config):
    """Every tensor of the architecture, in checkpoint order: (name, shape, std, mean).

    Larger than transformers' own initialisation (std 0.02, norms at 1) on purpose: with its
    values every logit is nearly the same and a wrong forward could still pass."""
    qwen3 = config["model_type"] == "qwen3"
    hidden, inner = config["hidden_size"], config["intermediate_size"]
    heads, kv_heads = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim", hidden // heads)

    def normal(name, *shape, std=0.2):
        return (name, shape, std, 0.0)

    def norm_weight(name, n):
        return (name, (n,), 0.1, 1.0)

    specs = [normal("model.embed_tokens.weight", config["vocab_size"], hidden, std=1.0),
             norm_weight("model.norm.weight", hidden)]
    for layer in range(config["num_hidden_layers"]):
        p = f"model.layers.{layer}."
        specs.append(norm_weight(p + "input_layernorm.weight", hidden))
        specs.append(norm_weight(p + "post_attention_layernorm.weight", hidden))
        for name, out in (("q", heads * head_dim), ("k", kv_heads * head_dim), ("v", kv_heads * head_dim)):
            specs.append(normal(p + f"self_attn.{name}_proj.weight", out, hidden))
            if not qwen3:
                specs.append(normal(p + f"self_attn.{name}_proj.bias", out))
        specs.append(normal(p + "self_attn.o_proj.weight", hidden, heads * head_dim))
        if qwen3:
            specs.append(norm_weight(p + "self_attn.q_norm.weight", head_dim))
            specs.append(norm_weight(p + "self_attn.k_norm.weight", head_dim))
        specs.append(normal(p + "mlp.gate_proj.weight", inner, hidden))
        specs.append(normal(p + "mlp.up_proj.weight", inner, hidden))
        specs.append(normal(p + "mlp.down_proj.weight", hidden, inner))
    arch = config["architectures"][0]
    if arch.endswith("ForCausalLM") and not config["tie_word_embeddings"]:
        specs.append(normal("lm_head.weight", config["vocab_size"], hidden))
    elif arch.endswith("ForSequenceClassification"):
        specs.append(normal("score.weight", config["num_labels"], hidden))
    elif arch == "Qwen2ForRewardModel":
        specs += [normal("score.0.weight", hidden, hidden), normal("score.0.bias", hidden),
                  normal("score.2.weight", 1, hidden), normal("score.2.bias", 1)]
    elif arch == "Qwen3ForGuardModel":
        for name, inputs, outputs in stream_guard_model.HEAD_MODULES:
            if outputs is None:
                specs.append(norm_weight(name + ".weight", config[inputs]))
            else:
                specs.append(normal(name + ".weight", config[outputs], config[inputs]))
    return specs


def random_weights(config, gen):
    return {name: torch.randn(*shape, generator=gen) * std + mean
            for name, shape, std, mean in weight_specs(config)}


# Architectures transformers has no class for but safrl.testing defines as transformers models.
LOCAL_CLASSES = {"Qwen3ForGuardModel": stream_guard_model.Qwen3ForGuardModel}


def model_class(arch):
    return LOCAL_CLASSES.get(arch) or getattr(transformers, arch)


def is_remote_code(config):
    """Architectures with no transformers class anywhere: written and read without transformers."""
    arch = config["architectures"][0]
    return arch not in LOCAL_CLASSES and not hasattr(transformers, arch)


def is_stream_guard(config):
    return config["architectures"][0] == "Qwen3ForGuardModel"


def new_model(config):
    """An instance of the transformers class `config` names, built from `config`."""
    cls = model_class(config["architectures"][0])
    return cls(transformers.AutoConfig.for_model(**config))


def transformers_model(config, weights):
    """The transformers model of `config` holding exactly `weights` (fp32)."""
    model = new_model(config).eval()
    missing, unexpected = model.load_state_dict(weights, strict=False)
    tied = {"lm_head.weight"} if config.get("tie_word_embeddings") else set()
    if set(missing) - tied or unexpected:
        raise ValueError(f"weights do not fit {config['architectures'][0]}: missing {missing}, "
                         f"unexpected {unexpected}")
    return model


def write_checkpoint(out_dir, config, weights, dtype, shards):
    """Writes the checkpoint as transformers' save_pretrained does; with shards > 1, a
    max_shard_size that splits it into about that many files."""
    os.makedirs(out_dir, exist_ok=True)
    weights = {k: v.to(dtype) for k, v in weights.items()}
    total = sum(t.numel() * t.element_size() for t in weights.values())
    if is_remote_code(config):
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        save_file(weights, os.path.join(out_dir, "model.safetensors"), {"format": "pt"})
        return
    model = transformers_model(config, weights).to(dtype)
    max_shard_size = total if shards == 1 else total // shards + 1
    model.save_pretrained(out_dir, max_shard_size=max_shard_size)


def write_random_checkpoint(out_dir, config, gen, dtype):
    """Writes a checkpoint of random_weights(config, gen) without holding an fp32 copy of the
    model: the model is built empty in `dtype` and filled tensor by tensor in weight_specs order
    (the same random stream as random_weights), so a 4B model needs only its bf16 size."""
    with torch.device("meta"):  # no initialisation: every parameter is filled below
        model = new_model(config)
    model = model.to_empty(device="cpu").to(dtype)
    parameters = dict(model.named_parameters(remove_duplicate=False))
    with torch.no_grad():
        for name, shape, std, mean in weight_specs(config):
            parameters[name].copy_(torch.randn(*shape, generator=gen) * std + mean)
    if config.get("tie_word_embeddings"):
        model.tie_weights()
    model.save_pretrained(out_dir)


def test_inputs(gen):
    lengths = [1, 2, 7, 19, 33]
    inputs = [torch.randint(0, PAD, (n,), generator=gen).tolist() for n in lengths]
    inputs.append(inputs[3][:11] + [PAD, PAD])  # ends in padding: scores read at the last non-pad
    return inputs


class RewardModelReference(torch.nn.Module):
    """Qwen2ForRewardModel as WorldPM's remote code defines it: transformers' Qwen2Model, then
    score = Linear(hidden, hidden) -> ReLU -> Linear(hidden, 1), read at the last token."""

    def __init__(self, out_dir, dtype):
        super().__init__()
        self.model = transformers.Qwen2Model.from_pretrained(out_dir, dtype=dtype).eval()
        config = json.load(open(os.path.join(out_dir, "config.json")))
        hidden = config["hidden_size"]
        self.score = torch.nn.Sequential(torch.nn.Linear(hidden, hidden), torch.nn.ReLU(),
                                         torch.nn.Linear(hidden, 1)).to(dtype)
        weights = load_file(os.path.join(out_dir, "model.safetensors"))
        self.score.load_state_dict({k[len("score."):]: v for k, v in weights.items()
                                    if k.startswith("score.")})

    def forward(self, input_ids, attention_mask=None):
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        return self.score(hidden)  # every position; the caller picks the last token's


def load_reference_model(out_dir, config, dtype):
    if is_remote_code(config):
        return RewardModelReference(out_dir, dtype)
    cls = model_class(config["architectures"][0])
    return cls.from_pretrained(out_dir, dtype=dtype).eval()


def last_position_outputs(model, config, batch, lengths):
    """The head's output at each row's last real token, from transformers' own forward: a causal
    LM's logits at position length - 1; a sequence classifier's pooled logits (transformers picks
    the last non-pad token itself); the reward model's score at length - 1."""
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    arch = config["architectures"][0]
    rows = torch.arange(len(lengths))
    if arch.endswith("ForSequenceClassification"):
        return out.logits
    values = out.logits if arch.endswith("ForCausalLM") else out
    return values[rows, torch.tensor(lengths) - 1]


def right_padded(inputs):
    width = max(len(ids) for ids in inputs)
    ids = torch.tensor([x + [PAD] * (width - len(x)) for x in inputs])
    mask = torch.tensor([[1] * len(x) + [0] * (width - len(x)) for x in inputs])
    return {"input_ids": ids, "attention_mask": mask}


def scored_length(config, ids):
    """Where the output is read: the last token, or for scores the last token that is not padding."""
    n = len(ids)
    if not config["architectures"][0].endswith("ForCausalLM"):
        while n > 1 and ids[n - 1] == config.get("pad_token_id"):
            n -= 1
    return n


@torch.no_grad()
def reference_outputs(out_dir, config, inputs, dtype, batched):
    model = load_reference_model(out_dir, config, dtype)
    lengths = [scored_length(config, ids) for ids in inputs]
    if batched:
        return last_position_outputs(model, config, right_padded(inputs), lengths).float().tolist()
    return [last_position_outputs(model, config, right_padded([ids]), [n])[0].float().tolist()
            for ids, n in zip(inputs, lengths)]


STREAM_LOGITS = ["risk_level_logits", "category_logits", "query_risk_level_logits",
                 "query_category_logits"]


@torch.no_grad()
def stream_outputs(out_dir, inputs, dtype, batched):
    """Qwen3ForGuardModel's four logits at every position of each input: a list (one per input)
    of {name: [length][labels]}, each input alone or all in one right-padded batch."""
    model = stream_guard_model.Qwen3ForGuardModel.from_pretrained(out_dir, dtype=dtype).eval()
    if batched:
        out = model(**right_padded(inputs))
        return [{name: out[name][i, :len(ids)].float().tolist() for name in STREAM_LOGITS}
                for i, ids in enumerate(inputs)]
    outputs = []
    for ids in inputs:
        out = model(input_ids=torch.tensor([ids]))
        outputs.append({name: out[name][0].float().tolist() for name in STREAM_LOGITS})
    return outputs


def write_stream_reference(out_dir, inputs):
    reference = {"inputs": inputs,
                 "stream_outputs": stream_outputs(out_dir, inputs, torch.float32, False),
                 "padded_stream_outputs": stream_outputs(out_dir, inputs, torch.float32, True),
                 "bf16_stream_outputs": stream_outputs(out_dir, inputs, torch.bfloat16, False),
                 "transformers": transformers.__version__, "torch": torch.__version__}
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(reference, f)


def write_reference(out_dir, config, inputs):
    if is_stream_guard(config):
        return write_stream_reference(out_dir, inputs)
    reference = {"inputs": inputs,
                 "outputs": reference_outputs(out_dir, config, inputs, torch.float32, False),
                 "padded_outputs": reference_outputs(out_dir, config, inputs, torch.float32, True),
                 "bf16_outputs": reference_outputs(out_dir, config, inputs, torch.bfloat16, False),
                 "transformers": transformers.__version__, "torch": torch.__version__}
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump(reference, f)


# Qwen3Guard-Stream's label counts with an inner width (24) below the hidden size (48).
STREAM_GUARD_KEYS = dict(stream_guard_model.GUARD_KEYS, guard_inner_size=24)

VARIANTS = [
    # name, model_type, architecture, config overrides, dtype, shards
    ("qwen3_causal_tied_f32", "qwen3", "Qwen3ForCausalLM", {"tie_word_embeddings": True}, torch.float32, 1),
    ("qwen3_causal_untied_bf16_sharded", "qwen3", "Qwen3ForCausalLM",
     {"torch_dtype": "bfloat16"}, torch.bfloat16, 3),
    ("qwen3_seqcls_f32", "qwen3", "Qwen3ForSequenceClassification",
     {"num_labels": 1, "pad_token_id": PAD}, torch.float32, 1),
    ("qwen3_seqcls3_bf16", "qwen3", "Qwen3ForSequenceClassification",
     {"id2label": {"0": "a", "1": "b", "2": "c"}, "pad_token_id": PAD, "torch_dtype": "bfloat16"},
     torch.bfloat16, 2),
    ("qwen2_causal_f32", "qwen2", "Qwen2ForCausalLM", {}, torch.float32, 1),
    ("qwen2_seqcls_f32", "qwen2", "Qwen2ForSequenceClassification",
     {"num_labels": 2, "pad_token_id": PAD}, torch.float32, 1),
    ("qwen2_causal_tied_bf16_sharded", "qwen2", "Qwen2ForCausalLM",
     {"tie_word_embeddings": True, "torch_dtype": "bfloat16"}, torch.bfloat16, 4),
    ("qwen2_reward_bf16", "qwen2", "Qwen2ForRewardModel", {"torch_dtype": "bfloat16"}, torch.bfloat16, 1),
    ("qwen2_seqcls_bf16_sharded", "qwen2", "Qwen2ForSequenceClassification",
     {"num_labels": 1, "pad_token_id": PAD, "torch_dtype": "bfloat16"}, torch.bfloat16, 3),
    ("qwen3_stream_guard", "qwen3", "Qwen3ForGuardModel", dict(STREAM_GUARD_KEYS), torch.float32, 1),
    ("qwen3_stream_guard_bf16_sharded", "qwen3", "Qwen3ForGuardModel",
     dict(STREAM_GUARD_KEYS, torch_dtype="bfloat16"), torch.bfloat16, 2),
]


def broken_stream_guards(gen):
    """Qwen3ForGuardModel checkpoints for the loader: one lacking a head, one with an unknown
    tensor, one with an lm_head.weight of the right shape (accepted and skipped) and one with an
    lm_head.weight of the wrong shape (refused)."""
    config = base_config("qwen3", "Qwen3ForGuardModel", **STREAM_GUARD_KEYS)
    weights = random_weights(config, gen)
    missing = dict(weights)
    del missing["query_category_head.weight"]
    extra = dict(weights, **{"query_category_head.bias": torch.zeros(9)})
    lm_head = dict(weights, **{"lm_head.weight": torch.zeros(VOCAB, 48)})
    wrong_lm_head = dict(weights, **{"lm_head.weight": torch.zeros(VOCAB, 24)})
    return {"stream_missing_head": (config, missing), "stream_extra_tensor": (config, extra),
            "stream_with_lm_head": (config, lm_head),
            "stream_wrong_lm_head": (config, wrong_lm_head)}


def write_broken(out_root, gen):
    """Checkpoints that must be refused, each with one defect the loader has to name."""
    config = base_config("qwen3", "Qwen3ForCausalLM", tie_word_embeddings=True)
    weights = random_weights(config, gen)
    missing = dict(weights)
    del missing["model.layers.1.mlp.up_proj.weight"]
    wrong_shape = dict(weights)
    wrong_shape["model.layers.0.self_attn.k_proj.weight"] = torch.zeros(16, 48)
    extra = dict(weights, **{"model.layers.2.mlp.up_proj.weight": torch.zeros(80, 48)})
    integer = dict(weights, **{"model.norm.weight": torch.ones(48, dtype=torch.int32)})
    cases = {"missing_tensor": (config, missing), "wrong_shape": (config, wrong_shape),
             "extra_tensor": (config, extra), "integer_weight": (config, integer),
             "wrong_architecture": (dict(config, architectures=["Qwen3ForSequenceClassification"],
                                         num_labels=1), weights)}
    cases.update(broken_stream_guards(gen))
    for name, (cfg, w) in cases.items():
        out_dir = os.path.join(out_root, "broken", name)
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        save_file({k: v.contiguous() for k, v in w.items()}, os.path.join(out_dir, "model.safetensors"))


def main():
    out_root = sys.argv[1]
    torch.manual_seed(0)  # transformers initialises the modules before our weights replace them
    write_broken(out_root, torch.Generator().manual_seed(7))
    for i, (name, model_type, arch, overrides, dtype, shards) in enumerate(VARIANTS):
        gen = torch.Generator().manual_seed(1000 + i)
        config = base_config(model_type, arch, **overrides)
        weights = random_weights(
            dict(config, num_labels=len(config.get("id2label", {})) or config.get("num_labels", 1)), gen)
        out_dir = os.path.join(out_root, name)
        write_checkpoint(out_dir, config, weights, dtype, shards)
        write_reference(out_dir, config, test_inputs(gen))
    print(f"wrote {len(VARIANTS)} checkpoints (transformers {transformers.__version__}) to {out_root}")


if __name__ == "__main__":
    main()
