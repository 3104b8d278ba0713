"""Scoring from Python with no server to run: a private `safrl serve` for this process.

    results = safrl.score([{"prompt": "How do I pick a lock?", "response": "I can't help."}],
                          config="configs/default.yaml")

    with safrl.LocalServer("configs/default.yaml") as server, server.client() as client:
        for batch in batches:                      # the models are loaded once
            rewards = [r["reward"] for r in client.score(batch)]

LocalServer starts `safrl serve` on an ipc:// endpoint in a temporary directory of its own (no
port to pick or collide on; the directory is private to this user), waits until it answers, and
on stop() (or leaving the `with` block, by an exception or KeyboardInterrupt too) sends SIGTERM,
waits for the process and removes the directory. Its client() is a safrl.Client that fails at
once, with the server's log, if the server process dies, instead of waiting out timeouts.

safrl.ray and safrl.testing.live_server start their servers with the same pieces: find_binary()
finds the binary, start_serve() / wait_until_answering() start one and wait until it answers.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Any, Dict, List, Mapping, Optional, Sequence

from safrl.client import Client
from safrl.errors import SafrlError, ServerError, Timeout

__all__ = ["score", "LocalServer", "ServerStartError", "find_binary", "start_serve",
           "wait_until_answering"]

# The build tree of a source checkout, relative to the folder that holds this package.
_BUILD_TREE_BINARY = os.path.join("build", "src", "cli", "safrl")


class ServerStartError(SafrlError):
    """`safrl serve` could not be started: no binary, or the process exited or did not answer in
    time (the message says which, with the end of its log)."""


def find_binary(binary: Optional[str] = None) -> str:
    """The safrl binary: `binary`, else $SAFRL_BIN, else build/src/cli/safrl of the source
    checkout this package is imported from, else `safrl` on PATH."""
    if binary or os.environ.get("SAFRL_BIN"):
        found = binary or os.environ["SAFRL_BIN"]
        source = "binary=" if binary else "$SAFRL_BIN="
        if not (os.path.isfile(found) and os.access(found, os.X_OK)):
            raise ServerStartError(f"{source}{found} is not an executable file; give the path of "
                                   f"a built safrl ({_BUILD_TREE_BINARY} in a build)")
        return found
    checkout = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    built = os.path.join(checkout, _BUILD_TREE_BINARY)
    if os.path.isfile(built) and os.access(built, os.X_OK):
        return built
    on_path = shutil.which("safrl")
    if on_path:
        return on_path
    raise ServerStartError(
        f"no safrl binary: pass binary=..., set $SAFRL_BIN, or put safrl on PATH (a build makes "
        f"{_BUILD_TREE_BINARY}: bash scripts/setup.sh in the repository)")


def _log_tail(path: str, lines: int = 20) -> str:
    try:
        with open(path, errors="replace") as log:
            return "".join(log.readlines()[-lines:]).rstrip()
    except OSError:
        return "(no log)"


def _answers(endpoint: str, timeout: float = 0.5) -> bool:
    """Whether a server answers a ping on endpoint within timeout seconds."""
    with Client(endpoint, timeout=timeout, connect_timeout=timeout, retries=0) as client:
        try:
            client.ping()
            return True
        except Timeout:
            return False


def start_serve(binary: str, config: str, endpoint: str, run_dir: str, log_path: str, *,
                http_port: int = 0, timeout: float = 120.0) -> subprocess.Popen:
    """Starts `safrl serve --config config --endpoint endpoint --run-dir run_dir --http-port
    http_port`, its output going to log_path, and returns the process once it answers (see
    wait_until_answering)."""
    with open(log_path, "w") as log:
        proc = subprocess.Popen([binary, "serve", "--config", config, "--endpoint", endpoint,
                                 "--run-dir", run_dir, "--http-port", str(http_port)],
                                stdout=log, stderr=subprocess.STDOUT)
    wait_until_answering(proc, endpoint, log_path, timeout)
    return proc


def wait_until_answering(proc: subprocess.Popen, endpoint: str, log_path: str,
                         timeout: float) -> None:
    """Returns once the server process proc answers a ping on endpoint. Raises ServerStartError,
    with the end of its log, when it exits first or does not answer within timeout seconds; the
    process is then killed, as it is when the wait is interrupted (KeyboardInterrupt)."""
    try:
        deadline = time.monotonic() + timeout
        # Ready when this process is running and the endpoint answers (not a leftover server).
        while proc.poll() is not None or not _answers(endpoint):
            if proc.poll() is not None:
                raise ServerStartError(f"safrl serve exited with code {proc.returncode} before "
                                       f"answering on {endpoint}; its log ends:\n"
                                       f"{_log_tail(log_path)}")
            if time.monotonic() > deadline:
                raise ServerStartError(f"safrl serve did not answer on {endpoint} within "
                                       f"{timeout:g} s; its log ends:\n{_log_tail(log_path)}")
    except BaseException:
        proc.kill()
        proc.wait()
        raise


class _OwnServerClient(Client):
    """A Client of a LocalServer: raises at once when the server process has exited."""

    _watch_seconds = 0.2

    def __init__(self, server: "LocalServer", **options: Any) -> None:
        super().__init__(server.endpoint, **options)
        self._server = server

    def _check_server(self) -> None:
        code = self._server.process.poll()
        if code is not None:
            raise ServerError(f"the local safrl serve exited with code {code} while requests "
                              f"were waiting; its log ends:\n{self._server.log_tail()}")


class LocalServer:
    """A `safrl serve` private to this process (see the module's docstring).

    config: the YAML config (docs/config.md); its server endpoint and HTTP port are replaced by
    a private ipc:// endpoint and no HTTP. binary: see find_binary. run_dir: where the step logs
    go (kept); None puts them in the temporary directory, removed on stop. startup_timeout:
    seconds the models may take to load before the server answers.
    """

    def __init__(self, config: str, *, binary: Optional[str] = None,
                 run_dir: Optional[str] = None, startup_timeout: float = 600.0) -> None:
        if not os.path.isfile(config):
            raise ServerStartError(f"no config file {config!r} (relative paths are taken from "
                                   f"{os.getcwd()})")
        binary = find_binary(binary)
        self._dir = tempfile.mkdtemp(prefix="safrl-")
        self.endpoint = f"ipc://{self._dir}/serve"
        self.log_path = os.path.join(self._dir, "serve.log")
        self.run_dir = run_dir or os.path.join(self._dir, "run")
        try:
            self.process = start_serve(binary, config, self.endpoint, self.run_dir,
                                       self.log_path, timeout=startup_timeout)
        except BaseException:
            shutil.rmtree(self._dir, ignore_errors=True)
            raise

    def client(self, **options: Any) -> Client:
        """A safrl.Client of this server (close it, or use it in a `with`). options: Client
        arguments; by default each request may wait an hour (a timeout is only a hung server's
        here, since a dead one is noticed at once) and two are in flight, which keeps the
        engine busy without queueing work behind work."""
        return _OwnServerClient(self, **{"timeout": 3600.0, "max_in_flight": 2, **options})

    def log_tail(self, lines: int = 20) -> str:
        """The end of the server's output (stdout and stderr)."""
        return _log_tail(self.log_path, lines)

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM (the server finishes what it admitted and writes its step logs), then SIGKILL
        after timeout seconds; removes the temporary directory. Returns the exit code."""
        try:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait()
        finally:
            shutil.rmtree(self._dir, ignore_errors=True)

    def __enter__(self) -> "LocalServer":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def score(samples: Sequence[Mapping[str, Any]], config: str, *, step: Optional[int] = None,
          judge: Optional[str] = None, judge_prompt: Optional[bool] = None,
          judge_tool_results: Optional[bool] = None, binary: Optional[str] = None,
          startup_timeout: float = 600.0, **client_options: Any) -> List[Dict[str, Any]]:
    """Scores samples on a LocalServer started for this call and stopped before it returns
    (also on an error or KeyboardInterrupt): one result per sample, in order, as
    safrl.Client.score returns them (and `safrl score` writes them). Loads the models on every
    call: for many calls, keep a LocalServer open instead.

    samples: dicts as in docs/protocol.md ({"prompt" | "messages", "response"} or {"prompt" |
    "messages", "answer", "thinking"?}, optional "id", "step", "meta", "tool_calls",
    "policy_turns_from" and the judge fields); judge, judge_prompt, judge_tool_results: as in
    safrl.Client.score. A sample the server refuses raises safrl.BadRequest naming it, and
    nothing is scored.
    """
    with LocalServer(config, binary=binary, startup_timeout=startup_timeout) as server:
        with server.client(**client_options) as client:
            return client.score(samples, step=step, judge=judge, judge_prompt=judge_prompt,
                                judge_tool_results=judge_tool_results)
