"""Step statistics that stay whole (issue 16, section 1; issue 15's stepless samples): one row per
step however the steps' samples interleave, samples without a step in a bucket of their own, and
the rows of several replicas merged by `safrl merge-steps` into the rows one server writes."""
import json
import subprocess
import threading
import time

import pytest

from conftest import SAFRL, Client, Server


def sample(i, step, prompt=None):
    item = {"id": i, "prompt": prompt or f"question {i % 7}", "response": f"answer {i} " * (1 + i % 4)}
    if step is not None:
        item["step"] = step
    return item


def rows_of(path):
    return [json.loads(line) for line in open(path)]


def assert_row_matches(row, results):
    """A step row holds exactly the statistics of these replies."""
    n = len(results)
    assert row["count"] == n
    assert row["safety_rate"] == pytest.approx(sum(r["safe"] for r in results) / n)
    assert row["refusal_rate"] == pytest.approx(sum(r["refusal"] for r in results) / n)
    rewards = [r["reward"] for r in results]
    mean = sum(rewards) / n
    assert row["reward_mean"] == pytest.approx(mean, abs=1e-9)
    assert row["reward_std"] == pytest.approx((sum((x - mean) ** 2 for x in rewards) / n) ** 0.5,
                                              abs=1e-9)
    assert row["reward_min"] == pytest.approx(min(rewards))
    assert row["reward_max"] == pytest.approx(max(rewards))
    helpfulness = [r["helpfulness"] for r in results]
    assert row["helpfulness_mean"] == pytest.approx(sum(helpfulness) / n, abs=1e-9)


def test_interleaved_steps_from_many_clients_give_one_row_per_step(server):
    # Eight clients send steps 1 and 2 interleaved (rollout workers of an asynchronous trainer):
    # two rows for step 1 before; one row of all 24 samples of each step now.
    results = []
    lock = threading.Lock()

    def worker(w):
        client = Client(server.endpoint)
        for step in (1, 2, 1, 2):
            reply = client.call({"type": "score", "samples": [
                sample(1000 * w + 10 * step + len(results) % 3 + k, step) for k in range(3)]})
            with lock:
                results.extend(reply["results"])
        client.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    Client(server.endpoint).call({"type": "stats", "flush": True})
    rows = rows_of(server.run_dir / "steps.jsonl")
    assert [(r["step"], r["count"]) for r in rows] == [(1, 48), (2, 48)]
    for row in rows:
        assert_row_matches(row, [r for r in results if r["step"] == row["step"]])


def test_a_step_is_written_once_steps_kept_open_newer_arrive_or_it_idles(tmp_path):
    # An idle time far above a call's (tens of ms; a second or two on a loaded machine), so
    # step 5 is not closed by idle before 6 and 7 arrive.
    server = Server(tmp_path, server_yaml="  steps_kept_open: 2\n  step_idle_seconds: 10\n")
    try:
        client = Client(server.endpoint)
        for step in (5, 6):
            client.call({"type": "score", "samples": [sample(step, step)]})
        assert not (server.run_dir / "steps.jsonl").read_text()  # 5 stays open while 6 runs
        sent_7 = time.monotonic()
        client.call({"type": "score", "samples": [sample(7, 7)]})
        assert [r["step"] for r in rows_of(server.run_dir / "steps.jsonl")] == [5]
        # No sample of a step for 10 s: 6, then 7, are written without a flush (looked for
        # every 250 ms); 7 not before its idle time, and both within 60 s however loaded.
        def steps_written():
            try:
                return [r["step"] for r in rows_of(server.run_dir / "steps.jsonl")]
            except ValueError:  # a row read while it is written
                return None

        while (steps := steps_written()) != [5, 6, 7]:
            assert steps in (None, [5], [5, 6]), steps
            assert time.monotonic() - sent_7 < 60, f"6 and 7 were not written on idle: {steps}"
            time.sleep(0.1)
        assert time.monotonic() - sent_7 > 9, "7 was written before its idle time"
        client.close()
    finally:
        server.stop()


def test_samples_without_a_step_are_a_bucket_of_their_own(server):
    client = Client(server.endpoint)
    stepless = client.call({"type": "score", "samples": [sample(k, None) for k in range(4)]})
    step0 = client.call({"type": "score", "samples": [sample(10 + k, 0) for k in range(2)]})
    assert all(r["step"] is None for r in stepless["results"])
    stats = client.call({"type": "stats", "flush": True})
    assert stats["flushed"] == [None, 0]
    rows = rows_of(server.run_dir / "steps.jsonl")
    assert [(r["step"], r["count"]) for r in rows] == [(None, 4), (0, 2)]
    assert_row_matches(rows[0], stepless["results"])
    assert_row_matches(rows[1], step0["results"])
    csv = (server.run_dir / "steps.csv").read_text().splitlines()
    assert csv[1].startswith(",4,") and csv[2].startswith("0,2,")  # null: an empty cell
    client.close()


def test_two_replicas_logs_merge_to_the_rows_of_one_server(tmp_path):
    # The same samples: all on one server, or each step split over two replicas (a GRPO group on
    # one replica). merge-steps gives the one server's rows.
    batches = [[sample(100 * step + k, step, prompt=f"prompt {step}-{k // 4}") for k in range(8)]
               for step in (1, 2, 3)] + [[sample(900 + k, None) for k in range(3)]]
    one = Server(tmp_path, name="one")
    replicas = [Server(tmp_path, name=f"replica{i}") for i in range(2)]
    try:
        client = Client(one.endpoint)
        for batch in batches:
            client.call({"type": "score", "samples": batch})
        clients = [Client(r.endpoint) for r in replicas]
        for batch in batches:
            half = len(batch) // 2 if len(batch) > 3 else 1
            clients[0].call({"type": "score", "samples": batch[:half]})
            clients[1].call({"type": "score", "samples": batch[half:]})
        for c in [client, *clients]:
            c.call({"type": "stats", "flush": True})
            c.close()
    finally:
        for s in [one, *replicas]:
            s.stop()
    merged_dir = tmp_path / "merged"
    done = subprocess.run([SAFRL, "merge-steps", str(replicas[0].run_dir),
                           str(replicas[1].run_dir / "steps.jsonl"), "--out", str(merged_dir)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "4 step(s) from 2 log(s)" in done.stderr
    expected, merged = rows_of(one.run_dir / "steps.jsonl"), rows_of(merged_dir / "steps.jsonl")
    assert [r["step"] for r in merged] == [None, 1, 2, 3] == sorted(
        [r["step"] for r in expected], key=lambda s: -1 if s is None else s)
    by_step = {r["step"]: r for r in expected}
    for row in merged:
        want = by_step[row["step"]]
        for key, value in want.items():
            if key in ("seconds", "samples_per_s", "started_at", "ended_at", "sums"):
                continue
            if isinstance(value, float):
                assert row[key] == pytest.approx(value, abs=1e-9), (row["step"], key)
            elif isinstance(value, dict):
                assert row[key] == pytest.approx(value, abs=1e-9), (row["step"], key)
            else:
                assert row[key] == value, (row["step"], key)
    assert len((merged_dir / "steps.csv").read_text().splitlines()) == 5
    # Merged rows merge again; a log that is not one is refused with its line.
    again = subprocess.run([SAFRL, "merge-steps", str(merged_dir)], capture_output=True,
                           text=True, timeout=60)
    assert [json.loads(line)["count"] for line in again.stdout.splitlines()] == \
        [r["count"] for r in merged]
    (tmp_path / "bad.jsonl").write_text('{"step": 1, "count": 2}\n')
    bad = subprocess.run([SAFRL, "merge-steps", str(tmp_path / "bad.jsonl")],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2
    assert "bad.jsonl line 1: " in bad.stderr and "no \"sums\"" in bad.stderr
