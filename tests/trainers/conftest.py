"""Fixtures of the trainer tests: live `safrl serve` processes (safrl.testing.live_server) and a
tiny Qwen3 policy written by transformers, with the real Qwen3 tokenizer of the embedded models."""
import contextlib
import json
import threading

import pytest

import safrl

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


def flush(server):
    return Client(server.endpoint).call({"type": "stats", "flush": True})


@contextlib.contextmanager
def queue_kept_full(server, threads=3):
    """Other clients keep the server's queue full (stepless samples, a bucket of their own)
    while the body runs, so the trainer's requests are told busy."""
    stop = threading.Event()

    def flood():
        with safrl.Client(server.endpoint) as client:
            while not stop.is_set():
                client.score([{"prompt": "p", "response": "r" * k} for k in range(1, 3)])

    floods = [threading.Thread(target=flood) for _ in range(threads)]
    for t in floods:
        t.start()
    try:
        yield
    finally:
        stop.set()
        for t in floods:
            t.join(120)
