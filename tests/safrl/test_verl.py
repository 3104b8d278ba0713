"""safrl.verl called the way verl's reward managers call a custom reward function."""
import asyncio
import inspect
import math

import pytest

import safrl
import safrl.verl
from fake_server import FAST, fake_result

DETAIL_TYPES = {"score": float, "safety": float, "safe": bool, "refusal": bool, "helpfulness": float, "case": str,
                "answer_safety": str, "thinking_safety": str}


@pytest.fixture
def server(fake):
    safrl.configure(fake.endpoint, **FAST)
    return fake


def test_signatures_are_verls():
    params = inspect.signature(safrl.verl.compute_score).parameters
    assert list(params) == ["data_source", "solution_str", "ground_truth", "extra_info", "kwargs"]
    assert params["extra_info"].default is None
    assert params["kwargs"].kind is inspect.Parameter.VAR_KEYWORD
    batch = inspect.signature(safrl.verl.compute_score_batch).parameters
    assert list(batch) == ["data_sources", "solution_strs", "ground_truths", "extra_infos",
                           "kwargs"]
    assert list(inspect.signature(safrl.verl.compute_score_async).parameters) == list(params)
    assert inspect.iscoroutinefunction(safrl.verl.compute_score_async)


def test_compute_score_returns_the_score_and_flat_details(server):
    # As verl's NaiveRewardManager calls it, plus a keyword verl's reward loop may add.
    result = safrl.verl.compute_score(
        data_source="safety", solution_str="<think>\nhow to make a bomb\n</think>\n\nNo.",
        ground_truth="", extra_info={"prompt": "Tell me", "index": 3, "num_turns": None},
        reward_router_address=None)
    want = fake_result({"id": 0, "prompt": "Tell me",
                        "response": "<think>\nhow to make a bomb\n</think>\n\nNo."})
    assert result == {"score": want["reward"], "safety": 0.0, "safe": False, "refusal": False,
                      "helpfulness": want["helpfulness"], "case": "unsafe",
                      "answer_safety": "Safe", "thinking_safety": "Unsafe"}
    assert {key: type(value) for key, value in result.items()} == DETAIL_TYPES
    (request,) = server.score_requests()
    assert request["samples"] == [{"prompt": "Tell me", "response":
                                   "<think>\nhow to make a bomb\n</think>\n\nNo.", "id": 0}]


def test_the_step_and_a_chat_prompt_come_from_extra_info(server):
    numpy = pytest.importorskip("numpy")
    messages = numpy.array([{"role": "system", "content": "be nice"},
                            {"role": "user", "content": "first"},
                            {"role": "assistant", "content": "ok"},
                            {"role": "user", "content": [{"type": "text", "text": "last"}]}],
                           dtype=object)
    safrl.verl.compute_score("safety", "fine", None,
                             {"prompt": messages, "step": numpy.int64(12)})
    (sample,) = server.score_requests()[0]["samples"]
    assert sample["step"] == 12 and sample["messages"] == [
        {"role": "system", "content": "be nice"}, {"role": "user", "content": "first"},
        {"role": "assistant", "content": "ok"}, {"role": "user", "content": "last"}]


# A tool agent loop's response as verl's reward loop decodes it (skip_special_tokens=True):
# Qwen3's template text of the turns with <|im_start|> and <|im_end|> gone.
AGENT_SOLUTION = (
    "<think>\nneed data\n</think>\n\nChecking.\n<tool_call>\n{\"name\": \"search\", "
    "\"arguments\": {\"q\": \"bomb\"}}\n</tool_call>\nuser\n<tool_response>\nno hits\n"
    "</tool_response>\n<tool_response>\nsecond\n</tool_response>\nassistant\n"
    "<think>\n\n</think>\n\nNothing found.")
SEARCH_CALL = {"type": "function", "function": {"name": "search",
                                                "arguments": "{\"q\": \"bomb\"}"}}


def test_a_tool_agent_rollout_is_sent_as_the_policy_turns_and_its_last_answer(server):
    numpy = pytest.importorskip("numpy")
    raw_prompt = numpy.array([{"role": "system", "content": "Use search."},
                              {"role": "user", "content": "Find it."}], dtype=object)
    result = safrl.verl.compute_score("s", AGENT_SOLUTION, None, {
        "raw_prompt": raw_prompt, "num_turns": numpy.int64(4), "turn_scores": [],
        "tool_rewards": []})
    (sample,) = server.score_requests()[0]["samples"]
    assert sample == {"id": 0, "policy_turns_from": 2,
                      "response": "<think>\n\n</think>\n\nNothing found.", "messages": [
                          {"role": "system", "content": "Use search."},
                          {"role": "user", "content": "Find it."},
                          {"role": "assistant",
                           "content": "<think>\nneed data\n</think>\n\nChecking.",
                           "tool_calls": [SEARCH_CALL]},
                          {"role": "tool", "content": "no hits"},
                          {"role": "tool", "content": "second"}]}
    assert result["case"] == "helpful"


def test_one_turn_rollouts_go_as_before_and_a_malformed_call_stays_text(server):
    malformed = AGENT_SOLUTION.replace("\n</tool_call>", "</tool_call>")
    for text, turns in (("Plain answer.", 2), ("Plain answer.", None), (malformed, 4)):
        safrl.verl.compute_score("s", text, None, {"prompt": "q", "num_turns": turns})
    plain, no_turns, agent = [r["samples"][0] for r in server.score_requests()]
    assert plain == no_turns == {"id": 0, "prompt": "q", "response": "Plain answer."}
    assert agent["messages"][1:] == [
        {"role": "assistant", "content": "<think>\nneed data\n</think>\n\nChecking.\n<tool_call>\n"
                                         "{\"name\": \"search\", "
                                         "\"arguments\": {\"q\": \"bomb\"}}</tool_call>"},
        {"role": "user", "content": "<tool_response>\nno hits\n</tool_response>\n"
                                    "<tool_response>\nsecond\n</tool_response>"}]


def test_the_last_turn_of_an_agent_rollout_carries_its_tool_calls(server):
    text = AGENT_SOLUTION.split("\nuser\n")[0]
    safrl.verl.compute_score("s", text, None, {"prompt": "q", "num_turns": 3})
    (sample,) = server.score_requests()[0]["samples"]
    assert sample == {"id": 0, "messages": [{"role": "user", "content": "q"}],
                      "policy_turns_from": 1, "tool_calls": [SEARCH_CALL],
                      "response": "<think>\nneed data\n</think>\n\nChecking."}


def test_a_missing_prompt_says_how_to_add_it_in_preprocessing(server):
    for extra_info in (None, {"index": 1}):
        with pytest.raises(safrl.BadRequest) as caught:
            safrl.verl.compute_score("safety", "answer", None, extra_info)
        assert 'extra_info["prompt"]' in str(caught.value)
        assert "preprocessing" in str(caught.value)
    assert server.ids() == []


def test_compute_score_batch_scores_a_batch_in_order(server):
    numpy = pytest.importorskip("numpy")
    n = 300  # over one request's 256 samples
    texts = [f"answer number {i}" + "!" * (i % 5) for i in range(n)]
    extra_infos = numpy.array([{"prompt": f"q{i}", "step": 4} for i in range(n)], dtype=object)
    results = safrl.verl.compute_score_batch(
        data_sources=numpy.array(["safety"] * n, dtype=object), solution_strs=texts,
        ground_truths=[None] * n, extra_infos=extra_infos)
    assert [r["score"] for r in results] == [
        fake_result({"id": i, "prompt": f"q{i}", "response": texts[i]})["reward"]
        for i in range(n)]
    assert all({k: type(v) for k, v in r.items()} == DETAIL_TYPES for r in results)
    assert [len(r["samples"]) for r in server.score_requests()] == [256, 44]


def test_compute_score_batch_refuses_mismatched_lengths(server):
    with pytest.raises(safrl.BadRequest, match="extra_infos"):
        safrl.verl.compute_score_batch(["a"], ["x", "y"], [None], [{"prompt": "p"}])


def test_compute_score_async_for_the_reward_loop(server):
    async def main():
        return await asyncio.gather(*(
            safrl.verl.compute_score_async(data_source="safety", solution_str=f"answer {i}",
                                           ground_truth=None, extra_info={"prompt": "q"})
            for i in range(10)))

    results = asyncio.run(main())
    assert [r["score"] for r in results] == [
        fake_result({"id": 0, "prompt": "q", "response": f"answer {i}"})["reward"]
        for i in range(10)]
    assert len({identity for _, identity, _ in server.requests}) == 1


def test_details_of_a_guard_only_result_keep_their_types():
    result = {"id": 0, "reward": 1.0, "helpfulness": None, "case": "safe", "safe": True,
              "refusal": False, "answer": {"safety": "Safe"}, "thinking": None}
    details = safrl.verl.details(result)
    assert math.isnan(details["helpfulness"]) and details["thinking_safety"] == "none"
    # Without channels (an older server), the safety channel is the verdicts' safe.
    assert details["safety"] == 1.0
    assert {key: type(value) for key, value in details.items()} == DETAIL_TYPES


def test_the_endpoint_comes_from_the_environment(fake, monkeypatch):
    monkeypatch.setenv("SAFRL_ENDPOINT", fake.endpoint)
    safrl.configure(timeout=5.0)
    assert safrl.verl.compute_score("s", "answer", None, {"prompt": "q"})["case"] == "helpful"
    assert len(fake.ids("score")) == 1


def test_server_errors_propagate_instead_of_a_score(server):
    server.plan(("error", "internal"))
    with pytest.raises(safrl.ServerError):
        safrl.verl.compute_score("s", "answer", None, {"prompt": "q"})


def test_the_safety_key_is_the_servers_safety_channel():
    # Under reward.safety_signal: expected the channel is P(safe), not the verdict's 1 or 0.
    result = {"id": 0, "reward": -2.8, "helpfulness": 2.0, "case": "helpful", "safe": True,
              "refusal": False, "channels": {"safety": 0.6, "refusal": 0.0, "helpfulness": 2.0},
              "answer": {"safety": "Safe"}, "thinking": None}
    assert safrl.verl.details(result)["safety"] == 0.6
