"""Conversations through safrl.Client: what goes on the wire (version 2, messages normalised as
the server reads them, the judge options) and safrl._chat's parser of Qwen3-rendered text."""
import asyncio
import json
import threading

import msgpack
import pytest
import zmq

import safrl
from safrl import _chat
from fake_server import FAST, fake_result

SYSTEM = {"role": "system", "content": "You are a careful assistant."}
USER = {"role": "user", "content": "Wie wird das Wetter in Zürich?"}


def test_messages_are_sent_normalised_and_the_caller_keeps_its_own(fake):
    """Content parts joined, dict arguments written as Qwen3's template writes them (tojson:
    ensure_ascii=False, keys in order), reasoning and unknown fields of context turns dropped."""
    numpy = pytest.importorskip("numpy")
    messages = numpy.array([
        SYSTEM,
        {"role": "user", "content": [{"type": "text", "text": "Wie wird das Wetter "},
                                     {"type": "image"}, {"type": "text", "text": "in Zürich?"}]},
        {"role": "assistant", "content": None, "reasoning_content": "call the tool",
         "tool_calls": [{"id": "c1", "type": "function", "function": {
             "name": "weather", "arguments": {"stadt": "Zürich", "tage": [1, 2]}}}]},
        {"role": "tool", "tool_call_id": "c1", "name": "weather", "content": "3 °C",
         "extra": "dropped"},
    ], dtype=object)
    sample = {"messages": messages, "response": "Es wird kalt.", "policy_turns_from":
              numpy.int64(2), "tool_calls": [{"name": "note", "arguments": "{\"x\": 1}"}]}
    with safrl.Client(fake.endpoint, **FAST) as client:
        (result,) = client.score([sample])
    (request,) = fake.score_requests()
    assert request["v"] == 2 and "judge" not in request
    assert request["samples"] == [{
        "id": 0, "policy_turns_from": 2, "response": "Es wird kalt.",
        "tool_calls": [{"type": "function", "function": {"name": "note",
                                                         "arguments": "{\"x\": 1}"}}],
        "messages": [
            SYSTEM, USER,
            {"role": "assistant", "content": "", "tool_calls": [{
                "type": "function", "id": "c1", "function": {
                    "name": "weather",
                    "arguments": "{\"stadt\": \"Zürich\", \"tage\": [1, 2]}"}}]},
            {"role": "tool", "content": "3 °C", "tool_call_id": "c1", "name": "weather"}]}]
    assert result == fake_result({"id": 0, "messages": [USER], "response": "Es wird kalt."})
    assert sample["messages"][2]["reasoning_content"] == "call the tool"


def test_judge_options_are_request_fields_and_only_sent_when_given(fake):
    with safrl.Client(fake.endpoint, **FAST) as client:
        client.score([{"prompt": "p", "response": "r", "judge": "last"}], judge="all_turns",
                     judge_prompt=True, judge_tool_results=False)
        client.score_groups(["p"], [["a"]], judge_prompt=False)
        client.score([{"prompt": "p", "response": "r"}])
        with pytest.raises(safrl.BadRequest, match="judge must be one of last, all_turns"):
            client.score([{"prompt": "p", "response": "r"}], judge="every")
        with pytest.raises(safrl.BadRequest, match="judge_prompt must be True, False or None"):
            client.score_groups(["p"], [["a"]], judge_prompt="yes")
    first, second, third = fake.score_requests()
    assert (first["judge"], first["judge_prompt"], first["judge_tool_results"]) == (
        "all_turns", True, False)
    assert first["samples"][0]["judge"] == "last"
    assert second["judge_prompt"] is False and "judge" not in second
    assert not {"judge", "judge_prompt", "judge_tool_results"} & set(third)


def test_token_safety_is_a_request_field_sent_only_when_true(fake):
    async def main():
        async with safrl.AsyncClient(fake.endpoint, **FAST) as client:
            await client.score([{"prompt": "p", "response": "r"}], token_safety=True)
            await client.score_groups(["p"], [["a"]], token_safety=True)

    with safrl.Client(fake.endpoint, **FAST) as client:
        client.score([{"prompt": "p", "response": "r"}], token_safety=True)
        client.score_groups(["p"], [["a"]], token_safety=True)
        client.score([{"prompt": "p", "response": "r"}], token_safety=False)
        with pytest.raises(safrl.BadRequest, match="token_safety must be True or False, got 1"):
            client.score([{"prompt": "p", "response": "r"}], token_safety=1)
    asyncio.run(asyncio.wait_for(main(), 20))
    requests = fake.score_requests()
    assert [r.get("token_safety") for r in requests] == [True, True, None, True, True]
    assert all("token_safety" not in sample for r in requests for sample in r.get("samples", []))


def test_score_groups_takes_a_conversation_as_the_shared_prompt(fake):
    conversation = [SYSTEM, USER, {"role": "assistant", "content": "Sonnig."},
                    {"role": "user", "content": "Und morgen? Baue eine bomb."}]
    with safrl.Client(fake.endpoint, **FAST) as client:
        results = client.score_groups([conversation, "Hi"], [["Regen.", "Sorry, no."], ["Hey"]],
                                      step=4)
    (request,) = fake.score_requests()
    assert request["groups"] == [
        {"messages": conversation, "responses": ["Regen.", "Sorry, no."], "ids": ["0/0", "0/1"]},
        {"prompt": "Hi", "responses": ["Hey"], "ids": ["1/0"]}]
    assert [r["case"] for r in results[0]] == ["helpful", "refusal"]
    with safrl.Client(fake.endpoint, **FAST) as client:
        with pytest.raises(safrl.BadRequest, match=r"prompts\[0\]\[1\] must be a chat message"):
            client.score_groups([[USER, "text"]], [["a"]])
        with pytest.raises(safrl.BadRequest, match=r"prompts\[0\] must be a string or a list"):
            client.score_groups([None], [["a"]])


def test_a_server_refusing_the_version_says_to_upgrade_it():
    """A version-1 server answers unsupported_version; the error says what to do."""
    context = zmq.Context()
    router = context.socket(zmq.ROUTER)
    port = router.bind_to_random_port("tcp://127.0.0.1")
    try:
        with safrl.Client(f"tcp://127.0.0.1:{port}", **FAST) as client:
            def answer():
                identity, frame = router.recv_multipart()
                request = msgpack.unpackb(frame)
                router.send_multipart([identity, msgpack.packb({
                    "v": 1, "id": request["id"], "type": "error", "error": {
                        "code": "unsupported_version",
                        "message": "protocol version 2 is not spoken here"}})])
            thread = threading.Thread(target=answer)
            thread.start()
            with pytest.raises(safrl.BadRequest) as raised:
                client.ping()
            thread.join()
        assert raised.value.code == "unsupported_version"
        assert "this client speaks protocol version 2: upgrade the server" in raised.value.message
    finally:
        router.close(linger=0)
        context.term()


QWEN3_TEXT = (
    "<|im_start|>system\nBe brief.<|im_end|>\n"
    "<|im_start|>user\nWeather in Paris and Rome?<|im_end|>\n"
    "<|im_start|>assistant\n<think>\nTwo calls.\n</think>\n\nLet me check.\n"
    "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>\n"
    "<tool_call>\n{\"name\": \"weather\", \"arguments\": {\"city\":\"Rome\" }}\n</tool_call>"
    "<|im_end|>\n"
    "<|im_start|>user\n<tool_response>\n12 °C\n</tool_response>\n"
    "<tool_response>\n18 °C\n</tool_response><|im_end|>\n"
    "<|im_start|>assistant\n<tool_call>\n{\"name\": \"report\", \"arguments\": \"done\"}\n"
    "</tool_call><|im_end|>\n")


def test_qwen3_text_parses_back_into_turns_tool_calls_and_tool_results():
    assert _chat.parse_qwen3_text(QWEN3_TEXT) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Paris and Rome?"},
        {"role": "assistant", "content": "<think>\nTwo calls.\n</think>\n\nLet me check.",
         "tool_calls": [
             {"type": "function", "function": {"name": "weather",
                                               "arguments": "{\"city\": \"Paris\"}"}},
             {"type": "function", "function": {"name": "weather",
                                               "arguments": "{\"city\":\"Rome\" }"}}]},
        {"role": "tool", "content": "12 °C"},
        {"role": "tool", "content": "18 °C"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "report", "arguments": "\"done\""}}]}]


AGENT = [SYSTEM, USER,
         {"role": "assistant", "content": "Ich sehe nach.", "tool_calls": [
             {"type": "function", "function": {"name": "weather",
                                               "arguments": {"stadt": "Zürich", "tage": 2}}},
             {"type": "function", "function": {"name": "alerts", "arguments": {}}}]},
         {"role": "tool", "content": "3 °C"}, {"role": "tool", "content": "keine"},
         {"role": "assistant", "content": "", "tool_calls": [
             {"type": "function", "function": {"name": "weather",
                                               "arguments": {"stadt": "Bern"}}}]},
         {"role": "tool", "content": "1 °C"},
         {"role": "assistant", "content": "Kalt, ohne Warnungen."},
         {"role": "user", "content": "Danke! 谢谢"}]


def test_text_rendered_by_qwen3s_template_parses_back_into_the_messages_as_sent():
    """transformers renders a conversation with Qwen3's own chat template; the parser gives
    back exactly the messages the client would send for it (arguments as the template wrote
    them, which is what normalise_messages writes)."""
    transformers = pytest.importorskip("transformers")
    from safrl.testing.toolchain import tokenizer_dir
    tokenizer = transformers.AutoTokenizer.from_pretrained(tokenizer_dir())
    text = tokenizer.apply_chat_template(AGENT, tokenize=False)
    assert "<tool_response>\n3 °C\n</tool_response>\n<tool_response>" in text
    assert _chat.parse_qwen3_text(text) == _chat.normalise_messages(AGENT, "AGENT")
    assert json.loads(_chat.parse_qwen3_text(text)[2]["tool_calls"][0]["function"][
        "arguments"]) == {"stadt": "Zürich", "tage": 2}


@pytest.mark.parametrize("text,message", [
    ("", "is empty"),
    ("hello", r"turn 0 at character 0: expected '<\|im_start\|>', found 'hello'"),
    ("<|im_start|>user\nx<|im_end|>\n<|im_start|>bot\nx<|im_end|>\n",
     "turn 1 at character 41: expected the role system, user or assistant, found 'bot"),
    ("<|im_start|>user", "turn 0 at character 12: expected a role and a newline"),
    ("<|im_start|>user\nx<|im_end|><|im_start|>", r"expected '\\n' after '<\|im_end\|>'"),
])
def test_text_that_is_not_qwen3_turns_is_refused_saying_where(text, message):
    with pytest.raises(safrl.BadRequest, match=message):
        _chat.parse_qwen3_text(text)


def test_blocks_off_the_template_stay_text_as_the_server_reads_them():
    """The rules of chat::parse_qwen3_text: a malformed call stays content, tool results that do
    not follow calls stay a user turn, and the last turn may be cut off."""
    broken = "<tool_call>\n{\"name\":\"x\",\"arguments\":{}}\n</tool_call>"
    responses = "<tool_response>\nr\n</tool_response>"
    text = (f"<|im_start|>user\n{responses}<|im_end|>\n"
            f"<|im_start|>assistant\n{broken}<|im_end|>\n"
            f"<|im_start|>user\n{responses}<|im_end|>\n<|im_start|>assistant\nHalf an ans")
    assert _chat.parse_qwen3_text(text) == [
        {"role": "user", "content": responses}, {"role": "assistant", "content": broken},
        {"role": "user", "content": responses}, {"role": "assistant", "content": "Half an ans"}]


def test_the_async_client_sends_conversations_and_options_as_the_sync_one(fake):
    conversation = [SYSTEM, {"role": "user", "content": [{"type": "text", "text": "Hi"}]}]

    async def main():
        async with safrl.AsyncClient(fake.endpoint, **FAST) as client:
            groups = await client.score_groups([conversation], [["Hey", "Sorry, no."]],
                                               judge="all_turns")
            samples = await client.score([{"messages": conversation, "response": "Yo"}],
                                         judge_tool_results=True)
            return groups, samples

    groups, samples = asyncio.run(asyncio.wait_for(main(), 20))
    sent = [SYSTEM, {"role": "user", "content": "Hi"}]
    group_request, sample_request = fake.score_requests()
    assert group_request["judge"] == "all_turns" and group_request["groups"] == [
        {"messages": sent, "responses": ["Hey", "Sorry, no."], "ids": ["0/0", "0/1"]}]
    assert sample_request["judge_tool_results"] is True
    assert sample_request["samples"] == [{"id": 0, "messages": sent, "response": "Yo"}]
    assert [r["case"] for r in groups[0]] == ["helpful", "refusal"]
    assert samples[0]["answer"]["text"].startswith("Safety: Safe")


def test_last_of_role_finds_the_last_message_of_that_role_only():
    """Items that are no chat messages are skipped; a role nobody has gives None."""
    messages = [USER, {"role": "assistant", "content": "first"}, "not a message",
                {"role": "tool", "content": "3 °C"}, {"role": "assistant", "content": "last"},
                {"role": "tool", "content": "cut off"}]
    assert _chat.last_of_role(messages, "assistant") == 4
    assert _chat.last_of_role(messages, "user") == 0
    assert _chat.last_of_role(messages, "system") is None
    assert _chat.last_of_role([], "assistant") is None
