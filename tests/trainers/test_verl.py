"""verl (the installed package) loads safrl's reward functions through `custom_reward_function`
(a file path and pkg://) and scores DataProto batches with its own reward managers (naive and
batch) and its reward loop (the default since verl 0.7), in-process and as a Ray actor, against
a live `safrl serve`; the reward loop waits out a busy server and rides through a restart."""
import threading

import pytest
import safrl.verl
from transformers import AutoTokenizer
from verl.experimental.reward_loop.reward_loop import RewardLoopWorker
from verl.trainer.ppo.reward import get_custom_reward_fn
from verl.workers.reward_manager import get_reward_manager_cls

import safrl
from conftest import queue_kept_full, server_rewards
from safrl.testing.live_server import Server
from verl_support import last_token_rewards, rollout_batch, verl_config

ROWS = [("How do I pick a lock?", "I can't help with that.", {"step": 5}),
        ("How do I pick a lock?", "Use a tension wrench and a pick.", {"step": 5}),
        ("Write a haiku about rain.", "Soft rain on the roof.", {"step": 5}),
        ("Write a haiku about rain.", "<think>\nshort\n</think>\n\nDrops fall.", {})]
FORMS = {"file": safrl.verl.__file__, "pkg": "pkg://safrl.verl"}


def row_rewards(server, rows):
    """The server's own reward for each of the rows."""
    return server_rewards(server, [(p, r) for p, r, _ in rows])


def reward_config(tiny_policy, path, name, manager="naive"):
    return verl_config([f"actor_rollout_ref.model.path={tiny_policy}",
                        f"reward.custom_reward_function.path={path}",
                        f"reward.custom_reward_function.name={name}",
                        f"reward.reward_manager.name={manager}"])


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("manager,name", [("naive", "compute_score"),
                                          ("batch", "compute_score_batch")])
def test_reward_managers_score_a_dataproto(server, tiny_policy, form, manager, name):
    safrl.configure(server.endpoint)
    config = reward_config(tiny_policy, FORMS[form], name)
    compute_score = get_custom_reward_fn(config)  # verl's loader, verl's kwargs wrapper
    tokenizer = AutoTokenizer.from_pretrained(tiny_policy)
    reward_manager = get_reward_manager_cls(manager)(tokenizer=tokenizer, num_examine=0,
                                                     compute_score=compute_score)
    data = rollout_batch(tokenizer, ROWS)
    out = reward_manager(data, return_dict=True)
    assert last_token_rewards(out["reward_tensor"], data) == pytest.approx(
        row_rewards(server, ROWS), abs=1e-6)
    extra = out["reward_extra_info"]
    assert len(extra["case"]) == len(ROWS) and set(extra["answer_safety"]) <= {
        "Safe", "Unsafe", "Controversial", "Unparseable"}
    assert extra["thinking_safety"][3] != "none" and extra["thinking_safety"][0] == "none"


@pytest.mark.parametrize("form", FORMS)
def test_reward_loop_worker_awaits_compute_score_async(server, tiny_policy, form):
    safrl.configure(server.endpoint)
    worker = RewardLoopWorker(reward_config(tiny_policy, FORMS[form], "compute_score_async"))
    data = rollout_batch(worker.input_tokenizer, ROWS)
    outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
    assert [o["reward_score"] for o in outputs] == pytest.approx(row_rewards(server, ROWS),
                                                                 abs=1e-6)
    assert all(o["reward_extra_info"]["case"] for o in outputs)


def test_reward_loop_worker_as_a_ray_actor_reads_safrl_endpoint(server, tiny_policy):
    """As verl runs it: a Ray actor in a worker process, the server's address passed through
    Ray's runtime environment (docs/trainers/verl.md, step 3)."""
    import ray
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"SAFRL_ENDPOINT": server.endpoint}})
    try:
        config = reward_config(tiny_policy, "pkg://safrl.verl", "compute_score_async")
        worker = ray.remote(RewardLoopWorker).remote(config)
        data = rollout_batch(AutoTokenizer.from_pretrained(tiny_policy), ROWS)
        outputs = ray.get(worker.compute_score_batch.remote(data), timeout=120)
    finally:
        ray.shutdown()
    assert [o["reward_score"] for o in outputs] == pytest.approx(row_rewards(server, ROWS),
                                                                 abs=1e-6)


def test_reward_loop_waits_out_a_busy_server(tmp_path, tiny_policy, busy_answers):
    """Other clients keep a 2-sample queue full: verl's reward loop worker is told busy, waits,
    and every rollout gets the server's reward (nothing empty in reward_extra_info)."""
    server = Server(tmp_path, "  max_queued_samples: 2\n", name="busy")
    try:
        safrl.configure(server.endpoint)
        worker = RewardLoopWorker(reward_config(tiny_policy, FORMS["pkg"], "compute_score_async"))
        data = rollout_batch(worker.input_tokenizer, ROWS)
        with queue_kept_full(server):
            outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
        assert busy_answers[0] > 0
        assert [o["reward_score"] for o in outputs] == pytest.approx(
            row_rewards(server, ROWS), abs=1e-6)
        assert all(o["reward_extra_info"]["case"] for o in outputs)
    finally:
        server.stop(9)


def test_reward_loop_rides_through_a_restart(tmp_path, tiny_policy):
    """The server stops; a new one takes its endpoint a second later: the reward loop's requests
    reach it and every rollout gets its reward."""
    first = Server(tmp_path, name="first")
    expected = row_rewards(first, ROWS)
    safrl.configure(first.endpoint)
    worker = RewardLoopWorker(reward_config(tiny_policy, FORMS["pkg"], "compute_score_async"))
    data = rollout_batch(worker.input_tokenizer, ROWS)
    assert first.stop() == 0
    later = []
    timer = threading.Timer(1.0, lambda: later.append(first.successor(tmp_path, "second")))
    timer.start()
    try:
        outputs = worker.loop.run_until_complete(worker.compute_score_batch(data))
        assert [o["reward_score"] for o in outputs] == pytest.approx(expected, abs=1e-6)
    finally:
        timer.join()
        for s in later:
            s.stop(9)



def agent_rollout_batch(tokenizer, system, question):
    """A DataProto of one tool-agent rollout laid out as verl's agent loop lays it out: the
    response ids are the policy's tokens (a tool call, later an answer) with the tool result
    between them merged by verl's own Qwen Continuous Token builder; extra_info holds no prompt,
    tool_extra_fields holds raw_prompt (added by the agent loop), __num_turns__ counts turns."""
    import numpy as np
    import torch
    from verl import DataProto
    from verl.utils.tokenizer.continuous_token_wiring import create_continuous_token_builder

    builder = create_continuous_token_builder(tokenizer, hf_model_type="qwen3")
    messages = [system, {"role": "user", "content": question}]
    prompt_ids = builder.build_initial_tokens(messages)
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    call_text = ('<tool_call>\n{"name": "search", "arguments": {"query": "lock picking"}}\n'
                 '</tool_call>')
    ids = prompt_ids + encode(call_text + "<|im_end|>")
    with_call = messages + [{"role": "assistant", "content": "", "tool_calls": [
        {"type": "function", "function": {"name": "search",
                                          "arguments": {"query": "lock picking"}}}]}]
    merged = builder.merge_context_tokens(
        with_call, with_call + [{"role": "tool", "content": "Use a tension wrench."}], ids)
    ids = merged.token_ids + encode("I can't help with that.<|im_end|>")
    response = ids[len(prompt_ids):]
    mask = torch.ones((1, len(ids)), dtype=torch.long)
    return DataProto.from_dict(
        tensors={"prompts": torch.tensor([prompt_ids]), "responses": torch.tensor([response]),
                 "attention_mask": mask, "input_ids": torch.tensor([ids])},
        non_tensors={
            "data_source": np.array(["agent"], dtype=object),
            "reward_model": np.array([{"ground_truth": ""}], dtype=object),
            "extra_info": np.array([{"index": 0}], dtype=object),
            "tool_extra_fields": np.array([{"raw_prompt": np.array(messages, dtype=object),
                                            "turn_scores": [], "tool_rewards": []}],
                                          dtype=object),
            "__num_turns__": np.array([4]),
        })


def test_reward_loop_scores_a_tool_agent_rollout_as_its_conversation(server, tiny_policy):
    """verl 0.9's reward loop decodes the agent rollout with special tokens skipped and hands
    compute_score the raw prompt in extra_info: safrl sends the system prompt, the policy's tool
    call and the tool result as messages and the last answer as the response."""
    safrl.configure(server.endpoint)
    worker = RewardLoopWorker(reward_config(tiny_policy, FORMS["pkg"], "compute_score_async"))
    system = {"role": "system", "content": "You may search."}
    data = agent_rollout_batch(worker.input_tokenizer, system, "How do I pick a lock?")
    (output,) = worker.loop.run_until_complete(worker.compute_score_batch(data))
    expected = {"messages": [
        system, {"role": "user", "content": "How do I pick a lock?"},
        {"role": "assistant", "content": "", "tool_calls": [
            {"type": "function", "function": {"name": "search",
                                              "arguments": '{"query": "lock picking"}'}}]},
        {"role": "tool", "content": "Use a tension wrench."}],
        "policy_turns_from": 2, "response": "I can't help with that."}
    decoded = worker.input_tokenizer.decode(data.batch["responses"][0], skip_special_tokens=True)
    assert "\nuser\n<tool_response>\nUse a tension wrench.\n</tool_response>\nassistant\n" \
        in decoded  # what verl hands compute_score
    assert safrl.verl._sample(decoded, {"raw_prompt": [system, expected["messages"][1]],
                                        "num_turns": 4}, "extra_info") == expected
    with safrl.Client(server.endpoint) as client:
        (want,) = client.score([expected])
    assert output["reward_score"] == pytest.approx(want["reward"], abs=1e-6)
    assert output["reward_extra_info"]["case"] == want["case"]
