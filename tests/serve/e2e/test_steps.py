"""Step statistics that stay whole (issue 16, section 1; issue 15's stepless samples): one row per
step however the steps' samples interleave, samples without a step in a bucket of their own, and
the rows of several replicas merged by `safrl merge-steps` into the rows one server writes. The
monitors of issue 27 (section 1) in a real server's rows, its log and /metrics."""
import json
import subprocess
import threading
import time

import pytest

from conftest import EMBEDDED, SAFRL, Client, Server


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
            # Each replica judged its safe-but-unhelpful samples against its own threshold (the H
            # it had seen): their counts add, the threshold and that alert are theirs.
            if key in ("seconds", "samples_per_s", "started_at", "ended_at", "sums",
                       "safe_unhelpful_rate", "unhelpful_threshold"):
                continue
            if key == "alerts":
                assert [a for a in row[key] if a != "safe_unhelpful"] == \
                    [a for a in value if a != "safe_unhelpful"], row["step"]
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


def pearson(xs, ys):
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    sxx = sum((x - mx) ** 2 for x in xs)
    syy = sum((y - my) ** 2 for y in ys)
    return None if n < 2 or sxx == 0 or syy == 0 else sxy / (sxx * syy) ** 0.5


def quantile(values, q):
    """numpy's default (linear) quantile."""
    values = sorted(values)
    h = (len(values) - 1) * q
    lo = int(h)
    hi = min(lo + 1, len(values) - 1)
    return values[lo] + (h - lo) * (values[hi] - values[lo])


def test_step_rows_log_and_metrics_carry_the_monitors(tmp_path):
    # Three steps of one GRPO group each: five rollouts of one prompt, of which one repeats the
    # first answer exactly, one repeats it after folding (case, spaces) and one never closed its
    # thinking. Every monitor field of each row is checked against the replies it came from.
    models = (f"guard: {{model: {EMBEDDED}/guard, max_new_tokens: 16}}\n"
              f"helpfulness: {{model: {EMBEDDED}/reward, chat_format: qwen3}}\n"
              f"reward: {{type: hybrid}}\n"
              f"monitors: {{window: 2, duplicate_rate: 0.4}}\n")
    server = Server(tmp_path, models_yaml=models)
    replies = {}
    try:
        client = Client(server.endpoint)
        for step in (1, 2, 3):
            answers = ["Sure, here it is.", "Sure, here it is.", "sure,  HERE it is. ",
                       f"Something else entirely, {'at length ' * step * 3}",
                       "<think>thinking forever"]
            group = [{"id": f"{step}-{k}", "prompt": f"prompt {step}", "response": answer,
                      "step": step} for k, answer in enumerate(answers)]
            # Version 2: its replies carry answer_tokens (and injection).
            replies[step] = client.call({"v": 2, "type": "score", "samples": group})["results"]
        client.call({"type": "stats", "flush": True})
        metrics = server.metrics()
        client.close()
    finally:
        server.stop()
    rows = rows_of(server.run_dir / "steps.jsonl")
    assert [r["step"] for r in rows] == [1, 2, 3]
    history = []
    for index, row in enumerate(rows):
        results = replies[row["step"]]
        n = len(results)
        assert row["duplicate_rate"] == pytest.approx(1 / 5)  # the second answer
        assert row["folded_duplicate_rate"] == pytest.approx(2 / 5)  # and the third
        assert row["truncated_thinking_rate"] == pytest.approx(1 / 5)
        lengths = [r["answer_tokens"] for r in results]
        assert lengths[4] == 0 and all(length > 0 for length in lengths[:4])
        # The sample cut off in its thinking (the fifth) is left out of the length statistics:
        # its empty answer and lowest reward would make length look rewarded.
        assert row["answer_tokens_mean"] == pytest.approx(sum(lengths[:4]) / 4)
        rewards = [r["reward"] for r in results]
        assert row["answer_tokens_reward_corr"] == pytest.approx(
            pearson(lengths[:4], rewards[:4]))
        # H where it was computed.
        scored = [(r["answer_tokens"], r["helpfulness"]) for r in results[:4]
                  if r["helpfulness"] is not None]
        helpfulness = [h for _, h in scored]
        assert row["answer_tokens_helpfulness_corr"] == pytest.approx(
            pearson([x for x, _ in scored], helpfulness))
        masses = [r["answer"]["safety_mass"] for r in results
                  if r["answer"]["safety_mass"] is not None]
        if masses:
            assert row["safety_mass_mean"] == pytest.approx(sum(masses) / len(masses))
            assert row["safety_mass_min"] == pytest.approx(min(masses))
            assert row["low_safety_mass_rate"] == pytest.approx(
                sum(m < 0.5 for m in masses) / len(masses))
        else:  # the embedded guard's random weights never write a verdict: no mass reported
            assert row["safety_mass_mean"] is None and row["low_safety_mass_rate"] is None
        assert row["fallback_rate"] == pytest.approx(
            sum(r["answer"]["decoding"] == "fallback" for r in results) / n)
        assert row["verdict_text_rate"] == pytest.approx(
            sum(bool(r.get("injection")) for r in results) / n)
        refusal = [sum(r["refusal"] for r in replies[s]) / n for s in (1, 2, 3)]
        if index == 0:
            assert row["refusal_rate_change"] is None
            assert row["unhelpful_threshold"] is None and row["safe_unhelpful_rate"] is None
        else:
            previous = refusal[max(0, index - 2):index]  # monitors.window 2
            assert row["refusal_rate_change"] == pytest.approx(
                refusal[index] - sum(previous) / len(previous))
            threshold = quantile(history, 0.25)
            assert row["unhelpful_threshold"] == pytest.approx(threshold)
            assert row["safe_unhelpful_rate"] == pytest.approx(
                sum(r["safe"] and not r["refusal"] and r["helpfulness"] is not None
                    and r["helpfulness"] < threshold for r in results) / n)
        history += [r["helpfulness"] for r in results if r["helpfulness"] is not None]
        assert "duplicate_answers" in row["alerts"]  # 0.4 >= monitors.duplicate_rate 0.4
        assert "truncated_thinking" in row["alerts"]  # 0.2 >= the default 0.2
    log = (tmp_path / "run.log").read_text()
    for step in (1, 2, 3):
        assert (f" WARN steps: step {step}: alert duplicate_answers: 0.4 duplicate answers "
                f"within groups (after folding) (monitors.duplicate_rate 0.4)") in log
    assert metrics['safrl_step_alerts_total{alert="duplicate_answers"}'] == 3
    assert metrics['safrl_step_alerts_total{alert="length_hacking"}'] == sum(
        "length_hacking" in r["alerts"] for r in rows)
    assert metrics["safrl_step_duplicate_rate"] == pytest.approx(0.2)
    assert metrics["safrl_step_answer_tokens_mean"] == pytest.approx(rows[-1]["answer_tokens_mean"])
    assert metrics["safrl_step_refusal_rate_change"] == pytest.approx(
        rows[-1]["refusal_rate_change"])
    csv = (server.run_dir / "steps.csv").read_text().splitlines()
    header = csv[0].split(",")
    assert header[-15:] == [
        "refusal_rate_change", "duplicate_rate", "folded_duplicate_rate", "answer_tokens_mean",
        "answer_tokens_helpfulness_corr", "answer_tokens_reward_corr", "verdict_text_rate",
        "safety_mass_mean", "safety_mass_min", "low_safety_mass_rate", "fallback_rate",
        "truncated_thinking_rate", "safe_unhelpful_rate", "unhelpful_threshold", "alerts"]
    assert csv[1].split(",")[-1] == " ".join(rows[0]["alerts"])

    # merge-steps recomputes the monitors on the merged rows: the same rows from one log, and
    # with --config's thresholds (duplicate_rate 0.4 here) the alerts that config raises; the
    # defaults (duplicate_rate 0.5) raise none of them.
    merged = subprocess.run([SAFRL, "merge-steps", str(server.run_dir), "--config",
                             str(server.config)], capture_output=True, text=True, timeout=60)
    assert merged.returncode == 0, merged.stderr
    merged_rows = [json.loads(line) for line in merged.stdout.splitlines()]
    for row, want in zip(merged_rows, rows):
        for key in ("refusal_rate_change", "duplicate_rate", "folded_duplicate_rate",
                    "answer_tokens_mean", "answer_tokens_reward_corr", "safety_mass_mean",
                    "safe_unhelpful_rate", "unhelpful_threshold"):
            assert row[key] == pytest.approx(want[key], abs=1e-9), key
        assert row["alerts"] == want["alerts"]
    assert " WARN merge-steps: step 3: alert duplicate_answers: 0.4 duplicate" in merged.stderr
    defaults = subprocess.run([SAFRL, "merge-steps", str(server.run_dir)],
                              capture_output=True, text=True, timeout=60)
    assert all("duplicate_answers" not in json.loads(line)["alerts"]
               for line in defaults.stdout.splitlines())
