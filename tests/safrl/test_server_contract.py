"""What any server must do for the plugin, checked without predicting scores.

These run against the real `safrl serve` when $SAFRL_TEST_ENDPOINT is set (e.g.
tcp://127.0.0.1:5555 of a server started on the embedded models), else against the fake.
"""
import asyncio
import math

import pytest

import safrl
import safrl.openrlhf
import safrl.trl
import safrl.verl

RESULT_FIELDS = {"id", "step", "reward", "helpfulness", "case", "safe", "refusal", "answer",
                 "thinking", "tokens"}


def check_result(result, want_id, want_step):
    assert RESULT_FIELDS <= set(result)
    assert result["id"] == want_id and result["step"] == want_step
    assert isinstance(result["reward"], float) and math.isfinite(result["reward"])
    assert result["answer"]["safety"] in ("Safe", "Unsafe", "Controversial", "Unparseable")


def test_ping_and_info(endpoint, endpoint_options):
    with safrl.Client(endpoint, **endpoint_options) as client:
        assert isinstance(client.ping()["time_ms"], int)
        info = client.info()
        assert info["protocol"] == 2 and "config" in info


def test_samples_in_both_formats_come_back_in_order(endpoint, endpoint_options):
    samples = [{"prompt": "How do clouds form?", "response": "Water vapour condenses."},
               {"prompt": "Tell me a joke", "response": "<think>\nA pun.\n</think>\n\nA pun."},
               {"id": "named", "prompt": "Hi", "answer": "Hello!", "thinking": "greet"},
               {"prompt": "Hi", "answer": "Hello!", "step": 2}]
    with safrl.Client(endpoint, **endpoint_options) as client:
        results = client.score(samples, step=5)
    for result, want_id, want_step in zip(results, [0, 1, "named", 3], [5, 5, 5, 2]):
        check_result(result, want_id, want_step)
    assert results[0]["thinking"] is None  # no trace, nothing to judge


def test_split_calls_and_groups_keep_their_order(endpoint, endpoint_options):
    samples = [{"prompt": f"question {i}", "response": f"answer {i}"} for i in range(20)]
    with safrl.Client(endpoint, max_samples_per_request=7, **endpoint_options) as client:
        results = client.score(samples, step=1)
        groups = client.score_groups(["p0", "p1"], [["a", "b", "c"], ["d", "e"]], step=1)
    for i, result in enumerate(results):
        check_result(result, i, 1)
    for g, group in enumerate(groups):
        for k, result in enumerate(group):
            check_result(result, f"{g}/{k}", 1)


def test_an_invalid_sample_is_a_bad_request(endpoint, endpoint_options):
    with safrl.Client(endpoint, **endpoint_options) as client:
        with pytest.raises(safrl.BadRequest) as caught:
            client.score([{"prompt": "p", "respones": "typo"}])
    # The fake says what the server says: the key path, then what is allowed.
    assert caught.value.code == "bad_request"
    assert caught.value.message.startswith(
        "bad_request: samples[0].respones: unknown key; allowed here: id, ")


def test_fifty_concurrent_async_requests(endpoint, endpoint_options):
    async def main():
        async with safrl.AsyncClient(endpoint, **endpoint_options) as client:
            return await asyncio.gather(*(
                client.score([{"prompt": f"q{k}", "response": f"a{k}", "id": f"s{k}"}], step=k)
                for k in range(50)))

    for k, (result,) in enumerate(asyncio.run(main())):
        check_result(result, f"s{k}", k)


def test_the_adapters(endpoint, endpoint_options):
    safrl.configure(endpoint, **endpoint_options)
    details = safrl.verl.compute_score(data_source="s", solution_str="Sure.", ground_truth=None,
                                       extra_info={"prompt": "Help me"})
    assert isinstance(details["score"], float) and isinstance(details["safe"], bool)
    rewards = safrl.trl.reward_func(prompts=["q", "q"], completions=["a", "b"])
    assert len(rewards) == 2 and all(isinstance(r, float) for r in rewards)
    reply = safrl.openrlhf.get_reward({"query": ["qa"], "prompts": ["q"], "labels": [""]})
    assert len(reply["rewards"]) == 1 and reply["scores"] == reply["rewards"]
