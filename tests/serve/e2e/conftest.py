"""Starts real `safrl serve` processes on loopback with the embedded models
(safrl.testing.live_server)."""
import pytest

from safrl.testing.live_server import EMBEDDED, SAFRL, Client, Server, free_port  # noqa: F401


@pytest.fixture
def server(tmp_path):
    s = Server(tmp_path)
    yield s
    s.stop(9)
