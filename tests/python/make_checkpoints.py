"""Generates tiny random checkpoints in the exact Hugging Face layout, with reference outputs.

    /usr/bin/python3 tests/python/make_checkpoints.py OUT_DIR

Each OUT_DIR/<name>/ holds config.json, model.safetensors (or shards + model.safetensors.index.json)
and reference.json: input id lists and the reference forward's outputs at each input's last token
(see reference_qwen.py). The variants cover tied and untied embeddings, single file and sharded,
bf16 and fp32, head_dim * heads != hidden, and every head type the engine supports.
"""
import json
import os
import sys

import torch

import reference_qwen
import safetensors_io

VOCAB = 101
PAD = 100


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
    """Every tensor of the architecture, in checkpoint order: (name, shape, std, mean)."""
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
    return specs


def random_weights(config, gen):
    return {name: torch.randn(*shape, generator=gen) * std + mean
            for name, shape, std, mean in weight_specs(config)}


def write_checkpoint(out_dir, config, weights, dtype, shards):
    os.makedirs(out_dir, exist_ok=True)
    weights = {k: v.to(dtype) for k, v in weights.items()}
    with open(os.path.join(out_dir, "config.json"), "w") as f:
        json.dump(config, f, indent=2)
    if shards == 1:
        safetensors_io.save(weights, os.path.join(out_dir, "model.safetensors"), {"format": "pt"})
        return
    names = sorted(weights)
    weight_map = {}
    for s in range(shards):
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: weights[n] for n in names[s::shards]}
        safetensors_io.save(part, os.path.join(out_dir, file), {"format": "pt"})
        weight_map.update({n: file for n in part})
    total = sum(t.numel() * t.element_size() for t in weights.values())
    with open(os.path.join(out_dir, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f, indent=2)


def test_inputs(gen):
    lengths = [1, 2, 7, 19, 33]
    inputs = [torch.randint(0, PAD, (n,), generator=gen).tolist() for n in lengths]
    inputs.append(inputs[3][:11] + [PAD, PAD])  # ends in padding: scores read at the last non-pad
    return inputs


def write_reference(out_dir, inputs):
    config, w = reference_qwen.load_checkpoint(out_dir)
    outputs = []
    for ids in inputs:
        last = len(ids) - 1
        if not config["architectures"][0].endswith("ForCausalLM"):
            while last > 0 and ids[last] == config.get("pad_token_id"):
                last -= 1
        hidden = reference_qwen.forward_hidden(config, w, ids)
        outputs.append(reference_qwen.head_output(config, w, hidden[last]).tolist())
    with open(os.path.join(out_dir, "reference.json"), "w") as f:
        json.dump({"inputs": inputs, "outputs": outputs}, f)


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
    ("qwen2_reward_bf16", "qwen2", "Qwen2ForRewardModel", {"torch_dtype": "bfloat16"}, torch.bfloat16, 1),
]


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
    for name, (cfg, w) in cases.items():
        out_dir = os.path.join(out_root, "broken", name)
        os.makedirs(out_dir, exist_ok=True)
        with open(os.path.join(out_dir, "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)
        safetensors_io.save(w, os.path.join(out_dir, "model.safetensors"))


def main():
    out_root = sys.argv[1]
    write_broken(out_root, torch.Generator().manual_seed(7))
    for i, (name, model_type, arch, overrides, dtype, shards) in enumerate(VARIANTS):
        gen = torch.Generator().manual_seed(1000 + i)
        config = base_config(model_type, arch, **overrides)
        if "id2label" in config:
            config.pop("num_labels", None)
        weights = random_weights(
            dict(config, num_labels=len(config.get("id2label", {})) or config.get("num_labels", 1)), gen)
        out_dir = os.path.join(out_root, name)
        write_checkpoint(out_dir, config, weights, dtype, shards)
        write_reference(out_dir, test_inputs(gen))
    print(f"wrote {len(VARIANTS)} checkpoints to {out_root}")


if __name__ == "__main__":
    main()
