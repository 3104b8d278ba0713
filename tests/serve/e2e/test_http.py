"""The HTTP gateway end to end (issue 18): OpenRLHF's /get_reward, /health and /metrics on a real
`safrl serve`, probed as careless and hostile clients would: slow and idle connections, bodies
over the bound, malformed requests, many at once, shutdown while they hang on."""
import contextlib
import http.client
import json
import math
import pathlib
import re
import socket
import threading
import time
import urllib.error
import urllib.request
import weakref

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import Client, Server
from safrl.testing.polling import wait_for


@contextlib.contextmanager
def serving(tmp_path, server_yaml):
    server = Server(tmp_path, server_yaml=server_yaml)
    try:
        yield server
    finally:
        server.stop()


def url(server, path):
    return f"http://127.0.0.1:{server.http_port}{path}"


def connect(server, timeout=10):
    return socket.create_connection(("127.0.0.1", server.http_port), timeout=timeout)


class _Stream:
    """A socket's one buffered reader, shared by the responses read from it (http.client reads
    ahead, so a reader per response would lose the next pipelined one)."""

    def __init__(self, sock):
        self.file = sock.makefile("rb")

    def makefile(self, *args, **kwargs):
        return self

    def readline(self, *args):
        return self.file.readline(*args)

    def read(self, *args):
        return self.file.read(*args)

    def readinto(self, buffer):
        return self.file.readinto(buffer)

    def close(self):
        pass  # http.client closes its file after each response; the socket's stream goes on


_streams = weakref.WeakKeyDictionary()


def stream_of(sock):
    if sock not in _streams:
        _streams[sock] = _Stream(sock)
    return _streams[sock]


def read_response(sock, method="GET"):
    """One response from a raw socket: (status, headers, body bytes)."""
    reply = http.client.HTTPResponse(stream_of(sock), method=method)
    reply.begin()
    return reply.status, dict(reply.getheaders()), reply.read()


def exchange(server, raw, timeout=10):
    """Sends exactly these bytes and reads one response: (status, headers, JSON or text body)."""
    with connect(server, timeout) as sock:
        sock.sendall(raw)
        status, headers, body = read_response(sock)
    try:
        return status, headers, json.loads(body)
    except ValueError:
        return status, headers, body.decode()


def closed_by_server(sock, within):
    """Whether the server closes `sock` within `within` seconds (reading what it sends first)."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
        return True
    except (socket.timeout, TimeoutError):
        return False
    except ConnectionResetError:
        return True


def timed_get(server, path, timeout=5):
    start = time.monotonic()
    try:
        with urllib.request.urlopen(url(server, path), timeout=timeout) as reply:
            return reply.status, reply.read().decode(), time.monotonic() - start
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), time.monotonic() - start


def peak_memory(server):
    with open(f"/proc/{server.proc.pid}/status") as status:
        line = next(line for line in status if line.startswith("VmHWM:"))
    return int(line.split()[1]) * 1024


def one_query(k):
    return {"query": [f"Q{k}: hi? A: answer {k}"], "prompts": [f"Q{k}: hi?"]}


class Dripper:
    """Connections that send a request's first bytes, then one more byte every `every` s."""

    def __init__(self, server, count, every=0.5):
        self.sockets = [connect(server) for _ in range(count)]
        for sock in self.sockets:
            sock.sendall(b"POST /get_reward HTTP/1.1\r\nX")
        self.every, self.stop = every, threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.wait(self.every):
            for sock in self.sockets:
                try:
                    sock.send(b"x")
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.thread.join()
        for sock in self.sockets:
            sock.close()


def post(server, body):
    request = urllib.request.Request(f"http://127.0.0.1:{server.http_port}/get_reward",
                                     data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as reply:
            return reply.status, json.loads(reply.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_openrlhf_get_reward_follows_the_contract(server):
    chatml = "<|im_start|>user\nQ: hi<|im_end|>\n<|im_start|>assistant\n"
    status, reply = post(server, {"query": [chatml + "hello<|im_end|>\n", "Q: bomb? A: no"],
                                  "prompts": [chatml, "Q: bomb?"], "labels": ["", ""]})
    assert status == 200 and len(reply["rewards"]) == 2 and reply["rewards"] == reply["scores"]
    assert set(reply["extra_logs"]) == {"safrl_safe", "safrl_refusal", "safrl_unparseable",
                                        "safrl_helpfulness"}
    client = Client(server.endpoint)
    # The mapping: the last user turn is the prompt, end markers are cut off the response.
    [alone] = client.call({"type": "score", "samples": [
        {"id": 0, "prompt": "Q: hi", "response": "hello"}]})["results"]
    assert reply["rewards"][0] == pytest.approx(alone["reward"], abs=1e-6)
    assert reply["extra_logs"]["safrl_helpfulness"][0] == pytest.approx(alone["helpfulness"], abs=1e-5)
    # The same mapping as the Python reference in safrl/openrlhf.py.
    from safrl import openrlhf
    assert openrlhf.clean_response("Ok. <|im_end|> \n<|endoftext|>\n") == "Ok."
    assert openrlhf.user_prompt(chatml) == "Q: hi"
    assert post(server, {"query": [], "prompts": []}) == (
        200, {"rewards": [], "scores": [], "extra_logs": {"safrl_safe": [], "safrl_refusal": [],
                                                          "safrl_unparseable": [],
                                                          "safrl_helpfulness": []}})
    status, error = post(server, {"query": ["x"], "prompts": ["y"]})
    assert status == 400 and error["error"]["code"] == "bad_request"
    assert "query[0] does not start with prompts[0]" in error["error"]["message"]
    status, error = post(server, {"query": ["x"]})
    assert status == 400 and error["error"]["message"] == '"prompts" must be an array of strings'


def raw_http(server, method, body=b"", headers=None):
    """One /get_reward request with exactly this body: (status, JSON body)."""
    body = body.encode() if isinstance(body, str) else body
    fields = {"Content-Type": "application/json", "Content-Length": str(len(body)),
              **(headers or {})}
    raw = (f"{method} /get_reward HTTP/1.1\r\n".encode()
           + b"".join(f"{name}: {value}\r\n".encode() for name, value in fields.items())
           + b"\r\n" + body)
    status, _, reply = exchange(server, raw, timeout=60)
    return status, reply


def metrics(server):
    """/metrics, one scrape: {name: value} of its unlabelled lines."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.http_port}/metrics",
                                  timeout=60).read().decode()
    return {line.split()[0]: int(float(line.split()[1])) for line in text.splitlines()
            if line and not line.startswith("#") and "{" not in line}


def metric(server, name):
    return metrics(server)[name]


def test_http_answers_every_malformed_request_with_a_json_error(tmp_path):
    with serving(tmp_path, server_yaml="  max_message_bytes: 100000\n") as server:
        requests, errors = metric(server, "safrl_requests_total"), metric(server,
                                                                          "safrl_error_replies_total")
        # Invalid UTF-8, even in the ignored labels: 400, not 500 with an empty body.
        for bad in (b'{"query": ["\xff"], "prompts": [""]}',
                    b'{"query": ["a"], "prompts": ["a"], "labels": ["\xc3"]}'):
            status, reply = raw_http(server, "POST", bad)
            assert status == 400 and reply["error"]["code"] == "bad_request", reply
        # Another method: 405 with the one that works.
        status, reply = raw_http(server, "GET")
        assert status == 405 and "use POST" in reply["error"]["message"]
        # A body over server.max_message_bytes, refused from its length.
        status, reply = raw_http(server, "POST", b"[" + b" " * 200000 + b"]")
        assert status == 413 and reply["error"]["code"] == "too_large", reply
        assert "server.max_message_bytes" in reply["error"]["message"]
        # HTTP requests and their error replies are counted like ZeroMQ ones.
        assert metric(server, "safrl_requests_total") == requests + 4
        assert metric(server, "safrl_error_replies_total") == errors + 4


def test_http_clients_outside_the_allow_list_get_403(tmp_path):
    with serving(tmp_path, server_yaml="  http_allowed_clients: [127.0.0.2]\n") as server:
        status, reply = raw_http(server, "POST", json.dumps({"query": ["a"], "prompts": ["a"]}))
        assert status == 403, reply
        assert reply["error"]["message"] == \
            "client 127.0.0.1 is not in server.http_allowed_clients"


def test_an_openrlhf_batch_larger_than_the_admission_bound_is_scored_in_parts(tmp_path):
    # OpenRLHF up to 0.9.0 posts the whole rollout batch and cannot split it.
    with serving(tmp_path, server_yaml="  max_queued_samples: 4\n") as server:
        queries = [f"Q{k}: hi? A: answer {k}" for k in range(10)]
        status, reply = post(server, {"query": queries, "prompts": [f"Q{k}: hi?" for k in range(10)]})
        assert status == 200, reply
        assert len(reply["rewards"]) == 10
        client = Client(server.endpoint)
        # In order: each reward is the one that query gets alone.
        for k in (0, 5, 9):
            [alone] = client.call({"type": "score", "samples": [
                {"id": k, "prompt": f"Q{k}: hi?", "response": f" A: answer {k}"}]})["results"]
            assert reply["rewards"][k] == pytest.approx(alone["reward"], abs=1e-6)
        client.close()




def test_malformed_requests_get_4xx_json_errors_that_name_the_problem(server):
    cases = [
        # (raw request, status, words of the message)
        (b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % k for k in range(200)) + b"\r\n",
         431, "more than 100 headers"),
        (b"GET /health HTTP/1.1\r\nX: " + b"a" * 40000 + b"\r\n\r\n", 431, "over 32768 bytes"),
        (b"POST /get_reward HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n12345",
         400, "two different Content-Length values (5 and 6)"),
        (b"POST /get_reward HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400,
         'Content-Length "abc" is not a number of bytes'),
        (b"POST /get_reward HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
         400, "both Content-Length and Transfer-Encoding"),
        (b"POST /get_reward HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
         'Transfer-Encoding "gzip" is not supported'),
        (b"GET /health HTTP/2.0\r\n\r\n", 505, "HTTP/2.0 is not supported"),
        (b"GET /health\r\n\r\n", 400, "is not METHOD TARGET HTTP/1.1"),
        (b"POST /get_reward HTTP/1.1\r\nExpect: magic\r\n\r\n", 417, "only 100-continue"),
        (b"GET /nothing HTTP/1.1\r\n\r\n", 404, "no endpoint /nothing"),
        (b"POST /health HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 405, "POST /health: use GET"),
        (b"DELETE /get_reward HTTP/1.1\r\n\r\n", 405, "DELETE /get_reward: use POST"),
    ]
    for raw, status, words in cases:
        got, headers, body = exchange(server, raw)
        assert got == status, (raw[:60], body)
        assert headers["Content-Type"] == "application/json"
        assert words in body["error"]["message"], (raw[:60], body)
        assert body["error"]["code"] in ("bad_request", "too_large")


def test_slow_clients_do_not_hold_the_port(tmp_path):
    # Eight slow clients blocked all of HTTP with the old library's eight threads; here 64 drip
    # while /health, /metrics and a scoring request are answered at once. The read timeout of
    # 120 s keeps the drippers connected however slow the machine; a request stuck behind them
    # would wait that timeout out, far past the 30 s allowed here.
    with serving(tmp_path, server_yaml="  http_read_timeout_seconds: 120\n") as server:
        drippers = Dripper(server, 64, every=0.2)
        try:
            time.sleep(0.5)
            for path in ("/health", "/metrics"):
                status, _, seconds = timed_get(server, path, timeout=60)
                assert status == 200 and seconds < 30, (path, seconds)
            start = time.monotonic()
            status, reply = post(server, one_query(1))
            assert status == 200 and len(reply["rewards"]) == 1
            assert time.monotonic() - start < 30
            # The drippers all still open, and this /metrics one (asked again while the
            # server has yet to see the POST's connection close).
            wait_for(lambda: metric(server, "safrl_http_connections") == 65,
                     "64 drippers held open")
        finally:
            drippers.close()


def test_slow_and_idle_connections_are_closed_after_their_timeouts(tmp_path):
    with serving(tmp_path, server_yaml="  http_read_timeout_seconds: 1\n"
                                          "  http_idle_timeout_seconds: 2\n") as server:
        silent = connect(server)  # connects and says nothing
        drip = Dripper(server, 1, every=0.2)  # headers that never end, a byte at a time
        kept = connect(server)  # one request, then idles on a kept-alive connection
        kept.sendall(b"GET /health HTTP/1.1\r\n\r\n")
        status, _, body = read_response(kept)
        assert (status, body) == (200, b"ok\n")
        # Bounds well under the defaults (read 10 s, idle 60 s), so a configured limit that is
        # not applied still fails, with seconds of room for a loaded machine.
        start = time.monotonic()
        assert closed_by_server(silent, within=8)
        status, _, body = read_response(drip.sockets[0])
        assert status == 408, body
        assert "within 1 s (server.http_read_timeout_seconds)" in json.loads(body)["error"]["message"]
        assert time.monotonic() - start < 8
        assert closed_by_server(kept, within=8)
        drip.close()
        silent.close()
        kept.close()


def test_connections_past_the_limit_are_refused_with_503(tmp_path):
    with serving(tmp_path, server_yaml="  http_max_connections: 4\n") as server:
        held = [connect(server) for _ in range(4)]
        # Past the limit only /health and /metrics are served (test_http_bounds.py). An empty
        # scoring request: 200 in a regular slot, 503 past the limit. No wait needed: the kernel
        # hands connections over in the order they came, so the four are taken before this one.
        empty = json.dumps({"query": [], "prompts": []}).encode()
        request = (b"POST /get_reward HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(empty)) + empty
        status, headers, body = exchange(server, request)
        assert status == 503 and headers["Retry-After"] == "1", (status, body)
        assert "server.http_max_connections" in body["error"]["message"]
        # A slot freed is a slot served: scoring is answered again once the server has seen
        # the close (503 until then, which takes no regular slot; a slot never freed stays 503
        # past the deadline).
        held.pop().close()
        replies = []
        wait_for(lambda: replies.append(exchange(server, request)) or replies[-1][0] != 503,
                 "a freed slot serves scoring again")
        assert replies[-1][0] == 200 and replies[-1][2]["rewards"] == [], replies[-1]
        for sock in held:
            sock.close()


def test_bodies_over_the_bound_are_refused_while_they_arrive(tmp_path):
    with serving(tmp_path, server_yaml="  max_message_bytes: 1000000\n") as server:
        # Declared: refused from the headers, before a body byte is sent.
        status, _, body = exchange(
            server, b"POST /get_reward HTTP/1.1\r\nContent-Length: 200000000\r\n\r\n")
        assert status == 413 and body["error"]["code"] == "too_large"
        assert body["error"]["message"] == (
            "the body of 200000000 bytes is over the limit of 1000000 bytes "
            "(server.max_message_bytes); send fewer queries per request")
        # Undeclared (chunked): refused once the bound is passed; six 50 MB streams at once
        # leave the server's peak memory where it was (it held 2.39 GB this way before).
        before = peak_memory(server)
        outcomes = []

        def stream():
            sock = connect(server)
            sock.sendall(b"POST /get_reward HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n")
            chunk = b"100000\r\n" + b" " * 0x100000 + b"\r\n"
            try:
                for _ in range(50):
                    sock.sendall(chunk)
            except OSError:
                pass  # the server stopped reading
            try:
                outcomes.append(read_response(sock)[0])
            except OSError as error:
                outcomes.append(repr(error))
            sock.close()

        threads = [threading.Thread(target=stream) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert outcomes.count(413) >= 1, outcomes
        assert all(o == 413 or "Reset" in o or "Broken" in o for o in outcomes), outcomes
        assert peak_memory(server) - before < 40 << 20
        assert timed_get(server, "/health")[:2] == (200, "ok\n")


def test_keep_alive_pipelining_chunked_bodies_and_expect_continue(server):
    body = json.dumps(one_query(3)).encode()
    by_length = (b"POST /get_reward HTTP/1.1\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    with connect(server) as sock:
        # Two requests in one write: two responses, in order, on the same connection.
        sock.sendall(b"GET /health HTTP/1.1\r\n\r\n" + by_length)
        assert read_response(sock)[::2] == (200, b"ok\n")
        status, _, first = read_response(sock)
        assert status == 200
        # The same body chunked, on the same connection.
        chunked = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in
                           (body[:10], body[10:]))
        sock.sendall(b"POST /get_reward HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" +
                     chunked + b"0\r\n\r\n")
        status, _, second = read_response(sock)
        assert status == 200 and json.loads(second) == json.loads(first)
        # Expect: 100-continue gets its interim response before the body is sent.
        sock.sendall(b"POST /get_reward HTTP/1.1\r\nExpect: 100-continue\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(body))
        assert stream_of(sock).read(25) == b"HTTP/1.1 100 Continue\r\n\r\n"
        sock.sendall(body)
        status, _, third = read_response(sock)
        assert status == 200 and json.loads(third) == json.loads(first)
        # HEAD: the headers of GET, no body.
        sock.sendall(b"HEAD /health HTTP/1.1\r\n\r\nGET /health HTTP/1.1\r\nConnection: close\r\n\r\n")
        status, headers, text = read_response(sock, method="HEAD")
        assert (status, headers["Content-Length"], text) == (200, "3", b"")
        status, headers, text = read_response(sock)
        assert (status, text, headers["Connection"]) == (200, b"ok\n", "close")
        assert closed_by_server(sock, within=3)


def test_concurrent_requests_meet_in_the_same_engine_batches(server):
    # OpenRLHF's current head sends one query per request, from many workers at once. The engine
    # takes what is queued whenever it is free (no batching window), so how many passes 64
    # requests take depends on how fast the clients are. The engine is parked on a long request
    # first: once all 64 are queued behind it, they must go in one pass (64 < max_batch_samples).
    client = Client(server.endpoint)
    start = metrics(server)
    park = client.send({"type": "score", "samples": [
        {"id": k, "prompt": "long " * 400, "response": f"answer {k}"} for k in range(200)]})
    wait_for(lambda: metric(server, "safrl_score_requests_total")
             >= start["safrl_score_requests_total"] + 1, "the long request is queued")
    barrier = threading.Barrier(64)
    replies = {}

    def worker(k):
        barrier.wait()
        replies[k] = post(server, one_query(k))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(64)]
    for thread in threads:
        thread.start()
    queued = {}
    wait_for(lambda: queued.update(metrics(server)) or queued["safrl_score_requests_total"]
             >= start["safrl_score_requests_total"] + 65, "the 64 requests are queued", 120)
    # Seconds of work against a fraction of a second for the clients, on any machine.
    assert queued["safrl_batches_total"] == start["safrl_batches_total"], \
        "the long request ended before the 64 were queued: nothing to tell"
    for thread in threads:
        thread.join(300)
    assert all(replies[k][0] == 200 and len(replies[k][1]["rewards"]) == 1 for k in range(64))
    assert client.receive(300)["id"] == park
    batches = metric(server, "safrl_batches_total") - start["safrl_batches_total"]
    # The long one, then the 64 together (or all in one pass, taken before the engine was).
    assert batches <= 2, batches
    # Each reward is the one the query gets alone over ZeroMQ.
    for k in (0, 31, 63):
        [alone] = client.call({"type": "score", "samples": [
            {"id": k, "prompt": f"Q{k}: hi?", "response": f" A: answer {k}"}]})["results"]
        assert replies[k][1]["rewards"][0] == pytest.approx(alone["reward"], abs=1e-6)
    client.close()


def test_small_requests_are_not_stuck_behind_a_large_one(tmp_path):
    with serving(tmp_path, server_yaml="  max_batch_samples: 16\n") as server:
        large = {"query": [f"Q{k}: hi? A: a long answer {k}" for k in range(600)],
                 "prompts": [f"Q{k}: hi?" for k in range(600)]}
        done = {}

        def send_large():
            start = time.monotonic()
            done["large"] = post(server, large)
            done["large_seconds"] = time.monotonic() - start

        thread = threading.Thread(target=send_large)
        thread.start()
        while metric(server, "safrl_samples_total") < 32:
            time.sleep(0.01)
        start = time.monotonic()
        status, reply = post(server, one_query(7))
        small_seconds = time.monotonic() - start
        metrics_status, _, metrics_seconds = timed_get(server, "/metrics", timeout=60)
        assert "large" not in done, "the large request ended too soon to tell"
        thread.join(600)
        assert status == 200 and done["large"][0] == 200
        assert len(done["large"][1]["rewards"]) == 600
        # Ratios, not seconds: stuck behind the large one, either would wait most of its time.
        assert small_seconds < done["large_seconds"] / 4, (small_seconds, done["large_seconds"])
        assert metrics_status == 200
        assert metrics_seconds < done["large_seconds"] / 4, (metrics_seconds, done["large_seconds"])


def test_sigterm_closes_slow_clients_and_answers_work_in_flight(tmp_path):
    # A read timeout of 120 s: an exit that waited for the drippers to time out would take that.
    server = Server(tmp_path, server_yaml="  http_read_timeout_seconds: 120\n")
    drippers = Dripper(server, 16, every=0.3)
    kept = connect(server)
    kept.sendall(b"GET /health HTTP/1.1\r\n\r\n")
    read_response(kept)  # an idle kept-alive connection too
    replies = []
    thread = threading.Thread(target=lambda: replies.append((post(server, {
        "query": [f"Q{k}: hi? A: answer {k}" for k in range(128)],
        "prompts": [f"Q{k}: hi?" for k in range(128)]}), time.monotonic())))
    thread.start()
    while metric(server, "safrl_score_requests_total") < 1:
        time.sleep(0.01)
    assert server.stop() == 0
    exited = time.monotonic()
    thread.join(60)
    drippers.close()
    # The work in flight is answered; the slow and idle clients do not hold the exit up (they
    # held it 25 s and more before): it follows the last reply within the two seconds' grace,
    # under 10 s on a loaded machine (waiting out the drippers or the idle one: 60 s and more).
    (status, reply), answered = replies[0]
    assert status == 200 and len(reply["rewards"]) == 128
    assert exited - answered < 10, exited - answered
    assert closed_by_server(kept, within=1)


def test_bytes_are_counted_as_they_arrive_and_trickled_bodies_time_out(tmp_path):
    # Four clients declare the largest body and trickle it: they once held the whole bound on
    # bodies (4 x max_message_bytes) for good and every other POST got 503. Now a declared length
    # costs nothing, and a body slower than 16 KiB/s on average ends in 408.
    with serving(tmp_path, server_yaml="  max_message_bytes: 1000000\n"
                                       "  http_read_timeout_seconds: 4\n") as server:
        tricklers = [connect(server, timeout=30) for _ in range(4)]
        for sock in tricklers:
            sock.sendall(b"POST /get_reward HTTP/1.1\r\nContent-Length: 1000000\r\n\r\n{")
        # Taken by the server (their headers were sent before it could accept them) before the
        # POST that they once left no room for.
        wait_for(lambda: metric(server, "safrl_http_connections") >= 5,
                 "the four tricklers are taken")  # and this /metrics one
        status, reply = post(server, one_query(2))
        assert status == 200, reply
        assert metric(server, "safrl_http_connections") >= 5, \
            "the tricklers timed out before the POST was answered: nothing to tell"
        started = time.monotonic()
        for sock in tricklers:
            sock.sendall(b" ")
        for sock in tricklers:
            status, _, body = read_response(sock)
            assert status == 408, body
        # 408 at most one read timeout (4 s) after the last byte; held for good before. Under
        # 20 s: room for a loaded machine, short of the sockets' own 30 s timeout.
        assert time.monotonic() - started < 20
        for sock in tricklers:
            sock.close()


def test_a_client_that_hangs_up_while_scored_frees_its_slot(tmp_path):
    with serving(tmp_path, server_yaml="  max_batch_samples: 16\n") as server:
        body = json.dumps({"query": [f"Q{k}: hi? A: answer {k}" for k in range(400)],
                           "prompts": [f"Q{k}: hi?" for k in range(400)]}).encode()
        sock = connect(server)
        sock.sendall(b"POST /get_reward HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        while metric(server, "safrl_samples_total") < 16:
            time.sleep(0.01)
        sock.close()  # OpenRLHF timing out, say
        # The server sees the close while the body is scored: this /metrics one is left.
        wait_for(lambda: metric(server, "safrl_http_connections") == 1, "the hang-up is seen")
        submitted = metric(server, "safrl_score_requests_total")
        # Its parts not yet queued never are: once the parts in flight are scored, the queue
        # stays empty, no part was queued after the close was seen, and far fewer than 400
        # samples were scored (had the parts gone on, the queue would empty only after all 400).
        wait_for(lambda: metric(server, "safrl_queue_samples") == 0, "the parts in flight end", 120)
        assert metric(server, "safrl_score_requests_total") == submitted
        assert metric(server, "safrl_samples_total") < 200


def test_head_does_not_strip_the_body_of_a_later_error(server):
    with connect(server) as sock:
        sock.sendall(b"HEAD /health HTTP/1.1\r\n\r\n")
        assert read_response(sock, method="HEAD")[0] == 200
        sock.sendall(b"GARBAGE\r\n\r\n")
        status, headers, body = read_response(sock)
        assert status == 400 and json.loads(body)["error"]["code"] == "bad_request"


def test_clients_outside_the_allow_list_take_no_connection_slot(tmp_path):
    with serving(tmp_path, server_yaml="  http_allowed_clients: [127.0.0.2]\n"
                                       "  http_max_connections: 2\n") as server:
        outsiders = [connect(server) for _ in range(6)]  # from 127.0.0.1: refused at once
        for sock in outsiders:
            status, _, body = read_response(sock)
            assert status == 403 and b"not in server.http_allowed_clients" in body
        with socket.create_connection(("127.0.0.1", server.http_port), timeout=10,
                                      source_address=("127.0.0.2", 0)) as inside:
            inside.sendall(b"GET /health HTTP/1.1\r\n\r\n")
            assert read_response(inside)[::2] == (200, b"ok\n")
        for sock in outsiders:
            sock.close()


DASHBOARD = (pathlib.Path(__file__).resolve().parents[3] / "docs" / "dashboards"
             / "safrl.grafana.json")
# Metrics::kLatencyBuckets (src/serve/metrics.h), then +Inf.
LATENCY_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
                  math.inf]
# Metrics::kRequestSampleBuckets: powers of two from 1 to 4096, then +Inf.
SAMPLE_BOUNDS = [float(2 ** k) for k in range(13)] + [math.inf]


def families(server):
    """/metrics read by Prometheus's own parser: {family name: family}."""
    text = urllib.request.urlopen(url(server, "/metrics"), timeout=60).read().decode()
    return {family.name: family for family in text_string_to_metric_families(text)}


def latency_samples(family):
    """A histogram (the latency one, or another): ([(le, cumulative count)], sum, count)."""
    buckets = [(float(s.labels["le"]), s.value) for s in family.samples
               if s.name.endswith("_bucket")]
    [total] = [s.value for s in family.samples if s.name.endswith("_sum")]
    [count] = [s.value for s in family.samples if s.name.endswith("_count")]
    return buckets, total, count


def test_metrics_parse_as_prometheus_text_and_the_latency_histogram_counts_each_request(server):
    start = families(server)
    _, start_sum, start_count = latency_samples(start["safrl_request_latency_seconds"])
    start_sizes, start_size_sum, start_size_count = latency_samples(start["safrl_request_samples"])
    _, _, start_passes = latency_samples(start["safrl_scoring_pass_seconds"])
    [start_batches] = start["safrl_batches"].samples
    for k in range(3):
        assert post(server, one_query(k))[0] == 200
    client = Client(server.endpoint)
    client.call({"type": "score", "samples": [
        {"id": k, "prompt": "Q: hi?", "response": f"answer {k}"} for k in range(2)]})
    client.close()
    scraped = families(server)
    # Every sample belongs to a family its TYPE line declared (the parser calls the rest unknown).
    assert [name for name, f in scraped.items() if f.type == "unknown"] == []
    latency = scraped["safrl_request_latency_seconds"]
    assert latency.type == "histogram"
    buckets, total, count = latency_samples(latency)
    assert [le for le, _ in buckets] == LATENCY_BOUNDS
    assert [n for _, n in buckets] == sorted(n for _, n in buckets)  # cumulative
    # Three HTTP requests and one ZeroMQ request of two samples: four requests, each observed once.
    assert count == start_count + 4 == buckets[-1][1]
    assert total > start_sum
    [rate] = scraped["safrl_scoring_rate"].samples
    assert scraped["safrl_scoring_rate"].type == "gauge" and rate.value > 0
    [samples], [start_samples] = scraped["safrl_samples"].samples, start["safrl_samples"].samples
    assert samples.value - start_samples.value == 3 + 2
    # Samples per request: the three HTTP requests hold 1 sample each, the ZeroMQ one 2, so
    # le="1" gains 3, le="2" and every bucket above it 4, the sum 1 + 1 + 1 + 2 = 5.
    sizes = scraped["safrl_request_samples"]
    assert sizes.type == "histogram"
    buckets, size_sum, size_count = latency_samples(sizes)
    assert [le for le, _ in buckets] == SAMPLE_BOUNDS
    gained = [n - n0 for (_, n), (_, n0) in zip(buckets, start_sizes)]
    assert gained == [3] + [4] * 13
    assert (size_sum - start_size_sum, size_count - start_size_count) == (5, 4)
    # One scoring pass observed per safrl_batches_total; the four requests took 1 to 4 passes.
    passes = scraped["safrl_scoring_pass_seconds"]
    assert passes.type == "histogram"
    buckets, _, pass_count = latency_samples(passes)
    assert [le for le, _ in buckets] == LATENCY_BOUNDS
    [batches] = scraped["safrl_batches"].samples
    assert pass_count - start_passes == batches.value - start_batches.value
    assert 1 <= pass_count - start_passes <= 4


def test_the_grafana_dashboard_asks_only_for_metrics_the_server_exports(server):
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [target["expr"] for panel in dashboard["panels"] for target in panel["targets"]]
    used = set(re.findall(r"\b(?:safrl|process)_[a-z_]+", " ".join(exprs)))
    assert "safrl_request_latency_seconds_bucket" in used and "safrl_step_safety_rate" in used
    scraped = families(server)
    # Samples by name, and the families declared without a sample (a step gauge before any row).
    exported = ({s.name for f in scraped.values() for s in f.samples}
                | {name for name, f in scraped.items() if not f.samples})
    assert sorted(used - exported) == []
