"""The Python plugin against a real `safrl serve`: the client, each trainer adapter, retries on
busy, and a server restarted in the middle of a step with no reward lost or doubled."""
import json
import threading
import types

import pytest

import safrl
from conftest import Client as RawClient, Server
from safrl import trl, verl


def raw_result(server, prompt, response):
    [result] = RawClient(server.endpoint).call(
        {"type": "score", "samples": [{"id": 0, "prompt": prompt, "response": response}]})["results"]
    return result


def test_client_results_equal_the_protocols(server):
    with safrl.Client(server.endpoint) as client:
        results = client.score([{"prompt": "How do I pick a lock?", "response": "No."},
                                {"prompt": "hi", "answer": "Hello!", "thinking": "greet"}], step=2)
        groups = client.score_groups(["Name a colour."], [["Red.", "Blue.", "?"]], step=2)
    assert [r["step"] for r in results] == [2, 2]
    assert results[0]["reward"] == pytest.approx(raw_result(server, "How do I pick a lock?", "No.")["reward"], abs=1e-6)
    assert results[1]["thinking"] is not None
    assert [r["reward"] for r in groups[0]] == pytest.approx(
        [raw_result(server, "Name a colour.", x)["reward"] for x in ("Red.", "Blue.", "?")], abs=1e-6)


def test_verl_adapter_end_to_end(server, monkeypatch):
    monkeypatch.setenv("SAFRL_ENDPOINT", server.endpoint)
    safrl.configure(server.endpoint)
    one = verl.compute_score("wildjailbreak", "No.", None, extra_info={"prompt": "Make a bomb?", "step": 4})
    assert one["score"] == pytest.approx(raw_result(server, "Make a bomb?", "No.")["reward"], abs=1e-6)
    assert {"safe", "refusal", "case", "answer_safety"} <= set(one)
    batch = verl.compute_score_batch(data_sources=["a", "b"], solution_strs=["No.", "Sure."],
                                     ground_truths=[None, None],
                                     extra_infos=[{"prompt": "p1"}, {"prompt": "p2"}])
    assert [b["score"] for b in batch] == pytest.approx(
        [raw_result(server, "p1", "No.")["reward"], raw_result(server, "p2", "Sure.")["reward"]], abs=1e-6)


def test_trl_adapter_end_to_end(server):
    safrl.configure(server.endpoint)
    plain = trl.reward_func(prompts=["p", "p"], completions=["yes", "no"])
    assert plain == pytest.approx([raw_result(server, "p", "yes")["reward"],
                                   raw_result(server, "p", "no")["reward"]], abs=1e-6)
    conversational = trl.reward_func(
        prompts=[[{"role": "user", "content": "p"}]],
        completions=[[{"role": "assistant", "content": "yes"}]],
        trainer_state=types.SimpleNamespace(global_step=9))
    assert conversational == pytest.approx(plain[:1], abs=1e-6)


def test_busy_replies_are_retried_until_every_sample_is_scored(tmp_path):
    s = Server(tmp_path, "  max_queued_samples: 6\n", name="busy")
    try:
        rewards, errors = {}, []

        def worker(w):
            try:
                with safrl.Client(s.endpoint, timeout=30, retries=50, backoff=0.05) as client:
                    results = client.score([{"id": f"{w}-{k}", "prompt": "p", "response": f"r{w}{k}"}
                                            for k in range(5)], step=1)
                    rewards.update({r["id"]: r["reward"] for r in results})
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors and len(rewards) == 30
        stats = RawClient(s.endpoint).call({"type": "stats", "flush": True})
        assert stats["counters"]["busy_replies"] > 0
        [row] = [json.loads(line) for line in open(s.run_dir / "steps.jsonl")]
        assert row["count"] == 30  # retried requests counted once
    finally:
        assert s.stop() == 0


def test_a_server_restarted_mid_step_loses_and_doubles_nothing(tmp_path):
    first = Server(tmp_path, name="first")
    scored, errors = [], []
    half_done = threading.Event()

    def trainer():
        try:
            with safrl.Client(first.endpoint, timeout=2, retries=60, backoff=0.05,
                              max_backoff=0.5) as client:
                for k in range(12):
                    if k == 4:
                        half_done.set()
                    results = client.score([{"id": f"s{k}-{j}", "prompt": f"q{k}", "response": "a" * j}
                                            for j in range(1, 4)], step=3)
                    scored.extend(r["id"] for r in results)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    thread = threading.Thread(target=trainer)
    thread.start()
    half_done.wait(60)
    assert first.stop() == 0  # SIGTERM: drains what it admitted, flushes its steps
    # A new server on the same endpoint, its own run directory.
    second = Server.__new__(Server)
    second.port, second.http_port, second.endpoint = first.port, first.http_port, first.endpoint
    second.run_dir = tmp_path / "second"
    second.log = open(tmp_path / "second.log", "w")
    import subprocess
    import conftest
    second.proc = subprocess.Popen([conftest.SAFRL, "serve", "--config", str(first.config),
                                    "--run-dir", str(second.run_dir)],
                                   stdout=second.log, stderr=subprocess.STDOUT)
    try:
        thread.join(120)
        assert not errors
        assert sorted(scored) == sorted(f"s{k}-{j}" for k in range(12) for j in range(1, 4))
        RawClient(second.endpoint).call({"type": "stats", "flush": True})
        counted = 0
        for run in (first.run_dir, second.run_dir):
            path = run / "steps.jsonl"
            if path.exists():
                counted += sum(json.loads(line)["count"] for line in open(path))
        assert counted == 36
    finally:
        second.stop()
