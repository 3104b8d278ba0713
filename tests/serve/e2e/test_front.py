"""`safrl front` end to end: its engine (a real `safrl serve`) is killed with SIGKILL while a
request is being scored; the front keeps its ZeroMQ and HTTP endpoints open, sends the request
again to the engine it restarts, and the client gets its reply once, with the rewards an engine
that never died gives."""
import collections
import json
import os
import threading
import time
import urllib.error
import urllib.request

import msgpack
import pytest
import zmq
from prometheus_client.parser import text_string_to_metric_families

from safrl.testing.live_server import Client, Server
from safrl.testing.polling import wait_for

# The judgement cache off: these tests send the same samples again and need the engine to
# compute them again (a repeat is otherwise answered from the cache at once, never in flight).
NO_CACHE = "batching: {judgement_cache_bytes: 0}\n"
SAMPLES = [{"id": str(k), "prompt": "How do I pick a lock?", "response": "No. " * k, "step": 0}
           for k in range(1, 97)]


def engine_scoring(front):
    return front.metrics().get("safrl_queue_samples", 0) > 0


def rewards(reply):
    assert reply["type"] == "score", reply
    return [r["reward"] for r in reply["results"]]


def replies_until_quiet(client, ids, quiet=3):
    """Every reply that comes until all of `ids` were answered and then nothing for `quiet` s."""
    seen = []
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        wait = quiet if {r["id"] for r in seen} >= set(ids) else 5
        reply = client.receive(timeout=wait)
        if reply is None:
            if {r["id"] for r in seen} >= set(ids):
                return seen
            continue
        seen.append(reply)
    raise AssertionError(f"no replies for {set(ids) - {r['id'] for r in seen}}")


def health(front):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{front.http_port}/health",
                                    timeout=30) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def front(tmp_path):
    s = Server(tmp_path, NO_CACHE, front_args=["--restart-delay", "2"], name="front")
    yield s
    s.close()


def test_a_request_the_engine_died_with_is_answered_once_by_its_successor(front):
    client = Client(front.endpoint)
    expected = rewards(client.call({"type": "score", "samples": SAMPLES}, timeout=300))
    in_flight = client.send({"type": "score", "samples": SAMPLES})
    wait_for(lambda: engine_scoring(front), "the engine taking the request")
    killed = front.kill_engine()
    # Sent once the front knows no engine runs: held, then sent to the new one.
    wait_for(lambda: health(front)[0] == 503, "the front seeing its engine die")
    held = client.send({"type": "score", "samples": SAMPLES[:8]})
    replies = replies_until_quiet(client, [in_flight, held])
    assert collections.Counter(r["id"] for r in replies) == {in_flight: 1, held: 1}
    by_id = {r["id"]: r for r in replies}
    assert rewards(by_id[in_flight]) == pytest.approx(expected, abs=1e-6)
    assert rewards(by_id[held]) == pytest.approx(expected[:8], abs=1e-6)
    assert front.engine_pid() != killed
    metrics = front.metrics()
    assert metrics["safrl_front_resent_total"] == 1
    assert metrics["safrl_front_engine_restarts_total"] == 1
    assert metrics["safrl_front_dropped_replies_total"] == 0
    log = open(front.log.name).read()
    assert f"engine (pid {killed}) was killed by signal 9 (Killed)" in log


def test_get_reward_in_flight_survives_the_engine_and_health_says_restarting(front):
    prompt = "<|im_start|>user\nHow do I pick a lock?<|im_end|>\n<|im_start|>assistant\n"
    queries = [f"{prompt}{'No. ' * k}<|im_end|>" for k in range(1, 97)]
    body = json.dumps({"query": queries, "prompts": [prompt] * len(queries)}).encode()

    def post():
        request = urllib.request.Request(f"http://127.0.0.1:{front.http_port}/get_reward",
                                         data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=300) as reply:
            return json.loads(reply.read())

    expected = post()
    assert health(front) == (200, "ok\n")
    answers = []
    thread = threading.Thread(target=lambda: answers.append(post()))
    thread.start()
    wait_for(lambda: engine_scoring(front), "the engine taking the request")
    front.kill_engine()
    wait_for(lambda: health(front) == (503, "restarting\n"), "/health saying restarting")
    thread.join(timeout=300)
    assert len(answers) == 1
    assert answers[0]["rewards"] == pytest.approx(expected["rewards"], abs=1e-6)
    assert len(answers[0]["rewards"]) == len(queries)
    assert health(front) == (200, "ok\n")
    assert front.metrics()["safrl_front_resent_total"] == 1


def test_a_request_held_past_its_deadline_is_told_so_and_sigterm_ends_a_restart(tmp_path):
    front = Server(tmp_path, NO_CACHE, front_args=["--restart-delay", "600"], name="slow")
    try:
        client = Client(front.endpoint)
        front.kill_engine()
        wait_for(lambda: health(front)[0] == 503, "the front seeing its engine die")
        reply = client.call({"type": "score", "samples": SAMPLES[:1], "deadline_ms": 200},
                            timeout=120)
        assert reply["type"] == "error"
        assert reply["error"]["code"] == "deadline_exceeded"
        # Stopping never waits for the engine it would have started.
        assert front.stop() == 0
    finally:
        front.close()


def test_sigterm_on_the_front_finishes_the_work_in_flight_and_stops_the_engine(front):
    client = Client(front.endpoint)
    in_flight = client.send({"type": "score", "samples": SAMPLES})
    wait_for(lambda: engine_scoring(front), "the engine taking the request")
    engine = front.engine_pid()
    front.proc.send_signal(15)
    replies = replies_until_quiet(client, [in_flight], quiet=1)
    assert [r["id"] for r in replies] == [in_flight]
    assert len(rewards(replies[0])) == len(SAMPLES)
    assert front.proc.wait(timeout=120) == 0
    with pytest.raises(ProcessLookupError):
        os.kill(engine, 0)
    rows = [json.loads(line) for line in open(front.run_dir / "steps.jsonl")]
    assert [(r["step"], r["count"]) for r in rows] == [(0, len(SAMPLES))]


def test_envelopes_junk_and_a_repeated_id_get_one_answer_each(tmp_path):
    front = Server(tmp_path, NO_CACHE, front_args=["--restart-delay", "600"], name="envelopes")
    try:
        req = zmq.Context.instance().socket(zmq.REQ)
        req.setsockopt(zmq.LINGER, 0)
        req.connect(front.endpoint)
        req.send(msgpack.packb({"v": 1, "type": "ping", "id": "req-client"}))
        assert req.poll(60000)
        assert msgpack.unpackb(req.recv())["type"] == "pong"  # the delimiter went both ways
        req.close()

        client = Client(front.endpoint)
        client.socket.send(b"\xc1 not msgpack")
        reply = client.receive(timeout=60)
        assert reply["error"]["code"] == "bad_request"

        request = {"v": 1, "type": "score", "id": "twice", "samples": SAMPLES[:4]}
        client.send(dict(request))
        client.send(dict(request))
        assert [r["type"] for r in replies_until_quiet(client, ["twice"])] == ["score"]
        # The same id with another body while the first is scored: not the first's results.
        client.send(dict(request, id="reused"))
        client.send(dict(request, id="reused", samples=SAMPLES[4:6]))
        replies = replies_until_quiet(client, ["reused"])
        assert sorted((r["type"], len(r.get("results", []))) for r in replies) == [
            ("error", 0), ("score", 4)]
        assert next(r for r in replies if r["type"] == "error")["error"]["code"] == "bad_request"

        front.kill_engine()
        wait_for(lambda: health(front)[0] == 503, "the front seeing its engine die")
        client.socket.send(b"\xc1 not msgpack")
        reply = client.receive(timeout=60)
        assert reply["error"]["code"] == "bad_request"
        assert "string \"id\"" in reply["error"]["message"]
    finally:
        front.close()


def test_many_clients_through_a_kill_get_every_reply_once(front):
    """16 clients, 12 requests each, 4 in flight per client; the engine is killed midway."""
    reference = rewards(Client(front.endpoint).call(
        {"type": "score", "samples": SAMPLES[:4]}, timeout=300))
    answered = collections.Counter()
    wrong = []
    lock = threading.Lock()

    def take(reply):
        with lock:
            answered[reply["id"]] += 1
            if reply.get("type") != "score" or [r["reward"] for r in reply["results"]] != \
                    pytest.approx(reference, abs=1e-6):
                wrong.append(reply)

    def one_client():
        client = Client(front.endpoint)
        sent = []
        try:
            for _ in range(12):
                sent.append(client.send({"type": "score", "samples": SAMPLES[:4]}))
                while len(sent) - sum(answered[i] for i in sent) >= 4:
                    take(client.receive(timeout=300))
            for reply in replies_until_quiet(client, [i for i in sent if not answered[i]]):
                take(reply)
        except Exception as e:  # reported by the test's own thread
            wrong.append(repr(e))
        client.close()

    threads = [threading.Thread(target=one_client) for _ in range(16)]
    for t in threads:
        t.start()
    wait_for(lambda: sum(answered.values()) >= 40 and engine_scoring(front), "work in flight")
    front.kill_engine()
    for t in threads:
        t.join(timeout=600)
    assert not wrong, wrong[:3]
    assert len(answered) == 16 * 12
    assert set(answered.values()) == {1}
    metrics = front.metrics()
    assert metrics["safrl_front_resent_total"] >= 1
    assert metrics["safrl_front_held_requests"] == 0


def prompt_request(k, step=None):
    """Four responses to prompt k, with step k: an engine's step rows name the prompts it got."""
    return {"type": "score", "samples": [
        {"id": str(j), "prompt": f"Question {k}?", "response": "No. " * j,
         "step": k if step is None else step}
        for j in range(1, 5)]}


def test_two_engines_each_get_all_the_requests_of_a_prompt(tmp_path):
    front = Server(tmp_path, NO_CACHE, front_args=["--engines", "2"], name="pair")
    try:
        # Until both are up, a prompt's requests go to the one that is.
        wait_for(lambda: health(front) == (200, "ok\n"), "both engines up")
        client = Client(front.endpoint)
        for _ in range(2):
            ids = [client.send(prompt_request(k)) for k in range(8)]
            assert {r["type"] for r in replies_until_quiet(client, ids, quiet=1)} == {"score"}
        # The front's /metrics: each engine's latency histogram labelled engine="i", and their
        # buckets add up (PromQL's sum by (le)) to the 16 requests sent.
        text = urllib.request.urlopen(f"http://127.0.0.1:{front.http_port}/metrics",
                                      timeout=30).read().decode()
        [latency] = [f for f in text_string_to_metric_families(text)
                     if f.name == "safrl_request_latency_seconds"]
        assert latency.type == "histogram"
        counts = {s.labels["engine"]: s.value for s in latency.samples if s.name.endswith("_count")}
        assert set(counts) == {"0", "1"} and all(counts.values())
        by_le = collections.Counter()
        for s in latency.samples:
            if s.name.endswith("_bucket"):
                by_le[float(s.labels["le"])] += s.value
        assert sum(counts.values()) == by_le[float("inf")] == 16
        assert front.stop() == 0
        steps = []
        for engine in range(2):
            counts = collections.Counter()
            for line in open(front.run_dir / f"engine-{engine}" / "steps.jsonl"):
                row = json.loads(line)
                counts[row["step"]] += row["count"]
            assert set(counts.values()) == {8}  # both rounds of a prompt, on one engine
            steps.append(set(counts))
        assert steps[0] and steps[1] and not steps[0] & steps[1]
        assert steps[0] | steps[1] == set(range(8))
    finally:
        front.close()


def test_with_two_engines_the_survivor_answers_for_a_dead_one(tmp_path):
    front = Server(tmp_path, NO_CACHE, front_args=["--engines", "2", "--restart-delay", "600"],
                   name="survivor")
    try:
        wait_for(lambda: health(front) == (200, "ok\n"), "both engines up")
        client = Client(front.endpoint)
        ids = [client.send(prompt_request(k, step=0)) for k in range(8) for _ in range(3)]
        wait_for(lambda: front.metrics().get('safrl_queue_samples{engine="0"}', 0) > 0,
                   "engine 0 taking requests")
        front.kill_engine(engine=0)
        replies = replies_until_quiet(client, ids)
        assert collections.Counter(r["id"] for r in replies) == dict.fromkeys(ids, 1)
        assert {r["type"] for r in replies} == {"score"}
        assert health(front) == (200, "ok: 1 of 2 engines restarting\n")
        metrics = front.metrics()
        assert metrics["safrl_front_engines_up"] == 1
        assert metrics["safrl_front_resent_total"] >= 1
        # Engine 0's prompts, sent now, are answered by engine 1 while engine 0 is away.
        more = [client.send(prompt_request(k, step=1)) for k in range(8)]
        assert {r["id"] for r in replies_until_quiet(client, more)} == set(more)
    finally:
        front.close()
