"""`safrl serve` with runtime.threads and runtime.omp_wait_policy: libgomp reads OMP_WAIT_POLICY
only when it loads, so the server runs itself again with the variable set (the same process id);
its start-up line and the info reply say which threads and policy it runs with, and a user's
own OMP_WAIT_POLICY wins."""
import os
import signal
import subprocess
import time

import safrl

from embedded import SAFRL, write_config


def start_serve(tmp_path, runtime, env):
    config = write_config(tmp_path, f"runtime: {runtime}\n")
    endpoint = f"ipc://{tmp_path}/serve.sock"
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([SAFRL, "serve", "--config", str(config), "--endpoint", endpoint,
                                 "--run-dir", str(tmp_path / "run")],
                                stdout=out, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + 120
    while "listening on" not in log.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return proc, endpoint, log


def environ_of(pid):
    with open(f"/proc/{pid}/environ", "rb") as f:
        pairs = [entry.split(b"=", 1) for entry in f.read().split(b"\0") if b"=" in entry]
    return {key.decode(): value.decode() for key, value in pairs}


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def clean_environment():
    env = dict(os.environ)
    for variable in ("OMP_WAIT_POLICY", "SAFRL_OMP_WAIT_POLICY_SET", "GOMP_SPINCOUNT"):
        env.pop(variable, None)
    return env


def threads_and_policy(endpoint):
    """runtime.threads and runtime.omp_wait_policy of the server's info reply: what runs."""
    client = safrl.Client(endpoint)
    runtime = client.info()["config"]["runtime"]
    client.close()
    return runtime["threads"], runtime["omp_wait_policy"]


def startup_line(log):
    [line] = [line for line in log.read_text().splitlines() if "CPU threads:" in line]
    return line.split(" INFO ", 1)[1]


def test_serve_runs_again_with_the_passive_policy_and_one_thread(tmp_path):
    proc, endpoint, log = start_serve(tmp_path, "{threads: 1, omp_wait_policy: passive}",
                                      clean_environment())
    try:
        # The process the test started, run again in place: its environment now holds the policy.
        env = environ_of(proc.pid)
        assert env["OMP_WAIT_POLICY"] == "PASSIVE"
        assert env["SAFRL_OMP_WAIT_POLICY_SET"] == "PASSIVE"
        assert startup_line(log) == ("serve: CPU threads: 1 (runtime.threads); OpenMP wait "
                                     "policy: passive (runtime.omp_wait_policy)")
        assert threads_and_policy(endpoint) == (1, "passive")
    finally:
        stop(proc)


def test_the_users_own_policy_wins_over_the_config(tmp_path):
    env = clean_environment()
    env["OMP_WAIT_POLICY"] = "active"
    proc, endpoint, log = start_serve(tmp_path, "{threads: 2, omp_wait_policy: passive}", env)
    try:
        assert environ_of(proc.pid)["OMP_WAIT_POLICY"] == "active"
        assert "SAFRL_OMP_WAIT_POLICY_SET" not in environ_of(proc.pid)
        assert startup_line(log) == (
            "serve: CPU threads: 2 (runtime.threads); OpenMP wait policy: OMP_WAIT_POLICY=active "
            "(the environment's, over runtime.omp_wait_policy passive)")
        assert threads_and_policy(endpoint) == (2, "active")
    finally:
        stop(proc)
