"""Real `safrl serve` processes on loopback with the embedded models, for the end-to-end tests
(tests/serve/e2e) and the trainer tests (tests/trainers). Reads $SAFRL_EMBEDDED (the embedded
models' folder), and $SAFRL_BIN for the safrl binary (else safrl.local.find_binary's search),
which their CTest entries set."""
import os
import subprocess
import uuid

import msgpack
import zmq

from safrl.local import find_binary, wait_until_answering
from safrl.testing.ports import free_port  # noqa: F401 (the tests import it from here)

SAFRL = find_binary()
EMBEDDED = os.environ["SAFRL_EMBEDDED"]


class Server:
    def __init__(self, tmp_path, server_yaml="", name="run", port=None, models_yaml=None):
        # port: bind this port (a restarted server takes over its predecessor's endpoint);
        # models_yaml: the guard, helpfulness and reward sections, instead of the embedded pair.
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
        self.proc = subprocess.Popen([SAFRL, "serve", "--config", str(self.config),
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

    def stop(self, sig=15):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)


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
