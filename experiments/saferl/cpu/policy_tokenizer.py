"""The policy's own small tokenizer: byte-level BPE trained on the response bank, with Qwen3's
chat-template tokens and a chat template that renders a user turn exactly as Qwen3's does.

The judges read text with the real Qwen3 tokenizer (on the server); the policy only has to write
text. With Qwen3's 151,936-token vocabulary the output projection of a tiny policy costs more
than everything else in it, and TRL computes it for every completion token of every step; a
vocabulary of a few hundred tokens learned from the bank makes the CPU experiment train in
minutes. Byte-level BPE decodes every text back to exactly the same string, so what the policy
writes reaches the judges unchanged.
"""
from typing import List

from experiments.saferl.cpu import bank

SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
THINK = ["<think>", "</think>"]  # added tokens that are text, as in Qwen3's tokenizer

# Qwen3's template for what the policy sees: user turns, then the generation prompt, with the
# empty think block that enable_thinking=False adds (tests/experiments/test_cpu_parts.py checks
# the rendered text against Qwen3's own template).
CHAT_TEMPLATE = (
    "{%- for message in messages %}"
    "{{- '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}"
    "{{- '<|im_start|>assistant\\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false %}"
    "{{- '<think>\\n\\n</think>\\n\\n' }}"
    "{%- endif %}"
    "{%- endif %}")


def corpus() -> List[str]:
    texts = [p.text for p in bank.PROMPTS]
    for r in bank.all_responses():
        texts += [r.answer] + ([r.thinking] if r.thinking else [])
    return texts + ["user\n", "assistant\n", "\n\n"]


def make_tokenizer(vocab_size: int = 1024):
    """A PreTrainedTokenizerFast (eos <|im_end|>, pad <|endoftext|>) with the chat template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(corpus(), trainer)
    tok.add_tokens(THINK)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>",
                                   pad_token="<|endoftext|>", bos_token=None,
                                   additional_special_tokens=["<|im_start|>"])
    fast.chat_template = CHAT_TEMPLATE
    return fast
