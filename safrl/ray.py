"""`safrl serve` replicas as Ray actors on an existing Ray cluster (docs/scaling.md).

    import ray, safrl, safrl.ray
    ray.init(address="auto")                        # the cluster verl or OpenRLHF already runs
    replicas = safrl.ray.start("reward.yaml", replicas=2, num_gpus=1, run_dir="/shared/safrl")
    safrl.configure(replicas.endpoints, **replicas.client_options())  # this process
    # the trainer's Ray workers: runtime_env={"env_vars": replicas.environment()}
    ...                                             # train; rewards go to every replica
    replicas.stop()                                 # SIGTERM: in-flight work done, steps written
    rows = replicas.merged_steps()                  # one row per step over all replicas

Each replica is a Ray actor holding one `safrl serve` process with the actor's resources
(num_gpus GPUs, which Ray puts in CUDA_VISIBLE_DEVICES, or num_cpus CPUs). With CURVE (the
default: keys made for the run, or given) it binds its node's address on a free port (or
base_port + its index) and admits only the run's client key; without CURVE it binds loopback, as
a routable address would let anyone in (docs/security.md). It writes its step logs to
RUN_DIR/replica-<i>/run-<k>/. When the process dies, the actor starts a new one on the same
endpoint (run-<k+1>; a failing start is retried, then the actor exits); when the actor itself
dies, Ray restarts it (max_restarts=-1), possibly on another node and port: `endpoints` asks the
actors again.

The client spreads requests over the endpoints (ZeroMQ round-robin), a GRPO group travels in one
request and so stays on one replica (its prompt prefix is reused there), and a request whose
replica dies is retried, with the same id, on the others: no reward is lost or doubled. A replica
killed outright loses its open steps (they are written when closed): the merged statistics then
lack the samples it had counted in them.

Needs `ray` (not a dependency of the plugin), and the safrl binary and the config at the same
path on every node (binary=..., else as safrl.local.find_binary finds it on the caller: $SAFRL_BIN,
the build tree of a source checkout, `safrl` on PATH).
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from typing import Any, Dict, List, Optional, Union

from safrl import curve as curve_keys
from safrl._protocol import ENDPOINT_ENV
from safrl.errors import SafrlError
from safrl.local import ServerStartError, find_binary, wait_until_answering

__all__ = ["start", "ReplicaSet", "ReplicaError", "RunKeys"]

READY_TIMEOUT = 120.0  # seconds for a new server process to answer
RESPAWN_TRIES = 5      # failed starts in a row before the actor exits (and Ray restarts it)


class ReplicaError(ServerStartError):
    """A replica could not be started (the message says why and where its log is)."""


class RunKeys:
    """The CURVE keys of a run: one server pair every replica shares (a client holds one server
    key for all its endpoints) and the client pair the trainer's processes use. Z85 text."""

    def __init__(self, server_public: str, server_secret: str, client_public: str,
                 client_secret: str) -> None:
        # Malformed or mismatched keys fail here, not in every replica's log.
        self.server_public, self.server_secret = curve_keys.check_pair(
            server_public, server_secret, "the server's key pair")
        self.client_public, self.client_secret = curve_keys.check_pair(
            client_public, client_secret, "the client's key pair")

    @classmethod
    def generate(cls) -> "RunKeys":
        return cls(*curve_keys.keypair(), *curve_keys.keypair())

    def client_options(self) -> Dict[str, Any]:
        """safrl.Client / AsyncClient / safrl.configure keyword arguments."""
        return {"server_key": self.server_public,
                "client_keys": (self.client_public, self.client_secret)}

    def environment(self) -> Dict[str, str]:
        """The environment variables from which clients made without keys read them."""
        return {curve_keys.ENV_SERVER_KEY: self.server_public,
                curve_keys.ENV_PUBLIC_KEY: self.client_public,
                curve_keys.ENV_SECRET_KEY: self.client_secret}

    def server_file(self, directory: str) -> str:
        """The keys of server.curve in a file readable by its owner only (`safrl serve
        --curve-keys`): the secret key stays off command lines and out of the shared config."""
        path = os.path.join(directory, "curve-keys.yaml")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(f"public_key: {json.dumps(self.server_public)}\n"
                      f"secret_key: {json.dumps(self.server_secret)}\n"
                      f"allowed_client_keys: [{json.dumps(self.client_public)}]\n")
        return path


class _Replica:
    """One `safrl serve` process, restarted on the same endpoint when it dies (a Ray actor)."""

    def __init__(self, binary: str, config: str, run_dir: str, index: int,
                 base_port: Optional[int], host: Optional[str], http: bool,
                 keys: Optional[RunKeys]) -> None:
        import ray
        self.binary, self.config, self.index = binary, config, index
        self.host = host or (ray.util.get_node_ip_address() if keys else "127.0.0.1")
        self.keys_file = None
        if keys is not None:
            # Private to this actor's node and process; the readiness check, a safrl.Client
            # made without keys, reads the client keys from this (dedicated) process's
            # environment.
            self.keys_file = keys.server_file(tempfile.mkdtemp(prefix="safrl-curve-"))
            os.environ.update(keys.environment())
        self.port = base_port + index if base_port else _free_port(self.host)
        # HTTP (OpenRLHF's /get_reward) on a port of its own per replica, at the config's
        # server.http_address; off otherwise, so replicas on one node never share a port.
        self.http_port = _free_port("127.0.0.1") if http else 0
        self.endpoint_ = f"tcp://{self.host}:{self.port}"
        self.dir = os.path.join(run_dir, f"replica-{index}")
        self.runs = len(glob.glob(os.path.join(self.dir, "run-*")))  # earlier lives of the actor
        self.restarts = 0
        self.stopping = False
        self.lock = threading.Lock()
        try:
            self.proc = self._spawn()
        except BaseException:
            self._remove_keys()
            raise
        self.watchdog = threading.Thread(target=self._watch, daemon=True)
        self.watchdog.start()

    def _spawn(self) -> subprocess.Popen:
        run = os.path.join(self.dir, f"run-{self.runs}")
        self.runs += 1
        os.makedirs(run, exist_ok=True)
        log = os.path.join(run, "serve.log")
        command = [self.binary, "serve", "--config", self.config, "--endpoint", self.endpoint_,
                   "--run-dir", run, "--http-port", str(self.http_port)]
        if self.keys_file:
            command += ["--curve-keys", self.keys_file]
        # The server needs no client keys: they stay in this process.
        env = {k: v for k, v in os.environ.items() if not k.startswith("SAFRL_CURVE_")}
        with open(log, "w") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        try:
            wait_until_answering(proc, self.endpoint_, log, READY_TIMEOUT)
        except SafrlError as error:  # ServerStartError, or the server refused the run's keys
            raise ReplicaError(f"replica {self.index} (log: {log}): {error}") from None
        return proc

    def _watch(self) -> None:
        """Restarts the server when it dies. A start that fails is retried with a growing wait;
        after RESPAWN_TRIES failures in a row the actor exits, so that Ray restarts it (on
        another node if need be) instead of keeping a replica that serves nothing."""
        failures = 0
        while True:
            self.proc.wait()
            with self.lock:
                if self.stopping:
                    return
                try:
                    self.proc = self._spawn()
                    self.restarts += 1
                    failures = 0
                    continue
                except ReplicaError:
                    failures += 1
            if failures >= RESPAWN_TRIES:
                self._remove_keys()  # the restarted actor writes its own
                os._exit(1)
            time.sleep(min(30.0, 2.0 ** failures))

    def endpoint(self) -> str:
        return self.endpoint_

    def _remove_keys(self) -> None:
        if self.keys_file:
            shutil.rmtree(os.path.dirname(self.keys_file), ignore_errors=True)

    def status(self) -> Dict[str, Any]:
        with self.lock:
            return {"index": self.index, "endpoint": self.endpoint_, "http_port": self.http_port,
                    "pid": self.proc.pid,
                    "alive": self.proc.poll() is None, "restarts": self.restarts,
                    "run_dir": self.dir}

    def stop(self, timeout: float = 60.0) -> int:
        with self.lock:
            self.stopping = True
            proc = self.proc
        self._remove_keys()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            return proc.wait()


class ReplicaSet:
    """The replicas start() made: their endpoints, status, merged step statistics, stop()."""

    def __init__(self, actors: List[Any], run_dir: str, binary: str,
                 keys: Optional[RunKeys]) -> None:
        self.actors, self.run_dir, self.binary, self.keys = actors, run_dir, binary, keys

    def client_options(self) -> Dict[str, Any]:
        """The CURVE keyword arguments of a client of these replicas (empty without CURVE):
        safrl.configure(replicas.endpoints, **replicas.client_options())."""
        return self.keys.client_options() if self.keys else {}

    def environment(self) -> Dict[str, str]:
        """$SAFRL_ENDPOINT and the CURVE keys, for the trainer's processes (a Ray runtime_env's
        env_vars): the adapters' clients read them when made."""
        env = {ENDPOINT_ENV: ",".join(self.endpoints)}
        if self.keys:
            env.update(self.keys.environment())
        return env

    @property
    def endpoints(self) -> List[str]:
        import ray
        return ray.get([a.endpoint.remote() for a in self.actors])

    def status(self) -> List[Dict[str, Any]]:
        import ray
        return ray.get([a.status.remote() for a in self.actors])

    def stop(self) -> List[Optional[int]]:
        """Stops every replica with SIGTERM (each finishes its admitted work and writes its
        steps); returns their exit codes (None for a replica whose actor was gone). The actors
        are then released, each one whatever happened to the others."""
        import ray
        codes: List[Optional[int]] = []
        for actor in self.actors:
            try:
                codes.append(ray.get(actor.stop.remote()))
            except Exception:  # noqa: BLE001 - an actor that died: nothing left to stop
                codes.append(None)
            finally:
                ray.kill(actor, no_restart=True)
        return codes

    def step_logs(self) -> List[str]:
        return sorted(glob.glob(os.path.join(self.run_dir, "replica-*", "run-*", "steps.jsonl")))

    def merged_steps(self) -> List[Dict[str, Any]]:
        """One row per step over every replica's logs (`safrl merge-steps`; run_dir must be
        visible here, as a shared file system is on a cluster)."""
        logs = self.step_logs()
        if not logs:
            return []
        out = subprocess.run([self.binary, "merge-steps", *logs], capture_output=True,
                             text=True, check=True).stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def start(config: str, replicas: int, *, run_dir: str, num_gpus: float = 0,
          num_cpus: float = 1, binary: Optional[str] = None, base_port: Optional[int] = None,
          host: Optional[str] = None, http: bool = False,
          curve: Union[bool, RunKeys] = True) -> ReplicaSet:
    """Starts `replicas` `safrl serve` processes with `config` as Ray actors and returns once
    all answer. curve: True makes CURVE keys for this run (client_options(), environment()),
    a RunKeys gives them, False turns CURVE off and keeps the replicas on loopback (one node).
    host: the address to bind and advertise (default: each node's IP address with CURVE,
    127.0.0.1 without); http: give each replica an HTTP port of its own (status()'s http_port),
    else HTTP is off."""
    import ray
    if replicas < 1:
        raise ValueError(f"replicas must be >= 1, got {replicas}")
    keys = RunKeys.generate() if curve is True else (curve or None)
    if keys is not None and not isinstance(keys, RunKeys):
        raise ValueError(f"curve must be True, False or a safrl.ray.RunKeys, got {curve!r}")
    if keys is None and host is not None and not _is_loopback(host):
        raise ValueError(f"host {host} can be reached from other machines, and without CURVE "
                         "anyone there could score and write step statistics: keep curve=True "
                         "(keys made for this run), give curve=RunKeys(...), or bind loopback "
                         "(host=None or 127.0.0.1)")
    if not os.path.isfile(config):
        raise ValueError(f"no config file {config!r}")
    binary = find_binary(binary)
    config, run_dir = os.path.abspath(config), os.path.abspath(run_dir)
    if glob.glob(os.path.join(run_dir, "replica-*")):
        raise ValueError(f"{run_dir} already holds replica logs; give each run a run_dir of its "
                         "own, so that merged_steps() merges only this run's steps")
    actor = ray.remote(_Replica).options(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=-1,
                                         max_concurrency=4)
    actors = [actor.remote(binary, config, run_dir, i, base_port, host, http, keys)
              for i in range(replicas)]
    replica_set = ReplicaSet(actors, run_dir, binary, keys)
    try:
        replica_set.endpoints  # noqa: B018 - waits for every replica to answer (or raises)
    except BaseException:
        replica_set.stop()  # the replicas that did start are not left running
        raise
    return replica_set


def _is_loopback(host: str) -> bool:
    return host.startswith("127.") or host in ("localhost", "::1")


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]
