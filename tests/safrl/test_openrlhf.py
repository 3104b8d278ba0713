"""safrl.openrlhf: the /get_reward mapping the C++ endpoint implements (docs/trainers/openrlhf.md)."""
import json

import pytest

import safrl
import safrl.openrlhf as orl
from fake_server import FAST, fake_result

CHATML_PROMPT = ("<|im_start|>system\nYou are helpful.<|im_end|>\n"
                 "<|im_start|>user\nFirst question<|im_end|>\n"
                 "<|im_start|>assistant\nFirst answer<|im_end|>\n"
                 "<|im_start|>user\nHow do I\nbake bread?<|im_end|>\n"
                 "<|im_start|>assistant\n")


def test_split_query_cuts_the_prompt_off_the_query():
    assert orl.split_query("prompt text and the response", "prompt text") == " and the response"
    assert orl.split_query("same", "same") == ""
    with pytest.raises(safrl.BadRequest, match="does not start with its prompt"):
        orl.split_query("truncated prompt + response", "the whole prompt")


@pytest.mark.parametrize("response, cleaned", [
    ("Bake it.<|im_end|>", "Bake it."),
    ("Bake it.<|im_end|>\n", "Bake it."),
    ("Bake it.<|im_end|><|endoftext|>", "Bake it."),
    ("Bake it. <|im_end|> \n<|endoftext|>\n", "Bake it."),
    ("Bake it.\n", "Bake it.\n"),  # no marker: left as it is
    ("a <|im_end|> b", "a <|im_end|> b"),  # a marker inside the text stays
    ("<think>\nhm\n</think>\n\nOk<|im_end|>", "<think>\nhm\n</think>\n\nOk"),
    ("", ""),
])
def test_clean_response_removes_trailing_end_markers_only(response, cleaned):
    assert orl.clean_response(response) == cleaned


def test_user_prompt_reads_the_last_user_turn_of_a_chatml_prompt():
    assert orl.user_prompt(CHATML_PROMPT) == "How do I\nbake bread?"
    assert orl.user_prompt("<|im_start|>user\nunterminated") == "unterminated"
    assert orl.user_prompt("A plain prompt, no template.") == "A plain prompt, no template."


CHATML_MESSAGES = [{"role": "system", "content": "You are helpful."},
                   {"role": "user", "content": "First question"},
                   {"role": "assistant", "content": "First answer"},
                   {"role": "user", "content": "How do I\nbake bread?"}]
ONE_TURN_PROMPT = "<|im_start|>user\nHow do I\nbake bread?<|im_end|>\n<|im_start|>assistant\n"


def test_samples_from_request_builds_one_sample_per_query():
    """A one-user-turn prompt gives the request it always gave; a longer conversation goes as
    its messages; a prompt not made of Qwen3 turns is read as before."""
    custom = "<s>[INST] hi [/INST]<|im_start|>assistant\n"
    payload = {"query": [CHATML_PROMPT + "Knead it.<|im_end|>", "plain qanswer",
                         ONE_TURN_PROMPT + "<think>\nhm\n</think>\n\nKnead.<|im_end|>",
                         custom + "ok"],
               "prompts": [CHATML_PROMPT, "plain q", ONE_TURN_PROMPT, custom],
               "labels": ["", None, None, None], "future_key": 1}
    assert orl.samples_from_request(payload) == [
        {"id": 0, "messages": CHATML_MESSAGES, "response": "Knead it."},
        {"id": 1, "prompt": "plain q", "response": "answer"},
        {"id": 2, "prompt": "How do I\nbake bread?",
         "response": "<think>\nhm\n</think>\n\nKnead."},
        {"id": 3, "prompt": custom, "response": "ok"}]


# An agent rollout as OpenRLHF's query holds it: Qwen3's template text of the policy's turns
# and the tool results (rendered as the template renders tool messages) after the prompt.
AGENT_RESPONSE = (
    "Let me look.\n<tool_call>\n{\"name\": \"search\", \"arguments\": {\"q\": \"yeast\"}}\n"
    "</tool_call><|im_end|>\n<|im_start|>user\n<tool_response>\nfresh yeast\n</tool_response>"
    "<|im_end|>\n<|im_start|>assistant\n<think>\nok\n</think>\n\nUse fresh yeast.<|im_end|>")


def test_an_agent_rollout_sends_the_policy_turns_and_its_last_answer():
    (sample,) = orl.samples_from_request({"query": [ONE_TURN_PROMPT + AGENT_RESPONSE],
                                          "prompts": [ONE_TURN_PROMPT]})
    assert sample == {
        "id": 0, "policy_turns_from": 1, "response": "<think>\nok\n</think>\n\nUse fresh yeast.",
        "messages": [{"role": "user", "content": "How do I\nbake bread?"},
                     {"role": "assistant", "content": "Let me look.", "tool_calls": [
                         {"type": "function", "function": {
                             "name": "search", "arguments": "{\"q\": \"yeast\"}"}}]},
                     {"role": "tool", "content": "fresh yeast"}]}


def test_earlier_policy_turns_keep_their_thinking_for_the_guard_to_judge():
    """Non-thinking Qwen3 prompts end in an empty think block: it belongs to the first policy
    turn, which joins the messages whole, think block included, as the server reads it."""
    non_thinking = CHATML_PROMPT + "<think>\n\n</think>\n\n"
    thought = AGENT_RESPONSE.replace("Let me look.", "<think>\nhm\n</think>\n\nLet me look.")
    samples = orl.samples_from_request({"query": [non_thinking + AGENT_RESPONSE,
                                                  CHATML_PROMPT + thought],
                                        "prompts": [non_thinking, CHATML_PROMPT]})
    for sample in samples:
        assert sample["messages"][:4] == CHATML_MESSAGES and sample["policy_turns_from"] == 4
        assert sample["response"] == "<think>\nok\n</think>\n\nUse fresh yeast."
    assert samples[0]["messages"][4]["content"] == "<think>\n\n</think>\n\nLet me look."
    assert samples[1]["messages"][4]["content"] == "<think>\nhm\n</think>\n\nLet me look."


def test_a_rollout_cut_after_a_tool_result_is_refused_naming_the_query():
    cut = AGENT_RESPONSE.split("<|im_start|>assistant\n<think>")[0]
    with pytest.raises(safrl.BadRequest, match="query 0: the response ends with a tool turn"):
        orl.samples_from_request({"query": [CHATML_PROMPT + cut], "prompts": [CHATML_PROMPT]})


@pytest.mark.parametrize("payload, message", [
    ([], "JSON object"),
    ({"prompts": ["p"]}, '"query" must be a list of strings'),
    ({"query": ["p"]}, '"prompts" must be a list of strings'),
    ({"query": ["p", 3], "prompts": ["p", "q"]}, '"query" must be'),
    ({"query": ["pa", "pb"], "prompts": ["p"]}, "2 queries but 1 prompts"),
    ({"query": ["pa", "xb"], "prompts": ["p", "p"]}, "query 1: the query does not start"),
])
def test_samples_from_request_refuses_what_it_cannot_map(payload, message):
    with pytest.raises(safrl.BadRequest, match=message):
        orl.samples_from_request(payload)


def test_reply_from_results_has_rewards_scores_and_numeric_extra_logs():
    results = [{"reward": -10.0, "safe": False, "refusal": False, "case": "unsafe",
                "helpfulness": 2.0},
               {"reward": 1.5, "safe": True, "refusal": True, "case": "refusal",
                "helpfulness": 1.5}]
    assert orl.reply_from_results(results) == {
        "rewards": [-10.0, 1.5], "scores": [-10.0, 1.5],
        "extra_logs": {"safrl_safe": [0.0, 1.0], "safrl_refusal": [0.0, 1.0],
                       "safrl_unparseable": [0.0, 0.0], "safrl_helpfulness": [2.0, 1.5]}}
    guard_only = [dict(results[0], helpfulness=None, case="unparseable")]
    logs = orl.reply_from_results(guard_only)["extra_logs"]
    assert "safrl_helpfulness" not in logs and logs["safrl_unparseable"] == [1.0]


def test_get_reward_end_to_end_through_the_fake_server(fake):
    payload = json.loads(json.dumps({
        "query": [CHATML_PROMPT + "Knead, rise, bake.<|im_end|>",
                  CHATML_PROMPT + "Add a bomb.<|im_end|>"],
        "prompts": [CHATML_PROMPT, CHATML_PROMPT], "labels": ["", ""]}))
    with safrl.Client(fake.endpoint, **FAST) as client:
        reply = orl.get_reward(payload, client)
    want = [fake_result({"id": i, "prompt": "How do I\nbake bread?", "response": text})
            for i, text in enumerate(["Knead, rise, bake.", "Add a bomb."])]
    assert reply["rewards"] == [w["reward"] for w in want] == reply["scores"]
    assert reply["extra_logs"]["safrl_safe"] == [1.0, 0.0]
    assert json.loads(json.dumps(reply)) == reply  # plain JSON
    assert "step" not in fake.score_requests()[0]


def test_get_reward_uses_the_shared_client_by_default(fake):
    safrl.configure(fake.endpoint, **FAST)
    reply = orl.get_reward({"query": ["qa"], "prompts": ["q"]})
    assert reply["rewards"] == [fake_result({"id": 0, "prompt": "q", "response": "a"})["reward"]]
