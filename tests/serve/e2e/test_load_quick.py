"""A short run of experiments/bench/serve/load_test.py: 8 clients, each with 4 requests in flight
against a small admission bound, so busy replies happen and are retried with the same id. Every
request must be answered exactly once, each reply carrying exactly the samples it was sent for.
The full runs and their figures (load and soak): experiments/bench/RESULTS.md."""
from conftest import Server
from experiments.bench.serve.load_test import run_load


def test_every_request_is_answered_exactly_once_under_load(tmp_path):
    s = Server(tmp_path, "  max_queued_samples: 12\n", name="load")
    try:
        figures = run_load(s.endpoint, s.proc.pid, clients=8, requests=40, in_flight=4,
                           max_samples=3, max_seconds=600)
        assert figures["answered"] == figures["requests"] == 320, figures
        assert figures["lost"] == 0 and figures["duplicates"] == 0, figures
        assert figures["wrong"] == [] and figures["errors"] == [], figures
        assert figures["busy_replies"] > 0, figures  # the bound was reached and recovered from
        assert figures["attempt_timeouts"] == 0, figures
    finally:
        assert s.stop() == 0


def test_a_short_soak_answers_rollouts_and_refuses_each_malformed_request_with_its_code(tmp_path):
    s = Server(tmp_path, "", name="soak")
    try:
        # 2 clients x 25 requests; every 5th malformed, cycling through all five kinds.
        figures = run_load(s.endpoint, s.proc.pid, clients=2, requests=25, in_flight=2,
                           max_samples=4, max_seconds=600, rollouts=True, bad_every=5)
        assert figures["answered"] == figures["requests"] == 50, figures
        assert figures["refused_as_expected"] == 10, figures
        assert figures["lost"] == 0 and figures["duplicates"] == 0, figures
        assert figures["wrong"] == [] and figures["errors"] == [], figures
    finally:
        assert s.stop() == 0
