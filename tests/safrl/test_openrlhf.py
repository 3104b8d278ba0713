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


def test_samples_from_request_builds_one_sample_per_query():
    payload = {"query": [CHATML_PROMPT + "Knead it.<|im_end|>", "plain qanswer"],
               "prompts": [CHATML_PROMPT, "plain q"], "labels": ["", None], "future_key": 1}
    assert orl.samples_from_request(payload) == [
        {"id": 0, "prompt": "How do I\nbake bread?", "response": "Knead it."},
        {"id": 1, "prompt": "plain q", "response": "answer"}]


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
