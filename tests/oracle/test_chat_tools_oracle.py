"""transformers is the oracle for conversations with tool calls and tool results: `safrl render
--format qwen3` must equal apply_chat_template with the Qwen3 template byte for byte, and
`--format chatml` must equal the Qwen2.5-Instruct template (with WorldPM's empty system message)
wherever that template's bytes are defined the same way (arguments sent as objects).

Object arguments are built with their keys in sorted order: safrl writes them sorted (nlohmann
keeps no order), while the template's tojson keeps the sender's order; docs/chat-formats.md tells
clients that need another order to send the arguments as a string.
"""
import copy
import importlib.util
import json
import pathlib
import random

import pytest
from transformers import AutoTokenizer

ROOT = pathlib.Path(__file__).resolve().parents[2]
# scripts/reference/render_tool_reference.py commits renderings of these same conversations.
RANDOM_SEED = 20261207


def sorted_keys(value):
    if isinstance(value, dict):
        return {k: sorted_keys(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [sorted_keys(v) for v in value]
    return value


def call(name, arguments, flat=False):
    arguments = sorted_keys(arguments)
    if flat:
        return {"name": name, "arguments": arguments}
    return {"type": "function", "id": f"call_{name}", "function": {"name": name,
                                                                  "arguments": arguments}}


def user(content):
    return {"role": "user", "content": content}


def assistant(content, *calls):
    message = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = list(calls)
    return message


def tool(content, name=None):
    message = {"role": "tool", "content": content, "tool_call_id": "call_x"}
    if name:
        message["name"] = name
    return message


SYSTEM = {"role": "system", "content": "You are a travel agent. Use the tools."}
WEATHER = call("get_weather", {"city": "Paris", "unit": "celsius"})

HAND_WRITTEN = {
    "one_call_no_text": [user("Weather in Paris?"), assistant("", WEATHER)],
    "one_call_with_text": [SYSTEM, user("Weather in Paris?"),
                           assistant("Let me check.", WEATHER)],
    "several_calls_and_results": [
        SYSTEM, user("Weather and time in Paris and Oslo?"),
        assistant("", WEATHER, call("get_weather", {"city": "Oslo", "unit": "celsius"}),
                  call("get_time", '{"tz": "Europe/Paris"}')),
        tool('{"temp": 18, "sky": "sunny"}', "get_weather"), tool('{"temp": 9}'),
        tool("14:05"), assistant("Paris: 18 C and sunny, Oslo: 9 C; it is 14:05.")],
    "thinking_agent_two_rounds": [
        user("Book the cheapest flight to Rome."),
        assistant("<think>\nSearch first.\n</think>\n\n",
                  call("search_flights", {"to": "FCO", "max_price": 120.5, "stops": [0, 1]})),
        tool('[{"id": "AZ1", "price": 99.0}]'),
        assistant("<think>\nAZ1 is cheapest.\n</think>\n\nBooking AZ1.",
                  call("book", '{"flight": "AZ1"}', flat=True)),
        tool("confirmed"), assistant("<think>\nDone.\n</think>\n\nBooked AZ1 for 99 EUR.")],
    "results_then_a_new_question": [
        user("Wetter in Berlin?"), assistant("", call("get_weather", {"city": "Berlin"})),
        tool("{\"temp\": 7}\n{\"wind\": \"strong\"}"), assistant("7 Grad, windig."),
        user("\u90A3\u4E48\u4E1C\u4EAC\u5462\uFF1F"),
        assistant("<think>\n\u67E5\u4E00\u4E0B\n</think>\n\n",
                  call("get_weather", {"city": "\u6771\u4EAC"}))],
    "ends_with_tool_results": [user("q"), assistant("", call("f", {})), tool(""), tool("\n")],
    "arguments_with_escapes_and_numbers": [
        user("q"), assistant("ok", call("f", {"a": "line\nbreak \"quoted\" \\ tab\t\u0001",
                                             "b": [1e-05, 1e16, 0.1, -0.0, 3, True, None],
                                             "c": {"nested": {"deep": "\u00E9\U0001F600"}}}))],
    "string_arguments_kept_verbatim": [
        user("q"), assistant("", call("f", "not json at all"), call("g", '{"b":1,  "a":2}'))],
    "tool_response_lookalike_user_after_results": [
        user("q"), assistant("", call("f", {})), tool("r"),
        user("<tool_response>\nfake\n</tool_response>"), assistant("<think>t</think>a")],
}


def random_arguments(rng):
    pieces = ["a", "\u00E9", "\U0001F600", "\n", '"', "\\", "</tool_call>", "}", " "]
    text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 5)))
    values = [text, rng.randint(-10**12, 10**12), rng.random() * 10 ** rng.randint(-8, 20),
              True, None, [text, 1.5], {"z": text, "a": {"k": 2.0}}]
    if rng.random() < 0.3:
        return json.dumps({"q": text}, ensure_ascii=rng.random() < 0.5)  # a string, verbatim
    return {f"k{i}": rng.choice(values) for i in range(rng.randint(0, 3))}


def random_conversation(rng):
    """Seeded conversations that follow safrl's tool rules (a tool result only after calls or
    another result) and mix in the text the template treats specially."""
    pieces = ["<think>", "</think>", "\n", "\n\n", " ", "reason", "answer", "<tool_response>",
              "</tool_response>", "<tool_call>", "\u4F60\u597D", "\U0001F600"]
    messages = [SYSTEM] if rng.random() < 0.4 else []
    for _ in range(rng.randint(1, 7)):
        last = messages[-1] if messages else None
        options = ["user", "assistant", "calls"]
        if last and (last["role"] == "tool" or last.get("tool_calls")):
            options += ["tool", "tool", "tool"]
        role = rng.choice(options)
        content = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 6)))
        if role == "calls":
            calls = [call(rng.choice(["get_weather", "search", "f"]), random_arguments(rng),
                          flat=rng.random() < 0.3) for _ in range(rng.randint(1, 3))]
            messages.append(assistant(content, *calls))
        elif role == "tool":
            messages.append(tool(content))
        else:
            messages.append({"role": role, "content": content})
    return messages


@pytest.fixture(scope="module")
def hf(tokenizer_dir):
    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


@pytest.fixture(scope="module")
def conversations():
    named = dict(HAND_WRITTEN)
    rng = random.Random(RANDOM_SEED)
    named.update({f"random_{i:03d}": random_conversation(rng) for i in range(300)})
    return named


def compare(names, got, want, conversations):
    differ = [f"{name}: {json.dumps(conversations[name], ensure_ascii=False)}\n"
              f"  transformers {w!r}\n  safrl        {g!r}"
              for name, g, w in zip(names, got, want) if g != w]
    if differ:
        pytest.fail(f"{len(differ)} of {len(names)} differ:\n" + "\n".join(differ[:5]),
                    pytrace=False)


@pytest.mark.parametrize("generation_prompt", [False, True])
def test_qwen3_tool_turns_match_transformers(hf, conversations, run_safrl, generation_prompt):
    names = list(conversations)
    switches = {"add_generation_prompt": generation_prompt}
    got = run_safrl(["render", "--format", "qwen3"],
                    [dict({"messages": conversations[n]}, **switches) for n in names], "text")
    want = [hf.apply_chat_template(copy.deepcopy(conversations[n]), tokenize=False, **switches)
            for n in names]
    compare(names, got, want, conversations)


def test_null_content_beside_tool_calls_renders_as_empty(hf, run_safrl):
    """OpenAI clients send "content": null with tool calls; the template cannot take null, and
    safrl reads it as the empty string, which is what the template renders for ""."""
    with_null = [user("q"), {"role": "assistant", "content": None, "tool_calls": [WEATHER]}]
    with_empty = [user("q"), assistant("", WEATHER)]
    got = run_safrl(["render", "--format", "qwen3"], [{"messages": with_null}], "text")
    assert got == [hf.apply_chat_template(with_empty, tokenize=False)]


def qwen25_template():
    spec = importlib.util.spec_from_file_location(
        "render_reference", ROOT / "scripts" / "reference" / "render_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.QWEN25_TEMPLATE


def object_arguments_only(messages):
    return all(isinstance(c.get("function", c)["arguments"], dict)
               for m in messages for c in m.get("tool_calls", []))


def test_chatml_tool_turns_match_the_qwen25_template(hf, conversations, run_safrl):
    """The Qwen2.5 template writes every argument with tojson, so it agrees with safrl (which
    writes string arguments verbatim, as Qwen3 does) on conversations with object arguments."""
    template = qwen25_template()
    names = [n for n in conversations if object_arguments_only(conversations[n])]
    assert len(names) >= 100
    got = run_safrl(["render", "--format", "chatml"],
                    [{"messages": conversations[n]} for n in names], "text")
    want = []
    for name in names:
        messages = copy.deepcopy(conversations[name])
        if messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": ""})
        want.append(hf.apply_chat_template(messages, tokenize=False, chat_template=template))
    compare(names, got, want, conversations)
