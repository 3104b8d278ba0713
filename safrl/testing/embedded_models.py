"""Generates the embedded default models: a tiny Qwen3Guard-shaped guard and a tiny Skywork-shaped
reward model, with RANDOM weights and the REAL Qwen3 tokenizer, so every command runs on a fresh
machine with no downloads.

    .venv/bin/python -m safrl.testing.embedded_models OUT_DIR TOKENIZER_DIR \
        [--shape tiny|qwen3-0.6b|qwen3-4b|qwen3-8b]

Writes OUT_DIR/guard (Qwen3ForCausalLM, tied embeddings, bf16) and OUT_DIR/reward
(Qwen3ForSequenceClassification, one label, bf16), each a Hugging Face model directory as
transformers' save_pretrained writes it, plus tokenizer.json and tokenizer_config.json. The
weights mean nothing: verdicts and scores from them are noise. Point the configs at real
checkpoints for real rewards. The larger shapes are for benchmarks and memory checks; each model
is held only in bf16 while it is made, so a 4B pair is made one model (8 GB) at a time.
"""
import os
import shutil
import sys

import torch

from safrl.testing import checkpoints

# The real Qwen3 vocabulary size (the embedding has more rows than the tokenizer has ids).
QWEN3_VOCAB = 151936
TINY = {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32,
        "vocab_size": QWEN3_VOCAB, "max_position_embeddings": 40960, "rope_theta": 1000000.0,
        "bos_token_id": 151643, "eos_token_id": 151645, "torch_dtype": "bfloat16"}


def write_model(out_dir, tokenizer_dir, config, seed):
    checkpoints.write_random_checkpoint(out_dir, config, torch.Generator().manual_seed(seed),
                                        torch.bfloat16)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tokenizer_dir, name), os.path.join(out_dir, name))


# The real Qwen3-0.6B shapes (qwen3guard.md section 5), for benchmarks: Qwen3Guard-Gen-0.6B and
# Skywork-Reward-V2-Qwen3-0.6B have them.
QWEN3_06B = dict(TINY, hidden_size=1024, intermediate_size=3072, num_hidden_layers=28,
                 num_attention_heads=16, num_key_value_heads=8, head_dim=128)
# Qwen3-4B (Qwen3Guard-Gen-4B, Skywork-Reward-V2-Qwen3-4B) and Qwen3-8B; 8B unties its LM head.
QWEN3_4B = dict(QWEN3_06B, hidden_size=2560, intermediate_size=9728, num_hidden_layers=36,
                num_attention_heads=32)
QWEN3_8B = dict(QWEN3_4B, hidden_size=4096, intermediate_size=12288, tie_word_embeddings=False)
SHAPES = {"tiny": TINY, "qwen3-0.6b": QWEN3_06B, "qwen3-4b": QWEN3_4B, "qwen3-8b": QWEN3_8B}


# A WorldPM-shaped reward model (Qwen2ForRewardModel, the architecture of WorldPM-72B-HelpSteer2),
# tiny, for the vLLM backend's tests; head_dim 32 (64 / 2 heads) because vLLM's CPU attention has
# no kernel for 16.
TINY_WORLDPM = dict({k: v for k, v in TINY.items() if k != "head_dim"},
                    num_attention_heads=2, num_key_value_heads=1, torch_dtype="float32")


def write_worldpm(out_dir, tokenizer_dir, seed=3):
    """Writes a tiny Qwen2ForRewardModel (random fp32 weights, the real tokenizer) to out_dir.
    The architecture is remote code for transformers, so the checkpoint is written as
    safrl.testing.checkpoints writes remote-code ones: config.json plus model.safetensors."""
    config = checkpoints.base_config("qwen2", "Qwen2ForRewardModel", num_labels=1, **TINY_WORLDPM)
    weights = checkpoints.random_weights(config, torch.Generator().manual_seed(seed))
    checkpoints.write_checkpoint(out_dir, config, weights, torch.float32, shards=1)
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copyfile(os.path.join(tokenizer_dir, name), os.path.join(out_dir, name))


def main():
    out_root, tokenizer_dir = sys.argv[1], sys.argv[2]
    shape = SHAPES[sys.argv[4]] if len(sys.argv) > 4 and sys.argv[3] == "--shape" else TINY
    guard = checkpoints.base_config("qwen3", "Qwen3ForCausalLM",
                                    **dict({"tie_word_embeddings": True}, **shape))
    reward = checkpoints.base_config("qwen3", "Qwen3ForSequenceClassification", num_labels=1,
                                     pad_token_id=151643, **shape)
    write_model(os.path.join(out_root, "guard"), tokenizer_dir, guard, seed=1)
    write_model(os.path.join(out_root, "reward"), tokenizer_dir, reward, seed=2)
    print(f"wrote the embedded guard and reward models (random weights) to {out_root}")


if __name__ == "__main__":
    main()
