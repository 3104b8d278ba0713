#!/usr/bin/env python3
"""Writes the chat-format references with Hugging Face transformers' apply_chat_template.

Renders tests/data/chat/conversations.json with
tokenizer.apply_chat_template(messages, tokenize=False), no generation prompt, into the references
the C++ tests compare against byte for byte:

  tests/data/chat/qwen3_reference.json   the Qwen3 template of the tokenizer folder's
                                         tokenizer_config.json, as AutoTokenizer loads it
  tests/data/chat/chatml_reference.json  the Qwen2.5-Instruct template (below, passed as
                                         chat_template=), over the messages with an empty system
                                         message put first when there is none, as WorldPM expects

The tokenizer folder is $SAFRL_TOKENIZER_DIR, else .deps/qwen3-tokenizer.
  .venv/bin/python scripts/reference/render_reference.py          # rewrite the references
  .venv/bin/python scripts/reference/render_reference.py --check  # exit 1 if a rendering changes
"""
import argparse
import hashlib
import json
import os
import pathlib
import sys

import transformers

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "chat"

# The chat template of Qwen2.5-Instruct. Its default system prompt appears only when the first
# message is not a system message, which never happens here because the empty one is inserted.
QWEN25_TEMPLATE = (
    "{%- if tools %}\n"
    "    {{- '<|im_start|>system\\n' }}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- messages[0]['content'] }}\n"
    "    {%- else %}\n"
    "        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}\n"
    "    {%- endif %}\n"
    "    {{- \"\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\n"
    "You are provided with function signatures within <tools></tools> XML tags:\\n<tools>\" }}\n"
    "    {%- for tool in tools %}\n"
    "        {{- \"\\n\" }}\n"
    "        {{- tool | tojson }}\n"
    "    {%- endfor %}\n"
    "    {{- \"\\n</tools>\\n\\nFor each function call, return a json object with function name and "
    "arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\\"name\\\": "
    "<function-name>, \\\"arguments\\\": <args-json-object>}\\n</tool_call><|im_end|>\\n\" }}\n"
    "{%- else %}\n"
    "    {%- if messages[0]['role'] == 'system' %}\n"
    "        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}\n"
    "    {%- else %}\n"
    "        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful "
    "assistant.<|im_end|>\\n' }}\n"
    "    {%- endif %}\n"
    "{%- endif %}\n"
    "{%- for message in messages %}\n"
    "    {%- if (message.role == \"user\") or (message.role == \"system\" and not loop.first) or "
    "(message.role == \"assistant\" and not message.tool_calls) %}\n"
    "        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}\n"
    "    {%- elif message.role == \"assistant\" %}\n"
    "        {{- '<|im_start|>' + message.role }}\n"
    "        {%- if message.content %}\n"
    "            {{- '\\n' + message.content }}\n"
    "        {%- endif %}\n"
    "        {%- for tool_call in message.tool_calls %}\n"
    "            {%- if tool_call.function is defined %}\n"
    "                {%- set tool_call = tool_call.function %}\n"
    "            {%- endif %}\n"
    "            {{- '\\n<tool_call>\\n{\"name\": \"' }}\n"
    "            {{- tool_call.name }}\n"
    "            {{- '\", \"arguments\": ' }}\n"
    "            {{- tool_call.arguments | tojson }}\n"
    "            {{- '}\\n</tool_call>' }}\n"
    "        {%- endfor %}\n"
    "        {{- '<|im_end|>\\n' }}\n"
    "    {%- elif message.role == \"tool\" %}\n"
    "        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != \"tool\") %}\n"
    "            {{- '<|im_start|>user' }}\n"
    "        {%- endif %}\n"
    "        {{- '\\n<tool_response>\\n' }}\n"
    "        {{- message.content }}\n"
    "        {{- '\\n</tool_response>' }}\n"
    "        {%- if loop.last or (messages[loop.index0 + 1].role != \"tool\") %}\n"
    "            {{- '<|im_end|>\\n' }}\n"
    "        {%- endif %}\n"
    "    {%- endif %}\n"
    "{%- endfor %}\n"
    "{%- if add_generation_prompt %}\n"
    "    {{- '<|im_start|>assistant\\n' }}\n"
    "{%- endif %}\n"
)


def render_all(tokenizer, conversations, chat_template=None, prepare=lambda m: m):
    return [{"name": c["name"],
             "text": tokenizer.apply_chat_template(prepare(c["messages"]), tokenize=False,
                                                   add_generation_prompt=False,
                                                   chat_template=chat_template)}
            for c in conversations]


def with_empty_system(messages):
    if messages[0]["role"] == "system":
        return messages
    return [{"role": "system", "content": ""}] + messages


def reference(template_name, source, renderings):
    return {
        "generated_by": "scripts/reference/render_reference.py",
        "template": template_name,
        "template_sha256": hashlib.sha256(source.encode("utf-8")).hexdigest(),
        "transformers_version": transformers.__version__,
        "renderings": renderings,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed references instead of writing them")
    parser.add_argument("--qwen3-config", type=pathlib.Path,
                        help="a tokenizer_config.json whose chat_template to use as the Qwen3 "
                             "reference instead of the tokenizer folder's (e.g. a checkpoint's)")
    args = parser.parse_args()

    tokenizer_dir = pathlib.Path(os.environ.get("SAFRL_TOKENIZER_DIR")
                                 or ROOT / ".deps" / "qwen3-tokenizer")
    if not (tokenizer_dir / "tokenizer_config.json").exists():
        sys.exit(f"{tokenizer_dir}/tokenizer_config.json is missing; run scripts/setup.sh or set "
                 "SAFRL_TOKENIZER_DIR")
    tokenizer = transformers.AutoTokenizer.from_pretrained(str(tokenizer_dir))
    qwen3_template = None  # the one AutoTokenizer loaded, as a user's call gets it
    qwen3_name = "chat_template of the Qwen3 tokenizer_config.json"
    if args.qwen3_config:
        qwen3_template = json.loads(args.qwen3_config.read_text(encoding="utf-8"))["chat_template"]
        qwen3_name = f"chat_template of {args.qwen3_config}"
    conversations = json.loads((DATA / "conversations.json").read_text(encoding="utf-8"))

    outputs = {
        "qwen3_reference.json": reference(
            qwen3_name, qwen3_template or tokenizer.chat_template,
            render_all(tokenizer, conversations, qwen3_template)),
        "chatml_reference.json": reference(
            "Qwen2.5-Instruct chat template (QWEN25_TEMPLATE in this script), empty system "
            "message inserted when the first message is not a system message",
            QWEN25_TEMPLATE,
            render_all(tokenizer, conversations, QWEN25_TEMPLATE, with_empty_system)),
    }
    differences = []
    for name, value in outputs.items():
        path = DATA / name
        if args.check:
            # Only the renderings count, so another template file that renders the same passes.
            committed = json.loads(path.read_text(encoding="utf-8"))["renderings"]
            if committed != value["renderings"]:
                committed_text = {r["name"]: r["text"] for r in committed}
                differences += [f"{name}: {r['name']}" for r in value["renderings"]
                                if committed_text.get(r["name"]) != r["text"]] or [name]
        else:
            path.write_text(json.dumps(value, ensure_ascii=False, indent=1) + "\n",
                            encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)} ({len(value['renderings'])} renderings)")
    if differences:
        sys.exit("renderings differ from the committed references:\n  " + "\n  ".join(differences))


if __name__ == "__main__":
    main()
