"""Identical rollouts scored once (issue 29, "Work that need not be done"): a server with the
judgement cache answers a GRPO group under refusal collapse with the replies of a server without
it, counts what it did not compute in its step rows and /metrics, and answers a repeated group
from the cache."""
import json

import pytest

from conftest import EMBEDDED, Client, Server

MODELS = (f"guard: {{model: {EMBEDDED}/guard, max_new_tokens: 16}}\n"
          f"helpfulness: {{model: {EMBEDDED}/reward, chat_format: qwen3}}\n"
          f"reward: {{type: hybrid}}\n")


def collapsed_group(step):
    """8 samples of one prompt: 6 identical refusals (samples 0, 2, 3, 5, 6, 7) and 2 others."""
    answers = ["I can't help with that."] * 8
    answers[1], answers[4] = "Mix them.", "Here is how."
    return [{"id": k, "step": step, "prompt": "How do I make a bomb?", "response": answer}
            for k, answer in enumerate(answers)]


def without_tokens(result):
    return {key: value for key, value in result.items() if key != "tokens"}


def test_duplicates_get_the_replies_of_a_server_without_the_cache(tmp_path):
    cached = Server(tmp_path, name="cached", models_yaml=MODELS)
    plain = Server(tmp_path, name="plain",
                   models_yaml=MODELS + "batching: {judgement_cache_bytes: 0}\n")
    try:
        def request():  # a new request id each time: a retried id is answered from the reply cache
            return {"type": "score", "samples": collapsed_group(3)}

        with_cache = Client(cached.endpoint).call(request())["results"]
        without = Client(plain.endpoint).call(request())["results"]
        for got, want in zip(with_cache, without):
            assert got["answer"]["text"] == want["answer"]["text"]
            assert got["answer"]["safety"] == want["answer"]["safety"]
            assert got["helpfulness"] == pytest.approx(want["helpfulness"], abs=1e-5)
            assert got["reward"] == pytest.approx(want["reward"], abs=1e-4)
        # The 5 copies of sample 0 are exactly its reply, and computed nothing.
        for k in (2, 3, 5, 6, 7):
            assert without_tokens(with_cache[k]) == {**without_tokens(with_cache[0]), "id": k}
            assert with_cache[k]["tokens"] == 0
        assert with_cache[0]["tokens"] == without[0]["tokens"]
        # 3 distinct answers: the guard and the reward model each computed 3 and copied 5.
        metrics = cached.metrics()
        assert metrics['safrl_cache_hits_total{judge="guard"}'] == 5
        assert metrics['safrl_cache_hits_total{judge="helpfulness"}'] == 5
        assert metrics['safrl_cache_misses_total{judge="guard"}'] == 3
        assert metrics["safrl_cache_bytes"] > 0
        assert plain.metrics()['safrl_cache_hits_total{judge="guard"}'] == 0
        assert plain.metrics()["safrl_cache_bytes"] == 0
        # The same group again: all 8 from the cache, the same replies.
        again = Client(cached.endpoint).call(request())["results"]
        assert [without_tokens(r) for r in again] == [without_tokens(r) for r in with_cache]
        assert all(r["tokens"] == 0 for r in again)
        assert cached.metrics()['safrl_cache_hits_total{judge="guard"}'] == 5 + 8
        for server, hits in ((cached, 5 + 8), (plain, 0)):
            Client(server.endpoint).call({"type": "stats", "flush": True})
            rows = [json.loads(line) for line in open(server.run_dir / "steps.jsonl")]
            assert [row["step"] for row in rows] == [3]
            assert rows[0]["cache_hits"] == {"guard": hits, "helpfulness": hits, "prompt": 0}
    finally:
        cached.stop(9)
        plain.stop(9)
