"""safrl.Client against the fake server: results, ids, steps, splitting, groups, endpoints."""
import threading
import time

import pytest

import safrl
from safrl import _protocol
from fake_server import FAST, FakeServer, fake_result


def samples(n, prefix="answer"):
    return [{"prompt": f"question {i}", "response": f"{prefix} {i} " + "x" * (i % 7)}
            for i in range(n)]


def expected(items, step=None):
    return [fake_result(dict(s, id=s.get("id", i)), step) for i, s in enumerate(items)]


def test_results_come_back_in_order_exactly_as_the_server_sent_them(fake):
    items = samples(5)
    with safrl.Client(fake.endpoint, **FAST) as client:
        results = client.score(items)
    assert results == expected(items)
    assert [r["id"] for r in results] == [0, 1, 2, 3, 4]


def test_missing_ids_are_added_given_ids_kept_and_caller_dicts_untouched(fake):
    items = [{"prompt": "p", "response": "a", "id": "mine"}, {"prompt": "p", "response": "b"},
             {"prompt": "p", "answer": "c", "thinking": "t", "meta": {"k": [1, 2]}}]
    before = [dict(item) for item in items]
    with safrl.Client(fake.endpoint, **FAST) as client:
        results = client.score(items)
    assert items == before
    assert [r["id"] for r in results] == ["mine", 1, 2]
    assert results[2]["meta"] == {"k": [1, 2]} and results[2]["thinking"]["safety"] == "Safe"
    sent = fake.score_requests()[0]["samples"]
    assert [s["id"] for s in sent] == ["mine", 1, 2]


def test_the_step_is_sent_as_the_request_default_and_sample_steps_are_kept(fake):
    numpy = pytest.importorskip("numpy")
    items = [{"prompt": "p", "response": "a"}, {"prompt": "p", "response": "b", "step": 2}]
    with safrl.Client(fake.endpoint, **FAST) as client:
        results = client.score(items, step=numpy.int64(9))
    request = fake.score_requests()[0]
    assert request["step"] == 9 and type(request["step"]) is int
    assert [r["step"] for r in results] == [9, 2]


def test_a_negative_step_is_refused_before_sending(fake):
    with safrl.Client(fake.endpoint, **FAST) as client:
        with pytest.raises(safrl.BadRequest, match="step"):
            client.score(samples(1), step=-1)
    assert fake.ids() == []


def test_large_batches_are_split_and_reassembled_in_order(fake):
    items = samples(600)
    # The first request's reply comes last: reassembly must not depend on arrival order.
    fake.plan(("delay", 0.2))
    with safrl.Client(fake.endpoint, max_samples_per_request=256, **FAST) as client:
        results = client.score(items, step=1)
    assert [len(r["samples"]) for r in fake.score_requests()] == [256, 256, 88]
    assert len(set(fake.ids("score"))) == 3
    assert results == expected(items, step=1)


def test_max_in_flight_bounds_the_requests_outstanding(fake):
    fake.plan(*[("delay", 0.1)] * 4)
    with safrl.Client(fake.endpoint, max_samples_per_request=10, max_in_flight=2,
                      **FAST) as client:
        results = client.score(samples(40))
    times = sorted(t for request_id in fake.ids() for t in fake.times(request_id))
    assert len(times) == 4
    assert times[2] - times[0] >= 0.09  # the third waited for a reply
    assert [r["id"] for r in results] == list(range(40))


def test_groups_use_the_protocol_groups_and_come_back_per_prompt(fake):
    prompts = ["first prompt", "second prompt"]
    responses = [["a", "bb", "I can't help"], ["<think>\nhm\n</think>\n\nok"]]
    with safrl.Client(fake.endpoint, **FAST) as client:
        results = client.score_groups(prompts, responses, step=3)
    (request,) = fake.score_requests()
    assert "samples" not in request and request["step"] == 3
    assert request["groups"] == [
        {"prompt": "first prompt", "responses": responses[0], "ids": ["0/0", "0/1", "0/2"]},
        {"prompt": "second prompt", "responses": responses[1], "ids": ["1/0"]}]
    assert [len(group) for group in results] == [3, 1]
    assert results[0][2]["case"] == "refusal"
    assert results[1][0] == fake_result({"id": "1/0", "prompt": "second prompt",
                                         "response": responses[1][0]}, 3)


def test_groups_are_packed_whole_and_oversized_groups_split(fake):
    prompts = ["p0", "p1", "p2"]
    responses = [[f"r{g}.{k}" for k in range(n)] for g, n in enumerate([3, 3, 5])]
    with safrl.Client(fake.endpoint, max_samples_per_request=4, **FAST) as client:
        results = client.score_groups(prompts, responses)
    sent = [[(g["prompt"], len(g["responses"])) for g in r["groups"]]
            for r in fake.score_requests()]
    assert sent == [[("p0", 3)], [("p1", 3)], [("p2", 4)], [("p2", 1)]]
    for g, group in enumerate(results):
        assert [r["id"] for r in group] == [f"{g}/{k}" for k in range(len(responses[g]))]
        assert [r["answer"]["text"] for r in group] == [
            fake_result({"id": 0, "prompt": "", "response": text})["answer"]["text"]
            for text in responses[g]]


def test_empty_calls_send_nothing(fake):
    with safrl.Client(fake.endpoint, **FAST) as client:
        assert client.score([]) == []
        assert client.score_groups([], []) == []
    assert fake.ids() == []


def test_ping_info_and_stats_send_only_the_fields_asked_for(fake):
    with safrl.Client(fake.endpoint, **FAST) as client:
        assert isinstance(client.ping()["time_ms"], int)
        assert client.info()["protocol"] == 2
        assert client.info(deep=True)["deep_check"] == "ok"
        assert "counters" in client.stats()
        client.stats(flush=True)
    sent = [r for _, _, r in fake.requests]
    assert [r["type"] for r in sent] == ["ping", "info", "info", "stats", "stats"]
    assert "deep" not in sent[1] and sent[2]["deep"] is True
    assert "flush" not in sent[3] and sent[4]["flush"] is True
    assert all(len(r["id"]) == 36 for r in sent)  # uuid4 strings


def test_the_endpoint_comes_from_the_argument_then_the_environment_then_the_default(
        fake, monkeypatch):
    assert _protocol.resolve_endpoints(None) == ["tcp://127.0.0.1:5555"]
    monkeypatch.setenv("SAFRL_ENDPOINT", fake.endpoint)
    with safrl.Client(**FAST) as client:
        assert client.endpoints == [fake.endpoint]
        client.ping()
    with safrl.Client("tcp://10.0.0.1:1", **FAST) as client:
        assert client.endpoints == ["tcp://10.0.0.1:1"]
    monkeypatch.setenv("SAFRL_ENDPOINT", " tcp://a:1, tcp://b:2 ")
    assert _protocol.resolve_endpoints(None) == ["tcp://a:1", "tcp://b:2"]


def test_bad_settings_and_endpoints_are_refused_at_construction():
    with pytest.raises(ValueError, match="tcp://"):
        safrl.Client("localhost:5555")
    with pytest.raises(ValueError):
        safrl.Client([""])
    with pytest.raises(ValueError, match="timeout"):
        safrl.Client(timeout=0)
    with pytest.raises(ValueError):
        safrl.Client(retries=-1)


def test_several_endpoints_spread_the_load_over_one_socket():
    a, b = FakeServer().start(), FakeServer().start()
    try:
        with safrl.Client(f"{a.endpoint},{b.endpoint}", **FAST) as client:
            # Requests go only to connected servers: ping until both connections are up.
            deadline = time.monotonic() + 5.0
            while not (a.ids() and b.ids()) and time.monotonic() < deadline:
                client.ping()
            for i in range(10):
                assert client.score(samples(1, prefix=f"r{i}"))[0]["id"] == 0
        assert a.ids("score") and b.ids("score")
        assert len(a.ids("score")) + len(b.ids("score")) == 10
    finally:
        a.close()
        b.close()


def test_threads_share_a_client_with_a_socket_each(fake):
    errors, outputs = [], {}
    with safrl.Client(fake.endpoint, **FAST) as client:
        def work(k):
            try:
                items = samples(3, prefix=f"thread{k}")
                outputs[k] = (client.score(items), expected(items))
            except Exception as error:  # reported below
                errors.append(error)
        threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors
    assert all(got == want for got, want in outputs.values()) and len(outputs) == 6
    assert len({identity for _, identity, _ in fake.requests}) == 6


def test_a_closed_client_refuses_calls(fake):
    client = safrl.Client(fake.endpoint, **FAST)
    client.ping()
    client.close()
    client.close()
    with pytest.raises(safrl.SafrlError, match="closed"):
        client.ping()


def test_a_sample_msgpack_cannot_carry_is_a_bad_request(fake):
    with safrl.Client(fake.endpoint, **FAST) as client:
        with pytest.raises(safrl.BadRequest, match="msgpack"):
            client.score([{"prompt": "p", "response": "r", "meta": object()}])
        with pytest.raises(safrl.BadRequest, match="dict"):
            client.score(["not a sample"])
    assert fake.ids() == []
