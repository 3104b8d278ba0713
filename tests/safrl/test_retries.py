"""safrl.Client under faults: busy, lost replies, stale replies, errors, a server that restarts,
no server at all; what it logs while it retries."""
import logging
import re
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
    with safrl.Client(fake.endpoint, timeout=5.0, retries=3, backoff=0.04,
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


def test_busy_is_waited_out_beyond_the_retry_count(fake, caplog):
    # A server busy for many answers in a row (a full queue for seconds) does not end the call:
    # busy answers do not count against retries, only busy_wait bounds them.
    fake.plan(*[("busy", 5)] * 12)
    with caplog.at_level(logging.DEBUG, logger="safrl"):
        with safrl.Client(fake.endpoint, **dict(FAST, retries=2, busy_wait=60)) as client:
            assert client.score(ITEMS) == EXPECTED
    ids = fake.ids("score")
    assert len(ids) == 13 and len(set(ids)) == 1
    assert fake.counted[ids[0]] == len(ITEMS)
    # Busy is normal back-pressure: logged for debugging only, never as a warning.
    assert [r.levelno for r in caplog.records] == [logging.DEBUG] * 12
    assert "busy" in caplog.records[0].getMessage()


def test_busy_wait_runs_from_a_requests_first_attempt_not_from_the_calls_start(fake):
    # One request at a time: the third waits at least 1.4 s for the first two before it is sent,
    # then is told busy; busy_wait=1.2 s still lets it wait, as its own wait has only begun (a
    # wait counted from the call's start is over by then, whatever the machine's speed).
    fake.plan(("delay", 0.7), ("delay", 0.7), ("busy", 50), ("busy", 50))
    samples = [{"prompt": "q", "response": f"answer {i}"} for i in range(3)]
    with safrl.Client(fake.endpoint, **dict(FAST, busy_wait=1.2, max_in_flight=1,
                                            max_samples_per_request=1)) as client:
        assert client.score(samples) == [fake_result(dict(s, id=i)) for i, s in enumerate(samples)]
    assert len(fake.ids("score")) == 5


def test_unavailable_is_waited_out_like_busy(fake, caplog):
    # `unavailable`: the server is up but a model it calls (a vLLM helpfulness server) is down for
    # now; a trainer's call waits for it like for a full queue, beyond the retry count.
    fake.plan(*[("error", "unavailable")] * 6)
    with caplog.at_level(logging.WARNING, logger="safrl"):
        with safrl.Client(fake.endpoint, **dict(FAST, retries=2, busy_wait=60)) as client:
            assert client.score(ITEMS) == EXPECTED
    ids = fake.ids("score")
    assert len(ids) == 7 and len(set(ids)) == 1
    # Each answer is a warning: a model the server needs is down.
    assert len(caplog.records) == 6
    assert re.fullmatch(rf"safrl: request {ids[0]}: unavailable: .* \(answer 1 after \d+\.\d s, "
                        r"waited out for up to busy_wait=60 s\); retrying in 0\.\d s",
                        caplog.records[0].getMessage())
    caplog.clear()
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
    with safrl.Client(fake.endpoint, **dict(FAST, retries=0, busy_wait=1.5)) as client:
        with pytest.raises(safrl.ServerBusy) as caught:
            client.score(ITEMS)
    elapsed = time.monotonic() - started
    # Waited busy_wait out (it gives up when the next wait would pass 1.5 s), then stopped
    # long before the 1000 planned answers (50 s): an upper bound only as a guard.
    assert 1.4 <= elapsed < 10.0, elapsed
    assert caught.value.code == "busy" and caught.value.retry_after_ms == 50
    assert "busy for busy_wait=1.5 s" in str(caught.value)
    ids = fake.ids("score")
    # Retried beyond retries=0 (busy answers do not count; a stall of a second before the first
    # answer still leaves time for a second attempt), always with the same id.
    assert len(ids) >= 2 and caught.value.request_id == ids[0] and len(set(ids)) == 1


def test_busy_wait_must_be_a_number_of_seconds():
    with pytest.raises(ValueError, match="busy_wait"):
        safrl.Client(busy_wait=-1)


@pytest.mark.parametrize("code", ["deadline_exceeded", "shutting_down"])
def test_deadline_exceeded_and_shutting_down_are_retried(fake, code):
    fake.plan(("error", code), ("error", code))
    with safrl.Client(fake.endpoint, **FAST) as client:
        assert client.score(ITEMS) == EXPECTED
    assert len(fake.ids("score")) == 3 and len(set(fake.ids("score"))) == 1


def connect(client):
    """Pings until answered: the client's socket is then connected, and a short timeout times
    only the lost replies a test plans, not a connection slowed by a loaded machine."""
    for _ in range(20):
        try:
            return client.ping()
        except safrl.Timeout:
            pass
    raise AssertionError("the fake server never answered a ping")


def test_lost_replies_time_out_and_raise_timeout_after_the_budget(fake, caplog):
    with caplog.at_level(logging.WARNING, logger="safrl"):
        with safrl.Client(fake.endpoint, **dict(FAST, timeout=0.2, retries=2)) as client:
            connect(client)
            caplog.clear()
            fake.plan(*[("drop",)] * 10)
            started = time.monotonic()
            with pytest.raises(safrl.Timeout) as caught:
                client.score(ITEMS)
    assert time.monotonic() - started >= 3 * 0.2
    assert isinstance(caught.value, TimeoutError)
    assert "no reply" in str(caught.value) and "3 attempts" in str(caught.value)
    assert [r.getMessage().split(" failed")[0] for r in caplog.records] == [
        f"safrl: request {caught.value.request_id}: attempt {k} of 3" for k in (1, 2)]
    assert f"no reply from {fake.endpoint} within 0.2 s" in caplog.records[0].getMessage()
    ids = fake.ids("score")
    assert len(ids) == 3 and len(set(ids)) == 1
    assert fake.counted[ids[0]] == len(ITEMS)  # computed once however often it was asked


def test_a_lost_reply_is_recovered_from_the_server_cache(fake):
    fake.plan(("drop",))
    with safrl.Client(fake.endpoint, **dict(FAST, timeout=1.0)) as client:
        assert client.score(ITEMS) == EXPECTED
    ids = fake.ids("score")
    # Retried under the same id and answered from the cache: computed and counted once. (A
    # stall past the 1 s timeout may add an attempt; it is still the same id, counted once.)
    assert len(ids) >= 2 and len(set(ids)) == 1 and fake.counted[ids[0]] == len(ITEMS)


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
    # Call 1 gets no reply and gives up; the fake holds its reply until call 2's request arrives
    # and sends it just before call 2's own, so call 2 receives it first and must drop it.
    fake.plan(("hold",))
    other = [{"prompt": "q2", "response": "a different answer"}]
    with safrl.Client(fake.endpoint, **dict(FAST, timeout=2.0, retries=0)) as client:
        with pytest.raises(safrl.Timeout, match="no reply"):
            client.score(ITEMS)
        assert client.score(other) == [fake_result(dict(other[0], id=0))]
    first, second = fake.ids("score")
    assert first != second
    assert fake.sent() == [first, second]  # call 1's late reply went out first


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
    with safrl.Client(fake.endpoint, **dict(FAST, timeout=2.0, retries=3)) as client:
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


def test_no_server_logs_each_attempt_and_the_error_says_how_long_and_what_to_check(fake, caplog):
    """The first attempt gives up after connect_timeout (nobody took the request), the later ones
    after the full timeout; each failure is one warning saying what comes next and when."""
    fake.stop()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="safrl"):
        with safrl.Client(fake.endpoint, timeout=1.5, connect_timeout=0.1, retries=2,
                          backoff=0.01, max_backoff=0.02) as client:
            with pytest.raises(safrl.Timeout) as caught:
                client.score(ITEMS)
    elapsed = time.monotonic() - started
    error = str(caught.value)
    request_id = caught.value.request_id
    nobody = f"no server at {fake.endpoint} accepted the request within"
    check = (f"(is `safrl serve` running at that endpoint? Start it with `safrl serve --config "
             f"CONFIG --endpoint {fake.endpoint}`, or give the client the endpoint it listens on)")
    first, second = [r.getMessage() for r in caplog.records]
    assert all(r.levelno == logging.WARNING and r.name == "safrl" for r in caplog.records)
    head = rf"safrl: request {request_id}: attempt (\d) of 3 failed after ([\d.]+) s: "
    tail = r"; retrying in 0\.0 s"
    one = re.fullmatch(head + re.escape(f"{nobody} 0.1 s {check}") + tail, first)
    two = re.fullmatch(head + re.escape(f"{nobody} 1.5 s {check}") + tail, second)
    assert one and two, (first, second)
    # (Times are logged to 0.1 s.) The first attempt waited connect_timeout, and gave up before
    # the full timeout could have passed; the second waited the full timeout after it.
    after_one, after_two = float(one[2]), float(two[2])
    assert one[1] == "1" and 0.1 <= after_one < 1.5, first
    assert two[1] == "2" and after_two - after_one >= 1.5 - 0.06, second
    # 0.1 s, then 1.5 s twice, plus two backoffs of at most 20 ms; the upper bound is a guard.
    assert 3.1 <= elapsed < 10.0, elapsed
    assert error.startswith(f"{nobody} 1.5 s {check}. Gave up after 3 attempts in "), error
    tried = float(re.search(r"Gave up after 3 attempts in ([\d.]+) s \(retries=2; request ", error)[1])
    assert 3.1 <= tried <= elapsed + 0.05, error


def test_the_defaults_are_the_documented_ones():
    # docs/plugin.md: no server at all costs 10 s to the first warning, about 5 min in all.
    documented = _protocol.Settings(timeout=60.0, retries=5, backoff=0.2, max_backoff=5.0,
                                    max_samples_per_request=256, max_in_flight=8, busy_wait=600.0,
                                    connect_timeout=10.0)
    with safrl.Client() as client:
        assert client.settings == documented
    async_client = safrl.AsyncClient()
    assert async_client.settings == documented
    async_client.close_threadsafe()
    with pytest.raises(ValueError, match="connect_timeout must be a positive number"):
        safrl.Client(connect_timeout=0)


def test_requests_fail_over_to_the_servers_that_are_up():
    a, b = FakeServer().start(), FakeServer().start()
    try:
        with safrl.Client([a.endpoint, b.endpoint], **dict(FAST, timeout=0.5, retries=4)) as client:
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
