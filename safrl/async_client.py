"""The asyncio client of the safrl reward server: the API of safrl.Client, as coroutines.

    async with safrl.AsyncClient("tcp://gpu-node:5555") as client:
        results = await asyncio.gather(*(client.score(batch, step=7) for batch in batches))

One DEALER socket per client serves any number of concurrent requests: each request registers a
future under its id and a reader task hands every reply to the future of its id. The reader runs
only while a request waits, so a client left open (a trainer's module-level client) leaves no
pending task behind when its loop goes away. Replies to ids nobody waits for any more (an attempt
that timed out in an earlier call) are dropped. A client is bound to the event loop that first
uses it. With CURVE keys (safrl.curve) the socket is a CURVE client; a monitor task turns a
server's refusal into AccessRefused for every waiting request.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import zmq
import zmq.asyncio

from safrl import _protocol as proto
from safrl import curve
from safrl.errors import SafrlError

__all__ = ["AsyncClient"]

# A request: the message to send, and the check that turns its reply into a value.
Request = Tuple[Dict[str, Any], Callable[[Any], Any]]


class AsyncClient:
    """The asyncio twin of safrl.Client; same arguments, same results, same errors."""

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
        self._context = zmq.asyncio.Context()
        self._socket: Optional[zmq.asyncio.Socket] = None
        self._watch: Optional[curve.HandshakeWatch] = None
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self._reader: Optional[asyncio.Task] = None
        self._waiters: Dict[str, asyncio.Future] = {}
        self._closed = False
        self._pid = os.getpid()

    # -- public API ---------------------------------------------------------------------------

    async def score(self, samples: Sequence[Mapping[str, Any]], step: Optional[int] = None, *,
                    judge: Optional[str] = None, judge_prompt: Optional[bool] = None,
                    judge_tool_results: Optional[bool] = None,
                    token_safety: bool = False) -> List[Dict[str, Any]]:
        """See safrl.Client.score."""
        jobs = proto.plan_samples(samples, step, self.settings.max_samples_per_request,
                                   proto.JudgeOptions(judge, judge_prompt, judge_tool_results,
                                                      token_safety))
        results = await self._gather([(job.message, job.check) for job in jobs])
        return proto.assemble(jobs, results, len(samples))

    async def score_groups(self, prompts: Sequence[proto.Prompt],
                           responses_per_prompt: Sequence[Sequence[str]],
                           step: Optional[int] = None, *, judge: Optional[str] = None,
                           judge_prompt: Optional[bool] = None,
                           judge_tool_results: Optional[bool] = None,
                           token_safety: bool = False) -> List[List[Dict[str, Any]]]:
        """See safrl.Client.score_groups."""
        jobs = proto.plan_groups(prompts, responses_per_prompt, step,
                                 self.settings.max_samples_per_request,
                                 proto.JudgeOptions(judge, judge_prompt, judge_tool_results,
                                                    token_safety))
        results = await self._gather([(job.message, job.check) for job in jobs])
        sizes = [len(responses) for responses in responses_per_prompt]
        return proto.reshape(proto.assemble(jobs, results, sum(sizes)), sizes)

    async def ping(self) -> Dict[str, Any]:
        return await self._simple("ping")

    async def info(self, deep: bool = False) -> Dict[str, Any]:
        return await self._simple("info", deep=deep)

    async def stats(self, flush: bool = False) -> Dict[str, Any]:
        return await self._simple("stats", flush=flush)

    async def close(self) -> None:
        """Closes the socket; requests still waiting fail with SafrlError."""
        reader = self._reader
        self._shutdown()
        if reader is not None and self._loop is asyncio.get_running_loop():
            await asyncio.gather(reader, return_exceptions=True)

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.close()

    # -- internals ----------------------------------------------------------------------------

    async def _simple(self, kind: str, **fields: Any) -> Dict[str, Any]:
        expected = proto.REPLY_TYPES[kind]
        reply = await self._request(proto.simple_message(kind, **fields),
                                    lambda r: proto.check_reply(r, expected))
        return proto.payload_of(reply)

    def _shutdown(self) -> None:
        """Closes everything; must run on the client's loop (or with no loop running it)."""
        if self._closed:
            return
        self._closed = True
        # A closed loop can schedule nothing more (and asyncio.run already cancelled its tasks).
        if self._loop is not None and not self._loop.is_closed():
            if self._reader is not None:
                self._reader.cancel()
            for future in self._waiters.values():
                if not future.done():
                    future.set_exception(SafrlError("the safrl.AsyncClient was closed"))
        self._waiters.clear()
        if os.getpid() != self._pid:
            return  # a forked child must not touch its parent's ZeroMQ state
        if self._socket is not None:
            self._socket.disable_monitor()
            self._watch.close()
            self._socket.close(linger=0)
        self._context.term()

    def close_threadsafe(self) -> None:
        """Closes the client from any thread: on its loop when that loop is running elsewhere."""
        loop = self._loop
        if loop is not None and loop.is_running() and not _runs_here(loop):
            loop.call_soon_threadsafe(self._shutdown)
        else:
            self._shutdown()

    def _ensure_socket(self) -> zmq.asyncio.Socket:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise SafrlError("this safrl.AsyncClient is closed")
        if os.getpid() != self._pid:
            raise SafrlError("this safrl.AsyncClient was created in another process; create one "
                             "after fork (ZeroMQ sockets do not survive fork)")
        if self._socket is None:
            sock = self._context.socket(zmq.DEALER)
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.IMMEDIATE, 1)  # see safrl.Client: no parking at a dead server
            if self.curve is not None:
                self.curve.apply(sock)
            self._watch = curve.HandshakeWatch(sock, self.curve)
            for endpoint in self.endpoints:
                sock.connect(endpoint)
            self._socket, self._loop = sock, loop
        elif loop is not self._loop:
            raise SafrlError("a safrl.AsyncClient belongs to the event loop that first used it; "
                             "create one client per event loop")
        return self._socket

    async def _read(self, sock: zmq.asyncio.Socket) -> None:
        """Hands each reply to the future waiting for its id, and a server's refusal of the
        connection to every waiting future; drops the rest."""
        replies = asyncio.ensure_future(sock.recv_multipart())
        refusals = asyncio.ensure_future(self._watch.monitor.recv_multipart())
        try:
            while True:
                await asyncio.wait({replies, refusals}, return_when=asyncio.FIRST_COMPLETED)
                if refusals.done():
                    error = self._watch.refusal(refusals.result())
                    if error is not None:
                        self._fail_waiters(error)
                    refusals = asyncio.ensure_future(self._watch.monitor.recv_multipart())
                if not replies.done():
                    continue
                reply = proto.decode(replies.result())
                replies = asyncio.ensure_future(sock.recv_multipart())
                request_id = reply.get("id") if reply is not None else None
                future = self._waiters.get(request_id) if isinstance(request_id, str) else None
                if future is not None and not future.done():
                    future.set_result(reply)
        except zmq.ZMQError as error:
            self._fail_waiters(SafrlError(f"the client's socket failed: {error}"))
        finally:
            replies.cancel()
            refusals.cancel()

    def _fail_waiters(self, error: SafrlError) -> None:
        for future in self._waiters.values():
            if not future.done():
                future.set_exception(error)

    async def _gather(self, requests: Sequence[Request]) -> List[Any]:
        """Runs requests concurrently, at most max_in_flight at once; the first error cancels
        the rest and is raised."""
        limit = asyncio.Semaphore(self.settings.max_in_flight)

        async def limited(message: Dict[str, Any], check: Callable[[Any], Any]) -> Any:
            async with limit:
                return await self._request(message, check)

        tasks = [asyncio.ensure_future(limited(message, check)) for message, check in requests]
        try:
            return list(await asyncio.gather(*tasks))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _request(self, message: Dict[str, Any], check: Callable[[Any], Any]) -> Any:
        """One logical request: attempts with the same id until check() accepts a reply or the
        retry budget is spent (see safrl.Client._exchange for the rules)."""
        sock = self._ensure_socket()
        loop = asyncio.get_running_loop()
        request_id = message["id"]
        frame = proto.encode(message)
        retry = proto.RetryState(self.settings, request_id)
        timeout = self.settings.timeout
        future = self._waiters[request_id] = loop.create_future()
        if self._reader is None or self._reader.done():
            self._reader = loop.create_task(self._read(sock))
        try:
            while True:
                sent = False
                accept_within = retry.accept_within()
                if not future.done():
                    deadline = loop.time() + timeout
                    # The future ends the wait too: a server's refusal of the connection lands
                    # there while no server takes the request.
                    sending = asyncio.ensure_future(sock.send(frame))
                    try:
                        await asyncio.wait({sending, future}, timeout=accept_within,
                                           return_when=asyncio.FIRST_COMPLETED)
                    except asyncio.CancelledError:
                        sending.cancel()
                        raise
                    if not sending.done():
                        sending.cancel()  # no server connected within accept_within
                    elif sending.exception() is not None:  # the socket was closed under us
                        raise SafrlError(f"cannot send the request: {sending.exception()}")
                    else:
                        sent = True
                    if sent:
                        await asyncio.wait({future}, timeout=max(0.0, deadline - loop.time()))
                if future.done():
                    reply = future.result()
                    future = self._waiters[request_id] = loop.create_future()
                    try:
                        return check(reply)
                    except SafrlError as error:
                        failure = error
                else:
                    failure = proto.timeout_error(request_id, self.endpoints,
                                                  timeout if sent else accept_within, sent)
                # A late reply to the attempt that just failed ends the wait early.
                await asyncio.wait({future}, timeout=retry.failed(failure))
        finally:
            if self._waiters.get(request_id) is future:
                del self._waiters[request_id]
            if not self._waiters and self._reader is not None:
                # Nobody waits: the reader stops (the next request starts one), so no task is
                # left pending on a client that is never closed.
                self._reader.cancel()
                self._reader = None


def _runs_here(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False
