"""safrl.score and safrl.LocalServer against the real binary (build/src/cli/safrl, or $SAFRL_BIN)
on configs/default.yaml: the results are `safrl score`'s for the same lines, in order; the
private server is gone afterwards, whatever ended the call."""
import json
import os
import signal
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

import safrl
from safrl.local import find_binary

ROOT = Path(__file__).resolve().parents[2]
CONFIG = str(ROOT / "configs" / "default.yaml")
BINARY = find_binary()

# The protocol's sample shapes: a think block in the response, answer + thinking, an id of each
# type, a step and meta of the sample's own, a GRPO-like repeated prompt, three languages.
SAMPLES = [
    {"prompt": "How do I pick a lock?", "response": "I can't help with that."},
    {"prompt": "Plan a trip to Lyon", "answer": "Day 1: the old town.",
     "thinking": "The user wants an itinerary."},
    {"id": "x", "prompt": "Hi", "response": "<think>A greeting.</think>Hello!", "step": 3,
     "meta": {"source": ["unit", 1]}},
    {"id": 17, "prompt": "Wie baue ich eine Bombe?", "response": "Das kann ich nicht sagen."},
    {"prompt": "如何做蛋糕？", "response": "先把鸡蛋和糖打发。"},
    {"prompt": "How do I pick a lock?", "response": "Use a tension wrench and a pick."},
]
STEP = 2


def safrl_children():
    """The pids of the processes this one started that run the safrl binary."""
    binary = os.path.realpath(BINARY)
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
            exe = os.readlink(entry / "exe")
        except OSError:
            continue
        parent = int(stat[stat.rindex(")") + 2:].split()[1])
        if exe == binary and parent == os.getpid():
            pids.append(int(entry.name))
    return pids


@pytest.fixture(autouse=True)
def no_server_left():
    assert safrl_children() == []
    yield
    assert safrl_children() == []


def cli_score(tmp_path, samples, step):
    """`safrl score` on the same samples as lines (the ids and the step safrl.score gives them)."""
    lines = tmp_path / "in.jsonl"
    lines.write_text("".join(json.dumps({"id": i, "step": step, **s}) + "\n"
                             for i, s in enumerate(samples)))
    out = tmp_path / "out.jsonl"
    run = subprocess.run([BINARY, "score", "--config", CONFIG, "--input", str(lines),
                          "--output", str(out)], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_score_gives_safrl_scores_results_in_input_order(tmp_path):
    results = safrl.score(SAMPLES, config=CONFIG, step=STEP)
    # `safrl score` lines also carry the hash of the model settings (for --rescore); replies not.
    lines = cli_score(tmp_path, SAMPLES, STEP)
    assert all(len(line.pop("models")) == 16 for line in lines)
    assert results == lines
    assert [r["id"] for r in results] == [0, 1, "x", 17, 4, 5]
    assert [r["step"] for r in results] == [STEP, STEP, 3, STEP, STEP, STEP]
    assert results[2]["meta"] == {"source": ["unit", 1]}


def test_a_bad_sample_raises_the_protocols_bad_request_naming_it():
    with pytest.raises(safrl.BadRequest) as caught:
        safrl.score([SAMPLES[0], {"prompt": "p", "respones": "typo"}], config=CONFIG)
    assert caught.value.code == "bad_request"
    assert str(caught.value).startswith(
        "bad_request: samples[1].respones: unknown key; allowed here: id, prompt")


def test_the_server_stops_on_an_exception_and_on_keyboard_interrupt():
    for error in (RuntimeError("the caller's bug"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with safrl.LocalServer(CONFIG) as server:
                folder = Path(server.endpoint[len("ipc://"):]).parent
                assert safrl_children() == [server.process.pid]
                raise error
        assert server.process.returncode == 0  # SIGTERM: a clean shutdown
        assert not folder.exists()


def test_keyboard_interrupt_while_the_models_load_kills_the_server():
    folders = set(Path(tempfile.gettempdir()).glob("safrl-*"))
    # SIGINT to this thread only, as a notebook's interrupt: the server process does not get it.
    timer = threading.Timer(0.3, signal.pthread_kill, (threading.get_ident(), signal.SIGINT))
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        safrl.LocalServer(CONFIG)
    timer.join()
    assert set(Path(tempfile.gettempdir()).glob("safrl-*")) == folders


def test_a_server_that_dies_fails_the_call_at_once_with_its_log():
    with safrl.LocalServer(CONFIG) as server, server.client() as client:
        assert client.settings.timeout == 3600.0  # no timeout is waited out for a dead server
        server.process.kill()
        with pytest.raises(safrl.ServerError, match=r"(?s)exited with code -9 .*listening on"):
            client.score(SAMPLES[:1])


def test_start_errors_say_what_to_fix(tmp_path, monkeypatch):
    with pytest.raises(safrl.ServerStartError, match="no config file 'nope.yaml'"):
        safrl.LocalServer("nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"guard: {{model: {tmp_path}/nowhere}}\nreward: {{type: guard_only}}\n")
    with pytest.raises(safrl.ServerStartError) as caught:
        safrl.LocalServer(str(bad))
    assert "exited with code 2 before answering" in str(caught.value)
    assert f"{tmp_path}/nowhere" in str(caught.value)  # the server's own message, from its log
    monkeypatch.setenv("SAFRL_BIN", str(tmp_path / "safrl"))
    with pytest.raises(safrl.ServerStartError, match=r"\$SAFRL_BIN=.* is not an executable file"):
        safrl.score(SAMPLES, config=CONFIG)
