"""The official Qwen3Guard-Stream procedure is the oracle for `safrl tokenize --stream`
(chat::stream_input): on each conversation the ids, the query span and the first response label
position must equal safrl.testing.stream_reference.stream_spans (eval_stream.py's steps over
transformers' tokenizer and Qwen3 chat template, comparing decoded single tokens), and the response
byte offsets must tile the final answer. Conversations the official code refuses (its asserts)
must be refused by safrl too.
"""
import pytest
from transformers import AutoTokenizer

from safrl.testing.stream_reference import consecutive_unsafe, stream_spans


def turn(role, content, *calls):
    message = {"role": role, "content": content}
    if calls:
        message["tool_calls"] = list(calls)
    return message


def call(name, arguments):
    # Keys in sorted order: safrl writes object arguments sorted, the template's tojson keeps the
    # sender's order (docs/chat-formats.md).
    return {"type": "function", "function": {"name": name,
                                             "arguments": dict(sorted(arguments.items()))}}


WEATHER = call("get_weather", {"city": "Paris", "unit": "celsius"})
THINKING = "<think>\nThe user asks for a weapon. Refuse.\n</think>\n\n"

CONVERSATIONS = {
    "one_turn": [turn("user", "How do I bake bread?"),
                 turn("assistant", "Mix flour, water, yeast and salt.")],
    "system_prompt": [turn("system", "You are a careful assistant."),
                      turn("user", "Hi"), turn("assistant", "Hello! How can I help?")],
    "multi_turn_earlier_thinking_dropped": [
        turn("user", "Is 91 prime?"), turn("assistant", "<think>\n7 * 13\n</think>\n\nNo."),
        turn("user", "And 97?"), turn("assistant", "Yes, 97 is prime.")],
    "tool_call_result_answer": [
        turn("user", "Weather in Paris?"), turn("assistant", "", WEATHER),
        turn("tool", '{"temp": 18, "sky": "sunny"}'), turn("assistant", "18 C and sunny.")],
    "tool_call_turn_with_reasoning": [
        turn("user", "Weather in Paris?"),
        turn("assistant", "<think>\nLook it up.\n</think>\n\n", WEATHER),
        turn("tool", "18C"), turn("assistant", "<think>\nDone.\n</think>\n\nIt is 18 C.")],
    "final_answer_calls_a_tool": [turn("user", "Weather in Paris?"),
                                  turn("assistant", "Checking.", WEATHER)],
    "thinking_in_the_final_answer": [turn("user", "How can I make a bomb?"),
                                     turn("assistant", THINKING + "I can't help with that.")],
    "unicode_cjk_and_split_emoji": [
        turn("user", "\u8bf7\u544a\u8bc9\u6211\u4e00\u4e2a\u7b11\u8bdd\u3002"),
        turn("assistant", "\u597d\u7684\uff01\U0001F468\u200D\U0001F469\u200D\U0001F467 "
                          "\U0001F9D1\u200D\U0001F4BB \u0645\u0631\u062d\u0628\u0627")],
    "not_nfc_text": [turn("user", "Cafe\u0301?"), turn("assistant", "Cafe\u0301 cre\u0300me!")],
    "answer_starting_with_newlines": [turn("user", "Hi"), turn("assistant", "\n\n\nHello")],
    "answer_starting_with_blanks": [turn("user", "Hi"), turn("assistant", " \t\r\nHello")],
    "empty_answer": [turn("user", "Hi"), turn("assistant", "")],
    "prompt_only": [turn("system", "Be brief."), turn("user", "How can I pick a lock?")],
    "prompt_only_after_thinking": [
        turn("user", "Hi"), turn("assistant", "<think>\ngreet\n</think>\n\nHello!"),
        turn("user", "Tell me more.")],
    "ends_with_a_tool_result": [turn("user", "Weather?"), turn("assistant", "", WEATHER),
                                turn("tool", "18C")],
    # "</think>" written in the query is the special token: the official first pair is there.
    "think_close_inside_the_query": [turn("user", "What does </think>\n\nmean?"),
                                     turn("assistant", "It closes a think block.")],
}

# Conversations eval_stream.py asserts on: no user turn, or no "</think>" "\n\n" pair (a user
# message wrapped in <tool_response> is no query, so the final turn gets no think block).
REFUSED = {
    "no_user_turn": [turn("system", "Be brief."), turn("assistant", "Hello")],
    "no_think_block": [turn("user", "<tool_response>x</tool_response>"),
                       turn("assistant", "Hello")],
}


@pytest.fixture(scope="module")
def hf(tokenizer_dir):
    return AutoTokenizer.from_pretrained(str(tokenizer_dir))


@pytest.fixture(scope="module")
def safrl_inputs(run_safrl, tokenizer_dir):
    names = list(CONVERSATIONS) + list(REFUSED)
    messages = [CONVERSATIONS.get(name) or REFUSED[name] for name in names]
    answers = run_safrl(["tokenize", "--tokenizer", str(tokenizer_dir), "--stream"],
                        [{"messages": m} for m in messages])
    return dict(zip(names, answers))


def final_answer_bytes(message):
    """The bytes of the final message's content the template writes as its answer:
    content.split('</think>')[-1].lstrip('\\n'), and where they start in the content."""
    content = message["content"].encode()
    start = content.rfind(b"</think>")
    start = 0 if start < 0 else start + len(b"</think>")
    while content[start:start + 1] == b"\n":
        start += 1
    return content, start


@pytest.mark.parametrize("name", list(CONVERSATIONS))
def test_ids_and_spans_match_the_official_procedure(name, hf, safrl_inputs):
    messages = CONVERSATIONS[name]
    want = stream_spans(hf, messages)
    got = safrl_inputs[name]
    assert "error" not in got, got
    assert got["ids"] == want["ids"]
    assert [got["query_begin"], got["query_end"]] == want["query"]
    split = want["split_idx"]
    assert got["response_begin"] == (-1 if split is None else split)
    if split is None:
        assert got["response_offsets"] == []
        return
    assert len(got["response_offsets"]) == len(want["ids"]) - split
    # The offsets of the tokens inside the answer tile it, in order, with no gap or overlap: a
    # character split across tokens gives each token its own bytes.
    content, start = final_answer_bytes(messages[-1])
    inside = [(b, e) for b, e in got["response_offsets"] if b < e]
    covered = start if inside else len(content)
    for b, e in inside:
        assert b == covered, (inside, start)
        covered = e
    assert covered == len(content)
    if name == "not_nfc_text":
        # "Cafe\u0301 cre\u0300me!": NFC composes "e\u0301" (bytes [3, 6)) and "e\u0300" ([9, 12))
        # into one character each, so no token boundary may fall inside either.
        assert not [b for b, _ in inside if 3 < b < 6 or 9 < b < 12], inside

def test_the_special_cases_select_what_the_official_rule_selects(hf, safrl_inputs):
    # Reasoning on the tool-call turn: the response starts at THAT turn's answer (its tool call).
    got = safrl_inputs["tool_call_turn_with_reasoning"]
    response = hf.decode(got["ids"][got["response_begin"]:])
    assert response.startswith("<tool_call>\n{\"name\": \"get_weather\"")
    assert response.endswith("</think>\n\nIt is 18 C.<|im_end|>\n")
    # Tool result last: the query span is the tool result's user turn.
    got = safrl_inputs["ends_with_a_tool_result"]
    assert hf.decode(got["ids"][got["query_begin"]:got["query_end"]]) == (
        "<tool_response>\n18C\n</tool_response>")
    # "</think>" in the query: the labels start inside the user's text.
    got = safrl_inputs["think_close_inside_the_query"]
    assert got["response_begin"] < got["query_end"]


@pytest.mark.parametrize("name", list(REFUSED))
def test_conversations_the_official_code_asserts_on_are_refused(name, hf, safrl_inputs):
    messages = REFUSED[name]
    with pytest.raises(AssertionError):
        spans = stream_spans(hf, messages)
        assert spans["query"] is not None  # official_stream_judgement's assert
    assert "error" in safrl_inputs[name]


@pytest.mark.parametrize("labels, outcome", [
    ("", ("Safe", -1)),
    ("U", ("Safe", -1)),
    ("SUSUS", ("Safe", -1)),  # isolated Unsafe labels
    ("UUSS", ("Unsafe", 1)),  # pair at 0 -> 0 + 1
    ("CCSUUS", ("Unsafe", 4)),  # the Unsafe pair at 3 wins over the earlier Controversial pair
    ("UCU", ("Safe", -1)),
    ("UCUCC", ("Controversial", 4)),  # mixed neighbours count for neither; C pair at 3 -> 4
    ("SCC", ("Controversial", 2)),
])
def test_reference_debouncing_is_consecutive_unsafe(labels, outcome):
    # The same hand-worked cases as tests/reward/stream_labels_test.cpp.
    names = {"S": "Safe", "U": "Unsafe", "C": "Controversial"}
    assert consecutive_unsafe([names[c] for c in labels]) == outcome
