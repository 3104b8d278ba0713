"""No legal HTTP request freezes the HTTP thread (issue 31, section 4): /get_reward bodies are
decoded under bounds on nesting and value count, off the thread that answers /health and
/metrics; and /health and /metrics are answered while clients hold every connection slot."""
import json
import socket
import threading
import time
import urllib.error
import urllib.request

from conftest import Server


def get(server, path, timeout=30):
    start = time.monotonic()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}{path}",
                                    timeout=timeout) as reply:
            return reply.status, reply.read().decode(), time.monotonic() - start
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), time.monotonic() - start


def post_raw(server, body, timeout=300):
    """POSTs these bytes to /get_reward: (status, JSON reply, when the last byte was sent)."""
    with socket.create_connection(("127.0.0.1", server.http_port), timeout=timeout) as sock:
        sock.sendall(b"POST /get_reward HTTP/1.1\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body))
        sock.sendall(body)
        sent = time.monotonic()
        data = b""
        while chunk := sock.recv(1 << 16):
            data += chunk
    head, _, payload = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(payload), sent


class HealthProbe:
    """Asks /health every 20 ms on a fresh connection, recording (start, latency, status)."""

    def __init__(self, server):
        self.server, self.probes, self.stop = server, [], threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stop.is_set():
            start = time.monotonic()
            status, _, seconds = get(self.server, "/health")
            self.probes.append((start, seconds, status))
            time.sleep(0.02)

    def close(self):
        self.stop.set()
        self.thread.join()


def test_health_answers_within_100_ms_while_the_worst_legal_bodies_are_decoded(tmp_path):
    server = Server(tmp_path, server_yaml="  max_message_bytes: 16777216\n")
    try:
        size = 16 << 20
        # The worst bodies under the 16 MiB bound: nesting (all "["), the most values the bound
        # lets through decoded whole and then refused, and one long string of escapes.
        values = 480_000
        cases = [
            (b"[" * size, 400, "nests arrays and objects deeper than 64"),
            (b"[" + b"0," * (size // 2 - 2) + b"0]", 413, "holds more than 1048576 JSON values"),
            (json.dumps({"query": [""] * values, "prompts": [""] * (values + 1)}).encode(), 400,
             f'"query" has {values} entries but "prompts" {values + 1}'),
            (b'{"query": ["' + b"\\u00e9" * (size // 6 - 4) + b'"]}', 400,
             '"prompts" must be an array of strings'),
        ]
        assert all(len(body) <= size for body, _, _ in cases)
        probe = HealthProbe(server)
        time.sleep(0.5)
        windows = []
        try:
            for body, status, words in cases:
                got, reply, sent = post_raw(server, body)
                windows.append((sent, time.monotonic()))
                assert got == status, reply
                assert words in reply["error"]["message"], reply
        finally:
            time.sleep(0.5)
            probe.close()
        assert probe.probes and all(status == 200 for _, _, status in probe.probes)
        # Order of events: while each body that takes real decoding was decoded (from its last
        # byte sent to its answer), /health was asked and answered.
        for sent, answered in windows[1:]:
            assert any(sent <= start and start + seconds <= answered
                       for start, seconds, _ in probe.probes), (sent, answered)
        latencies = sorted(seconds for _, seconds, _ in probe.probes)
        # /health never waited for a body: the slowest probe (a loaded machine's scheduling
        # included) stays within the 100 ms the issue asks for.
        assert latencies[-1] < 0.1, latencies[-5:]
        assert server.proc.poll() is None
    finally:
        server.stop()


def test_health_and_metrics_answer_while_every_connection_slot_is_held(tmp_path):
    server = Server(tmp_path, server_yaml="  http_max_connections: 4\n")
    try:
        # Every regular slot held, and as many idle sockets again past them: the idle ones
        # yield the probe slots to new probes.
        held = [socket.create_connection(("127.0.0.1", server.http_port), timeout=30)
                for _ in range(4 + 16)]
        time.sleep(0.5)
        for _ in range(20):
            status, body, _ = get(server, "/health")
            assert (status, body) == (200, "ok\n")
        status, text, _ = get(server, "/metrics")
        assert status == 200 and "safrl_requests_total" in text
        # Scoring still waits for a regular slot.
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.http_port}/get_reward",
            data=json.dumps({"query": ["a b"], "prompts": ["a"]}).encode())
        try:
            urllib.request.urlopen(request, timeout=30)
            raise AssertionError("a /get_reward past the connection limit was served")
        except urllib.error.HTTPError as error:
            assert error.code == 503
            assert "server.http_max_connections" in json.loads(error.read())["error"]["message"]
        for sock in held:
            sock.close()
    finally:
        server.stop()
