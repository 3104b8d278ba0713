#!/usr/bin/env python3
"""Writes tests/data/chat/qwen3_tool_reference.json: conversations with tool calls and tool
results and their rendering by transformers' apply_chat_template with the Qwen3 template of the
tokenizer folder ($SAFRL_TOKENIZER_DIR, else .deps/qwen3-tokenizer).

The conversations are those of tests/oracle/test_chat_tools_oracle.py (its hand-written ones and
the first 60 of its seeded random ones), so the C++ tests (tests/chat/tool_reference_test.cpp)
check, without Python, what the oracle checks against transformers, and that
chat::parse_qwen3_text reads each text back.
  .venv/bin/python scripts/reference/render_tool_reference.py          # rewrite the reference
  .venv/bin/python scripts/reference/render_tool_reference.py --check  # exit 1 if it changes
"""
import argparse
import copy
import importlib.util
import json
import os
import pathlib
import random
import sys

import transformers

ROOT = pathlib.Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "tests" / "data" / "chat" / "qwen3_tool_reference.json"
RANDOM_COUNT = 60


def oracle_module():
    path = ROOT / "tests" / "oracle" / "test_chat_tools_oracle.py"
    spec = importlib.util.spec_from_file_location("test_chat_tools_oracle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed reference instead of writing it")
    args = parser.parse_args()
    tokenizer_dir = pathlib.Path(os.environ.get("SAFRL_TOKENIZER_DIR")
                                 or ROOT / ".deps" / "qwen3-tokenizer")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    oracle = oracle_module()
    conversations = dict(oracle.HAND_WRITTEN)
    rng = random.Random(oracle.RANDOM_SEED)
    conversations.update({f"random_{i:03d}": oracle.random_conversation(rng)
                          for i in range(RANDOM_COUNT)})
    renderings = [{"name": name, "messages": messages,
                   "text": tokenizer.apply_chat_template(copy.deepcopy(messages),
                                                         tokenize=False)}
                  for name, messages in conversations.items()]
    value = {"generated_by": "scripts/reference/render_tool_reference.py",
             "transformers_version": transformers.__version__, "renderings": renderings}
    if args.check:
        committed = json.loads(OUTPUT.read_text(encoding="utf-8"))["renderings"]
        if committed != renderings:
            sys.exit(f"{OUTPUT.relative_to(ROOT)} differs from what transformers renders now")
        return
    OUTPUT.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT.relative_to(ROOT)} ({len(renderings)} renderings)")


if __name__ == "__main__":
    main()
