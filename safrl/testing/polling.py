"""Waiting for an event in a test, instead of sleeping and hoping it happened: the tests run on
loaded machines (docs/setup.md, "Tests on a loaded machine"), so the deadline is a hang guard,
far above the wait on a slow machine, and the test goes on as soon as the event is seen."""
import time


def wait_for(condition, what, timeout=120, interval=0.02):
    """Polls condition() until it holds; fails the test naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(interval)
