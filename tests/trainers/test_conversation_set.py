"""The hand-built conversation set (tests/data/conversations) through the trainer adapters, each
given the lines in the shape its trainer hands them over: TRL's prompt and completion messages
(tool turns included) and verl's agent-loop solution_str (Qwen3's template text with special
tokens skipped) with the row's raw prompt. Every adapter gets exactly the rewards and verdicts
that safrl.Client gets for the lines themselves from the same live server (demo judges, all
turns, prompt and tool results judged, prompt-aware refusals: tests/serve/e2e/
test_conversation_set.py checks those results against the documented rules)."""
import json
import pathlib
from types import SimpleNamespace

import numpy as np
import pytest
from transformers import AutoTokenizer

import safrl
import safrl.trl
import safrl.verl
from safrl.testing.live_server import EMBEDDED, Server
from safrl.testing.toolchain import tokenizer_dir

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "conversations"
LINES = [json.loads(line) for line in (DATA / "set.jsonl").read_text(encoding="utf-8").splitlines()]
MODELS_YAML = (
    f"guard: {{model: {EMBEDDED}/demo-guard, decoding: constrained}}\n"
    f"helpfulness: {{model: {EMBEDDED}/demo-reward, chat_format: qwen3}}\n"
    "reward: {type: hybrid, refusal_penalty: prompt_aware, judge: all_turns, judge_prompt: true,"
    " judge_tool_results: true}\n")
# What an adapter cannot carry: per-line judge switches (trainers pass none), the answer and
# thinking given apart, and the one-turn prompt shorthand (no conversation to hand over).
ADAPTED = [line for line in LINES if "messages" in line and "response" in line
           and not {"judge", "judge_prompt", "judge_tool_results"} & set(line)]
KEPT = ("reward", "case", "safe", "refusal", "answer", "thinking", "helpfulness",
        "prompt_verdict", "turns", "tool_results")


def kept(results):
    return [{k: r.get(k) for k in KEPT if k in r} for r in results]


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory):
    server = Server(tmp_path_factory.mktemp("adapters"), models_yaml=MODELS_YAML)
    yield server
    server.close()


@pytest.fixture(scope="module")
def reference(demo_server):
    """The server's results for the lines as they are (ids and steps aside)."""
    with safrl.Client(demo_server.endpoint, timeout=300) as client:
        return kept(client.score(ADAPTED))


def split(line):
    """(prompt messages, the policy's messages, final assistant message) of a line."""
    k = line.get("policy_turns_from", len(line["messages"]))
    final = {"role": "assistant", "content": line["response"]}
    if line.get("tool_calls"):
        final["tool_calls"] = line["tool_calls"]
    return line["messages"][:k], line["messages"][k:], final


def test_the_set_has_what_the_adapters_must_carry():
    assert len(ADAPTED) >= 28
    assert any(split(line)[1] for line in ADAPTED)  # agent rollouts
    assert any(line.get("tool_calls") for line in ADAPTED)
    assert sum(line["id"].startswith("group-") for line in ADAPTED) == 4


def test_trl_gets_the_servers_results_for_every_line(demo_server, reference):
    safrl.configure(demo_server.endpoint, timeout=300)
    seen = []
    prompts, completions = [], []
    for line in ADAPTED:
        prompt, policy, final = split(line)
        prompts.append(prompt)
        completions.append(policy + [final])
    rewards = safrl.trl.reward_func(prompts, completions,
                                    trainer_state=SimpleNamespace(global_step=0),
                                    log_extra=lambda name, values: seen.append((name, values)))
    assert rewards == pytest.approx([r["reward"] for r in reference], abs=1e-6)
    assert dict(seen)["safrl_case"] == [r["case"] for r in reference]


def verl_solution(tokenizer, prompt, policy, final):
    """verl's solution_str of a rollout: the policy's turns and the tool results as the Qwen3
    template renders them after the prompt's generation header, then the final answer as
    generated, all decoded with special tokens skipped."""
    head = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
    whole = tokenizer.apply_chat_template(prompt + policy, tokenize=False,
                                          add_generation_prompt=True)
    assert whole.startswith(head)
    text = whole[len(head):] + final["content"]
    for special in ("<|im_start|>", "<|im_end|>"):
        text = text.replace(special, "")
    return text


def test_verl_gets_the_servers_results_for_the_rollouts_it_can_hold(demo_server, reference):
    """Agent rollouts and one-turn answers. Left out: a final tool call with no tool result
    after it (verl counts such a rollout as one turn and sends the call as text), rollouts
    whose earlier policy turns think (the template keeps no thinking of earlier turns) and a
    user turn inside the rollout (verl's interaction loop, not read apart: docs/trainers/verl.md)."""
    safrl.configure(demo_server.endpoint, timeout=300)
    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir())
    solutions, infos, want = [], [], []
    for line, expected in zip(ADAPTED, reference):
        prompt, policy, final = split(line)
        if final.get("tool_calls") or any("<think>" in m["content"] or m["role"] == "user"
                                          for m in policy):
            continue
        solutions.append(verl_solution(tokenizer, prompt, policy, final))
        infos.append({"raw_prompt": np.array(prompt, dtype=object),
                      "num_turns": 2 + 2 * sum(m["role"] == "assistant" for m in policy)})
        want.append(expected)
    assert len(want) >= 25 and sum(bool(info["num_turns"] > 2) for info in infos) >= 8
    results = safrl.verl.compute_score_batch([None] * len(infos), solutions, [None] * len(infos),
                                             infos)
    assert [r["score"] for r in results] == pytest.approx([w["reward"] for w in want], abs=1e-6)
    assert [r["case"] for r in results] == [w["case"] for w in want]
