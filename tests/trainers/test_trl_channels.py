"""TRL's GRPOTrainer (the installed package) with safrl's reward channels as reward functions of
their own (docs/trainers/trl.md, "Reward channels"): TRL logs each channel under its name, the
channels' means are the server's own step statistics, and each batch reaches the server once
however many safrl functions TRL calls. The demo judges (a trained guard, constrained decoding)
give real verdicts and label probabilities."""
import pytest

import safrl
import safrl.trl
from conftest import assert_rows_match_trl_logs, step_rows
from safrl.testing.live_server import EMBEDDED, Client, Server
from test_trl import GROUP, PROMPTS_PER_STEP, STEPS, train

MODELS_YAML = (f"guard: {{model: {EMBEDDED}/demo-guard, decoding: constrained}}\n"
               f"helpfulness: {{model: {EMBEDDED}/demo-reward, chat_format: qwen3}}\n")
CHANNEL_FUNCS = [safrl.trl.safrl_safety, safrl.trl.safrl_refusal, safrl.trl.safrl_helpfulness]


def scored_samples(server):
    client = Client(server.endpoint)
    try:
        return client.call({"type": "stats"})["counters"]["samples"]
    finally:
        client.close()


def channel_logs(logs, name):
    return [log[f"rewards/{name}/mean"] for log in logs]


@pytest.mark.parametrize("aggregation", ["sum_then_normalize", "normalize_then_sum"])
def test_each_channel_is_logged_and_a_batch_is_scored_once(tmp_path, tiny_policy, aggregation):
    server = Server(tmp_path, models_yaml=MODELS_YAML + "reward: {type: hybrid}\n")
    try:
        safrl.configure(server.endpoint, timeout=300)
        # reward_func weighs 1 and the channels 0, so TRL's logged reward is the server's.
        logs = train(tiny_policy, tmp_path / "out", [safrl.trl.reward_func] + CHANNEL_FUNCS,
                     reward_weights=[1.0, 0.0, 0.0, 0.0],
                     multi_objective_aggregation=aggregation)
        samples = scored_samples(server)
        # Four functions, one request per batch: each completion is scored once.
        assert samples == STEPS * PROMPTS_PER_STEP * GROUP
        assert server.stop() == 0
        rows = step_rows(server)
        assert_rows_match_trl_logs(rows, logs, STEPS, PROMPTS_PER_STEP * GROUP)
        by_step = {row["step"]: row for row in rows}
        steps = [log["step"] - 1 for log in logs]  # server step s is TRL's logged step s + 1
        # safety_signal verdict: the safety channel is safe as 1 or 0, its mean the safety rate.
        assert channel_logs(logs, "safrl_safety") == pytest.approx(
            [by_step[s]["safety_rate"] for s in steps], abs=1e-6)
        assert channel_logs(logs, "safrl_refusal") == pytest.approx(
            [by_step[s]["refusal_rate"] for s in steps], abs=1e-6)
        assert channel_logs(logs, "safrl_helpfulness") == pytest.approx(
            [by_step[s]["helpfulness_mean"] for s in steps], abs=1e-5)
    finally:
        server.stop(9)


def test_the_expected_signal_gives_a_safe_probability_channel(tmp_path, tiny_policy):
    server = Server(tmp_path,
                    models_yaml=MODELS_YAML + "reward: {type: hybrid, safety_signal: expected}\n")
    try:
        safrl.configure(server.endpoint, timeout=300)
        seen = []

        def spy(prompts, completions, **kwargs):  # what TRL got from the channel function
            seen.extend(safrl.trl.safrl_safety(prompts, completions, **kwargs))
            return seen[-len(completions):]
        spy.__name__ = "safety_seen"
        logs = train(tiny_policy, tmp_path / "out", [spy, safrl.trl.safrl_helpfulness],
                     reward_weights=[10.0, 1.0], multi_objective_aggregation="normalize_then_sum")
        assert scored_samples(server) == STEPS * PROMPTS_PER_STEP * GROUP
        # P(safe) from the trained guard's label probabilities: within [0, 1], and not only the
        # verdict signal's 1 and 0.
        assert len(seen) == STEPS * PROMPTS_PER_STEP * GROUP
        assert all(0 <= p <= 1 for p in seen) and any(0 < p < 1 for p in seen)
        assert [log["rewards/safety_seen/mean"] for log in logs] == pytest.approx(
            [sum(seen[i:i + 4]) / 4 for i in range(0, len(seen), 4)], abs=1e-6)
    finally:
        server.stop(9)
