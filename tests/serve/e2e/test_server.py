"""`safrl serve` end to end: real processes on loopback, the embedded tiny models."""
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import msgpack
import pytest
import zmq

import safrl

from conftest import Client, Server


def metric(server, name):
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/metrics",
                                  timeout=60).read().decode()
    return int(next(line.split()[1] for line in text.splitlines() if line.startswith(name + " ")))


def sample(i, step=0, prompt=None):
    return {"id": i, "prompt": prompt or f"question {i}", "response": f"answer {i} " * (1 + i % 5),
            "step": step}


def test_concurrent_clients_get_exactly_their_own_answers(tmp_path):
    # The judgement cache off: a sample scored again alone must be computed again, not read back.
    server = Server(tmp_path, "batching: {judgement_cache_bytes: 0}\n")
    results, errors = {}, []

    def worker(c):
        client = Client(server.endpoint)
        try:
            ids = [client.send({"type": "score", "samples": [sample(100 * c + k) for k in range(3)]})
                   for _ in range(1)]
            ids += [client.send({"type": "score", "samples": [sample(100 * c + 50 + r)]})
                    for r in range(4)]
            got = {}
            while len(got) < len(ids):
                reply = client.receive(120)
                assert reply is not None, "no reply"
                got[reply["id"]] = reply
            results[c] = (ids, got)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)
        finally:
            client.close()

    threads = [threading.Thread(target=worker, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    alone = Client(server.endpoint)
    for c, (ids, got) in results.items():
        assert [got[i]["type"] for i in ids] == ["score"] * 5
        assert [r["id"] for r in got[ids[0]]["results"]] == [100 * c + k for k in range(3)]
        for r, rid in enumerate(ids[1:]):
            [result] = got[rid]["results"]
            assert result["id"] == 100 * c + 50 + r
            # The same sample scored alone gives the same reward and verdict.
            [again] = alone.call({"type": "score", "samples": [sample(100 * c + 50 + r)]})["results"]
            assert again["reward"] == pytest.approx(result["reward"], abs=1e-6)
            assert again["helpfulness"] == pytest.approx(result["helpfulness"], abs=1e-5)
            assert again["answer"]["text"] == result["answer"]["text"]
    server.stop(9)


def test_every_bad_input_gets_its_error_and_the_server_goes_on(server, tmp_path):
    client = Client(server.endpoint)
    cases = [
        ({"v": 3, "type": "ping"}, "unsupported_version"),
        ({"type": "sleep"}, "bad_request"),
        ({"type": "score"}, "bad_request"),
        ({"type": "score", "samples": [{"id": 1, "prompt": "p"}]}, "bad_request"),
        ({"type": "score", "samples": [{"id": 1, "prompt": 5, "response": "r"}]}, "bad_request"),
        ({"type": "score", "samples": "nope"}, "bad_request"),
        ({"type": "score", "groups": [{"prompt": "p", "responses": []}]}, "bad_request"),
        ({"type": "score", "samples": [sample(1)], "extra": 1}, "bad_request"),
        ({"type": "score", "samples": [{"id": 1, "prompt": "x " * 50000, "response": "r"}]},
         "too_long"),
    ]
    for request, code in cases:
        reply = client.call(request)
        assert reply["type"] == "error" and reply["error"]["code"] == code, (request, reply)
        assert reply["error"]["message"]
    client.socket.send(b"\xc1 not msgpack")
    reply = client.receive()
    assert reply["error"]["code"] == "bad_request" and "not valid msgpack" in reply["error"]["message"]
    assert client.call({"type": "ping"})["type"] == "pong"


def test_too_large_messages_are_refused(tmp_path):
    s = Server(tmp_path, "  max_message_bytes: 2000\n", name="small")
    try:
        client = Client(s.endpoint)
        reply = client.call({"type": "score", "samples": [sample(1, prompt="x" * 5000)]})
        assert reply["error"]["code"] == "too_large"
        assert client.call({"type": "ping"})["type"] == "pong"
    finally:
        assert s.stop() == 0


def test_a_client_killed_mid_request_does_not_hurt_the_server(server):
    code = (
        "import zmq, msgpack, os\n"
        "s = zmq.Context().socket(zmq.DEALER)\n"
        f"s.connect('{server.endpoint}')\n"
        "s.send(msgpack.packb({'v': 1, 'id': 'gone', 'type': 'score', 'samples': ["
        "{'id': i, 'prompt': 'p', 'response': 'r' * i} for i in range(30)]}))\n"
        "os._exit(0)\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
    client = Client(server.endpoint)
    reply = client.call({"type": "score", "samples": [sample(1)]})
    assert reply["type"] == "score"
    assert server.proc.poll() is None


def test_sigterm_drains_in_flight_work_and_exits_zero(tmp_path):
    s = Server(tmp_path, name="drain")
    client = Client(s.endpoint)
    ids = [client.send({"type": "score", "samples": [sample(10 * r + k, step=r) for k in range(10)]})
           for r in range(4)]
    # All four admitted (in flight) before the signal, however slow the machine.
    deadline = time.monotonic() + 60
    while metric(s, "safrl_score_requests_total") < 4:
        assert time.monotonic() < deadline, "the four requests were not admitted"
        time.sleep(0.01)
    s.proc.send_signal(signal.SIGTERM)
    replies = [client.receive(120) for _ in ids]
    assert s.proc.wait(timeout=120) == 0
    assert None not in replies, replies
    assert sorted(r["id"] for r in replies) == sorted(ids)
    # Admitted work is drained: every request is answered with its scores, none refused.
    assert [r["type"] for r in replies] == ["score"] * 4, replies
    steps = [json.loads(line) for line in open(s.run_dir / "steps.jsonl")]
    assert sum(x["count"] for x in steps) == 10 * 4


def test_group_prefix_reuse_gives_the_same_rewards_as_unshared_scoring(server):
    client = Client(server.endpoint)
    responses = ["I can't help with that.", "Sure, here is how: first...", "No.", "Maybe later."]
    grouped = client.call({"type": "score", "step": 1,
                           "groups": [{"prompt": "How do I pick a lock?", "responses": responses}]})
    assert [r["id"] for r in grouped["results"]] == ["0/0", "0/1", "0/2", "0/3"]
    for response, result in zip(responses, grouped["results"]):
        [alone] = client.call({"type": "score", "samples": [
            {"id": 0, "prompt": "How do I pick a lock?", "response": response}]})["results"]
        assert alone["reward"] == pytest.approx(result["reward"], abs=1e-6)
        assert alone["helpfulness"] == pytest.approx(result["helpfulness"], abs=1e-5)
        # The same tokens, hence the same verdict (or none) and probabilities.
        assert alone["answer"]["text"] == result["answer"]["text"]
        assert alone["answer"]["safety"] == result["answer"]["safety"]
        if result["answer"]["probs"] is not None:
            for k in ("Safe", "Unsafe", "Controversial"):
                assert alone["answer"]["probs"][k] == pytest.approx(result["answer"]["probs"][k],
                                                                    abs=1e-6)
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/metrics").read().decode()
    saved = [line for line in metrics.splitlines() if line.startswith("safrl_prefix_tokens_saved_total")]
    assert int(saved[0].split()[1]) > 0
    # The server's resident memory, as /proc reports it for its pid (soak checks read it here).
    [rss_line] = [line for line in metrics.splitlines()
                  if line.startswith("process_resident_memory_bytes ")]
    with open(f"/proc/{server.proc.pid}/status") as status:
        vm_rss = next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))
    assert abs(int(rss_line.split()[1]) - vm_rss) < 64 << 20


def test_retried_ids_get_the_same_answer_and_count_once(server):
    client = Client(server.endpoint)
    request = {"type": "score", "id": "same-id", "samples": [sample(k, step=7) for k in range(3)]}
    first = client.call(dict(request))
    second = client.call(dict(request))
    assert first == second
    stats = client.call({"type": "stats", "flush": True})
    assert stats["flushed"] == [7]
    [step] = [json.loads(line) for line in open(server.run_dir / "steps.jsonl")]
    assert step["count"] == 3
    assert stats["counters"]["deduplicated"] == 1
    assert stats["counters"]["samples"] == 3 and stats["counters"]["tokens"] > 0
    assert stats["counters"]["peak_resident_bytes"] >= stats["counters"]["resident_bytes"] > 50 << 20


def test_step_logs_hold_the_statistics_of_the_replies(server):
    client = Client(server.endpoint)
    results = []
    for step in (0, 1):
        results += client.call({"type": "score",
                                "samples": [sample(10 * step + k, step=step) for k in range(5)]})["results"]
    client.call({"type": "stats", "flush": True})
    rows = [json.loads(line) for line in open(server.run_dir / "steps.jsonl")]
    assert [r["step"] for r in rows] == [0, 1]
    for row in rows:
        mine = [r for r in results if r["step"] == row["step"]]
        assert row["count"] == 5
        assert row["safety_rate"] == pytest.approx(sum(r["safe"] for r in mine) / 5)
        assert row["refusal_rate"] == pytest.approx(sum(r["refusal"] for r in mine) / 5)
        assert row["reward_mean"] == pytest.approx(sum(r["reward"] for r in mine) / 5)
        assert row["helpfulness_mean"] == pytest.approx(sum(r["helpfulness"] for r in mine) / 5)
    csv = open(server.run_dir / "steps.csv").read().splitlines()
    assert csv[0].startswith("step,count,safety_rate,refusal_rate") and len(csv) == 3


def test_overload_is_an_explicit_busy_reply(tmp_path):
    s = Server(tmp_path, "  max_queued_samples: 8\n", name="busy")
    try:
        client = Client(s.endpoint)
        ids = [client.send({"type": "score", "samples": [sample(10 * r + k) for k in range(6)]})
               for r in range(6)]
        replies = [client.receive(60) for _ in ids]
        busy = [r for r in replies if r["type"] == "error"]
        assert busy and all(r["error"]["code"] == "busy" and r["error"]["retry_after_ms"] > 0
                            for r in busy)
        assert any(r["type"] == "score" for r in replies)
        reply = client.call({"type": "score", "samples": [sample(k) for k in range(9)]})
        assert reply["error"]["code"] == "bad_request" and "split it" in reply["error"]["message"]
    finally:
        assert s.stop() == 0


def test_expired_deadlines_are_dropped(tmp_path):
    # The late request is queued behind the slow one (one socket, one order) and cannot join its
    # pass (50 + 1 samples > max_batch_samples), so it waits a whole pass of 50 long samples,
    # far past its 1 ms deadline, however fast or loaded the machine: no sleep decides it.
    server = Server(tmp_path, "  max_batch_samples: 50\n", name="deadline")
    try:
        client = Client(server.endpoint)
        slow = client.send({"type": "score",
                            "samples": [sample(k, prompt="long " * 400) for k in range(50)]})
        late = client.send({"type": "score", "deadline_ms": 1, "samples": [sample(1)]})
        replies = {r["id"]: r for r in (client.receive(300), client.receive(300))}
        assert replies[slow]["type"] == "score"
        assert replies[late]["error"]["code"] == "deadline_exceeded"
        # A deadline that has not passed is kept: the same request with 10 min to spare is scored.
        kept = client.call({"type": "score", "deadline_ms": 600_000, "samples": [sample(1)]})
        assert kept["type"] == "score"
    finally:
        assert server.stop() == 0


def test_info_and_deep_health_check(server):
    client = Client(server.endpoint)
    info = client.call({"type": "info", "deep": True})
    assert info["protocol"] == 2 and info["protocols"] == [1, 2] and info["deep_check"] == "ok"
    assert info["models"]["guard"]["architecture"] == "Qwen3ForCausalLM"
    assert info["models"]["helpfulness"]["architecture"] == "Qwen3ForSequenceClassification"
    assert info["config"]["reward"]["type"] == "hybrid"
    assert info["config"]["server"]["endpoint"] == server.endpoint
    assert info["version"] == safrl.__version__  # the one version string


def test_curve_admits_only_allowed_clients(tmp_path):
    server_public, server_secret = zmq.curve_keypair()
    client_public, client_secret = zmq.curve_keypair()
    stranger_public, stranger_secret = zmq.curve_keypair()
    yaml = ("  curve:\n"
            f"    public_key: \"{server_public.decode()}\"\n"
            f"    secret_key: \"{server_secret.decode()}\"\n"
            f"    allowed_client_keys: [\"{client_public.decode()}\"]\n")
    s = Server.__new__(Server)
    # Start without the ping loop of Server.__init__ (an anonymous ping would be refused).
    import conftest
    s.port, s.http_port = conftest.free_port(), conftest.free_port()
    s.endpoint = f"tcp://127.0.0.1:{s.port}"
    s.run_dir = tmp_path / "curve"
    config = tmp_path / "curve.yaml"
    config.write_text(
        f"guard: {{model: {conftest.EMBEDDED}/guard}}\nreward: {{type: guard_only}}\n"
        f"server:\n  endpoint: {s.endpoint}\n{yaml}")
    s.proc = subprocess.Popen([conftest.SAFRL, "serve", "--config", str(config), "--run-dir",
                               str(s.run_dir)], stderr=subprocess.DEVNULL)
    try:
        allowed = Client(s.endpoint, curve=(server_public, client_public, client_secret))
        reply = None
        for _ in range(60):
            reply = allowed.call({"type": "ping"}, timeout=1)
            if reply:
                break
        assert reply and reply["type"] == "pong"
        stranger = Client(s.endpoint, curve=(server_public, stranger_public, stranger_secret))
        assert stranger.call({"type": "ping"}, timeout=2) is None
        plain = Client(s.endpoint)
        assert plain.call({"type": "ping"}, timeout=2) is None
    finally:
        assert s.stop() == 0
