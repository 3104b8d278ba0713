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
