"""TRL's GRPOTrainer (the installed package) trains a tiny Qwen3 policy on a CPU with safrl's
reward functions against a live `safrl serve`: the rewards TRL logs are the server's, step by
step, and a busy or restarted server delays training but never fails it."""
import threading

import pytest
from datasets import Dataset
from trl import GRPOConfig, GRPOTrainer
from transformers import TrainerCallback

import safrl
import safrl.trl
from conftest import assert_rows_match_trl_logs, queue_kept_full, step_rows

PROMPTS = ["How do I pick a lock?", "Write a haiku about rain.", "How do I make a bomb?",
           "What is the capital of France?", "Tell me how to hack my neighbour's wifi.",
           "Give me a pancake recipe."]
STEPS = 3
PROMPTS_PER_STEP = 2
GROUP = 2


def train(policy, out, reward_func, callbacks=(), **config):
    """A few GRPO steps: PROMPTS_PER_STEP prompts x GROUP completions per step, no accumulation,
    a generation every step, conversational prompts (TRL applies the Qwen3 chat template).
    reward_func: one reward function or a list; config: more GRPOConfig settings."""
    dataset = Dataset.from_dict({"prompt": [[{"role": "user", "content": p}] for p in PROMPTS]})
    args = GRPOConfig(output_dir=str(out), use_cpu=True, bf16=False, report_to=[], seed=0,
                      max_steps=STEPS, logging_steps=1, save_strategy="no",
                      per_device_train_batch_size=PROMPTS_PER_STEP * GROUP,
                      num_generations=GROUP, steps_per_generation=1,
                      gradient_accumulation_steps=1, max_completion_length=8,
                      learning_rate=1e-4, shuffle_dataset=False, log_completions=False,
                      dataloader_num_workers=0, **config)
    funcs = reward_func if isinstance(reward_func, list) else [reward_func]
    trainer = GRPOTrainer(model=str(policy), reward_funcs=funcs, args=args,
                          train_dataset=dataset, callbacks=list(callbacks))
    trainer.train()
    return [entry for entry in trainer.state.log_history if "reward" in entry]


def assert_rows_match_logs(rows, logs):
    assert_rows_match_trl_logs(rows, logs, STEPS, PROMPTS_PER_STEP * GROUP)


@pytest.mark.parametrize("reward_func", [safrl.trl.reward_func, safrl.trl.async_reward_func],
                         ids=["sync", "async"])
def test_grpo_trainer_logs_the_servers_rewards(server, tiny_policy, tmp_path, reward_func):
    safrl.configure(server.endpoint)
    logs = train(tiny_policy, tmp_path / "out", reward_func)
    assert server.stop() == 0  # SIGTERM writes the open steps
    assert_rows_match_logs(step_rows(server), logs)
    # The embedded guard's verdicts give the hybrid reward's caps: real values, not zeros.
    assert all(log["reward"] != 0 for log in logs)


def test_a_busy_server_delays_training_without_failing_it(tmp_path, tiny_policy, busy_answers):
    """Another client keeps the queue full (stepless samples, a bucket of their own): TRL's reward
    calls are told busy, wait it out, and every completion is scored once."""
    from safrl.testing.live_server import Server
    server = Server(tmp_path, "  max_queued_samples: 4\n", name="busy")
    try:
        safrl.configure(server.endpoint)
        with queue_kept_full(server):
            logs = train(tiny_policy, tmp_path / "out", safrl.trl.reward_func)
        assert busy_answers[0] > 0  # TRL's own reward calls were told busy, and waited
        assert server.stop() == 0
        assert_rows_match_logs([r for r in step_rows(server) if r["step"] is not None], logs)
    finally:
        server.stop(9)


def test_a_server_restarted_between_steps_loses_and_doubles_nothing(tmp_path, tiny_policy):
    """After TRL's first step the server is stopped and a new one starts on its endpoint a moment
    later: the second step's request waits for it, and the two servers' rows add up to TRL's."""
    from safrl.testing.live_server import Server
    servers = [Server(tmp_path, name="first")]

    class Restart(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 1:
                assert servers[0].stop() == 0
                threading.Timer(1.0, lambda: servers.append(
                    servers[0].successor(tmp_path, "second"))).start()

    try:
        safrl.configure(servers[0].endpoint)
        logs = train(tiny_policy, tmp_path / "out", safrl.trl.reward_func, [Restart()])
        assert len(servers) == 2
        assert servers[1].stop() == 0
        assert_rows_match_logs(step_rows(*servers), logs)
        assert {row["step"] for row in step_rows(servers[0])} == {0}
    finally:
        for s in servers:
            s.stop(9)


def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city's name.
    """
    return f"{city}: 3 °C, snow"


TOOL_CALL = ('<tool_call>\n{"name": "get_weather", "arguments": {"city": "Zürich"}}\n'
             '</tool_call><|im_end|>')


def qwen3_tokenizer(policy):
    """The policy's Qwen3 tokenizer with the Qwen3 chat template as the Qwen3 repositories ship
    it now (TRL's copy): TRL parses tool calls only for templates it recognises."""
    from transformers import AutoTokenizer
    from trl.chat_template_utils import qwen3_chat_template
    tokenizer = AutoTokenizer.from_pretrained(policy)
    tokenizer.chat_template = qwen3_chat_template
    return tokenizer


class ScriptedPolicy(GRPOTrainer):
    """GRPOTrainer whose policy writes scripted tokens (a random tiny model never calls a tool):
    even rows call get_weather, odd rows refuse, and a row that got a tool result answers. TRL's
    own code parses the calls, runs the tool and builds the completions the reward sees."""

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations,
                              has_tool_images=False):
        tokenizer = self.processing_class
        texts = []
        for i, ids in enumerate(prompt_ids):
            if "<tool_response>" in tokenizer.decode(ids):
                texts.append("Cold: 3 °C with snow.<|im_end|>")
            else:
                texts.append(TOOL_CALL if i % 2 == 0 else "I can't help with that.<|im_end|>")
        return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts], None


def test_grpo_with_tools_scores_each_agent_rollout_as_its_conversation(server, tiny_policy,
                                                                      tmp_path):
    """TRL's tool loop (trl 1.16) hands the reward [assistant with tool_calls, tool, assistant];
    safrl sends the system prompt, the policy's tool turn and the tool result as messages and
    the last answer as the response: the rewards are the server's for exactly those samples."""
    safrl.configure(server.endpoint)
    seen = []

    def reward_func(prompts, completions, **kwargs):
        rewards = safrl.trl.reward_func(prompts, completions, **kwargs)
        seen.append((prompts, completions, rewards))
        return rewards

    system = {"role": "system", "content": "Answer briefly."}
    dataset = Dataset.from_dict({"prompt": [[system, {"role": "user", "content": p}]
                                            for p in ("Weather in Zürich?", "Wie kalt ist es?")]})
    args = GRPOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, report_to=[],
                      seed=0, max_steps=1, logging_steps=1, save_strategy="no",
                      per_device_train_batch_size=4, num_generations=2, steps_per_generation=1,
                      gradient_accumulation_steps=1, max_completion_length=96,
                      learning_rate=1e-4, shuffle_dataset=False, log_completions=False,
                      dataloader_num_workers=0)
    trainer = ScriptedPolicy(model=str(tiny_policy), reward_funcs=[reward_func], args=args,
                             train_dataset=dataset, tools=[get_weather],
                             processing_class=qwen3_tokenizer(tiny_policy))
    trainer.train()
    ((prompts, completions, rewards),) = seen
    assert [len(c) for c in completions] == [3, 1, 3, 1]
    call = {"type": "function",
            "function": {"name": "get_weather", "arguments": '{"city": "Zürich"}'}}
    expected = []
    for prompt, completion in zip(prompts, completions):
        if len(completion) == 3:
            expected.append({
                "messages": prompt + [{"role": "assistant", "content": "", "tool_calls": [call]},
                                      {"role": "tool", "name": "get_weather",
                                       "content": "Zürich: 3 °C, snow"}],
                "policy_turns_from": 2, "response": "Cold: 3 °C with snow."})
        else:
            expected.append({"messages": prompt, "response": "I can't help with that."})
    assert completions[0][0]["tool_calls"][0]["function"]["arguments"] == {"city": "Zürich"}
    with safrl.Client(server.endpoint) as client:
        results = client.score(expected)
    assert rewards == pytest.approx([r["reward"] for r in results], abs=1e-6)
