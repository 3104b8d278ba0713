"""Protocol version 2 on a live `safrl serve` (docs/protocol.md, "Versions"): a version 1 request
is answered as before, with "v": 1; version 2 carries conversations, agent turns and the judging
switches per request, group and sample; a group's multi-turn context is computed once; errors name
the group or sample and the message; OpenRLHF's Qwen3-rendered agent rollouts over HTTP are the
same samples as their messages over ZeroMQ; `safrl score` takes the same lines; the front passes
version 2 and routes a conversation's requests to one engine. The
conversation set through every path is
test_conversation_set.py."""
import collections
import json
import subprocess
import urllib.error
import urllib.request

import pytest

from safrl.testing.live_server import SAFRL, Client, Server
from safrl.testing.polling import wait_for

V1_RESULT_KEYS = {"id", "step", "reward", "helpfulness", "case", "safe", "refusal", "answer",
                  "thinking", "truncated_thinking", "tokens"}
# What every version 2 result adds (serve::fit_result_to_version keeps them from version 1).
V2_RESULT_KEYS = V1_RESULT_KEYS | {"channels", "injection", "answer_tokens"}

SYSTEM = {"role": "system", "content": "You are a travel agent. Answer briefly."}
CONTEXT = [
    SYSTEM,
    {"role": "user", "content": "What is the weather in Paris tomorrow?"},
    {"role": "assistant", "content": "",
     "tool_calls": [{"type": "function",
                     "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}]},
    {"role": "tool", "content": "Tomorrow: 18 C, light rain in the afternoon."},
]
RESPONSES = ["Take an umbrella: 18 C with rain later.", "It will be mild, 18 C.",
             "I cannot say.", "<think>\nrain\n</think>\n\nRain in the afternoon, 18 C."]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("conversations_wire"))
    client = Client(server.endpoint)
    yield server, client
    client.close()
    server.close()


def score(client, request, version):
    reply = client.call({"v": version, "type": "score", **request}, timeout=300)
    assert reply is not None, "no reply within 300 s"
    return reply


def counters(client):
    return client.call({"v": 2, "type": "stats"})["counters"]


def test_a_version_1_request_is_answered_as_before_and_version_2_alike(live):
    _, client = live
    request = {"samples": [{"id": "s", "prompt": "How do I bake bread?", "response": "Knead."}],
               "groups": [{"prompt": "Is the sea salty?", "responses": ["Yes.", "No."]}]}
    v1 = score(client, request, 1)
    assert (v1["v"], v1["type"]) == (1, "score")
    assert [r["id"] for r in v1["results"]] == ["s", "0/0", "0/1"]
    for result in v1["results"]:
        assert set(result) == V1_RESULT_KEYS
    # The same request in version 2: the same results, in a version 2 reply.
    v2 = score(client, request, 2)
    assert v2["v"] == 2
    for a, b in zip(v1["results"], v2["results"]):
        assert set(b) == V2_RESULT_KEYS
        assert (a["reward"], a["case"], a["answer"]["text"]) == (
            b["reward"], b["case"], b["answer"]["text"])
    # Every reply to a request speaks its version; info names both.
    for version in (1, 2):
        assert client.call({"v": version, "type": "ping"})["v"] == version
        info = client.call({"v": version, "type": "info"})
        assert (info["v"], info["protocol"], info["protocols"]) == (version, 2, [1, 2])


def test_version_2_fields_in_a_version_1_request_and_unknown_versions_are_refused(live):
    _, client = live
    reply = score(client, {"samples": [{"id": 1, "messages": CONTEXT, "response": "Rain."}]}, 1)
    assert (reply["v"], reply["type"], reply["error"]["code"]) == (1, "error", "bad_request")
    assert reply["error"]["message"] == (
        'samples[0].messages: needs protocol version 2; send "v": 2')
    reply = score(client, {"samples": [{"id": 1, "prompt": "q", "response": "r"}],
                           "judge": "all_turns"}, 1)
    assert reply["error"]["message"] == (
        'judge: needs protocol version 2; send "v": 2')
    reply = client.call({"v": 3, "type": "ping"})
    assert reply["error"]["code"] == "unsupported_version"
    assert "this server speaks versions 1 and 2" in reply["error"]["message"]


def test_agent_turns_prompt_and_tool_results_are_judged_on_request(live):
    _, client = live
    agent = {"id": "agent", "messages": CONTEXT, "policy_turns_from": 2, "response": RESPONSES[0]}
    plain = {"id": "plain", "messages": CONTEXT, "policy_turns_from": 2, "judge": "last",
             "judge_tool_results": False, "response": RESPONSES[1]}
    reply = score(client, {"samples": [agent, plain], "judge": "all_turns",
                           "judge_prompt": True, "judge_tool_results": True}, 2)
    assert reply["type"] == "score", reply
    agent_result, plain_result = reply["results"]
    # all_turns from the request: the policy's tool-calling turn (2), then the response (4).
    assert [t["index"] for t in agent_result["turns"]] == [2, 4]
    assert agent_result["turns"][-1]["answer"] == agent_result["answer"]
    for turn in agent_result["turns"]:
        assert {"index", "answer", "thinking", "helpfulness", "reward", "case", "safe",
                "refusal"} <= set(turn)
    assert [t["index"] for t in agent_result["tool_results"]] == [3]
    assert isinstance(agent_result["tool_results"][0]["verdict"], dict)
    # The sample's own switches win over the request's.
    assert "turns" not in plain_result and "tool_results" not in plain_result
    # Both share the prompt; it is judged once per distinct prompt and kept for later requests.
    for result in (agent_result, plain_result):
        assert set(result["prompt_verdict"]) >= {"safety", "categories", "cached"}
    again = score(client, {"samples": [dict(agent, judge_prompt=True)]}, 2)
    assert again["results"][0]["prompt_verdict"]["cached"] is True
    assert {k: v for k, v in again["results"][0]["prompt_verdict"].items() if k != "cached"} == {
        k: v for k, v in agent_result["prompt_verdict"].items() if k != "cached"}


def test_a_group_sharing_a_multi_turn_context_computes_it_once(live):
    _, client = live
    # Answers no earlier test sent: the judgement cache would answer those without computing.
    responses = [f"{response} (shared context)" for response in RESPONSES]
    before = counters(client)
    grouped = score(client, {"groups": [{"messages": CONTEXT, "responses": responses,
                                         "ids": ["a", "b", "c", "d"]}]}, 2)
    middle = counters(client)
    # The same conversations with a different system prompt each: nothing past the guard's fixed
    # head is shared.
    alone = score(client, {"samples": [
        {"id": i, "messages": [dict(SYSTEM, content=f"{SYSTEM['content']} ({i})"), *CONTEXT[1:]],
         "response": response} for i, response in enumerate(responses)]}, 2)
    after = counters(client)
    assert [r["id"] for r in grouped["results"]] == ["a", "b", "c", "d"]
    assert len(alone["results"]) == 4
    group_saved = middle["prefix_tokens_saved"] - before["prefix_tokens_saved"]
    alone_saved = after["prefix_tokens_saved"] - middle["prefix_tokens_saved"]
    assert group_saved > alone_saved >= 0
    assert middle["tokens"] - before["tokens"] < after["tokens"] - middle["tokens"]


def test_a_bad_conversation_refuses_its_request_naming_the_group_and_message(live):
    """Requests are answered whole (docs/protocol.md): the refusal names the group and the
    message; the valid group, sent again on its own, is scored."""
    _, client = live
    bad = [SYSTEM, {"role": "user", "content": "Hi"}, {"role": "tool", "content": "orphan"}]
    good = {"messages": CONTEXT, "responses": ["Rain."]}
    reply = score(client, {"groups": [good, {"messages": bad, "responses": ["Hello."]}]}, 2)
    assert (reply["v"], reply["error"]["code"]) == (2, "bad_request")
    assert reply["error"]["message"].startswith("groups[1].messages[2]"), reply
    reply = score(client, {"groups": [good, {"prompt": "p", "messages": CONTEXT,
                                             "responses": ["x"]}]}, 2)
    assert reply["error"]["message"] == 'groups[1]: has both "prompt" and "messages"; give one'
    reply = score(client, {"groups": [good]}, 2)
    assert reply["type"] == "score" and reply["results"][0]["id"] == "0/0"


def qwen3_turn(role, content):
    return f"<|im_start|>{role}\n{content}<|im_end|>\n"


def test_openrlhf_agent_rollouts_are_the_samples_of_their_messages(live):
    server, client = live
    prompt = (qwen3_turn("system", SYSTEM["content"]) + qwen3_turn("user", CONTEXT[1]["content"])
              + "<|im_start|>assistant\n")
    rollout = ('<tool_call>\n{"name": "weather", "arguments": {"city": "Paris"}}\n</tool_call>'
               "<|im_end|>\n"
               + qwen3_turn("user", f"<tool_response>\n{CONTEXT[3]['content']}\n</tool_response>")
               + "<|im_start|>assistant\nTake an umbrella.<|im_end|>\n")
    plain = "Let me look that up.<|im_end|>"
    body = {"query": [prompt + rollout, prompt + plain], "prompts": [prompt, prompt]}
    request = urllib.request.Request(f"http://127.0.0.1:{server.http_port}/get_reward",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=300) as reply:
        rewards = json.loads(reply.read())["rewards"]
    messages = score(client, {"samples": [
        {"id": 0, "messages": CONTEXT, "policy_turns_from": 2, "response": "Take an umbrella."},
        {"id": 1, "messages": CONTEXT[:2], "response": "Let me look that up."}]}, 2)
    assert rewards == pytest.approx([r["reward"] for r in messages["results"]], abs=1e-5)
    # A rollout that ends on a tool result has no answer to judge: 400 naming the query.
    body["query"][0] = prompt + rollout[:rollout.index("<|im_start|>assistant")]
    request.data = json.dumps(body).encode()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=300)
    assert refused.value.code == 400
    assert json.loads(refused.value.read())["error"]["message"] == (
        "query[0]: the response ends with a tool turn; an agent rollout ends with the policy's "
        "answer")


def test_safrl_score_takes_the_same_conversation_lines(live, tmp_path):
    server, client = live
    line = {"id": "agent", "messages": CONTEXT, "policy_turns_from": 2, "judge": "all_turns",
            "judge_prompt": True, "judge_tool_results": True, "response": RESPONSES[3]}
    (tmp_path / "in.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    done = subprocess.run([SAFRL, "score", "--config", str(server.config), "--input",
                           str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out.jsonl")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    offline = json.loads((tmp_path / "out.jsonl").read_text(encoding="utf-8"))
    [online] = score(client, {"samples": [line]}, 2)["results"]
    for key in ("reward", "case", "safe", "refusal", "answer", "thinking", "tool_results"):
        assert offline[key] == online[key], key
    assert [(t["index"], t["case"], t["reward"]) for t in offline["turns"]] == [
        (t["index"], t["case"], t["reward"]) for t in online["turns"]]
    assert offline["turns"][0]["index"] == 2 and offline["thinking"] is not None


def test_the_front_passes_version_2_and_routes_a_conversation_to_one_engine(tmp_path):
    """Each of 8 conversations (step k) sent twice, apart, as verl sends a group's members: both
    requests of a conversation meet on one engine, and both engines get some."""
    front = Server(tmp_path, front_args=["--engines", "2"], name="pair")
    try:
        wait_for(lambda: engines_up(front), "both engines up")
        client = Client(front.endpoint)
        for member in range(2):
            for k in range(8):
                messages = [SYSTEM, {"role": "user", "content": f"Trip number {k}?"}]
                reply = score(client, {"step": k, "samples": [
                    {"id": member, "messages": messages, "response": RESPONSES[member]}]}, 2)
                assert (reply["v"], reply["type"]) == (2, "score"), reply
        client.close()
        assert front.stop() == 0
        steps = []
        for engine in range(2):
            counts = collections.Counter()
            for line in open(front.run_dir / f"engine-{engine}" / "steps.jsonl"):
                row = json.loads(line)
                counts[row["step"]] += row["count"]
            assert set(counts.values()) <= {2}  # both requests of a conversation, on one engine
            steps.append(set(counts))
        assert steps[0] and steps[1] and not steps[0] & steps[1]
        assert steps[0] | steps[1] == set(range(8))
    finally:
        front.close()


def engines_up(front):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{front.http_port}/health",
                                    timeout=10) as reply:
            return reply.read() == b"ok\n"
    except (urllib.error.URLError, OSError):
        return False
