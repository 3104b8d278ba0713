"""Fixtures of the trainer tests: live `safrl serve` processes (safrl.testing.live_server) and a
tiny Qwen3 policy written by transformers, with the real Qwen3 tokenizer of the embedded models."""
import contextlib
import json
import subprocess
import sys
import time

import pytest

from safrl.testing.live_server import EMBEDDED, Client, Server


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    yield s
    s.stop(9)


@pytest.fixture(scope="session")
def tiny_policy(tmp_path_factory):
    """A Qwen3ForCausalLM small enough to train on a CPU in seconds (random weights), saved by
    transformers with the real Qwen3 tokenizer: what a user hands TRL or verl as the policy."""
    import torch
    from transformers import AutoTokenizer, Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(f"{EMBEDDED}/guard")
    config = Qwen3Config(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64,
                         num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1,
                         head_dim=16, max_position_embeddings=512, tie_word_embeddings=True,
                         eos_token_id=tokenizer.convert_tokens_to_ids("<|im_end|>"),
                         pad_token_id=tokenizer.pad_token_id)
    path = tmp_path_factory.mktemp("tiny-qwen3-policy")
    Qwen3ForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def step_rows(*servers):
    """Every row of the servers' steps.jsonl files (flushed by stopping them or a stats flush)."""
    rows = []
    for s in servers:
        path = s.run_dir / "steps.jsonl"
        if path.exists():
            rows += [json.loads(line) for line in open(path)]
    return rows


def assert_rows_match_trl_logs(rows, logs, steps, per_step):
    """One server row per TRL step (rows of a restarted server merged by count and sum), counting
    per_step completions, with the reward mean TRL logged. The reward function sees
    trainer_state.global_step before the optimizer step: server step s is TRL's logged step s+1."""
    assert [log["step"] for log in logs] == list(range(1, steps + 1))
    by_step = {}
    for row in rows:
        total = by_step.setdefault(row["step"], [0, 0.0])
        total[0] += row["count"]
        total[1] += row["reward_mean"] * row["count"]
    assert sorted(by_step) == list(range(steps))
    for log in logs:
        count, reward_sum = by_step[log["step"] - 1]
        assert count == per_step
        assert reward_sum / count == pytest.approx(log["reward"], abs=1e-5)


def server_rewards(server, pairs):
    """The server's own reward for each (prompt, response), one request each through safrl's
    client (which waits out a server still busy with other clients' work)."""
    import safrl
    with safrl.Client(server.endpoint) as client:
        return [client.score([{"prompt": p, "response": r}])[0]["reward"] for p, r in pairs]


def flush(server):
    return Client(server.endpoint).call({"type": "stats", "flush": True})


FLOOD = """
import sys, safrl
with safrl.Client(sys.argv[1]) as client:
    while True:
        client.score([{"prompt": "p", "response": "r" * k} for k in range(1, 3)])
"""


@contextlib.contextmanager
def queue_kept_full(server, clients=3):
    """Other clients, in processes of their own, keep the server's queue full (stepless samples,
    a bucket of their own) while the body runs, so the trainer's requests are told busy; the
    test's process sees only its own busy answers."""
    floods = [subprocess.Popen([sys.executable, "-c", FLOOD, server.endpoint],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for _ in range(clients)]
    try:
        # The body starts once the floods have filled the queue (the server has said busy to
        # someone), not after a guessed start-up time: each flood is a Python start that imports
        # safrl, which a loaded machine may take seconds over.
        probe = Client(server.endpoint)
        busy = lambda: probe.call({"type": "stats"})["counters"]["busy_replies"]  # noqa: E731
        before, give_up = busy(), time.monotonic() + 120
        while busy() == before:
            assert time.monotonic() < give_up, "the floods never filled the queue"
            assert all(p.poll() is None for p in floods), "a flood process ended"
            time.sleep(0.05)
        yield
    finally:
        for p in floods:
            p.kill()
            p.wait()


@pytest.fixture
def busy_answers(monkeypatch):
    """How many busy answers this process's safrl clients were given (a list of one count)."""
    from safrl import _protocol
    seen = [0]
    failed = _protocol.RetryState.failed

    def counting(self, error):
        if getattr(error, "code", None) == "busy":
            seen[0] += 1
        return failed(self, error)

    monkeypatch.setattr(_protocol.RetryState, "failed", counting)
    return seen
