"""Fixtures of the plugin tests.

`fake` is an in-process FakeServer (fake_server.py) for the tests that script faults or predict
scores. `endpoint` is a normally answering server: the real `safrl serve` at
$SAFRL_TEST_ENDPOINT when that is set, else a fake; test_server_contract.py runs on it.
"""
import os

import pytest

import safrl
from fake_server import FAST, FakeServer

REAL_ENDPOINT = os.environ.get("SAFRL_TEST_ENDPOINT", "").strip() or None


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch):
    """No test sees the caller's $SAFRL_ENDPOINT or CURVE keys, and none leaves shared adapter
    clients."""
    for name in ("SAFRL_ENDPOINT", "SAFRL_CURVE_SERVER_KEY", "SAFRL_CURVE_PUBLIC_KEY",
                 "SAFRL_CURVE_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    yield
    safrl.configure()


@pytest.fixture
def fake():
    server = FakeServer().start()
    yield server
    server.close()


@pytest.fixture
def endpoint():
    if REAL_ENDPOINT:
        yield REAL_ENDPOINT
        return
    server = FakeServer().start()
    yield server.endpoint
    server.close()


@pytest.fixture
def endpoint_options():
    """Client options for `endpoint`: the real server computes on models, so it gets time."""
    return {"timeout": 120.0, "retries": 3} if REAL_ENDPOINT else dict(FAST, timeout=5.0)
