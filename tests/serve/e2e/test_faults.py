"""Fault injection against real `safrl serve` processes: slow and stalled clients, start-up with a
bad run directory, model directory or config, a server SIGKILLed mid-step while the plugin retries,
hostile request fields, and where the server listens (docs/security.md lists what each shows).
No assertion depends on how fast the machine is: waits are generous and what is checked is what
happened, not how long it took."""
import json
import os
import shutil
import signal
import socket
import subprocess
import threading
import time

import msgpack
import pytest
import zmq

import conftest
import safrl
from conftest import EMBEDDED, SAFRL, Client, Server


def sample(i, step=0):
    return {"id": i, "prompt": f"question {i}", "response": f"answer {i}", "step": step}


def start_up(tmp_path, config_text, run_dir=None, name="bad"):
    """Runs `safrl serve` with a config that must stop it before it serves: (exit code, stderr)."""
    config = tmp_path / f"{name}.yaml"
    config.write_text(config_text + "server: {endpoint: 'tcp://127.0.0.1:0'}\n")
    done = subprocess.run([SAFRL, "serve", "--config", str(config),
                           "--run-dir", str(run_dir or tmp_path / f"{name}-run")],
                          capture_output=True, text=True, timeout=120)
    return done.returncode, done.stderr


def guard_only(model_dir):
    return f"guard: {{model: {model_dir}}}\nreward: {{type: guard_only}}\n"


# -- slow clients ---------------------------------------------------------------------------------

def test_a_client_that_does_not_read_delays_no_one_and_gets_its_reply_later(server):
    slow = Client(server.endpoint)
    slow_id = slow.send({"type": "score", "samples": [sample(k) for k in range(4)]})
    # While the slow client leaves its reply unread, another client is served as usual.
    other = Client(server.endpoint)
    for r in range(5):
        reply = other.call({"type": "score", "samples": [sample(100 + r)]})
        assert reply["type"] == "score" and [x["id"] for x in reply["results"]] == [100 + r]
    time.sleep(2)
    reply = slow.receive(60)
    assert reply["id"] == slow_id and reply["type"] == "score"
    assert [x["id"] for x in reply["results"]] == [0, 1, 2, 3]


def test_a_stalled_client_with_a_full_pipe_does_not_stall_the_others(server):
    # A client whose process stopped reading (SIGSTOP, a debugger, swap) with many requests sent:
    # small receive buffers make its pipe fill after a few thousand replies.
    stalled = zmq.Context.instance().socket(zmq.DEALER)
    stalled.setsockopt(zmq.LINGER, 0)
    stalled.setsockopt(zmq.RCVHWM, 10)
    stalled.setsockopt(zmq.RCVBUF, 8192)
    stalled.connect(server.endpoint)
    flood = 20000
    try:
        for i in range(flood):
            stalled.send(msgpack.packb({"v": 1, "type": "info", "id": f"stalled-{i}"}))
        other = Client(server.endpoint)
        # Served all along, until the server has read the whole flood (the fixture's start-up
        # pings and these stats requests count too).
        for own in range(1, 100000):
            stats = other.call({"type": "stats"}, timeout=10)
            assert stats is not None, "the server stalled"
            if stats["counters"]["requests"] >= flood + own + 1:
                break
            time.sleep(0.05)
    finally:
        stalled.close()


# -- start-up failures ----------------------------------------------------------------------------

@pytest.mark.parametrize("layout", ["under_a_file", "is_a_file", "log_is_a_directory"])
def test_an_unwritable_run_directory_stops_start_up_naming_the_path(tmp_path, layout):
    # Tests run as root, whom permissions do not stop: use paths no one can write to.
    blocker = tmp_path / "occupied"
    if layout == "log_is_a_directory":
        run_dir = tmp_path / "run"
        (run_dir / "steps.jsonl").mkdir(parents=True)
    else:
        blocker.write_text("a regular file\n")
        run_dir = blocker / "run" if layout == "under_a_file" else blocker
    code, stderr = start_up(tmp_path, guard_only(f"{EMBEDDED}/guard"), run_dir=run_dir)
    assert code == 2, stderr
    assert str(run_dir) in stderr and "--run-dir" in stderr, stderr
    assert "internal error" not in stderr


def model_dir(tmp_path, name, source="guard"):
    """A copy of an embedded model directory made of links, to be broken one file at a time."""
    target = tmp_path / name
    target.mkdir()
    for file in os.listdir(f"{EMBEDDED}/{source}"):
        (target / file).symlink_to(f"{EMBEDDED}/{source}/{file}")
    return target


def test_a_malformed_model_directory_stops_start_up_with_exit_code_2(tmp_path):
    missing = model_dir(tmp_path, "missing_config")
    (missing / "config.json").unlink()

    truncated = model_dir(tmp_path, "truncated_weights")
    (truncated / "model.safetensors").unlink()
    with open(f"{EMBEDDED}/guard/model.safetensors", "rb") as full:
        (truncated / "model.safetensors").write_bytes(full.read(1 << 20))

    cut_header = model_dir(tmp_path, "cut_header")
    (cut_header / "model.safetensors").unlink()
    with open(f"{EMBEDDED}/guard/model.safetensors", "rb") as full:
        (cut_header / "model.safetensors").write_bytes(full.read(300))

    llama = model_dir(tmp_path, "wrong_architecture")
    config = json.loads((llama / "config.json").read_text())
    (llama / "config.json").unlink()
    config.update(architectures=["LlamaForCausalLM"], model_type="llama")
    (llama / "config.json").write_text(json.dumps(config))

    cases = [
        (guard_only(missing), [f"{missing}/config.json", "No such file"]),
        (guard_only(truncated), [f"{truncated}/model.safetensors", "truncated"]),
        (guard_only(cut_header), [f"{cut_header}/model.safetensors", "truncated"]),
        (guard_only(llama), [f"{llama}/config.json", '"LlamaForCausalLM" is not supported',
                             "Qwen3ForCausalLM"]),
        # Each model where the other belongs: the guard must generate, the reward model classify.
        (f"guard: {{model: {EMBEDDED}/reward}}\nreward: {{type: guard_only}}\n",
         [f"{EMBEDDED}/reward", "the guard must be a causal LM"]),
    ]
    for config_text, expected in cases:
        code, stderr = start_up(tmp_path, config_text)
        assert code == 2, (config_text, stderr)
        assert stderr.startswith("safrl: ") and "internal error" not in stderr, stderr
        for part in expected:
            assert part in stderr, (part, stderr)


def test_an_unknown_config_key_is_refused_with_its_key_path(tmp_path):
    code, stderr = start_up(
        tmp_path, f"guard: {{model: {EMBEDDED}/guard}}\nreward:\n  type: guard_only\n"
                  "  unsafe_capp: -3\n", name="typo")
    assert code == 2
    assert f"{tmp_path}/typo.yaml: reward.unsafe_capp: unknown key; valid keys here: type, " \
           "unsafe_cap" in stderr, stderr
    code, stderr = start_up(
        tmp_path, guard_only(f"{EMBEDDED}/guard") + "batching: {max_batch_tokens: 64, colour: red}\n",
        name="nested")
    assert code == 2 and "nested.yaml: batching.colour: unknown key" in stderr, stderr


# -- a server killed mid-step ---------------------------------------------------------------------

def test_a_server_sigkilled_mid_step_loses_no_reward_the_client_asked_for(tmp_path):
    """SIGKILL gives the server no chance to flush: its step statistics not yet written are lost
    (only SIGTERM drains and flushes, see test_plugin_e2e). What is guaranteed, and asserted:
    every sample the trainer sent gets exactly one result; the steps written before the kill stay
    written; the new server counts each request it answers once, so its statistics hold exactly
    the requests the killed server did not answer."""
    calls, size = 12, 3
    # steps_kept_open 1: step 2 is written as soon as step 3 starts (by default it would stay
    # open for one step more, and die with the server too).
    first = Server(tmp_path, server_yaml="  steps_kept_open: 1\n", name="first")
    lock = threading.Lock()
    progress = {"started": 0, "done": 0}
    fourth_started = threading.Event()
    scored, errors = [], []

    def trainer():
        try:
            with safrl.Client(first.endpoint, timeout=2, retries=60, backoff=0.05,
                              max_backoff=0.5) as client:
                scored.extend(r["id"] for r in client.score(
                    [{"id": f"warm-{j}", "prompt": "q", "response": "a" * j} for j in range(size)],
                    step=2))
                for k in range(calls):
                    with lock:
                        progress["started"] += 1
                    if k == 4:
                        fourth_started.set()
                    results = client.score([{"id": f"s{k}-{j}", "prompt": f"q{k}", "response": "a" * j}
                                            for j in range(size)], step=3)
                    with lock:
                        progress["done"] += 1
                    scored.extend(r["id"] for r in results)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    thread = threading.Thread(target=trainer)
    thread.start()
    second = None
    try:
        assert fourth_started.wait(120)
        # Frozen while the server dies: calls done by now were answered by it, calls started after
        # can only reach the new server, and at most one call is in between.
        with lock:
            first.proc.send_signal(signal.SIGKILL)
            assert first.proc.wait(timeout=60) == -signal.SIGKILL
            started, done = progress["started"], progress["done"]
        second = Server(tmp_path, name="second", port=first.port)
        thread.join(180)
        assert not thread.is_alive() and not errors, errors
        expected = [f"warm-{j}" for j in range(size)]
        expected += [f"s{k}-{j}" for k in range(calls) for j in range(size)]
        assert sorted(scored) == sorted(expected)  # each exactly once

        # Step 2 was written when step 3's first sample came; step 3 died with the server.
        rows = [json.loads(line) for line in open(first.run_dir / "steps.jsonl")]
        assert [(r["step"], r["count"]) for r in rows] == [(2, size)]

        stats = Client(second.endpoint).call({"type": "stats", "flush": True})
        assert stats["flushed"] == [3]
        [row] = [json.loads(line) for line in open(second.run_dir / "steps.jsonl")]
        assert row["step"] == 3
        answered_by_second = {size * (calls - started), size * (calls - done)}
        assert row["count"] in answered_by_second, (row["count"], started, done)
    finally:
        thread.join(1)
        first.stop(9)
        if second is not None:
            assert second.stop() == 0


# -- hostile request fields -----------------------------------------------------------------------

@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace")
def nan_reward_model(tmp_path):
    """The embedded reward model with a NaN score head: every score it gives is NaN."""
    from safetensors.torch import load_file, save_file
    out = tmp_path / "nan-reward"
    shutil.copytree(f"{EMBEDDED}/reward", out)
    weights = load_file(str(out / "model.safetensors"))
    weights["score.weight"].fill_(float("nan"))
    save_file(weights, str(out / "model.safetensors"), metadata={"format": "pt"})
    return out


@pytest.mark.parametrize("reward", ["hybrid", "guard_only"])
def test_a_helpfulness_score_that_is_not_finite_is_model_error_and_spares_guard_only(tmp_path,
                                                                                   reward):
    models = (f"guard: {{model: {EMBEDDED}/guard, max_new_tokens: 4}}\n"
              f"helpfulness: {{model: {nan_reward_model(tmp_path)}, chat_format: qwen3}}\n"
              f"reward: {{type: {reward}}}\n")
    server = Server(tmp_path, models_yaml=models)
    try:
        client = Client(server.endpoint)
        reply = client.call({"type": "score", "samples": [sample(1), sample(2)]})
        if reward == "hybrid":
            # The models failed, not the request: a server-side code, kept out of bad_request.
            assert reply["type"] == "error", reply
            assert reply["error"]["code"] == "model_error"
            assert "not a finite number" in reply["error"]["message"]
        else:
            assert reply["type"] == "score", reply
            assert [r["helpfulness"] for r in reply["results"]] == [None, None]
            assert [r["id"] for r in reply["results"]] == [1, 2]
        # The server goes on serving.
        assert client.call({"type": "ping"})["type"] == "pong"
        client.close()
    finally:
        server.stop()


def test_no_request_field_reaches_the_file_system(tmp_path):
    """Requests never name files: a server traced with strace, sent path-like strings in every
    string field a request has, makes no file system call that names one of them (and opens
    nothing but the kernel's CPU list and its own /proc status while it serves)."""
    port = conftest.free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    config = tmp_path / "traced.yaml"
    config.write_text(f"guard: {{model: {EMBEDDED}/guard}}\n"
                      f"helpfulness: {{model: {EMBEDDED}/reward, chat_format: qwen3}}\n"
                      f"server: {{endpoint: '{endpoint}'}}\n")
    trace = tmp_path / "strace.log"
    canary = tmp_path / "canary-file"
    canary.write_text("secret\n")
    proc = subprocess.Popen(["strace", "-f", "-qq", "-e", "trace=%file", "-e", "signal=none",
                             "-o", str(trace), SAFRL, "serve", "--config", str(config),
                             "--run-dir", str(tmp_path / "run")],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    client = Client(endpoint)
    try:
        for _ in range(120):
            if proc.poll() is not None:
                pytest.skip(f"strace cannot trace here: {proc.stderr.read()[-300:]}")
            if client.call({"type": "ping"}, timeout=1) is not None:
                break
        else:
            pytest.fail("the traced server did not start")
        mark = trace.stat().st_size
        names = [str(canary), "canary-file", "../../../../etc/shadow", "/etc/passwd",
                 "file:///etc/hosts"]
        for name in names:
            reply = client.call({
                "type": "score", "id": name, "step": 1,
                "samples": [{"id": name, "prompt": name, "response": name, "meta": {"path": name}},
                            {"id": 1, "prompt": name, "answer": name, "thinking": name}],
                "groups": [{"prompt": name, "responses": [name, name], "ids": [name, name + "2"]}]})
            assert reply["type"] == "score" and len(reply["results"]) == 4, reply
        assert client.call({"type": "info", "deep": True})["deep_check"] == "ok"
        assert client.call({"type": "stats", "flush": True})["flushed"] == [1]
        calls = trace.read_bytes()[mark:].decode(errors="replace").splitlines()
        for name in names:
            assert not [c for c in calls if name in c], name
        opened = {c.split('"')[1] for c in calls if "open" in c and '"' in c}
        # The kernel's CPU list (LibTorch), and the server's own memory for the stats reply.
        assert opened <= {"/sys/devices/system/cpu/online", "/proc/self/status"}, opened
    finally:
        client.close()
        # The server first (strace's first line is its process id), so it cannot outlive strace.
        first = trace.read_text().split(None, 1) if trace.exists() else []
        if first and first[0].isdigit():
            try:
                os.kill(int(first[0]), signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.kill()
        proc.wait(timeout=60)


def listening_sockets(pid):
    """(address, port) of every TCP socket process `pid` listens on, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = set()
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as lines:
            next(lines)
            for line in lines:
                fields = line.split()
                address, port = fields[1].split(":")
                if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                    continue
                raw = bytes.fromhex(address)
                # /proc writes each 32-bit word in host (little-endian) order.
                words = [raw[i:i + 4][::-1] for i in range(0, len(raw), 4)]
                ip = socket.inet_ntop(socket.AF_INET if table == "tcp" else socket.AF_INET6,
                                      b"".join(words))
                found.add((ip, int(port, 16)))
    return found


def test_the_server_listens_on_loopback_only(server):
    # The ZeroMQ endpoint is the configured loopback one; the HTTP port has no address setting and
    # binds 127.0.0.1 (OpenRLHF's /get_reward has no authentication).
    assert listening_sockets(server.proc.pid) == {("127.0.0.1", server.port),
                                                  ("127.0.0.1", server.http_port)}
