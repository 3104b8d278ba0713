"""Load test of `safrl serve`: many DEALER clients, a small admission bound, busy replies retried.

    .venv/bin/python experiments/bench/serve/load_test.py [--clients 32] [--requests 100] ...

Starts a server on loopback with the embedded tiny models (BUILD/embedded), or uses --endpoint with
--pid. Each client thread owns one DEALER and keeps --in-flight requests of 1 to 4 samples in
flight; a `busy` reply is retried with the same id after its retry_after_ms. Every reply is
checked: its id is one the client has in flight and its results carry exactly the sample ids sent.
Stops by itself: after every request is answered, or at --max-seconds (what is left is then
reported as lost). Prints latency percentiles (first send to final reply, retries included), busy
replies, lost and duplicate replies, and the server's VmRSS at the start, middle and end of the
run. tests/serve/e2e/test_load_quick.py runs a small variant through run_load().
"""
import argparse
import json
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time

import msgpack
import zmq

SOURCE = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))  # the clone


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100 * len(ordered)))] if ordered else None


class Tally:
    """What every client saw, added up under one lock."""

    def __init__(self, total):
        self.lock = threading.Lock()
        self.total = total
        self.answered = 0
        self.latencies = []
        self.busy = 0
        self.timeouts = 0
        self.refused_as_expected = 0  # malformed requests answered with their error code
        self.duplicates = 0
        self.wrong = []  # replies that do not match what was sent
        self.errors = []  # other error replies

    def record(self, **changes):
        with self.lock:
            for key, value in changes.items():
                if isinstance(getattr(self, key), list):
                    getattr(self, key).append(value)
                else:
                    setattr(self, key, getattr(self, key) + value)


WORDS = ("the model should answer every question about chemistry history cooking safety code "
         "weapons privacy travel money health law music sports garden python network kernel "
         "refuse explain step first then because however careful").split()


def words(rng, low, high):
    """Log-uniform many words, like rollout lengths."""
    count = int(math.exp(rng.uniform(math.log(low), math.log(high))))
    return " ".join(rng.choice(WORDS) for _ in range(count))


def short_samples(rng, prefix, count, step):
    return [{"id": f"{prefix}-{k}", "prompt": f"Question {rng.randrange(1000)}?",
             "response": "Answer " * rng.randint(1, 12), "step": step} for k in range(count)]


def rollout_samples(rng, prefix, count, step):
    """One GRPO group: a shared prompt of 20-120 words, responses of 20-400, every other with a
    think block."""
    prompt = words(rng, 20, 120) + "?"
    samples = []
    for k in range(count):
        response = words(rng, 20, 400)
        if rng.random() < 0.5:
            response = f"<think>\n{words(rng, 10, 200)}\n</think>\n\n{response}"
        samples.append({"id": f"{prefix}-{k}", "prompt": prompt, "response": response,
                        "step": step})
    return samples


# Malformed requests mixed into a soak, each with the error code it must get.
BAD_REQUESTS = (
    (lambda rid: {"v": 1, "type": "score", "id": rid, "samples": [{"id": "x", "prompt": "p"}]},
     "bad_request"),
    (lambda rid: {"v": 1, "type": "score", "id": rid, "samples": "not a list"}, "bad_request"),
    (lambda rid: {"v": 99, "type": "score", "id": rid, "samples": []}, "unsupported_version"),
    (lambda rid: {"v": 1, "type": "no_such_type", "id": rid}, "bad_request"),
    (lambda rid: {"v": 1, "type": "score", "id": rid,
                  "samples": [{"id": "x", "prompt": "x " * 50000, "response": "r"}]}, "too_long"),
)


def client_loop(endpoint, index, requests, in_flight, max_samples, attempt_timeout, stop_at, tally,
                seed, rollouts=False, bad_every=0):
    """One DEALER with up to `in_flight` requests outstanding; returns when all are answered."""
    rng = random.Random(seed)
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    todo, expected_error = [], {}
    make_samples = rollout_samples if rollouts else short_samples
    for r in range(requests):
        rid = f"c{index}-r{r}"
        if bad_every and r % bad_every == bad_every - 1:
            make, code = BAD_REQUESTS[(r // bad_every) % len(BAD_REQUESTS)]
            todo.append(make(rid))
            expected_error[rid] = code
            continue
        samples = make_samples(rng, f"{index}-{r}", rng.randint(1, max_samples), r // 50)
        todo.append({"v": 1, "type": "score", "id": rid, "samples": samples})
    todo.reverse()
    active = {}  # id -> [request, first sent, next attempt at (None: in flight), attempt deadline]
    done = set()
    try:
        while (todo or active) and time.monotonic() < stop_at:
            now = time.monotonic()
            while todo and len(active) < in_flight:
                request = todo.pop()
                active[request["id"]] = [request, now, now, 0.0]
            for entry in active.values():
                if entry[2] is not None and entry[2] <= now:
                    sock.send(msgpack.packb(entry[0]))
                    entry[2], entry[3] = None, now + attempt_timeout
                elif entry[2] is None and entry[3] <= now:
                    tally.record(timeouts=1)  # the same id again: the server answers it once
                    entry[2] = now
            wake = min((e[2] if e[2] is not None else e[3]) for e in active.values()) if active else now
            if not sock.poll(max(1, int((wake - now) * 1000))):
                continue
            while True:
                try:
                    reply = msgpack.unpackb(sock.recv(zmq.NOBLOCK))
                except zmq.Again:
                    break
                rid = reply.get("id")
                if rid in done:
                    tally.record(duplicates=1)
                    continue
                if rid not in active:
                    tally.record(wrong=f"reply to an id never sent: {rid!r}")
                    continue
                entry = active[rid]
                if reply["type"] == "error" and reply["error"]["code"] == "busy":
                    tally.record(busy=1)
                    jitter = rng.uniform(0.5, 1.5)
                    entry[2] = time.monotonic() + reply["error"]["retry_after_ms"] / 1000 * jitter
                    continue
                del active[rid]
                done.add(rid)
                if rid in expected_error:
                    code = reply.get("error", {}).get("code") if reply["type"] == "error" else None
                    if code == expected_error[rid]:
                        tally.record(answered=1, refused_as_expected=1)
                    else:
                        tally.record(answered=1, wrong=f"{rid}: expected {expected_error[rid]}, "
                                                       f"got {reply}")
                    continue
                if reply["type"] != "score":
                    tally.record(errors=reply.get("error"), answered=1)
                    continue
                sent = [s["id"] for s in entry[0]["samples"]]
                got = [r["id"] for r in reply["results"]]
                if got != sent or not all(isinstance(r["reward"], float) for r in reply["results"]):
                    tally.record(wrong=f"{rid}: sent {sent}, got {got}")
                tally.record(answered=1, latencies=time.monotonic() - entry[1])
        # A late second reply to an answered id would show up here.
        while sock.poll(100):
            if msgpack.unpackb(sock.recv()).get("id") in done:
                tally.record(duplicates=1)
    finally:
        sock.close()


def run_load(endpoint, pid, clients, requests, in_flight=4, max_samples=4, attempt_timeout=60.0,
             max_seconds=170.0, seed=0, rollouts=False, bad_every=0, timeline_points=20):
    """Runs the clients against a running server; returns the figures as a dict."""
    tally = Tally(clients * requests)
    started = time.monotonic()
    stop_at = started + max_seconds
    rss = {"start": rss_kb(pid)}
    threads = [threading.Thread(target=client_loop,
                                args=(endpoint, c, requests, in_flight, max_samples, attempt_timeout,
                                      stop_at, tally, seed * 1000 + c, rollouts, bad_every))
               for c in range(clients)]
    for t in threads:
        t.start()
    peak, timeline, next_sample = rss["start"], [], started
    while any(t.is_alive() for t in threads):
        time.sleep(0.2)
        now, current = time.monotonic(), rss_kb(pid)
        peak = max(peak, current)
        if "middle" not in rss and tally.answered >= tally.total // 2:
            rss["middle"] = current
        if now >= next_sample:
            timeline.append([round(now - started), round(current / 1024, 1), tally.answered])
            next_sample += max(1.0, max_seconds / timeline_points)
    for t in threads:
        t.join()
    seconds = time.monotonic() - started
    rss["end"], rss["peak"] = rss_kb(pid), peak
    ms = [x * 1000 for x in tally.latencies]
    return {
        "clients": clients, "in_flight_per_client": in_flight, "samples_per_request": [1, max_samples],
        "requests": tally.total, "answered": tally.answered,
        "lost": tally.total - tally.answered, "duplicates": tally.duplicates,
        "wrong": tally.wrong, "errors": tally.errors, "busy_replies": tally.busy,
        "attempt_timeouts": tally.timeouts, "refused_as_expected": tally.refused_as_expected,
        "seconds": round(seconds, 1),
        "requests_per_second": round(tally.answered / seconds, 1),
        "latency_ms": {f"p{q}": round(percentile(ms, q), 1) if ms else None for q in (50, 90, 99)},
        "rss_mb": {k: round(v / 1024, 1) for k, v in rss.items()},
        "rss_timeline": timeline,  # [seconds, MB, requests answered]
    }


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--build", default=os.path.join(SOURCE, "build"))
    parser.add_argument("--endpoint", help="use this running server (with --pid)")
    parser.add_argument("--pid", type=int, help="the running server's process id, for its RSS")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=100, help="per client")
    parser.add_argument("--in-flight", type=int, default=4, help="per client")
    parser.add_argument("--max-samples", type=int, default=4, help="per request (1 to N)")
    parser.add_argument("--max-queued-samples", type=int, default=48)
    parser.add_argument("--reply-cache-seconds", type=int, default=600)
    parser.add_argument("--max-seconds", type=float, default=170.0)
    parser.add_argument("--rollouts", action="store_true",
                        help="GRPO-shaped requests: a group sharing a prompt of 20-120 words, "
                             "responses of 20-400 words, half with thinking (a soak)")
    parser.add_argument("--bad-every", type=int, default=0,
                        help="every Nth request of a client is malformed and must get its code")
    parser.add_argument("--timeline-points", type=int, default=20)
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    server = None
    with tempfile.TemporaryDirectory(prefix="safrl-load-") as tmp:
        endpoint, pid = args.endpoint, args.pid
        if endpoint is None:
            endpoint = f"tcp://127.0.0.1:{free_port()}"
            embedded = os.path.join(args.build, "embedded")
            config = os.path.join(tmp, "load.yaml")
            with open(config, "w") as out:
                # The random guard never writes a verdict (every sample falls back to free
                # decoding): 16 new tokens keep the work near a real verdict's.
                out.write(f"guard: {{model: {embedded}/guard, max_new_tokens: 16}}\n"
                          f"helpfulness: {{model: {embedded}/reward, chat_format: qwen3}}\n"
                          # The workload draws its pairs at random and repeats some: measure
                          # the server, not the judgement cache.
                          f"batching: {{judgement_cache_bytes: 0}}\n"
                          f"server: {{endpoint: '{endpoint}', "
                          f"max_queued_samples: {args.max_queued_samples}, "
                          f"reply_cache_seconds: {args.reply_cache_seconds}}}\n")
            server = subprocess.Popen([os.path.join(args.build, "src", "cli", "safrl"), "serve",
                                       "--config", config, "--run-dir", os.path.join(tmp, "run")],
                                      stderr=subprocess.DEVNULL)
            pid = server.pid
        try:
            ping = zmq.Context.instance().socket(zmq.DEALER)
            ping.setsockopt(zmq.LINGER, 0)
            ping.connect(endpoint)
            for _ in range(120):
                ping.send(msgpack.packb({"v": 1, "type": "ping", "id": "ping"}))
                if ping.poll(500):
                    break
            else:
                sys.exit("load_test: the server did not answer a ping")
            ping.close()
            figures = run_load(endpoint, pid, args.clients, args.requests, args.in_flight,
                               args.max_samples, max_seconds=args.max_seconds,
                               rollouts=args.rollouts, bad_every=args.bad_every,
                               timeline_points=args.timeline_points)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=60)
    if args.endpoint is None:
        figures["max_queued_samples"] = args.max_queued_samples
        figures["reply_cache_seconds"] = args.reply_cache_seconds
    print(json.dumps(figures, indent=1))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(figures, out, indent=1)
    sys.exit(0 if figures["lost"] == 0 and not figures["duplicates"] and not figures["wrong"]
             and not figures["errors"] else 1)


if __name__ == "__main__":
    main()
