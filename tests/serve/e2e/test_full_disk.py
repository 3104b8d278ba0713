"""A full disk never costs a reward and never kills the server (issue 31, section 1): the run
directory is a small tmpfs filled to the last byte; rewards still arrive, the step rows wait in
memory (counted in /metrics, /health says degraded) and are written once, in both files, when
space returns; a flush or SIGTERM on a full disk ends nothing with an error."""
import contextlib
import csv
import json
import os
import subprocess
import time
import urllib.request

import pytest

from conftest import Client, Server

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="mounting a tmpfs needs root")


@contextlib.contextmanager
def small_disk(path, options="size=1m"):
    """A tmpfs of 1 MiB at `path`, unmounted afterwards."""
    path.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {result.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(disk):
    """Takes every free byte of the disk; returns the filler to delete when space should return."""
    filler = disk / "filler"
    with open(filler, "wb", buffering=0) as out:
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def sample(i, step):
    return {"id": i, "prompt": f"question {i % 5}", "response": f"answer {i}", "step": step}


def http_get(server, path):
    return urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}{path}", timeout=30).read().decode()


def metric(server, name):
    for line in http_get(server, "/metrics").splitlines():
        if line.startswith(f"safrl_{name} "):
            return float(line.split()[1])
    raise AssertionError(f"no safrl_{name} in /metrics")


def wait_for(predicate, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def score_steps(client, steps, per_step=3):
    """Scores `per_step` samples for each step; returns the replies."""
    replies = []
    for step in steps:
        replies.append(client.call({"type": "score", "samples": [
            sample(100 * step + k, step) for k in range(per_step)]}))
    return replies


def assert_rewards(replies, per_step=3):
    for reply in replies:
        assert reply["type"] == "score", reply
        assert len(reply["results"]) == per_step
        assert all(isinstance(r["reward"], float) for r in reply["results"])


def test_full_disk_never_costs_a_reward(tmp_path):
    with small_disk(tmp_path / "run") as disk:
        filler = fill(disk)
        server = Server(tmp_path)  # its run directory is the full disk
        try:
            client = Client(server.endpoint)
            replies = score_steps(client, range(5))
            # Every request got its rewards, although no step row could be written.
            assert_rewards(replies)
            stats = client.call({"type": "stats", "flush": True})
            assert stats["type"] == "stats" and stats["flushed"] == [3, 4]
            assert server.proc.poll() is None  # the flush on a full disk ended nothing
            assert stats["counters"]["step_rows_unwritten"] == 5
            assert metric(server, "step_rows_unwritten") == 5
            assert metric(server, "step_write_failures_total") >= 1
            assert metric(server, "step_rows_dropped_total") == 0
            health = http_get(server, "/health")
            assert health.startswith("degraded: 5 step row(s) held in memory")
            assert "No space left on device" in health
            assert os.path.getsize(disk / "steps.jsonl") == 0

            filler.unlink()  # space returns: the held rows are written, once, in both files
            assert wait_for(lambda: http_get(server, "/health") == "ok\n")
            assert metric(server, "step_rows_unwritten") == 0
            # Later steps are written as usual: the files' error state did not stick.
            assert_rewards(score_steps(client, [5, 6]))
            client.call({"type": "stats", "flush": True})
            rows = [json.loads(line) for line in open(disk / "steps.jsonl")]
            assert [row["step"] for row in rows] == [0, 1, 2, 3, 4, 5, 6]
            assert all(row["count"] == 3 for row in rows)
            table = list(csv.DictReader(open(disk / "steps.csv")))
            assert [int(row["step"]) for row in table] == [0, 1, 2, 3, 4, 5, 6]
            for row, line in zip(rows, table):
                assert float(line["reward_mean"]) == pytest.approx(row["reward_mean"], abs=1e-6)
            client.close()
            assert server.stop() == 0
        finally:
            server.stop(9)
        log = open(tmp_path / "run.log").read()
        # One line for the outage and one for the recovery, not one per request or step.
        assert log.count("cannot write the step logs") == 1
        assert log.count("are written again") == 1
        assert "KiB free (under 100 MiB)" in log  # start-up said the disk was nearly full


def test_sigterm_on_a_full_disk_exits_0_saying_what_was_lost(tmp_path):
    with small_disk(tmp_path / "run") as disk:
        fill(disk)
        server = Server(tmp_path)
        try:
            client = Client(server.endpoint)
            assert_rewards(score_steps(client, range(4)))
            client.close()
            assert server.stop(15) == 0
        finally:
            server.stop(9)
        log = open(tmp_path / "run.log").read()
        assert "stopped; flushed 2 step(s)" in log
        assert "4 step row(s) could not be written to" in log
        assert "No space left on device" in log


def test_an_unwritable_run_directory_is_refused_at_start(tmp_path):
    with small_disk(tmp_path / "run", options="size=1m,ro"):
        with pytest.raises(Exception):
            Server(tmp_path)
        log = open(tmp_path / "run.log").read()
        assert "Read-only file system; give a writable --run-dir" in log
