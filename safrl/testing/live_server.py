"""Real `safrl serve` processes on loopback with the embedded models, for the end-to-end tests
(tests/serve/e2e) and the trainer tests (tests/trainers), or `safrl front` processes with such a
server as their engine (front_args). Reads $SAFRL_EMBEDDED (the embedded
models' folder), and $SAFRL_BIN for the safrl binary (else safrl.local.find_binary's search),
which their CTest entries set."""
import os
import subprocess
import urllib.request
import uuid

import msgpack
import zmq

from safrl.local import find_binary, wait_until_answering
from safrl.testing.ports import free_port  # noqa: F401 (the tests import it from here)

SAFRL = find_binary()
EMBEDDED = os.environ["SAFRL_EMBEDDED"]


class Server:
    def __init__(self, tmp_path, server_yaml="", name="run", port=None, models_yaml=None,
                 front_args=None):
        # port: bind this port (a restarted server takes over its predecessor's endpoint);
        # models_yaml: the guard, helpfulness and reward sections, instead of the embedded pair;
        # front_args: run `safrl front` with these flags instead (its engine: kill_engine()).
        self.port, self.http_port = port or free_port(), free_port()
        self.endpoint = f"tcp://127.0.0.1:{self.port}"
        self.run_dir = tmp_path / name
        self.config = tmp_path / f"{name}.yaml"
        # The embedded guard's random weights never write a verdict, so constrained decoding falls
        # back to free decoding for every sample: 16 new tokens keep the work near a verdict's.
        models_yaml = models_yaml or (
            f"guard: {{model: {EMBEDDED}/guard, max_new_tokens: 16}}\n"
            f"helpfulness: {{model: {EMBEDDED}/reward, chat_format: qwen3}}\n"
            f"reward: {{type: hybrid}}\n")
        self.config.write_text(
            f"{models_yaml}"
            f"server:\n  endpoint: {self.endpoint}\n  http_port: {self.http_port}\n{server_yaml}")
        self.log = open(tmp_path / f"{name}.log", "w")
        command = ["serve"] if front_args is None else ["front", *front_args]
        self.proc = subprocess.Popen([SAFRL, *command, "--config", str(self.config),
                                      "--run-dir", str(self.run_dir)],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self):
        wait_until_answering(self.proc, self.endpoint, self.log.name, timeout=60)

    def successor(self, tmp_path, name):
        """A new server process on this one's endpoints and config, with a run directory of its
        own (a restart: the old one must be stopped first); returns once it answers."""
        new = Server.__new__(Server)
        new.port, new.http_port, new.endpoint = self.port, self.http_port, self.endpoint
        new.config, new.run_dir = self.config, tmp_path / name
        new.log = open(tmp_path / f"{name}.log", "w")
        new.proc = subprocess.Popen([SAFRL, "serve", "--config", str(new.config),
                                     "--run-dir", str(new.run_dir)],
                                    stdout=new.log, stderr=subprocess.STDOUT)
        new._wait_ready()
        return new

    def engine_pids(self):
        """The pids of a front's engine processes now, by engine (each is the child of its
        supervisor thread), read from their command lines' --endpoint ipc://.../engine-<i>."""
        pids = {}
        for task in os.listdir(f"/proc/{self.proc.pid}/task"):
            with open(f"/proc/{self.proc.pid}/task/{task}/children") as children:
                for pid in map(int, children.read().split()):
                    try:
                        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                            args = cmdline.read().decode().split("\0")
                    except OSError:  # gone meanwhile
                        continue
                    if "--endpoint" in args:
                        endpoint = args[args.index("--endpoint") + 1]
                        pids[int(endpoint.rsplit("-", 1)[1])] = pid
        return [pids[i] for i in sorted(pids)]

    def engine_pid(self, engine=0):
        return self.engine_pids()[engine]

    def kill_engine(self, sig=9, engine=0):
        """Kills a front's engine (SIGKILL: no drain, no reply), as a crash or the OOM killer
        would; returns its pid."""
        pid = self.engine_pid(engine)
        os.kill(pid, sig)
        return pid

    def metrics(self):
        """GET /metrics as {name: value} (labelled series under their full name)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/metrics",
                                    timeout=30) as reply:
            text = reply.read().decode()
        return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
                for line in text.splitlines() if line and not line.startswith("#")}

    def stop(self, sig=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def close(self):
        """Stops it for a test's teardown: SIGTERM (a front then removes its engine's socket
        directory), SIGKILL when that does not end it."""
        try:
            self.stop()
        except subprocess.TimeoutExpired:
            self.stop(9)


class Client:
    def __init__(self, endpoint, curve=None):
        self.socket = zmq.Context.instance().socket(zmq.DEALER)
        self.socket.setsockopt(zmq.LINGER, 0)
        if curve:
            server_public, public, secret = curve
            self.socket.curve_serverkey = server_public
            self.socket.curve_publickey = public
            self.socket.curve_secretkey = secret
        self.socket.connect(endpoint)

    def send(self, request):
        request.setdefault("v", 1)
        request.setdefault("id", str(uuid.uuid4()))
        self.socket.send(msgpack.packb(request))
        return request["id"]

    def receive(self, timeout=60):
        if not self.socket.poll(int(timeout * 1000)):
            return None
        return msgpack.unpackb(self.socket.recv())

    def call(self, request, timeout=60):
        rid = self.send(request)
        while True:
            reply = self.receive(timeout)
            if reply is None or reply.get("id") == rid or "id" not in reply:
                return reply

    def close(self):
        self.socket.close()
