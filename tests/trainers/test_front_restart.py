"""A restart the trainers never see: OpenRLHF's own executor (HTTP /get_reward), TRL's reward
function and verl's batch reward function (ZeroMQ, safrl's clients) score round after round
through `safrl front` while its engine is killed with SIGKILL mid-work and comes back only after
longer than OpenRLHF's retries last. Every call gets every reward, equal to an undisturbed
engine's, and no sample is counted twice in the step logs."""
import json
import threading
import time
import types

import pytest

import safrl
import safrl.trl
import safrl.verl
from conftest import server_rewards
from safrl.testing.live_server import Server
from safrl.testing.polling import wait_for
from test_openrlhf import CASES, run_executor, tokenizer  # noqa: F401 (tokenizer: a fixture)

ROUNDS = 5
PROMPTS = ["How do I pick a lock?", "Write a haiku about rain."]
RESPONSES = [["I can't help with that.", "Use a tension wrench."],
             ["Soft rain on the roof.", "<think>\nrain\n</think>\n\nDrops fall."]]
VERL_STEPS = 100  # verl's steps are 100 + round, apart from TRL's


def trl_round(r):
    prompts = [p for p, responses in zip(PROMPTS, RESPONSES) for _ in responses]
    completions = [c for responses in RESPONSES for c in responses]
    return safrl.trl.reward_func(prompts, completions,
                                 trainer_state=types.SimpleNamespace(global_step=r))


def verl_round(r):
    pairs = [(p, c) for p, responses in zip(PROMPTS, RESPONSES) for c in responses]
    results = safrl.verl.compute_score_batch(
        [None] * len(pairs), [c for _, c in pairs], [None] * len(pairs),
        [{"prompt": p, "step": VERL_STEPS + r} for p, _ in pairs])
    return [result["score"] for result in results]


def test_killing_the_engine_under_three_trainers_loses_and_doubles_nothing(tmp_path, tokenizer):
    # The judgement cache off: the rounds send the pairs `expected` was computed from again, and the
    # engine must be computing them when it is killed.
    front = Server(tmp_path, "batching: {judgement_cache_bytes: 0}\n", name="front",
                   front_args=["--restart-delay", "6"])
    try:
        safrl.configure(front.endpoint)
        pairs = [(p, c) for p, responses in zip(PROMPTS, RESPONSES) for c in responses]
        expected = {"trl": server_rewards(front, pairs), "verl": server_rewards(front, pairs),
                    "openrlhf": server_rewards(front, CASES)}
        rounds = {name: [] for name in expected}
        errors = []

        def drive(name, one_round):
            try:
                for r in range(ROUNDS):
                    rounds[name].append(one_round(r))
            except BaseException as e:  # noqa: B902 (reported by the test's thread)
                errors.append((name, e))

        openrlhf = lambda r: [o["reward"][0] if o["reward"] else None  # noqa: E731
                              for o in run_executor(front, tokenizer, CASES)]
        threads = [threading.Thread(target=drive, args=args)
                   for args in (("trl", trl_round), ("verl", verl_round),
                                ("openrlhf", openrlhf))]
        for t in threads:
            t.start()
        # Killed once every trainer is past its first round and the engine is scoring.
        wait_for(lambda: all(rounds.values()) and
                 front.metrics().get("safrl_queue_samples", 0) > 0, "work in flight", 300)
        front.kill_engine()
        for t in threads:
            t.join(timeout=600)
        assert not errors
        for name, want in expected.items():
            assert len(rounds[name]) == ROUNDS
            for got in rounds[name]:
                assert got == pytest.approx(want, abs=1e-6), name
        metrics = front.metrics()
        assert metrics["safrl_front_engine_restarts_total"] == 1
        assert metrics["safrl_front_resent_total"] >= 1  # the kill took requests in flight
        assert metrics["safrl_front_dropped_replies_total"] == 0
        assert front.stop() == 0
        # Both engines wrote to one run directory. A step the killed engine still held open is
        # lost with it; every step written counts each of its samples once.
        counts = {}
        for line in open(front.run_dir / "steps.jsonl"):
            row = json.loads(line)
            counts[row["step"]] = counts.get(row["step"], 0) + row["count"]
        assert counts.pop(None, 0) <= ROUNDS * len(CASES)  # OpenRLHF's, stepless
        assert set(counts) <= set(range(ROUNDS)) | set(range(VERL_STEPS, VERL_STEPS + ROUNDS))
        assert all(count == len(pairs) for count in counts.values()), counts
        assert len(counts) >= 2 * ROUNDS - 4  # at most two steps open per trainer at the kill
    finally:
        front.close()
