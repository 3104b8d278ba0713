"""`safrl score` end to end on the embedded models: bad lines, resume after a torn write and
after a kill, the record of what made an output (a rerun with another input or config is
refused), statistics that agree with the output file, and the messages of a wrong model path or
device."""
import hashlib
import json
import shutil
import signal
import subprocess
import time

import pytest

from embedded import EMBEDDED, SAFRL, has_gpu, make_input, write_config


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
    assert errors[3]["error"].startswith("respones: unknown key; allowed here: id, prompt")
    assert errors[4]["error"] == "step: must be an integer >= 0, got a number (-1)"
    assert "line 2: not valid JSON" in proc.stderr
    assert f"2 scored, 0 resumed, 5 failed (see {out}.errors.jsonl); guard prefill" in proc.stderr


def good_line(i):
    return json.dumps({"id": i, "prompt": f"question {i}", "response": f"answer {i}"}).encode()


def nested(depth):
    return b"[" * depth + b"]" * depth


def test_a_line_that_is_not_utf8_is_reported_and_the_rest_is_scored(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(good_line(1) + b"\n" + b'{"id": 2, "prompt": "p\xff", "response": "r"}\n'
                    + good_line(3) + b"\n")
    out = tmp_path / "out.jsonl"
    proc = run_score(write_config(tmp_path), inp, out, check=False)
    assert proc.returncode == 1, proc.stderr
    assert [x["id"] for x in read_lines(out)] == [1, 3]
    message = ("not UTF-8: byte 0xFF at byte 23 of the line does not belong to a UTF-8 "
               "character; write the file as UTF-8 (binary data in a field must be encoded, "
               "e.g. as base64)")
    assert read_lines(str(out) + ".errors.jsonl") == [{"line": 2, "id": None, "error": message}]
    assert f"{inp} line 2: {message}\n" in proc.stderr


def test_a_meta_nested_100000_deep_is_reported_and_the_rest_is_scored(tmp_path):
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(good_line(1) + b"\n" + b'{"id": 2, "prompt": "p", "response": "r", "meta": '
                    + nested(100_000) + b"}\n" + good_line(3) + b"\n")
    out = tmp_path / "out.jsonl"
    proc = run_score(write_config(tmp_path), inp, out, check=False)
    assert proc.returncode == 1, proc.stderr
    assert [x["id"] for x in read_lines(out)] == [1, 3]
    assert read_lines(str(out) + ".errors.jsonl") == [{
        "line": 2, "id": None,
        "error": "the line is nested deeper than 64 levels of arrays and objects (the line "
                 'itself is one); flatten "meta"'}]


# Every way a line can be wrong, each between good lines: (bytes, what its error starts with).
BAD_LINES = [
    (b'{"id": "u", "prompt": "p\xc3(", "response": "r"}', "not UTF-8: byte 0xC3 at byte 25"),
    (b"\xef\xbb\xbf\xff{}", "not UTF-8: byte 0xFF at byte 4"),
    (b'{"id": "nul", "prompt": "a\x00b", "response": "r"}', "the line holds a NUL byte at byte 27"),
    (good_line(0) + b"\x00" + good_line(100), "the line holds a NUL byte at byte 58"),
    (b'{"id": "d", "prompt": "p", "response": "r", "meta": ' + nested(100_000) + b"}",
     "the line is nested deeper than 64 levels"),
    (b'{"id": "big", "prompt": "p", "response": "r", "meta": [' + b"0," * 1_200_000 + b"0]}",
     "the line holds more than 1000000 JSON values"),
    (b'{"id": "inf", "prompt": "p", "response": "r", "meta": 1e400}', "not valid JSON"),
    (b'{"id": "cut", "prompt": "p"', "not valid JSON"),
    (b"[1, 2]", "a sample must be a JSON object, got an array"),
    (b'{"id": [1], "prompt": "p", "response": "r"}', "id: must be a string or an integer"),
    (b'{"id": "t", "prompt": {"a": 1}, "response": "r"}',
     "prompt: must be a string, got an object"),
    (b'{"id": "s", "prompt": "p", "response": "r", "step": 1.5}',
     "step: must be an integer >= 0, got a number (1.5)"),
    (b'{"id": "sur", "prompt": "\\udc00", "response": "r"}', "not valid JSON"),
    (b'{"id": "g1", "prompt": "p", "response": "r"}', "id \"g1\" was already used on line 1"),
]


def test_every_kind_of_bad_line_is_reported_once_by_number_and_a_rerun_goes_past_them(tmp_path):
    good = [json.dumps({"id": f"g{i}", "prompt": f"question {i}", "response": f"answer {i}"})
            .encode() for i in range(1, len(BAD_LINES) + 2)]
    lines, expected_errors = [good[0]], {}
    for (bad, error), next_good in zip(BAD_LINES, good[1:]):
        lines.append(bad)
        expected_errors[len(lines)] = error
        lines.append(next_good)
    lines[2] += b"\r"  # a CRLF line end is a line end
    inp = tmp_path / "in.jsonl"
    inp.write_bytes(b"\n".join(lines))  # the last good line has no newline
    out, config = tmp_path / "out.jsonl", write_config(tmp_path)
    proc = run_score(config, inp, out, check=False)
    assert proc.returncode == 1, proc.stderr
    good_ids = [json.loads(g)["id"] for g in good]
    assert [x["id"] for x in read_lines(out)] == good_ids
    errors = read_lines(str(out) + ".errors.jsonl")
    assert [e["line"] for e in errors] == list(expected_errors)
    for error in errors:
        assert error["error"].startswith(expected_errors[error["line"]]), error
        assert proc.stderr.count(f"{inp} line {error['line']}: ") == 1
    assert (f"{len(good)} scored, 0 resumed, {len(BAD_LINES)} failed (see {out}.errors.jsonl)"
            in proc.stderr)
    # A rerun meets the same lines, reports them again and scores nothing twice.
    scored = out.read_bytes()
    proc = run_score(config, inp, out, check=False)
    assert proc.returncode == 1, proc.stderr
    assert f"0 scored, {len(good)} resumed, {len(BAD_LINES)} failed" in proc.stderr
    assert out.read_bytes() == scored
    assert read_lines(str(out) + ".errors.jsonl") == errors


def test_any_meta_the_reader_accepts_is_echoed_back(tmp_path):
    deepest = {"a": None}
    for _ in range(61):  # with the line and "meta" itself: 63 levels
        deepest = [deepest]
    meta = {"text": "é ✓ \U0001F600 \u0000 \ud7ff", "big": 2**64 - 1, "neg": -2**63,
            "float": 1e308, "tiny": 5e-324, "deep": deepest, "many": list(range(100_000))}
    inp = tmp_path / "in.jsonl"
    inp.write_text(json.dumps({"id": 1, "prompt": "p", "response": "r", "meta": meta}) + "\n")
    out = tmp_path / "out.jsonl"
    run_score(write_config(tmp_path), inp, out)
    assert read_lines(out)[0]["meta"] == meta


def test_the_summary_names_the_errors_file_only_when_something_failed(tmp_path):
    proc = run_score(write_config(tmp_path), make_input(tmp_path, n=2), tmp_path / "out.jsonl")
    summary = proc.stderr.splitlines()[-1]
    assert summary.startswith("safrl score: 2 scored, 0 resumed, 0 failed; guard prefill ")
    assert "errors.jsonl" not in proc.stderr


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


def sha256(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def test_the_output_records_the_input_and_the_config_that_made_it(tmp_path, reference):
    config, inp, _ = reference
    record = json.load(open(tmp_path / "reference.jsonl.meta.json"))
    assert record["input"] == {"path": str(inp), "sha256": sha256(inp)}
    assert record["config"]["path"] == str(config)
    settings = record["config"]["settings"]
    # The settings that decide the scores, hashed as compact JSON with sorted keys.
    assert record["config"]["sha256"] == hashlib.sha256(
        json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        .encode()).hexdigest()
    # tool_turns decides how tool turns render; the prompt cache's size decides nothing.
    assert settings["guard"] == {"model": f"{EMBEDDED}/guard", "decoding": "constrained",
                                 "max_new_tokens": 16, "tool_turns": "qwen3"}
    assert settings["reward"]["type"] == "hybrid"
    assert settings["runtime"] == {"dtype": "float32", "storage_dtype": "float32"}
    assert set(settings) == {"guard", "helpfulness", "reward", "runtime"}
    assert record["written_by"].startswith("safrl score ")
    # The output itself stays JSON lines of scored samples, one per input line.
    assert all("id" in line for line in read_lines(tmp_path / "reference.jsonl"))


@pytest.fixture
def scored(tmp_path, reference):
    """An output of the reference's input and config, 10 lines of it and a torn 11th, as a crash
    leaves it; returns (config, input, output)."""
    config, inp, expected = reference
    out = tmp_path / "scored.jsonl"
    full = [json.dumps(x) for x in expected]
    out.write_text("\n".join(full[:10]) + "\n" + full[10][:40])
    shutil.copy(tmp_path / "reference.jsonl.meta.json", str(out) + ".meta.json")
    return config, inp, out


def refusal(out, mismatch):
    return (f"safrl: {out} holds 10 samples scored from another input or config, so this run "
            f"cannot resume it: {mismatch}. To score from the start, delete {out} and "
            f"{out}.meta.json or add --overwrite; to keep them, give another --output\n")


def test_another_input_is_refused_and_nothing_is_changed(tmp_path, scored):
    config, inp, out = scored
    before = out.read_bytes(), (tmp_path / "scored.jsonl.meta.json").read_bytes()
    other = make_input(tmp_path, n=23, name="other.jsonl")
    proc = run_score(config, other, out, check=False)
    assert proc.returncode == 2
    assert proc.stderr == refusal(out, f"the input was {inp} (sha256 {sha256(inp)[:12]}), now "
                                       f"{other} (sha256 {sha256(other)[:12]})")
    # Not even the torn line is cut: the file is as the crash left it.
    assert (out.read_bytes(), (tmp_path / "scored.jsonl.meta.json").read_bytes()) == before
    assert not (tmp_path / "scored.jsonl.errors.jsonl").exists()
    # The same path with other content.
    original = inp.read_bytes()
    inp.write_bytes(original.replace(b"question 0 ", b"question zero "))
    proc = run_score(config, inp, out, check=False)
    assert proc.returncode == 2
    assert proc.stderr == refusal(out, f"the input {inp} changed (sha256 was "
                                       f"{hashlib.sha256(original).hexdigest()[:12]}, now "
                                       f"{sha256(inp)[:12]})")


def test_another_config_is_refused_naming_the_settings_that_differ(tmp_path, scored):
    config, inp, out = scored
    other = write_config(tmp_path, name="other.yaml").read_text().replace(
        "max_new_tokens: 16", "max_new_tokens: 8")
    (tmp_path / "other.yaml").write_text(other)
    proc = run_score(tmp_path / "other.yaml", inp, out, check=False)
    assert proc.returncode == 2
    assert proc.stderr == refusal(out, f"the config was {config}, now {tmp_path}/other.yaml; "
                                       "guard.max_new_tokens was 16, now 8")
    # Command-line overrides are part of the config.
    proc = run_score(config, inp, out, "--reward", "guard_only", "--dtype", "bfloat16",
                     check=False)
    assert proc.returncode == 2
    assert proc.stderr == refusal(out, 'reward.type was "hybrid", now "guard_only"; '
                                       'runtime.dtype was "float32", now "bfloat16"; '
                                       'runtime.storage_dtype was "float32", now "bfloat16"')


def test_the_same_input_and_config_elsewhere_resume(tmp_path, scored):
    config, inp, out = scored
    moved = tmp_path / "moved"
    moved.mkdir()
    shutil.copy(inp, moved / "in.jsonl")
    shutil.copy(config, moved / "config.yaml")
    # Where and how fast the work runs is not part of the config.
    with open(moved / "config.yaml", "a") as f:
        f.write("batching: {max_batch_tokens: 2048}\nruntime: {device: cpu}\n")
    proc = run_score(moved / "config.yaml", moved / "in.jsonl", out)
    assert "torn line" in proc.stderr and "10 samples already scored" in proc.stderr
    assert len(read_lines(out)) == 24
    # The record still says what made the output first.
    assert json.load(open(str(out) + ".meta.json"))["input"]["path"] == str(inp)


def test_overwrite_scores_from_the_start(tmp_path, scored):
    config, _, out = scored
    other = make_input(tmp_path, n=3, name="other.jsonl")
    proc = run_score(config, other, out, "--overwrite")
    assert f" INFO score: --overwrite: scoring {out} from the start\n" in proc.stderr
    assert "resuming" not in proc.stderr
    assert [x["id"] for x in read_lines(out)] == ["s0", "s1", "s2"]
    assert json.load(open(str(out) + ".meta.json"))["input"] == {"path": str(other),
                                                                 "sha256": sha256(other)}


def test_an_output_without_a_record_resumes_with_a_warning_and_is_recorded(tmp_path, scored):
    config, inp, out = scored
    record = tmp_path / "scored.jsonl.meta.json"
    record.unlink()
    proc = run_score(config, inp, out)
    # The first line, after its timestamp.
    assert proc.stderr.split("\n", 1)[0].split(" ", 1)[1] == (
        f"WARN score: {out} has no record of the input and config that made it (it was "
        f"written by an earlier safrl, or {record} was deleted), so this run cannot check that it "
        f"continues the same work; resuming, and recording this input and config in {record}")
    assert "10 samples already scored" in proc.stderr
    assert len(read_lines(out)) == 24
    assert json.load(open(record)) == json.load(open(tmp_path / "reference.jsonl.meta.json"))
    # From now on it is checked.
    assert run_score(config, make_input(tmp_path, n=2, name="x.jsonl"), out,
                     check=False).returncode == 2


def test_a_wrong_model_path_names_the_key_the_file_and_the_resolved_path(tmp_path):
    inp, out = make_input(tmp_path, n=2), tmp_path / "out.jsonl"
    config = tmp_path / "configs" / "run.yaml"
    config.parent.mkdir()
    config.write_text(f"guard: {{model: {EMBEDDED}/guard}}\n"
                      "helpfulness: {model: ../models/skywork, chat_format: qwen3}\n")
    proc = run_score(config, inp, out, check=False)
    assert proc.returncode == 2
    assert proc.stderr == (
        f"safrl: {config}: helpfulness.model: {tmp_path}/models/skywork does not exist (a "
        "relative path resolves against the config file's directory); give the reward model "
        "checkpoint directory\n")


NO_GPU = ("no GPU is visible to this process (none installed, hidden by CUDA_VISIBLE_DEVICES, or "
          "a LibTorch without CUDA)")


@pytest.mark.skipif(has_gpu(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_suggests_what_exists(tmp_path):
    inp, out = make_input(tmp_path, n=2), tmp_path / "out.jsonl"
    proc = run_score(write_config(tmp_path), inp, out, "--device", "cuda", check=False)
    assert (proc.returncode, proc.stderr) == (
        2, f"safrl: --device cuda was asked for, but {NO_GPU}; use --device cpu\n")
    config = write_config(tmp_path, "runtime: {device: cuda, dtype: bfloat16}\n", "gpu.yaml")
    proc = run_score(config, inp, out, check=False)
    assert (proc.returncode, proc.stderr) == (
        2, f"safrl: {config}: runtime.device: cuda was asked for, but {NO_GPU}; use --device "
           f"cpu, or set runtime.device: cpu in {config}\n")
    # What it suggests works.
    run_score(config, inp, out, "--device", "cpu")
    assert len(read_lines(out)) == 2


@pytest.mark.skipif(not has_gpu(), reason="needs a GPU")
def test_a_gpu_index_past_the_visible_ones_says_how_many_there_are(tmp_path):
    import torch
    count = torch.cuda.device_count()
    proc = run_score(write_config(tmp_path), make_input(tmp_path, n=2), tmp_path / "out.jsonl",
                     "--device", f"cuda:{count}", check=False)
    visible = "only 1 GPU is" if count == 1 else f"only {count} GPUs are"
    assert (proc.returncode, proc.stderr) == (
        2, f"safrl: --device cuda:{count} was asked for, but {visible} visible (cuda:0 to "
           f"cuda:{count - 1}); use --device cpu\n")


def test_device_and_dtype_flags_override_the_config(tmp_path):
    inp, out = make_input(tmp_path, n=2), tmp_path / "out.jsonl"
    proc = run_score(write_config(tmp_path), inp, out, "--device", "gpu", check=False)
    assert (proc.returncode, proc.stderr) == (
        2, 'safrl: --device: unknown device "gpu"; valid values: cpu, cuda, cuda:N\n')
    proc = run_score(write_config(tmp_path), inp, out, "--dtype", "fp16", check=False)
    assert (proc.returncode, proc.stderr) == (
        2, 'safrl: --dtype: unknown dtype "fp16"; valid values: float32, bfloat16, float16\n')
    # The weights follow the compute dtype unless the config keeps them apart.
    run_score(write_config(tmp_path), inp, out, "--dtype", "bfloat16", "--device", "cpu")
    runtime = json.load(open(str(out) + ".meta.json"))["config"]["settings"]["runtime"]
    assert runtime == {"dtype": "bfloat16", "storage_dtype": "bfloat16"}
    config = write_config(tmp_path, "runtime: {dtype: float32, storage_dtype: bfloat16}\n",
                          "kept.yaml")
    # The record is written before the models load (whether float16 runs on this CPU does not
    # matter here).
    run_score(config, inp, tmp_path / "kept.jsonl", "--dtype", "float16", check=False)
    runtime = json.load(open(tmp_path / "kept.jsonl.meta.json"))["config"]["settings"]["runtime"]
    assert runtime == {"dtype": "float16", "storage_dtype": "bfloat16"}
