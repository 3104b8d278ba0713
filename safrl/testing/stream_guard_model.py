"""Qwen3ForGuardModel (Qwen3Guard-Stream) as a transformers model: the reference safrl's engine is
tested against.

transformers has no class for it (the released checkpoints run through remote code). This one is
written from the architecture as vLLM's and SGLang's ports define it: transformers' Qwen3Model,
then on the final-norm hidden state of every token two branches,

    risk_level_category_pre        Linear(hidden, guard_inner_size, bias=False)
    risk_level_category_layernorm  RMSNorm(guard_inner_size, eps=rms_norm_eps)
    risk_level_head                Linear(guard_inner_size, num_risk_level, bias=False)
    category_head                  Linear(guard_inner_size, num_category, bias=False)

and the same four with a query_ prefix (num_query_risk_level, num_query_category). The config is
a Qwen3Config carrying the five extra keys (guard_inner_size, num_risk_level, num_category,
num_query_risk_level, num_query_category), which save_pretrained writes into config.json with
architectures ["Qwen3ForGuardModel"]; from_pretrained of this class reads it back.

    model = tiny_stream_guard(vocab_size=101, seed=0)
    model.save_pretrained(out_dir)
    out = Qwen3ForGuardModel.from_pretrained(out_dir)(input_ids)   # .risk_level_logits [B, T, 3]

For benchmarks, a random-weight checkpoint at a real Qwen3 shape with the Qwen3 tokenizer files
(guard_inner_size 512: Qwen3Guard-Stream-0.6B's; a guess at 4B and 8B, see STREAM_INNER_SIZES):

    .venv/bin/python -m safrl.testing.stream_guard_model OUT --shape qwen3-0.6b|qwen3-4b \
        [--dtype bfloat16] [--tokenizer DIR]
"""
from dataclasses import dataclass
from typing import Optional

import torch
from transformers import Qwen3Config
from transformers.modeling_outputs import ModelOutput
from transformers.models.qwen3.modeling_qwen3 import Qwen3Model, Qwen3PreTrainedModel, Qwen3RMSNorm

# The official label sets (Qwen3Guard eval/eval_stream.py), in head index order.
RISK_LEVELS = ["Safe", "Unsafe", "Controversial"]
RESPONSE_CATEGORIES = ["Violent", "Sexual Content or Sexual Acts", "Suicide & Self-Harm",
                       "Politically Sensitive Topics", "PII", "Copyright Violation",
                       "Non-violent Illegal Acts", "Unethical Acts"]
QUERY_CATEGORIES = RESPONSE_CATEGORIES + ["Jailbreak"]

GUARD_KEYS = {"guard_inner_size": 512, "num_risk_level": len(RISK_LEVELS),
              "num_category": len(RESPONSE_CATEGORIES), "num_query_risk_level": len(RISK_LEVELS),
              "num_query_category": len(QUERY_CATEGORIES)}

# The head modules in checkpoint order: (name, config key of the input width, config key of the
# output width); a RMSNorm's output key is None (its output width is its input width).
HEAD_MODULES = [
    ("risk_level_category_pre", "hidden_size", "guard_inner_size"),
    ("risk_level_category_layernorm", "guard_inner_size", None),
    ("risk_level_head", "guard_inner_size", "num_risk_level"),
    ("category_head", "guard_inner_size", "num_category"),
    ("query_risk_level_category_pre", "hidden_size", "guard_inner_size"),
    ("query_risk_level_category_layernorm", "guard_inner_size", None),
    ("query_risk_level_head", "guard_inner_size", "num_query_risk_level"),
    ("query_category_head", "guard_inner_size", "num_query_category"),
]


@dataclass
class StreamGuardOutput(ModelOutput):
    """The four logits of every position, under the official names: [B, T, labels]."""
    risk_level_logits: Optional[torch.Tensor] = None
    category_logits: Optional[torch.Tensor] = None
    query_risk_level_logits: Optional[torch.Tensor] = None
    query_category_logits: Optional[torch.Tensor] = None


class Qwen3ForGuardModel(Qwen3PreTrainedModel):
    config_class = Qwen3Config

    def __init__(self, config):
        super().__init__(config)
        self.model = Qwen3Model(config)
        for name, inputs, outputs in HEAD_MODULES:
            width = getattr(config, inputs)
            module = (Qwen3RMSNorm(width, eps=config.rms_norm_eps) if outputs is None
                      else torch.nn.Linear(width, getattr(config, outputs), bias=False))
            self.add_module(name, module)
        self.post_init()

    def forward(self, input_ids, attention_mask=None):
        hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        response = self.risk_level_category_layernorm(self.risk_level_category_pre(hidden))
        query = self.query_risk_level_category_layernorm(self.query_risk_level_category_pre(hidden))
        return StreamGuardOutput(risk_level_logits=self.risk_level_head(response),
                                 category_logits=self.category_head(response),
                                 query_risk_level_logits=self.query_risk_level_head(query),
                                 query_category_logits=self.query_category_head(query))


def stream_guard_config(**overrides):
    """A tiny Qwen3ForGuardModel config as a dict in config.json's spelling (the test
    checkpoints' Qwen3 backbone, hidden 48, plus the guard keys with inner size 24); `overrides`
    replace any key, e.g. vocab_size or guard_inner_size."""
    from safrl.testing import checkpoints  # imports this module
    return checkpoints.base_config("qwen3", "Qwen3ForGuardModel",
                                   **dict(checkpoints.STREAM_GUARD_KEYS, **overrides))


def tiny_stream_guard(vocab_size=101, seed=0, **config):
    """A Qwen3ForGuardModel with random fp32 weights drawn as safrl.testing.checkpoints draws
    them (larger than transformers' initialisation, so a wrong forward shows), from
    stream_guard_config(vocab_size=vocab_size, **config)."""
    from safrl.testing import checkpoints
    config = stream_guard_config(vocab_size=vocab_size, **config)
    weights = checkpoints.random_weights(config, torch.Generator().manual_seed(seed))
    return checkpoints.transformers_model(config, weights)


# Benchmark shapes (issue 28): the Qwen3 backbones of safrl.testing.embedded_models with the guard
# keys. guard_inner_size 512 is Qwen3Guard-Stream-0.6B's; for 4B and 8B it is UNCONFIRMED
# (qwen3guard.md section 6) and 512 here is a GUESS. Either way the eight head matrices are a
# negligible share of the compute: at 4B, 2 x 2560 x 512 multiply-adds per token for the two
# pre-projections (plus 2 x 512 x 12 for the heads) against about 3.6e9 in the backbone: 0.07%.
STREAM_INNER_SIZES = {"tiny": 24, "qwen3-0.6b": 512, "qwen3-4b": 512, "qwen3-8b": 512}


def write_stream_checkpoint(out_dir, shape, tokenizer_dir, dtype=torch.float32, seed=4,
                            guard_inner_size=None):
    """Writes a Qwen3ForGuardModel with random weights at one of embedded_models.SHAPES (the real
    Qwen3 vocabulary) as save_pretrained does, plus tokenizer.json and tokenizer_config.json from
    tokenizer_dir. Held only in `dtype` while it is made (a 4B model in bf16 needs 8 GB)."""
    import os
    import shutil

    from safrl.testing import checkpoints, embedded_models
    inner = guard_inner_size or STREAM_INNER_SIZES[shape]
    shape_keys = dict(embedded_models.SHAPES[shape], **GUARD_KEYS)
    shape_keys.update(guard_inner_size=inner, torch_dtype=str(dtype).split(".")[-1])
    config = checkpoints.base_config("qwen3", "Qwen3ForGuardModel", **shape_keys)
    checkpoints.write_random_checkpoint(out_dir, config, torch.Generator().manual_seed(seed), dtype)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tokenizer_dir, name), os.path.join(out_dir, name))
    return config


def main():
    import argparse
    import os

    from safrl.testing import embedded_models
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    parser = argparse.ArgumentParser(
        description="Writes a random-weight Qwen3ForGuardModel (Qwen3Guard-Stream) checkpoint "
                    "at a Qwen3 shape, with the real Qwen3 tokenizer files, for benchmarks")
    parser.add_argument("out_dir")
    parser.add_argument("--shape", choices=sorted(embedded_models.SHAPES), default="qwen3-0.6b")
    parser.add_argument("--dtype", choices=("float32", "bfloat16"), default="float32",
                        help="storage dtype of the weights")
    parser.add_argument("--tokenizer", default=os.path.join(repo, ".deps", "qwen3-tokenizer"))
    parser.add_argument("--guard-inner-size", type=int,
                        help="default: 512 (0.6B's; a guess for 4B and 8B), 24 for tiny")
    parser.add_argument("--seed", type=int, default=4)
    args = parser.parse_args()
    config = write_stream_checkpoint(args.out_dir, args.shape, args.tokenizer,
                                     getattr(torch, args.dtype), args.seed, args.guard_inner_size)
    print(f"wrote a random-weight Qwen3ForGuardModel ({args.shape}, guard_inner_size "
          f"{config['guard_inner_size']}, {args.dtype}) to {args.out_dir}")


if __name__ == "__main__":
    main()
