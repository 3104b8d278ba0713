"""safrl.Client under faults: busy, lost replies, stale replies, errors, a server that restarts."""
import threading
import time

import pytest

import safrl
from safrl import _protocol
from fake_server import FAST, FakeServer, fake_result

ITEMS = [{"prompt": "q", "response": "an answer"}, {"prompt": "q", "response": "Sorry, no"}]
EXPECTED = [fake_result(dict(s, id=i)) for i, s in enumerate(ITEMS)]


def gaps(times):
    return [b - a for a, b in zip(times, times[1:])]


def test_busy_is_retried_with_the_same_id_and_counted_once(fake):
    fake.plan(("busy", 0), ("busy", 0), ("busy", 0))
    with safrl.Client(fake.endpoint, **FAST) as client:
        assert client.score(ITEMS) == EXPECTED
    ids = fake.ids("score")
    assert len(ids) == 4 and len(set(ids)) == 1
    assert fake.counted[ids[0]] == len(ITEMS)


def test_retry_after_ms_is_a_floor_for_the_wait(fake):
    fake.plan(("busy", 150), ("busy", 150))
    with safrl.Client(fake.endpoint, **FAST) as client:
        client.score(ITEMS)
    (request_id,) = set(fake.ids("score"))
    waits = gaps(fake.times(request_id))
    assert len(waits) == 2 and all(wait >= 0.15 for wait in waits)


def test_backoff_grows_exponentially_without_a_hint(fake):
    fake.plan(("busy", 0), ("busy", 0), ("busy", 0))
    with safrl.Client(fake.endpoint, timeout=1.0, retries=3, backoff=0.04,
                      max_backoff=1.0) as client:
        client.score(ITEMS)
    (request_id,) = set(fake.ids("score"))
    waits = gaps(fake.times(request_id))
    # Jitter keeps each wait within [half, full] of 0.04 * 2^k.
    assert [wait >= 0.5 * 0.04 * 2 ** k for k, wait in enumerate(waits)] == [True] * 3


def test_backoff_delays_are_jittered_and_capped_and_a_hint_is_the_wait():
    settings = _protocol.Settings(backoff=0.1, max_backoff=0.4)
    for failures, base in [(1, 0.1), (2, 0.2), (3, 0.4), (6, 0.4)]:
        delays = [settings.backoff_delay(failures) for _ in range(200)]
        assert min(delays) >= base / 2 and max(delays) <= base
        assert max(delays) - min(delays) > base / 10  # jittered, not constant
    # The server's hint is the wait, however many refusals came before (no exponential growth).
    for failures in (1, 6):
        hinted = [settings.backoff_delay(failures, retry_after_ms=300) for _ in range(200)]
        assert min(hinted) >= 0.3 and max(hinted) <= 0.33
    assert max(settings.backoff_delay(6, retry_after_ms=50) for _ in range(200)) <= 0.055


def test_busy_is_waited_out_beyond_the_retry_count(fake):
    # A server busy for many answers in a row (a full queue for seconds) does not end the call:
    # busy answers do not count against retries, only busy_wait bounds them.
    fake.plan(*[("busy", 5)] * 12)
    with safrl.Client(fake.endpoint, **dict(FAST, retries=2, busy_wait=60)) as client:
        assert client.score(ITEMS) == EXPECTED
    ids = fake.ids("score")
    assert len(ids) == 13 and len(set(ids)) == 1
    assert fake.counted[ids[0]] == len(ITEMS)


def test_unavailable_is_waited_out_like_busy(fake):
    # `unavailable`: the server is up but a model it calls (a vLLM helpfulness server) is down for
    # now; a trainer's call waits for it like for a full queue, beyond the retry count.
    fake.plan(*[("error", "unavailable")] * 6)
    with safrl.Client(fake.endpoint, **dict(FAST, retries=2, busy_wait=60)) as client:
        assert client.score(ITEMS) == EXPECTED
    ids = fake.ids("score")
    assert len(ids) == 7 and len(set(ids)) == 1
    assert fake.counted[ids[0]] == len(ITEMS)
    fake.plan(*[("error", "unavailable")] * 1000)
    with safrl.Client(fake.endpoint, **dict(FAST, retries=0, busy_wait=0.3)) as client:
        with pytest.raises(safrl.ServerBusy) as caught:
            client.score(ITEMS)
    assert caught.value.code == "unavailable"
    assert "unavailable for busy_wait=0.3 s" in str(caught.value)


def test_endless_busy_raises_server_busy_after_busy_wait(fake):
    fake.plan(*[("busy", 50)] * 1000)
    started = time.monotonic()
    with safrl.Client(fake.endpoint, **dict(FAST, retries=0, busy_wait=0.5)) as client:
        with pytest.raises(safrl.ServerBusy) as caught:
            client.score(ITEMS)
    elapsed = time.monotonic() - started
    assert 0.4 <= elapsed < 2.0, elapsed
    assert caught.value.code == "busy" and caught.value.retry_after_ms == 50
    assert "busy for busy_wait=0.5 s" in str(caught.value)
    ids = fake.ids("score")
    assert len(ids) >= 5 and caught.value.request_id == ids[0] and len(set(ids)) == 1


def test_busy_wait_must_be_a_number_of_seconds():
    with pytest.raises(ValueError, match="busy_wait"):
        safrl.Client(busy_wait=-1)


@pytest.mark.parametrize("code", ["deadline_exceeded", "shutting_down"])
def test_deadline_exceeded_and_shutting_down_are_retried(fake, code):
    fake.plan(("error", code), ("error", code))
    with safrl.Client(fake.endpoint, **FAST) as client:
        assert client.score(ITEMS) == EXPECTED
    assert len(fake.ids("score")) == 3 and len(set(fake.ids("score"))) == 1


def test_lost_replies_time_out_and_raise_timeout_after_the_budget(fake):
    fake.plan(*[("drop",)] * 10)
    started = time.monotonic()
    with safrl.Client(fake.endpoint, **dict(FAST, timeout=0.2, retries=2)) as client:
        with pytest.raises(safrl.Timeout) as caught:
            client.score(ITEMS)
    assert time.monotonic() - started >= 3 * 0.2
    assert isinstance(caught.value, TimeoutError)
    assert "no reply" in str(caught.value) and "3 attempts" in str(caught.value)
    ids = fake.ids("score")
    assert len(ids) == 3 and len(set(ids)) == 1
    assert fake.counted[ids[0]] == len(ITEMS)  # computed once however often it was asked


def test_a_lost_reply_is_recovered_from_the_server_cache(fake):
    fake.plan(("drop",))
    with safrl.Client(fake.endpoint, **FAST) as client:
        assert client.score(ITEMS) == EXPECTED
    ids = fake.ids("score")
    assert len(ids) == 2 and ids[0] == ids[1] and fake.counted[ids[0]] == len(ITEMS)


def test_a_reply_under_another_id_is_ignored(fake):
    fake.plan(("stale",))
    with safrl.Client(fake.endpoint, **FAST) as client:
        assert client.score(ITEMS) == EXPECTED
    assert len(fake.ids("score")) == 1


def test_a_frame_that_is_not_msgpack_is_ignored(fake):
    fake.plan(("garbage",))
    with safrl.Client(fake.endpoint, **FAST) as client:
        assert client.score(ITEMS) == EXPECTED


def test_the_late_reply_of_a_call_that_gave_up_is_dropped_by_the_next_call(fake):
    # Call 1 times out at 0.4 s; its reply arrives at 0.5 s, while call 2 (sent at 0.4 s) waits
    # for its own, due at 0.65 s.
    fake.plan(("delay", 0.5), ("delay", 0.25))
    other = [{"prompt": "q2", "response": "a different answer"}]
    with safrl.Client(fake.endpoint, **dict(FAST, timeout=0.4, retries=0)) as client:
        with pytest.raises(safrl.Timeout):
            client.score(ITEMS)
        assert client.score(other) == [fake_result(dict(other[0], id=0))]
    assert len(set(fake.ids("score"))) == 2


@pytest.mark.parametrize("code", ["bad_request", "too_large", "too_long", "unsupported_version"])
def test_request_errors_raise_bad_request_without_retrying(fake, code):
    fake.plan(("error", code))
    with safrl.Client(fake.endpoint, **FAST) as client:
        with pytest.raises(safrl.BadRequest) as caught:
            client.score(ITEMS)
    assert caught.value.code == code and len(fake.ids("score")) == 1


def test_an_invalid_sample_is_refused_by_the_server_as_a_bad_request(fake):
    with safrl.Client(fake.endpoint, **FAST) as client:
        with pytest.raises(safrl.BadRequest, match="respones"):
            client.score([{"prompt": "p", "respones": "typo"}])
    assert len(fake.ids("score")) == 1


@pytest.mark.parametrize("action", [("error", "internal"), ("error", "model_error"),
                                    ("error", "no_such_code"),
                                    ("short",), ("nan",)])
def test_server_failures_and_broken_replies_raise_server_error_without_retrying(fake, action):
    fake.plan(action)
    with safrl.Client(fake.endpoint, **FAST) as client:
        with pytest.raises(safrl.ServerError):
            client.score(ITEMS)
    assert len(fake.ids("score")) == 1


def test_a_server_that_goes_away_and_comes_back_is_retried_until_it_answers(fake):
    with safrl.Client(fake.endpoint, **dict(FAST, timeout=0.2, retries=8)) as client:
        client.ping()
        fake.stop()
        restart = threading.Timer(0.5, fake.start)
        restart.start()
        try:
            assert client.score(ITEMS) == EXPECTED
        finally:
            restart.join()
    assert len(fake.ids("score")) == 1  # nothing was sent while it was away


def test_no_server_at_all_raises_timeout_saying_nobody_accepted(fake):
    fake.stop()
    with safrl.Client(fake.endpoint, **dict(FAST, timeout=0.1, retries=1)) as client:
        with pytest.raises(safrl.Timeout, match="accepted"):
            client.ping()


def test_requests_fail_over_to_the_servers_that_are_up():
    a, b = FakeServer().start(), FakeServer().start()
    try:
        with safrl.Client([a.endpoint, b.endpoint], **dict(FAST, timeout=0.2, retries=4)) as client:
            client.ping()
            client.ping()
            a.stop()
            for i in range(6):
                item = [{"prompt": "q", "response": f"answer {i}"}]
                assert client.score(item) == [fake_result(dict(item[0], id=0))]
        assert len(set(b.ids("score"))) == 6
    finally:
        a.close()
        b.close()
