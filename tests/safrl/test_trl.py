"""safrl.trl called the way TRL's GRPOTrainer calls reward functions."""
import asyncio
import inspect
from collections import defaultdict
from types import SimpleNamespace

import pytest

import safrl
import safrl.trl
from fake_server import FAST, fake_result


@pytest.fixture
def server(fake):
    safrl.configure(fake.endpoint, **FAST)
    return fake


class Logs:
    """Stands in for GRPOTrainer's log_extra / log_metric."""

    def __init__(self):
        self.extra = defaultdict(list)
        self.metrics = defaultdict(list)

    def log_extra(self, column, values):
        self.extra[column].extend(values)

    def log_metric(self, name, value):
        self.metrics[name].append(value)


def trl_call(func, prompts, completions, logs=None, step=None, **columns):
    """The keywords GRPOTrainer._calculate_rewards passes."""
    kwargs = dict(columns)
    if step is not None:
        kwargs["trainer_state"] = SimpleNamespace(global_step=step, epoch=0.5)
    if logs is not None:
        kwargs.update(log_extra=logs.log_extra, log_metric=logs.log_metric)
    return func(prompts=prompts, completions=completions,
                completion_ids=[[1, 2, 3] for _ in completions], **kwargs)


def test_signatures_follow_trl():
    for func in (safrl.trl.reward_func, safrl.trl.async_reward_func):
        params = inspect.signature(func).parameters
        assert list(params) == ["prompts", "completions", "kwargs"]
        assert params["kwargs"].kind is inspect.Parameter.VAR_KEYWORD
    assert not inspect.iscoroutinefunction(safrl.trl.reward_func)
    assert inspect.iscoroutinefunction(safrl.trl.async_reward_func)
    assert safrl.trl.reward_func.__name__ == "reward_func"  # TRL names the metric after it


def test_standard_format_groups_generations_and_logs_details(server):
    prompts = ["How to bake?"] * 3 + ["How to fight?"] * 3
    completions = ["Mix flour.", "Sorry, no.", "Bake it", "Use a bomb", "Talk it out", "Walk."]
    logs = Logs()
    rewards = trl_call(safrl.trl.reward_func, prompts, completions, logs, step=7,
                       ground_truth=["x"] * 6)
    want = [fake_result({"id": 0, "prompt": p, "response": c}, 7)
            for p, c in zip(prompts, completions)]
    assert rewards == [w["reward"] for w in want] and all(type(r) is float for r in rewards)
    (request,) = server.score_requests()
    assert request["step"] == 7
    assert [(g["prompt"], g["responses"]) for g in request["groups"]] == [
        ("How to bake?", completions[:3]), ("How to fight?", completions[3:])]
    assert logs.extra == {"safrl_case": [w["case"] for w in want],
                          "safrl_answer_safety": [w["answer"]["safety"] for w in want],
                          "safrl_helpfulness": [w["helpfulness"] for w in want]}
    assert logs.metrics == {"safrl/safety_rate": [5 / 6], "safrl/refusal_rate": [1 / 6],
                            "safrl/unparseable_rate": [0.0]}


def test_conversational_prompts_go_as_messages_and_responses_keep_their_reasoning(server):
    prompt = [{"role": "system", "content": "You are helpful."},
              {"role": "user", "content": "Explain rain."}]
    completions = [
        [{"role": "assistant", "content": "Water falls."}],
        [{"role": "assistant", "content": "Clouds.", "reasoning_content": "\nthink a bomb\n"}],
        [{"role": "assistant", "content": [{"type": "text", "text": "Drops "},
                                           {"type": "text", "text": "fall."}]}],
    ]
    rewards = trl_call(safrl.trl.reward_func, [prompt] * 3, completions)
    (request,) = server.score_requests()
    assert "step" not in request
    assert request["groups"] == [{"messages": prompt, "ids": ["0/0", "0/1", "0/2"],
                                  "responses": ["Water falls.",
                                                "<think>\nthink a bomb\n</think>\n\nClouds.",
                                                "Drops fall."]}]
    results = server.cache[request["id"]]["results"]
    assert results[1]["thinking"]["safety"] == "Unsafe" and results[1]["case"] == "unsafe"
    assert results[1]["answer"]["text"] == fake_result(
        {"id": 0, "prompt": "", "answer": "Clouds."})["answer"]["text"]
    assert rewards == [r["reward"] for r in results]


def test_without_optional_kwargs_nothing_is_logged_and_no_step_sent(server):
    rewards = safrl.trl.reward_func(["p"], ["an answer"])
    assert rewards == [fake_result({"id": 0, "prompt": "p", "response": "an answer"})["reward"]]
    assert "step" not in server.score_requests()[0]


def test_the_async_variant_gives_the_same_rewards(server):
    prompts, completions = ["a", "a", "b"], ["one", "two bomb", "three"]
    logs = Logs()

    async def main():
        return await trl_call(safrl.trl.async_reward_func, prompts, completions, logs, step=1)

    rewards = asyncio.run(main())
    assert rewards == safrl.trl.reward_func(prompts, completions)
    assert logs.metrics["safrl/safety_rate"] == [2 / 3]


def test_malformed_inputs_and_server_failures_raise(server):
    with pytest.raises(safrl.BadRequest, match="completions"):
        safrl.trl.reward_func(["p", "q"], ["only one"])
    with pytest.raises(safrl.BadRequest, match="assistant"):
        safrl.trl.reward_func([[{"role": "user", "content": "p"}]],
                              [[{"role": "tool", "content": "x"}]])
    # A server busy for ten answers in a row is waited out (a training step must not die of it);
    # one that fails is an error.
    server.plan(*[("busy", 1)] * 10)
    assert len(safrl.trl.reward_func(["p"], ["answer"])) == 1
    server.plan(("error", "internal"))
    with pytest.raises(safrl.ServerError):
        safrl.trl.reward_func(["p"], ["answer"])


WEATHER_CALL = {"type": "function", "function": {"name": "get_weather",
                                                 "arguments": {"city": "Zürich", "days": 2}}}
WEATHER_CALL_SENT = {"type": "function", "function": {
    "name": "get_weather", "arguments": '{"city": "Zürich", "days": 2}'}}


def test_a_one_user_message_prompt_goes_as_its_text_as_before(server):
    trl_call(safrl.trl.reward_func, [[{"role": "user", "content": "Explain rain."}]] * 2,
             [[{"role": "assistant", "content": "Water."}], [{"role": "assistant", "content": "x"}]])
    (request,) = server.score_requests()
    assert request["v"] == 2
    assert request["groups"] == [{"prompt": "Explain rain.", "ids": ["0/0", "0/1"],
                                  "responses": ["Water.", "x"]}]


def test_tool_rollouts_go_as_samples_with_the_policy_turns_and_groups_stay_groups(server):
    """As TRL 1.16's _tool_call_loop builds completions: the assistant message that called a
    tool (arguments parsed to a dict), the tool results, then the next assistant message. The
    one-message completions of a prompt stay one group though agent rollouts lie between them.
    The policy's earlier turn keeps its reasoning as a think block, for judge: all_turns."""
    prompt = [{"role": "system", "content": "Use tools."},
              {"role": "user", "content": "Weather in Zürich?"}]
    agent = [{"role": "assistant", "content": "", "reasoning_content": "look it up",
              "tool_calls": [WEATHER_CALL]},
             {"role": "tool", "name": "get_weather", "content": "{'temp': 3}"},
             {"role": "assistant", "content": "It is 3 °C.", "reasoning_content": "done"}]
    calls_again = [{"role": "assistant", "content": "Checking.", "tool_calls": [WEATHER_CALL]}]
    plain = [{"role": "assistant", "content": "Sorry, no tools today."}]
    prompts = [prompt] * 4 + ["Say hi"]
    completions = [agent, plain, calls_again, plain, "hi"]
    rewards = trl_call(safrl.trl.reward_func, prompts, completions, step=3)
    groups_request, samples_request = server.score_requests()
    assert groups_request["groups"] == [
        {"messages": prompt, "responses": ["Sorry, no tools today."] * 2, "ids": ["0/0", "0/1"]},
        {"prompt": "Say hi", "responses": ["hi"], "ids": ["1/0"]}]
    assert samples_request["step"] == 3 and samples_request["samples"] == [
        {"id": 0, "policy_turns_from": 2, "response": "<think>\ndone\n</think>\n\nIt is 3 °C.",
         "messages": prompt + [
             {"role": "assistant", "content": "<think>\nlook it up\n</think>\n\n",
              "tool_calls": [WEATHER_CALL_SENT]},
             {"role": "tool", "name": "get_weather", "content": "{'temp': 3}"}]},
        {"id": 1, "messages": prompt, "policy_turns_from": 2, "response": "Checking.",
         "tool_calls": [WEATHER_CALL_SENT]}]
    by_text = {"agent": "It is 3 °C.", "plain": "Sorry, no tools today."}
    want = [fake_result({"id": 0, "prompt": "", "answer": text})["reward"] for text in (
        by_text["agent"], by_text["plain"], "Checking.", by_text["plain"], "hi")]
    assert rewards == want
