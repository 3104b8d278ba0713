"""`safrl serve`'s start-up messages and flags end to end: an endpoint it cannot bind is refused
before any model loads, naming the value and the form to give; a port in use says so; ipc://
endpoints serve; --device, --dtype and --threads override the config; --log-format json
makes the log JSON lines."""
import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest

import safrl

from embedded import SAFRL, has_gpu, write_config


def serve(config, *extra, timeout=120):
    return subprocess.run([SAFRL, "serve", "--config", str(config), *extra],
                          capture_output=True, text=True, timeout=timeout)


def not_bindable(value, fix):
    return (f'"{value}" is not an endpoint the server can bind; give tcp://HOST:PORT ({fix}) or '
            "ipc://PATH (a Unix socket)")


def test_an_endpoint_without_a_transport_is_refused_up_front(tmp_path):
    config = write_config(tmp_path)
    proc = serve(config, "--endpoint", "localhost:5555")
    assert (proc.returncode, proc.stderr) == (
        2, f"safrl: --endpoint: {not_bindable('localhost:5555', 'here tcp://localhost:5555')}\n")
    proc = serve(config, "--endpoint", "udp://127.0.0.1:5555")
    assert (proc.returncode, proc.stderr) == (
        2, "safrl: --endpoint: "
           f"{not_bindable('udp://127.0.0.1:5555', 'e.g. tcp://127.0.0.1:5555')}\n")
    config = write_config(tmp_path, "server: {endpoint: '127.0.0.1:5555'}\n", "bare.yaml")
    proc = serve(config)
    assert (proc.returncode, proc.stderr) == (
        2, f"safrl: {config}: server.endpoint: "
           f"{not_bindable('127.0.0.1:5555', 'here tcp://127.0.0.1:5555')}\n")


def test_a_port_in_use_says_so(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        endpoint = f"tcp://127.0.0.1:{taken.getsockname()[1]}"
        proc = serve(write_config(tmp_path), "--endpoint", endpoint, "--run-dir",
                     str(tmp_path / "run"))
    assert (proc.returncode, proc.stderr.splitlines()[-1]) == (
        2, f"safrl: cannot bind {endpoint}: Address already in use; another process listens there "
           "(another safrl serve?): stop it, or give another port (--endpoint or server.endpoint)")


def test_ipc_endpoints_serve_with_the_device_and_dtype_given(tmp_path):
    endpoint = f"ipc://{tmp_path}/serve.sock"
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([SAFRL, "serve", "--config", str(write_config(tmp_path)),
                                 "--endpoint", endpoint, "--run-dir", str(tmp_path / "run"),
                                 "--device", "cpu", "--dtype", "bfloat16", "--threads", "2"],
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        # Bound once it says so; requests sent from then on are answered.
        deadline = time.monotonic() + 120
        while "listening on" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        client = safrl.Client(endpoint)
        runtime = client.info()["config"]["runtime"]
        assert runtime == {"device": "cpu", "dtype": "bfloat16", "storage_dtype": "bfloat16",
                           "threads": 2, "omp_wait_policy": "passive"}
        [scored] = client.score([{"id": 1, "prompt": "hi", "response": "hello"}])
        assert scored["id"] == 1 and scored["case"] in ("unsafe", "refusal", "helpful",
                                                        "unparseable")
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    assert f"listening on {endpoint}" in log.read_text()


def test_log_format_json_makes_every_start_and_stop_line_json(tmp_path):
    """--log-format json: each line on stderr one JSON object (docs/serve.md, "Logging"); the
    --log-level flag wins over SAFRL_LOG_LEVEL (error would drop the info lines)."""
    endpoint = f"ipc://{tmp_path}/serve.sock"
    log = tmp_path / "serve.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([SAFRL, "serve", "--config", str(write_config(tmp_path)),
                                 "--endpoint", endpoint, "--run-dir", str(tmp_path / "run"),
                                 "--log-format", "json", "--log-level", "info"],
                                stdout=subprocess.DEVNULL, stderr=err,
                                env={**os.environ, "SAFRL_LOG_LEVEL": "error"})
    try:
        deadline = time.monotonic() + 120
        while "listening on" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert [list(line) for line in lines] == [["ts", "level", "component", "message"]] * len(lines)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["ts"])
               for line in lines)
    said = [(line["level"], line["component"], line["message"]) for line in lines]
    assert ("info", "serve", f"listening on {endpoint}; steps logged to {tmp_path / 'run'}") in said
    assert said[-1] == ("info", "serve", "stopped; flushed 0 step(s)")


@pytest.mark.parametrize("flag, env, message", [
    (["--log-level", "verbose"], {},
     "safrl: --log-level: unknown log level 'verbose': use debug, info, warn or error\n"),
    ([], {"SAFRL_LOG_FORMAT": "yaml"},
     "safrl: SAFRL_LOG_FORMAT: unknown log format 'yaml': use text or json\n"),
])
def test_a_wrong_log_setting_is_refused_naming_the_allowed_values(tmp_path, flag, env, message):
    proc = subprocess.run([SAFRL, "serve", "--config", str(write_config(tmp_path)), *flag],
                          capture_output=True, text=True, timeout=60, env={**os.environ, **env})
    assert (proc.returncode, proc.stderr) == (2, message)


@pytest.mark.skipif(has_gpu(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_suggests_what_exists(tmp_path):
    config = write_config(tmp_path, "runtime: {device: 'cuda:1'}\n")
    proc = serve(config)
    assert (proc.returncode, proc.stderr) == (
        2, f"safrl: {config}: runtime.device: cuda:1 was asked for, but no GPU is visible to this "
           "process (none installed, hidden by CUDA_VISIBLE_DEVICES, or a LibTorch without CUDA); "
           f"use --device cpu, or set runtime.device: cpu in {config}\n")


@pytest.mark.parametrize("command", ["serve", "front"])
def test_an_http_port_in_use_says_so(tmp_path, command):
    """serve's gateway and the front bind their HTTP port the same way (serve/http_listener.h),
    and say the same thing when it is taken."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [SAFRL, command, "--config", str(write_config(tmp_path)), "--endpoint",
             f"ipc://{tmp_path}/zmq.sock", "--http-port", str(port), "--run-dir",
             str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stderr.splitlines()[-1]) == (
        2, f"safrl: cannot listen on 127.0.0.1:{port} for HTTP (bind: Address already in use); "
           "give another --http-port or 0 to turn it off"), proc.stderr
