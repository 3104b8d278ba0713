"""Single-query requests at 64 concurrency: HTTP /get_reward against the ZeroMQ path (issue 18).

    .venv/bin/python experiments/bench/serve/http_vs_zmq.py [--clients 64] [--seconds 15] [--rounds 3]
        [--safrl OTHER_BINARY]

Starts one `safrl serve` on loopback with the embedded tiny models (BUILD/embedded) and both
endpoints, then alternates phases of --seconds each, --rounds times:
  zmq        --clients threads, one DEALER each, one score request of one sample in flight
  http       --clients threads, each POSTing one query per request on a new connection, as
             OpenRLHF's remote reward client does (requests.post without a session)
  http-keep  the same on one kept-alive connection per thread
Prints samples/s per phase and round, the medians, and http / zmq. The clients are Python threads
on the same machine as the server, so the figures include the clients' own cost; HTTP's client
side (http.client) costs more per request than pyzmq + msgpack.
"""
import argparse
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import msgpack
import zmq

SOURCE = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def query(k):
    return f"Q{k % 97}: how do I bake bread?", f" A: answer {k}"


def zmq_client(endpoint, stop, counts, index):
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    k = 0
    while not stop.is_set():
        prompt, response = query(index * 100000 + k)
        sock.send(msgpack.packb({"v": 1, "id": str(uuid.uuid4()), "type": "score",
                                 "samples": [{"id": k, "prompt": prompt, "response": response}]}))
        reply = msgpack.unpackb(sock.recv())
        assert reply["type"] == "score", reply
        counts[index] += 1
        k += 1
    sock.close()


def http_client(port, stop, counts, index, keep_alive):
    connection = None
    k = 0
    while not stop.is_set():
        prompt, response = query(index * 100000 + k)
        body = json.dumps({"query": [prompt + response], "prompts": [prompt]})
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        connection.request("POST", "/get_reward", body=body,
                           headers={"Content-Type": "application/json"})
        reply = connection.getresponse()
        data = reply.read()
        assert reply.status == 200, data
        counts[index] += 1
        k += 1
        if not keep_alive:
            connection.close()
            connection = None
    if connection is not None:
        connection.close()


def phase(name, args, endpoint, http_port):
    stop = threading.Event()
    counts = [0] * args.clients
    targets = {
        "zmq": lambda i: zmq_client(endpoint, stop, counts, i),
        "http": lambda i: http_client(http_port, stop, counts, i, keep_alive=False),
        "http-keep": lambda i: http_client(http_port, stop, counts, i, keep_alive=True),
    }
    threads = [threading.Thread(target=targets[name], args=(i,)) for i in range(args.clients)]
    for thread in threads:
        thread.start()
    time.sleep(2)  # warm-up: every client has a request in flight
    start_count, start = sum(counts), time.monotonic()
    time.sleep(args.seconds)
    done, seconds = sum(counts) - start_count, time.monotonic() - start
    stop.set()
    for thread in threads:
        thread.join()
    return done / seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--build", default=os.path.join(SOURCE, "build"),
                        help="the build folder (its embedded models and, unless --safrl, binary)")
    parser.add_argument("--safrl", help="another safrl binary to measure (an older build)")
    args = parser.parse_args()
    port, http_port = free_port(), free_port()
    endpoint = f"tcp://127.0.0.1:{port}"
    embedded = os.path.join(args.build, "embedded")
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, "server.yaml")
        with open(config, "w") as out:
            # The random embedded guard never writes a verdict: 16 new tokens keep its work near a
            # real verdict's (as in tests/serve/e2e).
            out.write(f"guard: {{model: {embedded}/guard, max_new_tokens: 16}}\n"
                      f"helpfulness: {{model: {embedded}/reward, chat_format: qwen3}}\n"
                      # Every phase sends the same samples: without the judgement cache off,
                      # the phases after the first would measure the cache, not the transport.
                      f"batching: {{judgement_cache_bytes: 0}}\n"
                      f"server: {{endpoint: \"{endpoint}\", http_port: {http_port}}}\n")
        binary = args.safrl or os.path.join(args.build, "src", "cli", "safrl")
        server = subprocess.Popen([binary, "serve",
                                   "--config", config, "--run-dir", os.path.join(tmp, "run")],
                                  stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while True:
                try:
                    socket.create_connection(("127.0.0.1", http_port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        sys.exit("the server did not start")
                    time.sleep(0.2)
            rates = {"zmq": [], "http": [], "http-keep": []}
            for round_ in range(args.rounds):
                for name in rates:
                    rates[name].append(phase(name, args, endpoint, http_port))
                    print(f"round {round_ + 1} {name:9s} {rates[name][-1]:8.1f} samples/s",
                          flush=True)
            medians = {name: statistics.median(values) for name, values in rates.items()}
            print(json.dumps({"clients": args.clients, "seconds": args.seconds,
                              "rounds": args.rounds, "samples_per_second": medians,
                              "http_over_zmq": medians["http"] / medians["zmq"],
                              "http_keep_over_zmq": medians["http-keep"] / medians["zmq"]}))
        finally:
            server.terminate()
            server.wait(60)


if __name__ == "__main__":
    main()
