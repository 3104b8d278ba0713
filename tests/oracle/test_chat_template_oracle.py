"""transformers is the oracle for `safrl render --format qwen3`: the rendered text must equal
AutoTokenizer.from_pretrained(tokenizer folder).apply_chat_template(messages, tokenize=False)
byte for byte, with the Qwen3 chat template of that folder's tokenizer_config.json.

Every conversation is rendered with each combination of add_generation_prompt (on, off) and
enable_thinking (on, off, unset), the switches a line of `safrl render` can carry.
"""
import json
import pathlib
import random

import pytest
from transformers import AutoTokenizer

CONVERSATIONS = pathlib.Path(__file__).resolve().parents[1] / "data" / "chat" / "conversations.json"


def conversation(*turns):
    return [{"role": role, "content": content} for role, content in zip(turns[::2], turns[1::2])]


EXTRA = {
    "system_multi_turn_thinking": conversation(
        "system", "You are a careful assistant.", "user", "Is 91 prime?",
        "assistant", "<think>\n91 = 7 * 13.\n</think>\n\nNo: 91 = 7 \u00D7 13.",
        "user", "And 97?", "assistant", "<think>\nNo divisor up to 9.\n</think>\n\nYes."),
    "history_think_dropped_final_kept": conversation(
        "user", "a", "assistant", "<think>old</think>old answer", "user", "b",
        "assistant", "<think>new</think>new answer"),
    "ends_with_user_after_thinking": conversation(
        "user", "Hi", "assistant", "<think>\ngreet\n</think>\n\nHello!", "user", "Tell me more."),
    "unicode_scripts_and_emoji": conversation(
        "system", "\u0623\u062C\u0628 \u0628\u0627\u0644\u0639\u0631\u0628\u064A\u0629.",
        "user", "\u0928\u092E\u0938\u094D\u0924\u0947 \u0E2A\u0E27\u0E31\u0E2A\u0E14\u0E35 "
                "\uC548\uB155 \U0001F468\u200D\U0001F469\u200D\U0001F467 e\u0301",
        "assistant", "<think>\n\u601D\u8003\u4E2D\u2026 \U0001F914\n</think>\n\n"
                     "\u597D\u7684 \U0001F44D\U0001F3FD"),
    "empty_think_final": conversation("user", "Hi", "assistant", "<think></think>Hello"),
    "think_only_whitespace": conversation("user", "Hi", "assistant", "<think>\n \n</think>\n \nok"),
}


def random_conversation(rng):
    """Seeded conversations of any role order, built from the pieces the template treats
    specially: think tags, newlines at the edges, tool_response wrapping, special tokens."""
    pieces = ["<think>", "</think>", "\n", "\n\n", " ", "reason", "answer", "<tool_response>",
              "</tool_response>", "<|im_end|>", "<|im_start|>", "\u4F60\u597D", "\U0001F600",
              "\r\n"]
    roles = ["system", "user", "user", "assistant", "assistant", "assistant"]
    messages = []
    for _ in range(rng.randint(1, 6)):
        role = rng.choice(roles)
        content = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 8)))
        if role == "user" and rng.random() < 0.25:
            # a user turn the template does not count as the last query
            content = f"<tool_response>{content}</tool_response>"
        messages.append({"role": role, "content": content})
    return messages


@pytest.fixture(scope="module")
def hf(tokenizer_dir):
    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


@pytest.fixture(scope="module")
def conversations():
    committed = json.loads(CONVERSATIONS.read_text(encoding="utf-8"))
    named = {c["name"]: c["messages"] for c in committed}
    assert len(named) == 28
    named.update(EXTRA)
    rng = random.Random(20250603)
    named.update({f"random_{i:03d}": random_conversation(rng) for i in range(400)})
    return named


def render_with_safrl(run_safrl, conversations, **switches):
    return run_safrl(["render", "--format", "qwen3"],
                     [dict({"messages": m}, **switches) for m in conversations], "text")


# (add_generation_prompt, enable_thinking); None leaves enable_thinking unset on both sides.
SWITCHES = [(g, t) for g in (False, True) for t in (None, True, False)]


@pytest.mark.parametrize("generation_prompt, thinking", SWITCHES)
def test_qwen3_render_matches_transformers(hf, conversations, run_safrl, generation_prompt,
                                           thinking):
    switches = {"add_generation_prompt": generation_prompt}
    if thinking is not None:
        switches["enable_thinking"] = thinking
    names = list(conversations)
    got = render_with_safrl(run_safrl, conversations.values(), **switches)
    differ = []
    for name, text in zip(names, got):
        messages = conversations[name]
        want = hf.apply_chat_template(messages, tokenize=False, **switches)
        if text != want:
            differ.append(f"{name}: {json.dumps(messages, ensure_ascii=False)}\n"
                          f"  transformers {want!r}\n  safrl        {text!r}")
    if differ:
        pytest.fail(f"{len(differ)} of {len(names)} differ:\n" + "\n".join(differ[:5]),
                    pytrace=False)


def test_the_switches_change_the_text_as_the_template_says(hf, run_safrl):
    """Guards the test above against switches that reach neither side: the generation prompt
    adds the assistant header, and enable_thinking=False an empty think block after it."""
    messages = [{"role": "user", "content": "Hi"}]
    plain, prompt, no_thinking = (
        render_with_safrl(run_safrl, [messages], **switches)[0]
        for switches in ({}, {"add_generation_prompt": True},
                         {"add_generation_prompt": True, "enable_thinking": False}))
    assert prompt == plain + "<|im_start|>assistant\n"
    assert no_thinking == prompt + "<think>\n\n</think>\n\n"
    assert no_thinking == hf.apply_chat_template(messages, tokenize=False,
                                                 add_generation_prompt=True, enable_thinking=False)


def test_reasoning_content_written_as_think_block_in_content(hf, run_safrl):
    """safrl refuses reasoning_content and docs/chat-formats.md says to put the reasoning into
    content as <think>...</think>; transformers must render both spellings the same. (They can
    differ only for reasoning with newlines at its ends or content that starts with one, which
    the template strips in one spelling and not the other.)"""
    def spellings(turns):
        with_field = [{"role": "user", "content": "Hi"}]
        in_content = [{"role": "user", "content": "Hi"}]
        for reasoning, answer, next_user in turns:
            with_field.append({"role": "assistant", "content": answer,
                               "reasoning_content": reasoning})
            in_content.append({"role": "assistant",
                               "content": f"<think>\n{reasoning}\n</think>\n\n{answer}"})
            if next_user:
                with_field.append({"role": "user", "content": next_user})
                in_content.append({"role": "user", "content": next_user})
        return with_field, in_content

    cases = [spellings([("Two and two.", "4", None)]),
             spellings([("first", "A", "again?"), ("second", "B", None)]),
             spellings([("kept", "A", None), ("also kept", "B", None)]),
             spellings([("\u601D\u8003", "\u7B54\u6848 \U0001F44D", "\u8C22\u8C22")])]
    got = render_with_safrl(run_safrl, [in_content for _, in_content in cases])
    for (with_field, in_content), text in zip(cases, got):
        want = hf.apply_chat_template(with_field, tokenize=False)
        assert want == hf.apply_chat_template(in_content, tokenize=False)
        assert text == want

    (refused,) = run_safrl(["render", "--format", "qwen3"], [{"messages": cases[0][0]}])
    assert "reasoning_content" in refused["error"]
