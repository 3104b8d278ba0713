"""Running safrl from the experiments: the program's path (safrl.testing.toolchain), a
`safrl serve` for the length of a `with` block (always stopped, also on errors), and offline
scoring with `safrl score`."""
import contextlib
import ctypes
import json
import os
import signal
import socket
import subprocess
import time
from typing import Iterator, List, Mapping, Sequence

import safrl
from safrl.testing.toolchain import safrl_bin


def free_port() -> int:
    """A free loopback port (the server binds it a moment later; a clash fails loudly)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """In the child before exec: ask Linux to SIGTERM it when the parent dies, so that a server
    never outlives an experiment killed with SIGKILL."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


@contextlib.contextmanager
def serve(config: str, run_dir: str, *, startup_timeout: float = 60.0) -> Iterator[str]:
    """Starts `safrl serve --config CONFIG --run-dir RUN_DIR` on a free loopback port and yields
    its endpoint once it answers a ping. On exit it sends SIGTERM, which makes the server finish
    its work and flush the step logs, and waits for it (killing it if it hangs)."""
    os.makedirs(run_dir, exist_ok=True)
    endpoint = f"tcp://127.0.0.1:{free_port()}"
    log = open(os.path.join(run_dir, "serve.log"), "w")
    proc = subprocess.Popen([safrl_bin(), "serve", "--config", config, "--endpoint", endpoint,
                             "--run-dir", run_dir], stdout=log, stderr=subprocess.STDOUT,
                            preexec_fn=_die_with_parent)
    try:
        deadline = time.time() + startup_timeout
        with safrl.Client(endpoint, timeout=1.0, retries=0) as client:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"safrl serve exited with {proc.returncode}; see "
                                       f"{log.name}")
                try:
                    client.ping()
                    break
                except safrl.Timeout:
                    if time.time() > deadline:
                        raise
        yield endpoint
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


def score_offline(config: str, samples: Sequence[Mapping], output: str) -> List[dict]:
    """Scores samples ({"id", "prompt", "response"}) with `safrl score`, writing its input to
    OUTPUT.input.jsonl and its output to `output` (kept: rerunning after a crash resumes from
    it). Results in sample order."""
    source = os.path.splitext(output)[0] + ".input.jsonl"
    with open(source, "w") as f:
        for sample in samples:
            f.write(json.dumps(sample) + "\n")
    proc = subprocess.run([safrl_bin(), "score", "--config", config, "--input", source,
                           "--output", output], capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"safrl score failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    by_id = {}
    with open(output) as f:
        for line in f:
            result = json.loads(line)
            by_id[result["id"]] = result
    return [by_id[sample["id"]] for sample in samples]
