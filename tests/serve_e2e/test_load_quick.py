"""A short run of experiments/bench/load_test.py: 8 clients, each with 4 requests in flight
against a small admission bound, so busy replies happen and are retried with the same id. Every
request must be answered exactly once, each reply carrying exactly the samples it was sent for.
The full run and its figures: experiments/bench/RESULTS-load.part.md."""
import os
import sys

from conftest import Server

sys.path.insert(0, os.path.join(os.environ.get("SAFRL_SOURCE_DIR", "."), "experiments", "bench"))
from load_test import run_load  # noqa: E402


def test_every_request_is_answered_exactly_once_under_load(tmp_path):
    s = Server(tmp_path, "  max_queued_samples: 12\n", name="load")
    try:
        figures = run_load(s.endpoint, s.proc.pid, clients=8, requests=40, in_flight=4,
                           max_samples=3, max_seconds=120)
        assert figures["answered"] == figures["requests"] == 320, figures
        assert figures["lost"] == 0 and figures["duplicates"] == 0, figures
        assert figures["wrong"] == [] and figures["errors"] == [], figures
        assert figures["busy_replies"] > 0, figures  # the bound was reached and recovered from
        assert figures["attempt_timeouts"] == 0, figures
    finally:
        assert s.stop() == 0
