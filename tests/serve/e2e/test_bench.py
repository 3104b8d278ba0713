"""`safrl bench`, in process and against a real server: the figures it reports are consistent
with each other and with the models' shapes (embedded guard: hidden 64, vocabulary 151,936)."""
import json
import subprocess

import pytest

from conftest import EMBEDDED, SAFRL

HIDDEN, VOCAB = 64, 151936


def bench(*args):
    done = subprocess.run([SAFRL, "bench", *args], capture_output=True, text=True, timeout=300)
    return done.returncode, done.stdout, done.stderr


def config(tmp_path):
    path = tmp_path / "bench.yaml"
    path.write_text(f"guard: {{model: {EMBEDDED}/guard}}\n"
                    f"helpfulness: {{model: {EMBEDDED}/reward, chat_format: qwen3}}\n")
    return str(path)


def test_in_process_figures_add_up(tmp_path):
    code, out, err = bench("--config", config(tmp_path), "--prompts", "3", "--group", "4")
    assert code == 0, err
    shared = json.loads(out)
    code, out, err = bench("--config", config(tmp_path), "--prompts", "3", "--group", "4",
                           "--no-prefix-reuse")
    assert code == 0, err
    alone = json.loads(out)
    assert shared["samples"] == alone["samples"] == 12
    assert shared["prefix_reuse"] and not alone["prefix_reuse"]
    # Sharing computes exactly the saved tokens fewer, for both models.
    assert shared["guard_prefix_tokens_saved"] > 0 and alone["guard_prefix_tokens_saved"] == 0
    assert shared["guard_prefill_tokens"] + shared["guard_prefix_tokens_saved"] == \
        alone["guard_prefill_tokens"]
    assert shared["helpfulness_prefix_tokens_saved"] > 0
    assert shared["helpfulness_tokens"] + shared["helpfulness_prefix_tokens_saved"] == \
        alone["helpfulness_tokens"]
    for run in (shared, alone):
        guard, helpfulness = run["guard_work"], run["helpfulness_work"]
        # A full LM head: 2 x hidden x vocabulary per new token; the reward head: one label.
        assert guard["full_head_gflop"] == pytest.approx(guard["tokens"] * 2 * HIDDEN * VOCAB / 1e9)
        assert helpfulness["full_head_gflop"] == pytest.approx(helpfulness["tokens"] * 2 * HIDDEN / 1e9)
        assert helpfulness["tokens"] == run["helpfulness_tokens"]
        assert run["lm_head_gflop_saved"] == pytest.approx(
            guard["full_head_gflop"] - guard["head_gflop"])
        assert run["tokens_per_s"] == pytest.approx(
            (guard["tokens"] + helpfulness["tokens"]) / run["seconds"])
        assert run["gflop_per_s"] == pytest.approx(
            (guard["gflop"] + helpfulness["gflop"]) / run["seconds"])
        assert run["fraction_of_matmul"] == pytest.approx(
            run["gflop_per_s"] / run["matmul_gflop_per_s"])
        assert run["matmul_gflop_per_s"] > 0 and run["peak_rss_mib"] > 50
    assert "samples/s" in err and "of the matmul rate" in err


def test_the_dumped_workload_is_the_benchmarked_one(tmp_path):
    paths = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for path in paths:
        code, _, err = bench("--config", config(tmp_path), "--prompts", "3", "--group", "4",
                             "--dump-workload", str(path))
        assert code == 0, err
    lines = [json.loads(line) for line in paths[0].read_text().splitlines()]
    assert paths[0].read_text() == paths[1].read_text()  # the same seed, the same samples
    assert len(lines) == 12 and [x["id"] for x in lines] == list(range(12))
    assert len({x["prompt"] for x in lines}) == 3
    assert sum("<think>" in x["response"] for x in lines) == 6  # every other response thinks


def test_through_the_service(server):
    code, out, err = bench("--endpoint", server.endpoint, "--prompts", "3", "--group", "4",
                           "--in-flight", "2")
    assert code == 0, err
    result = json.loads(out)
    assert result["requests"] == 3 and result["samples"] == 12 and result["errors"] == 0
    assert result["tokens_per_s"] > 0 and result["prefix_tokens_saved"] > 0
    assert result["server_peak_rss_mib"] > 50
    assert 0 < result["latency_p50_s"] <= result["latency_p90_s"] <= result["latency_p99_s"]


def test_usage_errors_say_what_to_give(tmp_path):
    code, _, err = bench("--prompts", "2")
    assert code == 2 and "give --config (in process) or --endpoint (a running service)" in err
    code, _, err = bench("--config", config(tmp_path), "--endpoint", "tcp://127.0.0.1:1")
    assert code == 2 and "give --config (in process) or --endpoint" in err
