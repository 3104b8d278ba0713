"""The synchronous client of the safrl reward server.

    with safrl.Client("tcp://gpu-node:5555") as client:
        results = client.score([{"prompt": "How do I ...?", "response": "You ..."}], step=12)
        rewards = [r["reward"] for r in results]

One DEALER socket per thread (ZeroMQ sockets must not be shared between threads; trainers call
reward functions from thread pools), connected to every endpoint: ZeroMQ spreads requests
round-robin over the servers that are up. A call's requests (a large batch is split into requests
of at most max_samples_per_request) are all in flight at once, up to max_in_flight, and replies are
matched by request id, so a late reply to an attempt that already timed out is recognised and
dropped. Each logical request keeps its id across retries: the server then counts its samples once.
With CURVE keys (safrl.curve) every socket is a CURVE client, and a server that refuses it raises
AccessRefused at once instead of a timeout.
"""
from __future__ import annotations

import os
import threading
import time
from collections import deque
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import zmq

from safrl import _protocol as proto
from safrl import curve
from safrl.curve import AccessRefused
from safrl.errors import SafrlError

__all__ = ["Client", "AccessRefused"]

# A request of an exchange: the message to send, and the check that turns its reply into a value.
Request = Tuple[Mapping[str, Any], Callable[[Any], Any]]


class _Flight:
    """One logical request inside an exchange: its id, frame, retry budget and timers."""

    def __init__(self, index: int, message: Mapping[str, Any], check: Callable[[Any], Any]) -> None:
        self.index = index
        self.id = message["id"]
        self.frame = proto.encode(message)  # before anything is sent: a bad sample fails the call
        self.check = check
        self.retry: Optional[proto.RetryState] = None
        self.sent = False
        self.ready_at = 0.0  # when the next attempt may be sent
        self.accept_by = 0.0  # when the next attempt times out if no server has taken it
        self.deadline = 0.0  # when the current attempt times out

    def start(self, now: float, settings: proto.Settings) -> None:
        """The first attempt: the request's time limits run from here, not from the call's start
        (a large call's later requests wait for earlier ones before they are sent)."""
        self.retry = proto.RetryState(settings, self.id)
        self.schedule(now)

    def schedule(self, at: float) -> None:
        self.sent = False
        self.ready_at = at
        self.accept_by = at + self.retry.accept_within()
        self.deadline = at + self.retry.settings.timeout

    def due(self) -> float:
        """When the current attempt times out."""
        return self.deadline if self.sent else self.accept_by


class Client:
    """Sends rollouts to `safrl serve` and returns their rewards; see docs/plugin.md.

    endpoint: a ZeroMQ address ("tcp://host:5555"), several separated by commas, or a list of
    them; None reads $SAFRL_ENDPOINT, else tcp://127.0.0.1:5555. timeout: seconds to wait for the
    reply to one attempt. connect_timeout: seconds the first attempt waits for a server to take
    the request (later ones wait `timeout`, as a restarting server takes longer). retries:
    attempts after the first on deadline_exceeded, shutting_down and timeouts. busy_wait: seconds
    a busy server is waited out (a busy answer, or `unavailable` while a vLLM server it calls is
    down, is retried after the server's retry_after_ms until then, not counted in retries): a
    trainer must not die because the reward service was busy. backoff, max_backoff: the
    exponential backoff between attempts. max_samples_per_request, max_in_flight: how large calls
    are split and pipelined. server_key, client_keys: CURVE, for a server with server.curve: its
    public key and this client's (public, secret) pair (safrl.curve.keypair()); none given reads
    $SAFRL_CURVE_SERVER_KEY, $SAFRL_CURVE_PUBLIC_KEY, $SAFRL_CURVE_SECRET_KEY; malformed keys raise
    ValueError, and a server that refuses the client raises safrl.curve.AccessRefused. Failed
    attempts are logged to the "safrl" logger (docs/plugin.md).
    """

    def __init__(self, endpoint: proto.Endpoint = None, *, timeout: float = 60.0,
                 retries: int = 5, backoff: float = 0.2, max_backoff: float = 5.0,
                 max_samples_per_request: int = 256, max_in_flight: int = 8,
                 busy_wait: float = 600.0, connect_timeout: float = 10.0,
                 server_key: Optional[str] = None,
                 client_keys: Optional[Tuple[str, str]] = None) -> None:
        self.endpoints = proto.resolve_endpoints(endpoint)
        self.settings = proto.Settings(timeout, retries, backoff, max_backoff,
                                       max_samples_per_request, max_in_flight, busy_wait,
                                       connect_timeout, server_key, client_keys)
        self.curve = curve.resolve(server_key, client_keys, endpoints=self.endpoints)
        self._context = zmq.Context()
        self._local = threading.local()
        self._sockets: List[Tuple[zmq.Socket, curve.HandshakeWatch]] = []
        self._lock = threading.Lock()
        self._closed = False
        self._pid = os.getpid()

    # -- public API ---------------------------------------------------------------------------

    def score(self, samples: Sequence[Mapping[str, Any]], step: Optional[int] = None, *,
              judge: Optional[str] = None, judge_prompt: Optional[bool] = None,
              judge_tool_results: Optional[bool] = None,
              token_safety: bool = False) -> List[Dict[str, Any]]:
        """One result dict per sample, in order, as the server returns it (reward and details).

        A sample is {"prompt" | "messages", "response" | ("answer", "thinking"?)}, with optional
        "id", "step", "meta", "tool_calls", "policy_turns_from", "judge", "judge_prompt",
        "judge_tool_results" (docs/plugin.md). "messages" is a conversation in the OpenAI chat
        format; it is normalised before sending (content parts joined, tool-call arguments as
        JSON text, reasoning traces and other fields dropped). judge ("last" | "all_turns"),
        judge_prompt, judge_tool_results: defaults for the samples that do not set their own;
        None leaves the server's config in charge. token_safety: every result also carries
        "token_safety", the Stream guard's label, probabilities and code-point offsets of each
        answer token and the first debounced unsafe one (docs/protocol.md; a server with a Gen
        guard refuses it with BadRequest). Raises a SafrlError subclass when any reward
        cannot be had.
        """
        jobs = proto.plan_samples(samples, step, self.settings.max_samples_per_request,
                                   proto.JudgeOptions(judge, judge_prompt, judge_tool_results,
                                                      token_safety))
        results = self._exchange([(job.message, job.check) for job in jobs])
        return proto.assemble(jobs, results, len(samples))

    def score_groups(self, prompts: Sequence[proto.Prompt],
                     responses_per_prompt: Sequence[Sequence[str]], step: Optional[int] = None,
                     *, judge: Optional[str] = None, judge_prompt: Optional[bool] = None,
                     judge_tool_results: Optional[bool] = None,
                     token_safety: bool = False) -> List[List[Dict[str, Any]]]:
        """GRPO groups: results[g][k] is the result of responses_per_prompt[g][k].

        A prompt is a string or a list of chat messages (the conversation before the responses,
        normalised as in score). Sent as the protocol's `groups`, so the server computes each
        shared prompt once. judge, judge_prompt, judge_tool_results, token_safety: as in score.
        """
        jobs = proto.plan_groups(prompts, responses_per_prompt, step,
                                 self.settings.max_samples_per_request,
                                 proto.JudgeOptions(judge, judge_prompt, judge_tool_results,
                                                    token_safety))
        results = self._exchange([(job.message, job.check) for job in jobs])
        sizes = [len(responses) for responses in responses_per_prompt]
        return proto.reshape(proto.assemble(jobs, results, sum(sizes)), sizes)

    def ping(self) -> Dict[str, Any]:
        """The server's `pong` payload: {"time_ms": ...}."""
        return self._simple("ping")

    def info(self, deep: bool = False) -> Dict[str, Any]:
        """protocol, version, config, models; deep=True also runs each model once (deep_check)."""
        return self._simple("info", deep=deep)

    def stats(self, flush: bool = False) -> Dict[str, Any]:
        """steps held, counters; flush=True also writes the held steps to the run's logs."""
        return self._simple("stats", flush=flush)

    def close(self) -> None:
        """Closes every socket of this client. Call it when no other thread is using the client."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            sockets, self._sockets = self._sockets, []
        if os.getpid() != self._pid:
            return  # a forked child must not touch its parent's ZeroMQ state
        for sock, watch in sockets:
            sock.disable_monitor()
            watch.close()
            sock.close(linger=0)
        self._context.term()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # -- internals ----------------------------------------------------------------------------

    # A client that can tell when its server is gone (safrl.local's client of the server process
    # it started) sets the seconds between checks and overrides _check_server to raise then,
    # instead of waiting out every attempt's timeout.
    _watch_seconds: Optional[float] = None

    def _check_server(self) -> None:
        pass

    def _simple(self, kind: str, **fields: Any) -> Dict[str, Any]:
        message = proto.simple_message(kind, **fields)
        expected = proto.REPLY_TYPES[kind]
        reply = self._exchange([(message, lambda r: proto.check_reply(r, expected))])[0]
        return proto.payload_of(reply)

    def _socket(self) -> Tuple[zmq.Socket, curve.HandshakeWatch]:
        if self._closed:
            raise SafrlError("this safrl.Client is closed")
        found = getattr(self._local, "socket", None)
        if found is not None:
            return found
        with self._lock:
            if self._closed:
                raise SafrlError("this safrl.Client is closed")
            if os.getpid() != self._pid:
                raise SafrlError("this safrl.Client was created in another process; create one "
                                 "after fork (ZeroMQ sockets do not survive fork)")
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            # Queue messages only to servers that are connected: a request is never parked in the
            # pipe of a server that is down while another one could answer it.
            sock.setsockopt(zmq.IMMEDIATE, 1)
            if self.curve is not None:
                self.curve.apply(sock)
            watch = curve.HandshakeWatch(sock, self.curve)
            for endpoint in self.endpoints:
                sock.connect(endpoint)
            self._sockets.append((sock, watch))
        self._local.socket = (sock, watch)
        return sock, watch

    def _exchange(self, requests: Sequence[Request]) -> List[Any]:
        """Sends (message, check) requests, with retries; returns each check's value, in order.

        check(reply) returns the value or raises a SafrlError; ServerBusy and Timeout are
        retried with the same id until the budget is spent, anything else is raised at once.
        """
        if not requests:
            return []
        settings = self.settings
        sock, watch = self._socket()
        flights = [_Flight(i, message, check) for i, (message, check) in enumerate(requests)]
        values: List[Any] = [None] * len(flights)
        waiting = deque(flights)
        active: Dict[str, _Flight] = {}
        remaining = len(flights)
        poller = zmq.Poller()
        while remaining:
            now = time.monotonic()
            while waiting and len(active) < settings.max_in_flight:
                flight = waiting.popleft()
                flight.start(now, settings)
                active[flight.id] = flight
            blocked = self._send_ready(sock, active.values(), now)
            wake = min(f.due() if f.ready_at <= now else f.ready_at for f in active.values())
            if self._watch_seconds is not None:
                self._check_server()
                wake = min(wake, now + self._watch_seconds)
            poller.register(sock, zmq.POLLIN | (zmq.POLLOUT if blocked else 0))
            poller.register(watch.monitor, zmq.POLLIN)
            poller.poll(max(0.0, wake - now) * 1000.0)
            watch.check()
            now = time.monotonic()
            while True:
                try:
                    reply = proto.decode(sock.recv_multipart(zmq.NOBLOCK))
                except zmq.Again:
                    break
                request_id = reply.get("id") if reply is not None else None
                flight = active.get(request_id) if isinstance(request_id, str) else None
                if flight is None:
                    continue  # a stale reply, to an attempt of an earlier call that gave up
                try:
                    values[flight.index] = flight.check(reply)
                except SafrlError as error:
                    flight.schedule(now + flight.retry.failed(error))
                    continue
                del active[flight.id]
                remaining -= 1
            for flight in list(active.values()):
                if now >= flight.due():
                    waited = settings.timeout if flight.sent else flight.retry.accept_within()
                    error = proto.timeout_error(flight.id, self.endpoints, waited, flight.sent)
                    flight.schedule(now + flight.retry.failed(error))
        return values

    @staticmethod
    def _send_ready(sock: zmq.Socket, flights: Iterable[_Flight], now: float) -> bool:
        """Sends every flight due; True when one is due but no server can take it yet."""
        for flight in flights:
            if flight.sent or flight.ready_at > now:
                continue
            try:
                sock.send(flight.frame, zmq.NOBLOCK)
            except zmq.Again:
                return True
            flight.sent = True
        return False
