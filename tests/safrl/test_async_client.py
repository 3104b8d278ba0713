"""safrl.AsyncClient against the fake server: concurrency on one socket, retries, errors."""
import asyncio
import logging
import random
import re
import subprocess
import sys
import time

import pytest

import safrl
from fake_server import FAST, fake_result


def items(tag, n=2):
    return [{"prompt": f"q {tag}", "response": f"answer {tag}.{i}"} for i in range(n)]


def expected(samples, step=None):
    return [fake_result(dict(s, id=i), step) for i, s in enumerate(samples)]


def run(coroutine):
    return asyncio.run(asyncio.wait_for(coroutine, 20))


def test_fifty_concurrent_requests_share_one_socket_and_get_their_own_replies(fake):
    # Replies come back in shuffled order.
    rng = random.Random(7)
    fake.plan(*[("delay", rng.uniform(0.0, 0.15)) for _ in range(50)])

    async def main():
        async with safrl.AsyncClient(fake.endpoint, **FAST) as client:
            return await asyncio.gather(*(client.score(items(k), step=k) for k in range(50)))

    results = run(main())
    assert results == [expected(items(k), step=k) for k in range(50)]
    assert len(set(fake.ids("score"))) == 50
    assert len({identity for _, identity, _ in fake.requests}) == 1


def test_splitting_reassembles_in_order_with_bounded_concurrency(fake):
    samples = [{"prompt": "q", "response": f"answer {i}"} for i in range(100)]
    fake.plan(("delay", 0.15))

    async def main():
        async with safrl.AsyncClient(fake.endpoint, max_samples_per_request=30, max_in_flight=2,
                                     **FAST) as client:
            return await client.score(samples)

    assert run(main()) == expected(samples)
    assert [len(r["samples"]) for r in fake.score_requests()] == [30, 30, 30, 10]


def test_groups_ping_info_and_stats(fake):
    async def main():
        async with safrl.AsyncClient(fake.endpoint, **FAST) as client:
            groups = await client.score_groups(["p", "q"], [["a", "b"], ["c"]], step=2)
            return groups, await client.ping(), await client.info(deep=True), \
                await client.stats(flush=True)

    groups, pong, info, stats = run(main())
    assert [[r["id"] for r in group] for group in groups] == [["0/0", "0/1"], ["1/0"]]
    assert groups[1][0] == fake_result({"id": "1/0", "prompt": "q", "response": "c"}, 2)
    assert "time_ms" in pong and info["deep_check"] == "ok" and "counters" in stats
    assert [r["type"] for _, _, r in fake.requests] == ["score", "ping", "info", "stats"]


def test_busy_is_retried_with_the_same_id_after_retry_after_ms(fake):
    fake.plan(("busy", 100), ("busy", 100))

    async def main():
        async with safrl.AsyncClient(fake.endpoint, **FAST) as client:
            return await client.score(items("b"))

    assert run(main()) == expected(items("b"))
    (request_id,) = set(fake.ids("score"))
    times = fake.times(request_id)
    assert len(times) == 3 and all(b - a >= 0.1 for a, b in zip(times, times[1:]))


def test_endless_busy_and_lost_replies_raise_typed_errors_after_the_budget(fake):
    # The short timeout is for the lost replies; a busy answer later than it (a stall) costs one
    # of the two retries, and the busy answers go on.
    async def main():
        async with safrl.AsyncClient(fake.endpoint, **dict(FAST, timeout=0.3, retries=2,
                                                           busy_wait=1.5)) as client:
            fake.plan(*[("busy", 100)] * 30)
            with pytest.raises(safrl.ServerBusy, match="busy_wait=1.5 s"):
                await client.score(items("x"))
            fake.unplan()
            fake.plan(*[("drop",)] * 3)
            with pytest.raises(safrl.Timeout, match="no reply"):
                await client.ping()

    run(main())
    score_ids, ping_ids = fake.ids("score"), fake.ids("ping")
    # Retried beyond retries=2 while busy_wait lasts (waits of at least 0.1 s: 16 at most).
    assert 2 <= len(score_ids) <= 16 and len(set(score_ids)) == 1
    assert len(ping_ids) == 3 and len(set(ping_ids)) == 1


def test_a_lost_reply_is_retried_and_a_late_reply_of_an_abandoned_call_dropped(fake):
    async def main():
        async with safrl.AsyncClient(fake.endpoint, **dict(FAST, timeout=1.5, retries=1)) as client:
            fake.plan(("drop",))
            first = await client.score(items("first"))
            # Both attempts of the next call get no reply, and the call gives up; the fake holds
            # their replies until the next call's request arrives and sends them just before
            # that call's own, so they land while it waits.
            fake.plan(("hold",), ("hold",))
            with pytest.raises(safrl.Timeout, match="no reply"):
                await client.score(items("abandoned"))
            second = await client.score(items("second"))
            return first, second

    first, second = run(main())
    assert first == expected(items("first")) and second == expected(items("second"))
    lost, abandoned, last = dict.fromkeys(fake.ids("score"))
    assert fake.ids("score") == [lost, lost, abandoned, abandoned, last]
    assert fake.sent() == [lost, abandoned, abandoned, last]


def test_request_errors_are_not_retried(fake):
    async def main():
        async with safrl.AsyncClient(fake.endpoint, **FAST) as client:
            with pytest.raises(safrl.BadRequest, match="respones"):
                await client.score([{"prompt": "p", "respones": "typo"}])
            fake.plan(("error", "internal"))
            with pytest.raises(safrl.ServerError):
                await client.ping()

    run(main())
    assert len(fake.ids()) == 2


def test_the_first_failure_of_a_split_call_cancels_the_rest(fake):
    samples = [{"prompt": "q", "response": f"answer {i}"} for i in range(9)]
    fake.plan(("delay", 0.3), ("error", "too_long"), ("delay", 0.3))

    async def main():
        async with safrl.AsyncClient(fake.endpoint, max_samples_per_request=3, **FAST) as client:
            with pytest.raises(safrl.BadRequest) as caught:
                await client.score(samples)
            assert client._waiters == {}
            return caught.value

    assert run(main()).code == "too_long"


def test_a_server_that_goes_away_and_comes_back(fake):
    async def main():
        async with safrl.AsyncClient(fake.endpoint, **dict(FAST, timeout=2.0, retries=3)) as client:
            await client.ping()
            fake.stop()
            loop = asyncio.get_running_loop()
            restart = loop.run_in_executor(None, lambda: (time.sleep(0.5), fake.start()))
            result = await client.score(items("back"))
            await restart
            return result

    assert run(main()) == expected(items("back"))


def test_no_server_logs_each_attempt_and_the_error_says_how_long_and_what_to_check(fake, caplog):
    # As safrl.Client: the first attempt waits connect_timeout for a server to take the request,
    # the later ones the full timeout; one warning per failed attempt.
    fake.stop()

    async def main():
        async with safrl.AsyncClient(fake.endpoint, timeout=1.5, connect_timeout=0.1, retries=2,
                                     backoff=0.01, max_backoff=0.02) as client:
            with pytest.raises(safrl.Timeout) as caught:
                await client.score(items("nobody"))
            return caught.value

    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="safrl"):
        error = run(main())
    elapsed = time.monotonic() - started
    nobody = f"no server at {fake.endpoint} accepted the request within"
    messages = [r.getMessage() for r in caplog.records]
    logged = [re.match(rf"safrl: request {error.request_id}: attempt (\d) of 3 failed after "
                       rf"([\d.]+) s: {nobody} ([\d.]+) s \(is `safrl serve` running at that "
                       r"endpoint\?", m).groups() for m in messages]
    assert [(k, within) for k, _, within in logged] == [("1", "0.1"), ("2", "1.5")], messages
    # (Times are logged to 0.1 s.) The first attempt waited connect_timeout, and gave up before
    # the full timeout could have passed; the second waited the full timeout after it.
    after_one, after_two = (float(after) for _, after, _ in logged)
    assert 0.1 <= after_one < 1.5 and after_two - after_one >= 1.5 - 0.06, messages
    # 0.1 s, then 1.5 s twice, plus two backoffs of at most 20 ms; the upper bound is a guard.
    assert 3.1 <= elapsed < 10.0, elapsed
    tried = float(re.search(r"Gave up after 3 attempts in ([\d.]+) s \(retries=2;", str(error))[1])
    assert 3.1 <= tried <= elapsed + 0.05, error


def test_close_fails_waiting_requests_and_refuses_new_ones(fake):
    fake.plan(("delay", 1.0))

    async def main():
        client = safrl.AsyncClient(fake.endpoint, **FAST)
        pending = asyncio.ensure_future(client.ping())
        await asyncio.sleep(0.1)
        await client.close()
        with pytest.raises(safrl.SafrlError, match="closed"):
            await pending
        with pytest.raises(safrl.SafrlError, match="closed"):
            await client.ping()

    run(main())


def test_a_client_belongs_to_one_event_loop(fake):
    client = safrl.AsyncClient(fake.endpoint, **FAST)
    run(client.ping())
    with pytest.raises(safrl.SafrlError, match="event loop"):
        run(client.ping())
    client.close_threadsafe()


def test_a_client_never_closed_leaves_no_pending_task_at_exit(fake):
    # A trainer's module-level client is often never closed, and its loop simply goes away:
    # "Task was destroyed but it is pending! ... AsyncClient._read()" at exit before.
    script = (
        "import asyncio, safrl\n"
        f"client = safrl.AsyncClient({fake.endpoint!r})\n"
        "loop = asyncio.new_event_loop()\n"
        "print(sorted(loop.run_until_complete(client.ping())))\n")
    done = subprocess.run([sys.executable, "-X", "dev", "-c", script], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['time_ms']"
    assert "pending" not in done.stderr and "destroyed" not in done.stderr, done.stderr
