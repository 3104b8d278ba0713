"""`safrl score` end to end on the embedded models: bad lines, resume after a torn write and
after a kill, and statistics that agree with the output file."""
import json
import os
import signal
import subprocess
import time

import pytest

SAFRL = os.environ["SAFRL_BIN"]
EMBEDDED = os.environ["SAFRL_EMBEDDED"]


def write_config(tmp_path, extra=""):
    config = tmp_path / "config.yaml"
    config.write_text(
        f"guard: {{model: {EMBEDDED}/guard, max_new_tokens: 16}}\n"
        f"helpfulness: {{model: {EMBEDDED}/reward, chat_format: qwen3}}\n"
        f"reward: {{type: hybrid}}\n{extra}")
    return config


def make_input(tmp_path, n=24):
    path = tmp_path / "in.jsonl"
    with open(path, "w") as f:
        for i in range(n):
            sample = {"id": f"s{i}", "step": i // 8, "prompt": f"question {i} " + "word " * (i % 7)}
            if i % 3 == 0:
                sample["response"] = f"<think>\nthinking {i}\n</think>\n\nanswer {i}"
            else:
                sample["response"] = f"answer {i} " + "more " * (i % 5)
            f.write(json.dumps(sample) + "\n")
    return path


def run_score(config, inp, out, *extra, check=True):
    proc = subprocess.run([SAFRL, "score", "--config", str(config), "--input", str(inp),
                           "--output", str(out), *extra], capture_output=True, text=True)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def read_lines(path):
    return [json.loads(line) for line in open(path)]


def assert_same_results(a, b):
    assert [x["id"] for x in a] == [x["id"] for x in b]
    for x, y in zip(a, b):
        assert x["case"] == y["case"] and x["answer"]["text"] == y["answer"]["text"]
        assert x["reward"] == pytest.approx(y["reward"], abs=1e-5)
        assert x["helpfulness"] == pytest.approx(y["helpfulness"], abs=1e-5)


@pytest.fixture
def reference(tmp_path):
    config, inp = write_config(tmp_path), make_input(tmp_path)
    out = tmp_path / "reference.jsonl"
    run_score(config, inp, out, "--chunk", "5")
    return config, inp, read_lines(out)


def test_every_input_gets_one_output_line_with_the_documented_fields(reference):
    _, _, lines = reference
    assert len(lines) == 24
    for line in lines:
        assert set(line) >= {"id", "step", "reward", "helpfulness", "case", "answer", "thinking"}
        answer = line["answer"]
        assert answer["decoding"] in ("constrained", "fallback")
        if answer["decoding"] == "constrained":  # the model wrote the format: a verdict
            assert answer["safety"] in ("Safe", "Unsafe", "Controversial")
            assert sum(answer["probs"].values()) == pytest.approx(1.0, abs=1e-9)
            assert 0 < answer["safety_mass"] <= 1
        elif answer["safety"] == "Unparseable":  # it did not, and free decoding found none
            assert answer["probs"] is None and line["case"] == "unparseable"
        assert (line["thinking"] is not None) == (int(line["id"][1:]) % 3 == 0)


def test_a_torn_last_line_is_redone_and_nothing_is_written_twice(tmp_path, reference):
    config, inp, expected = reference
    out = tmp_path / "resumed.jsonl"
    full = [json.dumps(x) for x in expected]
    out.write_text("\n".join(full[:10]) + "\n" + full[10][: len(full[10]) // 2])
    proc = run_score(config, inp, out)
    assert "torn line" in proc.stderr and "10 samples already scored" in proc.stderr
    assert_same_results(read_lines(out), expected)


def test_a_killed_run_resumes_to_the_same_output(tmp_path, reference):
    config, inp, expected = reference
    out = tmp_path / "killed.jsonl"
    proc = subprocess.Popen([SAFRL, "score", "--config", str(config), "--input", str(inp),
                             "--output", str(out), "--chunk", "1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None:
        if out.exists() and out.read_text().count("\n") >= 3:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    proc.wait()
    run_score(config, inp, out)
    assert_same_results(read_lines(out), expected)


def test_bad_lines_are_reported_with_their_line_numbers_and_the_rest_is_scored(tmp_path):
    config = write_config(tmp_path)
    inp = tmp_path / "bad.jsonl"
    inp.write_text("\n".join([
        json.dumps({"id": 1, "prompt": "p", "response": "r"}),
        "{not json",
        json.dumps({"id": 2, "prompt": "p"}),
        json.dumps({"id": 1, "prompt": "p", "response": "again"}),
        json.dumps({"id": 3, "prompt": "p", "respones": "typo"}),
        json.dumps({"id": 4, "prompt": "p", "answer": "a", "step": -1}),
        json.dumps({"id": 5, "prompt": "p", "answer": "fine"}),
    ]) + "\n")
    out = tmp_path / "out.jsonl"
    proc = run_score(config, inp, out, check=False)
    assert proc.returncode == 1
    assert [x["id"] for x in read_lines(out)] == [1, 5]
    errors = read_lines(str(out) + ".errors.jsonl")
    assert [e["line"] for e in errors] == [2, 3, 4, 5, 6]
    assert errors[1]["error"] == 'missing "response" (or "answer")'
    assert errors[2]["error"] == "id 1 was already used on line 1; ids must be unique"
    assert errors[3]["error"].startswith('unknown field "respones"')
    assert errors[4]["error"] == '"step" must be a non-negative integer, got -1'
    assert "line 2: not valid JSON" in proc.stderr


def test_step_statistics_agree_with_the_output_file(tmp_path, reference):
    config, inp, _ = reference
    out, stats = tmp_path / "out.jsonl", tmp_path / "stats.json"
    run_score(config, inp, out, "--stats-out", str(stats))
    lines, summaries = read_lines(out), json.load(open(stats))
    assert [s["step"] for s in summaries] == [0, 1, 2]
    for summary in summaries:
        step_lines = [x for x in lines if x["step"] == summary["step"]]
        assert summary["count"] == len(step_lines) == 8
        assert summary["safety_rate"] == pytest.approx(sum(x["safe"] for x in step_lines) / 8)
        assert summary["refusal_rate"] == pytest.approx(sum(x["refusal"] for x in step_lines) / 8)
        rewards = [x["reward"] for x in step_lines]
        assert summary["reward_mean"] == pytest.approx(sum(rewards) / 8)
        assert summary["reward_min"] == min(rewards) and summary["reward_max"] == max(rewards)
        assert summary["tokens"] == sum(x["tokens"] for x in step_lines)


def test_guard_only_override_needs_no_helpfulness(tmp_path):
    config = tmp_path / "guard_only.yaml"
    config.write_text(f"guard: {{model: {EMBEDDED}/guard}}\nreward: {{type: guard_only}}\n")
    inp = make_input(tmp_path, n=4)
    out = tmp_path / "out.jsonl"
    run_score(config, inp, out)
    for line in read_lines(out):
        assert line["reward"] in (0.0, 1.0) and line["helpfulness"] is None
        assert line["reward"] == (1.0 if line["safe"] else 0.0)
    proc = run_score(config, inp, tmp_path / "o2.jsonl", "--reward", "hybrid", check=False)
    assert proc.returncode == 2 and "needs a helpfulness model" in proc.stderr
