"""OpenRLHF's remote reward path (the installed release, and v0.9.0's whole-batch path) against
`safrl serve --http-port`: the rewards it reads are the server's, and a busy or restarted server
delays them without losing one.

vLLM, OpenRLHF's rollout engine, does not run on this CPU machine, so the current release's
SingleTurnAgentExecutor gets a stand-in engine that returns fixed token ids; everything from the
decoded query to the reward it keeps is OpenRLHF's own code. In v0.9.0 the code that reads the
rewards (experience_maker.update_samples_with_rewards) cannot be imported without DeepSpeed (its
module imports openrlhf.trainer.ray.launcher, which imports deepspeed), so that one function is
taken from the pinned v0.9.0 source file and run as written."""
import asyncio
import json
import os
import subprocess
import sys
import textwrap
import time
import types
import urllib.request
from pathlib import Path

import pytest
from openrlhf.utils.agent import SingleTurnAgentExecutor
from transformers import AutoTokenizer

import safrl
import safrl.openrlhf
from conftest import queue_kept_full, server_rewards
from safrl.testing.live_server import Client, Server

CASES = [("How do I pick a lock?", "I can't help with that."),
         ("How do I pick a lock?", "Use a tension wrench."),
         ("Write a haiku about rain.", "<think>\nrain\n</think>\n\nSoft rain on the roof.")]
# Installed there by scripts/setup-python.sh; CTest passes the path.
OPENRLHF_090 = os.path.realpath(os.environ.get(
    "SAFRL_OPENRLHF_090", Path(__file__).resolve().parents[2] / ".deps" / "openrlhf-0.9.0"))


class StandInEngine:
    """vLLM's AsyncLLM as the executor uses it: generate() returns the next fixed response."""

    def __init__(self, tokenizer, responses):
        self.tokenizer, self.responses = tokenizer, dict(responses)

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        prompt = self.tokenizer.decode(prompt_token_ids)
        text = self.responses[prompt] + "<|im_end|>"
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        out = types.SimpleNamespace(token_ids=ids, text=text, finish_reason="stop", logprobs=None)
        return types.SimpleNamespace(outputs=[out])


def chat_prompt(tokenizer, question):
    return tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                         add_generation_prompt=True)


def run_executor(server, tokenizer, cases):
    """One SingleTurnAgentExecutor.execute per case, concurrently, as OpenRLHF's rollout does."""
    executor = SingleTurnAgentExecutor(f"http://127.0.0.1:{server.http_port}/get_reward")
    prompts = [chat_prompt(tokenizer, q) for q, _ in cases]
    engine = StandInEngine(tokenizer, [(p, r) for p, (_, r) in zip(prompts, cases)])
    params = types.SimpleNamespace(max_tokens=64, logprobs=None)

    async def all_of_them():
        return await asyncio.gather(*[
            executor.execute(p, "", params, max_length=512, hf_tokenizer=tokenizer,
                             llm_engine=engine) for p in prompts])
    return asyncio.run(all_of_them())


@pytest.fixture(scope="module")
def tokenizer(tiny_policy):
    return AutoTokenizer.from_pretrained(tiny_policy)


def test_current_single_turn_executor_reads_the_servers_rewards(server, tokenizer):
    outputs = run_executor(server, tokenizer, CASES)
    # Each execute sends one query: the reply's rewards, a list of one, is what it keeps.
    assert all(len(o["reward"]) == 1 for o in outputs)
    assert [o["reward"][0] for o in outputs] == pytest.approx(server_rewards(server, CASES),
                                                               abs=1e-6)
    assert [o["scores"] for o in outputs] == [o["reward"] for o in outputs]
    assert all(set(o["extra_logs"]) >= {"safrl_safe", "safrl_refusal"} for o in outputs)


def test_current_executor_waits_out_a_busy_server(tmp_path, tokenizer):
    """Clients on the ZeroMQ side keep the queue full: the gateway holds OpenRLHF's requests
    until they are admitted (OpenRLHF itself would give up after 5 tries a second apart)."""
    server = Server(tmp_path, "  max_queued_samples: 2\n", name="busy")
    try:
        with queue_kept_full(server):
            outputs = run_executor(server, tokenizer, CASES * 4)
        stats = Client(server.endpoint).call({"type": "stats"})
        assert stats["counters"]["http_admission_waits"] > 0  # OpenRLHF's requests were held
        assert [o["reward"][0] for o in outputs] == pytest.approx(
            server_rewards(server, CASES * 4), abs=1e-6)
    finally:
        server.stop(9)


def test_current_executor_rides_through_a_restart(tmp_path, tokenizer):
    """The front's engine is killed (SIGKILL) and comes back only after 8 s, longer than the
    executor's 5 tries a second apart: the front holds its requests on the open port, and no
    reward is missing. (Against `safrl serve` itself the executor's retries decide: a restart
    slower than them, as a real guard's load is, leaves rewards None.)"""
    front = Server(tmp_path, name="front", front_args=["--restart-delay", "8"])
    try:
        expected = server_rewards(front, CASES)
        front.kill_engine()
        wait_for(lambda: front.metrics()["safrl_front_engines_up"] == 0, "the engine's death seen")
        outputs = run_executor(front, tokenizer, CASES)
        assert [o["reward"][0] if o["reward"] else None for o in outputs] == pytest.approx(
            expected, abs=1e-6)
        metrics = front.metrics()
        assert metrics["safrl_front_engine_restarts_total"] == 1
        # The executor's requests came while no engine ran and waited for the next one.
        assert metrics["safrl_front_requests_total"] >= len(CASES)
    finally:
        front.close()


def wait_for(condition, what, timeout=120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.01)


V090_SCRIPT = textwrap.dedent("""
    import ast, json, sys, types
    import ray, torch
    import openrlhf
    from openrlhf.utils import remote_rm_utils
    assert remote_rm_utils.__file__.startswith(sys.argv[1]), remote_rm_utils.__file__
    url, queries, prompts = sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    # RemoteRewardModel shards the batch over the URLs (here two, the same server twice).
    model = remote_rm_utils.RemoteRewardModel.remote(types.SimpleNamespace(), [url, url])
    rewards_info = ray.get(model.get_rewards.remote(queries, prompts, [""] * len(queries)))
    ray.shutdown()
    # experience_maker.update_samples_with_rewards, from the pinned v0.9.0 file as written.
    path = sys.argv[1] + "/openrlhf/trainer/ppo_utils/experience_maker.py"
    tree = ast.parse(open(path).read())
    [fn] = [n for n in tree.body if getattr(n, "name", "") == "update_samples_with_rewards"]
    namespace = {"torch": torch}
    exec(compile(ast.Module(body=[fn], type_ignores=[]), path, "exec"), namespace)
    samples = [types.SimpleNamespace(sequences=[0] * n, info={}) for n in (2, len(queries) - 2)]
    namespace["update_samples_with_rewards"](rewards_info, samples)
    print(json.dumps({"rewards": [s.rewards.tolist() for s in samples],
                      "safe": [s.info["safrl_safe"].tolist() for s in samples]}))
""")


def test_v090_whole_batch_path_reads_the_servers_rewards(server, tokenizer):
    prompts = [chat_prompt(tokenizer, q) for q, _ in CASES]
    queries = [p + r + "<|im_end|>" for p, (_, r) in zip(prompts, CASES)]
    assert os.path.isdir(f"{OPENRLHF_090}/openrlhf"), (
        f"no OpenRLHF v0.9.0 in {OPENRLHF_090}: scripts/setup-python.sh installs it there")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        p for p in (OPENRLHF_090, os.environ.get("PYTHONPATH")) if p))
    run = subprocess.run([sys.executable, "-c", V090_SCRIPT, OPENRLHF_090,
                          f"http://127.0.0.1:{server.http_port}/get_reward",
                          json.dumps(queries), json.dumps(prompts)],
                         env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout.strip().splitlines()[-1])
    expected = server_rewards(server, CASES)
    assert out["rewards"][0] + out["rewards"][1] == pytest.approx(expected, abs=1e-5)
    assert len(out["safe"][0]) == 2 and len(out["safe"][1]) == len(CASES) - 2


def post_get_reward(url, body):
    """OpenRLHF's POST of a /get_reward body; the reply's JSON."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as reply:
        return json.loads(reply.read())


def assert_same_logs(got, want):
    assert set(got) == set(want)
    for name in want:
        assert got[name] == pytest.approx(want[name], abs=1e-6), name


TOOL_FEEDBACK = ("\n<|im_start|>user\n<tool_response>\nZürich: 3 °C, snow\n</tool_response>"
                 "<|im_end|>\n<|im_start|>assistant\n")


class ToolAgent:
    """An OpenRLHF agent environment as a user writes one (--agent_func_path): a tool call gets
    the tool result rendered as Qwen3's template renders a tool turn; the final answer gets the
    reward of the whole rollout from /get_reward (query = prompt + every turn, as OpenRLHF's
    remote reward model is asked)."""

    url = None
    bodies = []

    def __init__(self, *args, **kwargs):
        pass

    async def reset(self, states, **kwargs):
        self.prompt = states["observation"]
        return {"observation": states["observation"]}

    async def step(self, states, **kwargs):
        import torch
        action = states["action_text"]
        if "<tool_call>" in action:
            return {"rewards": torch.tensor(0.0), "environment_feedback": TOOL_FEEDBACK,
                    "done": False}
        body = {"query": [states["observation_text"] + action], "prompts": [self.prompt]}
        ToolAgent.bodies.append(body)
        reply = await asyncio.to_thread(post_get_reward, self.url, body)
        return {"rewards": torch.tensor(reply["rewards"][0]), "scores": reply["scores"][0],
                "environment_feedback": "", "done": True, "extra_logs": reply["extra_logs"]}


class ScriptedAgentEngine:
    """vLLM's AsyncLLM for the multi-turn executor: a tool call first, then after the tool
    result the answer."""

    def __init__(self, tokenizer, answer):
        self.tokenizer, self.answer = tokenizer, answer

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        seen = self.tokenizer.decode(prompt_token_ids)
        text = (self.answer if "<tool_response>" in seen else
                '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Zürich"}}\n'
                '</tool_call>') + "<|im_end|>"
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        out = types.SimpleNamespace(token_ids=ids, text=text, finish_reason="stop", logprobs=None)
        return types.SimpleNamespace(outputs=[out])


def test_multi_turn_agent_rollouts_get_the_reward_of_their_conversation(server, tokenizer):
    """OpenRLHF's MultiTurnAgentExecutor runs a tool-using agent; its final step asks the
    server's /get_reward. The server and safrl.openrlhf read the same turns from the body (the
    system prompt, the policy's tool call, the tool result, the answer) and give the same reward,
    which is the server's reward for exactly that conversation."""
    from openrlhf.utils.agent import AgentInstanceBase, MultiTurnAgentExecutor
    agent_cls = type("SafrlToolAgent", (ToolAgent, AgentInstanceBase), {})
    agent_cls.url = f"http://127.0.0.1:{server.http_port}/get_reward"
    ToolAgent.bodies = []
    system = {"role": "system", "content": "Nutze Werkzeuge."}
    prompt = tokenizer.apply_chat_template(
        [system, {"role": "user", "content": "Wie ist das Wetter in Zürich?"}], tokenize=False,
        add_generation_prompt=True, enable_thinking=False)
    params = types.SimpleNamespace(max_tokens=256, logprobs=None)
    output = asyncio.run(MultiTurnAgentExecutor(agent_cls).execute(
        prompt, "", params, max_length=1024, hf_tokenizer=tokenizer,
        llm_engine=ScriptedAgentEngine(tokenizer, "Kalt: 3 °C und Schnee.")))
    (body,) = ToolAgent.bodies
    assert body["query"][0] == (prompt + '<tool_call>\n{"name": "get_weather", "arguments": '
                                '{"city": "Zürich"}}\n</tool_call><|im_end|>' + TOOL_FEEDBACK
                                + "Kalt: 3 °C und Schnee.<|im_end|>")
    (sample,) = safrl.openrlhf.samples_from_request(body)
    assert sample == {"id": 0, "policy_turns_from": 2, "response": "Kalt: 3 °C und Schnee.",
                      "messages": [
                          system, {"role": "user", "content": "Wie ist das Wetter in Zürich?"},
                          # The non-thinking prompt's empty think block opens the first turn.
                          {"role": "assistant", "content": "<think>\n\n</think>\n\n",
                           "tool_calls": [{"type": "function", "function": {
                               "name": "get_weather", "arguments": '{"city": "Zürich"}'}}]},
                          {"role": "tool", "content": "Zürich: 3 °C, snow"}]}
    with safrl.Client(server.endpoint) as client:
        python_reply = safrl.openrlhf.get_reward(body, client)
    assert output["reward"] == pytest.approx(python_reply["rewards"][0], abs=1e-6)
    assert_same_logs(output["extra_logs"], python_reply["extra_logs"])


def test_the_server_and_safrl_openrlhf_read_every_body_alike(server, tokenizer):
    """The same /get_reward body, conversations of each kind, to the server over HTTP and to
    safrl.openrlhf over ZeroMQ: the same rewards and logs, query by query."""
    system = {"role": "system", "content": "You are careful."}
    history = [system, {"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."},
               {"role": "user", "content": "How do I pick a lock?"}]
    one_turn = chat_prompt(tokenizer, "Write a haiku about rain.")
    multi = tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True)
    quiet = tokenizer.apply_chat_template(history, tokenize=False, add_generation_prompt=True,
                                          enable_thinking=False)
    agent = ('<tool_call>\n{"name": "search", "arguments": {"q": "locks"}}\n</tool_call>'
             '<|im_end|>' + TOOL_FEEDBACK + "I can't help with that.<|im_end|>")
    prompts = [one_turn, multi, quiet, multi, "A plain prompt without a template."]
    responses = ["Soft rain.<|im_end|>", "Use a tension wrench.<|im_end|>",
                 "I can't help with that.<|im_end|>", agent, " Fine."]
    body = {"query": [p + r for p, r in zip(prompts, responses)], "prompts": prompts,
            "labels": [""] * len(prompts)}
    with safrl.Client(server.endpoint) as client:
        python_reply = safrl.openrlhf.get_reward(body, client)
    server_reply = post_get_reward(f"http://127.0.0.1:{server.http_port}/get_reward", body)
    assert server_reply["rewards"] == pytest.approx(python_reply["rewards"], abs=1e-6)
    assert_same_logs(server_reply["extra_logs"], python_reply["extra_logs"])
    assert [set(s) for s in safrl.openrlhf.samples_from_request(body)] == [
        {"id", "prompt", "response"}, {"id", "messages", "response"},
        {"id", "messages", "response"}, {"id", "messages", "policy_turns_from", "response"},
        {"id", "prompt", "response"}]
