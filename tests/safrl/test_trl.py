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


CHANNEL_FUNCS = (safrl.trl.safrl_safety, safrl.trl.safrl_refusal, safrl.trl.safrl_helpfulness)
ASYNC_CHANNEL_FUNCS = (safrl.trl.async_safrl_safety, safrl.trl.async_safrl_refusal,
                       safrl.trl.async_safrl_helpfulness)


def trl_batch_kwargs(completions, logs, step):
    """One batch's keywords, as _calculate_rewards passes the same objects to every function."""
    return {"completion_ids": [[1, 2, 3] for _ in completions],
            "trainer_state": SimpleNamespace(global_step=step), "log_extra": logs.log_extra,
            "log_metric": logs.log_metric}


def test_the_channel_functions_share_one_request_per_batch(server):
    prompts = ["How to bake?"] * 2 + ["How to fight?"] * 2
    completions = ["Mix flour.", "Sorry, no.", "Use a bomb", "Talk it out"]
    want = [fake_result({"id": 0, "prompt": p, "response": c}, 3)
            for p, c in zip(prompts, completions)]
    logs = Logs()
    kwargs = trl_batch_kwargs(completions, logs, 3)
    got = [func(prompts=prompts, completions=completions, **kwargs)
           for func in CHANNEL_FUNCS + (safrl.trl.reward_func,)]
    # fake: "Use a bomb" is unsafe (safety 0), "Sorry, no." a refusal (refusal 1).
    assert got[0] == [1.0, 1.0, 0.0, 1.0]
    assert got[1] == [0.0, 1.0, 0.0, 0.0]
    assert got[2] == [w["helpfulness"] for w in want]
    assert got[3] == [w["reward"] for w in want]
    assert len(server.score_requests()) == 1
    assert logs.metrics["safrl/safety_rate"] == [3 / 4]  # logged once, by the call that sent
    # The next batch (new lists) is sent again.
    next_kwargs = trl_batch_kwargs(completions, logs, 4)
    safrl.trl.safrl_safety(prompts=list(prompts), completions=list(completions), **next_kwargs)
    assert [r["step"] for r in server.score_requests()] == [3, 4]
    # TRL logs a reward function under its __name__.
    assert [f.__name__ for f in CHANNEL_FUNCS] == [f.__name__ for f in ASYNC_CHANNEL_FUNCS] == [
        "safrl_safety", "safrl_refusal", "safrl_helpfulness"]


def test_the_async_channel_functions_gathered_share_one_request(server):
    prompts, completions = ["a", "a", "b"], ["one", "two bomb", "Sorry, three"]
    logs = Logs()
    kwargs = trl_batch_kwargs(completions, logs, 1)

    async def main():
        return await asyncio.gather(*(func(prompts=prompts, completions=completions, **kwargs)
                                      for func in ASYNC_CHANNEL_FUNCS))

    safety, refusal, _ = asyncio.run(main())
    assert (safety, refusal) == ([1.0, 0.0, 1.0], [0.0, 0.0, 1.0])
    assert len(server.score_requests()) == 1
    assert logs.metrics["safrl/refusal_rate"] == [1 / 3]


def test_calls_without_trls_completion_ids_each_send_their_own(server):
    prompts, completions = ["p"], ["an answer"]
    safrl.trl.safrl_safety(prompts, completions)
    safrl.trl.safrl_refusal(prompts, completions)
    assert len(server.score_requests()) == 2


def test_a_result_without_channels_is_an_error_naming_the_cause():
    with pytest.raises(safrl.ServerError, match="no reward channels"):
        safrl.trl._channel([{"reward": 1.0}], "safety")
