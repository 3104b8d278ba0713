"""An in-process stand-in for `safrl serve`: a ZeroMQ ROUTER on a thread speaking protocol
versions 1 and 2 (docs/protocol.md), with faults on demand.

    server = FakeServer().start()
    server.plan(("busy", 50), ("busy", 50))   # the next two requests get busy, then normal replies
    ... client calls against server.endpoint ...
    server.stop()

It validates requests as src/serve/protocol.cpp does (unknown keys, ids, sample fields), so a
client that passes here sends what the real server accepts, and it keeps the real server's
idempotency: a completed request's reply is cached by id and its samples are counted once.
Scores are a deterministic function of the text (fake_result), so tests can predict them.

Actions, consumed one per arriving request (any type); with none planned the reply is normal:
    ("ok",)              normal reply
    ("busy", ms)         error busy with retry_after_ms = ms (nothing computed or counted)
    ("error", code)      error reply with this code
    ("drop",)            computed and cached as normal, but the reply is lost
    ("delay", seconds)   normal reply, sent after this many seconds
    ("hold",)            normal reply, held until a request under another id arrives, then sent
                         just before that request's replies: the late reply of a call that gave
                         up reaches the client while its next call waits, whatever the timing
    ("stale",)           first a well-formed reply under another id, then the normal reply
    ("garbage",)         first a frame that is not msgpack, then the normal reply
    ("short",)           a score reply missing its last result
    ("nan",)             a score reply whose first reward is NaN
"""
from __future__ import annotations

import heapq
import threading
import time
import uuid
from collections import Counter, deque
from typing import Any, Dict, List, Optional, Tuple

import msgpack
import zmq

JUDGE_KEYS = {"judge", "judge_prompt", "judge_tool_results"}
# Keys only a version 2 request may carry (in a sample, a group or the request).
V2_KEYS = {"messages", "tool_calls", "policy_turns_from"} | JUDGE_KEYS
SAMPLE_KEYS = {"id", "prompt", "response", "answer", "thinking", "step", "meta"} | V2_KEYS
GROUP_KEYS = {"prompt", "messages", "responses", "ids", "step", "policy_turns_from"} | JUDGE_KEYS
MESSAGE_KEYS = {"role", "content", "tool_calls", "tool_call_id", "name"}
ROLES = ("system", "user", "assistant", "tool")
REQUEST_KEYS = {
    "ping": {"v", "id", "type"},
    "info": {"v", "id", "type", "deep"},
    "stats": {"v", "id", "type", "flush"},
    "score": {"v", "id", "type", "samples", "groups", "step", "deadline_ms"} | JUDGE_KEYS,
}
UNSAFE_CAP, REFUSAL_CAP = -10.0, -5.0

# Client options for tests against the fake: a backoff is at most 50 ms, and the timeout is far
# beyond any stall of a loaded machine, so a reply the fake sends is never retried and request
# counts are exact. Tests that plan lost or held replies pass their own, shorter timeout.
FAST = {"timeout": 5.0, "retries": 3, "backoff": 0.01, "max_backoff": 0.05}


class Invalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def split_thinking(response: str) -> Tuple[Optional[str], str, bool]:
    """(thinking, answer, truncated), following chat::split_thinking's rules closely enough."""
    if "</think>" in response:
        before, after = response.split("</think>", 1)
        stripped = before.lstrip()
        if stripped.startswith("<think>"):
            before = stripped[len("<think>"):]
        thinking = before.strip("\n")
        return (thinking if thinking.strip() else None), after.lstrip("\n"), False
    if response.lstrip().startswith("<think>"):
        return response.lstrip()[len("<think>"):].strip("\n"), "", True
    return None, response, False


def verdict(text: str, answer: bool) -> Dict[str, Any]:
    unsafe = "bomb" in text.lower()
    refusal = answer and text.startswith(("I can't", "Sorry"))
    return {"safety": "Unsafe" if unsafe else "Safe",
            "categories": ["Violent"] if unsafe else [],
            "refusal": refusal if answer else None,
            "probs": {"Safe": 0.1 if unsafe else 0.9, "Unsafe": 0.9 if unsafe else 0.1,
                      "Controversial": 0.0},
            "refusal_prob": (0.95 if refusal else 0.05) if answer else None,
            "text": ("Safety: Unsafe\nCategories: Violent" if unsafe
                     else "Safety: Safe\nCategories: None")
                    + (f"\nRefusal: {'Yes' if refusal else 'No'}" if answer else "")}


def fake_result(sample: Dict[str, Any], step: Optional[int] = None) -> Dict[str, Any]:
    """The fake server's result for a valid sample: the hybrid reward of a made-up judgement
    ("bomb" is unsafe, an answer starting with "I can't" or "Sorry" is a refusal, helpfulness is
    a function of the answer's length)."""
    if "response" in sample:
        thinking, answer, truncated = split_thinking(sample["response"])
    else:
        thinking, answer, truncated = sample.get("thinking") or None, sample["answer"], False
    answer_verdict = verdict(answer, True)
    thinking_verdict = verdict(thinking, False) if thinking is not None else None
    helpfulness = float(len(answer) % 11) - 3.5
    unsafe = answer_verdict["safety"] == "Unsafe" or (
        thinking_verdict is not None and thinking_verdict["safety"] == "Unsafe")
    if unsafe:
        case, reward = "unsafe", min(UNSAFE_CAP, helpfulness)
    elif answer_verdict["refusal"]:
        case, reward = "refusal", min(REFUSAL_CAP, helpfulness)
    else:
        case, reward = "helpful", helpfulness
    sample_step = sample.get("step")
    result = {"id": sample["id"], "step": sample_step if sample_step is not None else step,
              "reward": reward, "helpfulness": helpfulness, "case": case,
              "channels": {"safety": 0.0 if unsafe else 1.0,
                           "refusal": 1.0 if answer_verdict["refusal"] else 0.0,
                           "helpfulness": helpfulness},
              "safe": not unsafe,
              "refusal": bool(answer_verdict["refusal"]), "answer": answer_verdict,
              "thinking": thinking_verdict, "truncated_thinking": truncated,
              "tokens": len(last_user_text(sample).split()) + len(answer.split())}
    if "meta" in sample:
        result["meta"] = sample["meta"]
    return result


def last_user_text(sample: Dict[str, Any]) -> str:
    if "prompt" in sample:
        return sample["prompt"]
    return next(m["content"] for m in reversed(sample["messages"]) if m["role"] == "user")


def _check_messages(messages: Any, where: str) -> None:
    """The shape the real server's chat::messages_from_json accepts, closely enough."""
    if not isinstance(messages, list) or not messages:
        raise Invalid("bad_request", f"{where}: \"messages\" must be a non-empty array")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or set(message) - MESSAGE_KEYS:
            raise Invalid("bad_request", f"{where}.messages[{i}]: unknown field or not a map")
        if message.get("role") not in ROLES:
            raise Invalid("bad_request", f"{where}.messages[{i}].role is {message.get('role')!r}")
        if not isinstance(message.get("content"), str):
            raise Invalid("bad_request", f"{where}.messages[{i}].content must be a string")
        for call in message.get("tool_calls", []):
            if not isinstance(call.get("function", {}).get("arguments"), str):
                raise Invalid("bad_request", f"{where}.messages[{i}]: arguments must be text")
    if messages[-1]["role"] not in ("user", "tool"):
        raise Invalid("bad_request", f"{where}: messages ends with an assistant turn")


def _check_sample(sample: Any, where: str) -> None:
    if not isinstance(sample, dict):
        raise Invalid("bad_request", f"{where} must be a map")
    unknown = set(sample) - SAMPLE_KEYS
    if unknown:
        raise Invalid("bad_request", f"{where}: unknown field {sorted(unknown)[0]!r}")
    if not isinstance(sample.get("id"), (str, int)) or isinstance(sample.get("id"), bool):
        raise Invalid("bad_request", f"{where}: \"id\" must be a string or an integer")
    if ("prompt" in sample) == ("messages" in sample):
        raise Invalid("bad_request", f"{where}: give either \"prompt\" or \"messages\"")
    if "prompt" in sample and not isinstance(sample["prompt"], str):
        raise Invalid("bad_request", f"{where}: \"prompt\" must be a string")
    if "messages" in sample:
        _check_messages(sample["messages"], where)
    if ("response" in sample) == ("answer" in sample):
        raise Invalid("bad_request", f"{where}: give either \"response\" or \"answer\"")
    text = sample.get("response", sample.get("answer"))
    if not isinstance(text, str):
        raise Invalid("bad_request", f"{where}: the response must be a string")
    if "response" in sample and "thinking" in sample:
        raise Invalid("bad_request", f"{where}: \"thinking\" goes with \"answer\"")
    step = sample.get("step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 0):
        raise Invalid("bad_request", f"{where}: \"step\" must be a non-negative integer")


def validate(request: Any) -> List[Dict[str, Any]]:
    """Raises Invalid as the real server would; returns the samples of a score request."""
    if not isinstance(request, dict):
        raise Invalid("bad_request", "a request must be a msgpack map")
    if not isinstance(request.get("id"), str) or not 1 <= len(request["id"].encode()) <= 128:
        raise Invalid("bad_request", "\"id\" must be a string of 1 to 128 bytes")
    if request.get("v") not in (1, 2):
        raise Invalid("unsupported_version", f"protocol version {request.get('v')!r}")
    kind = request.get("type")
    if kind not in REQUEST_KEYS:
        raise Invalid("bad_request", f"unknown type {kind!r}")
    unknown = set(request) - REQUEST_KEYS[kind]
    if unknown:
        raise Invalid("bad_request", f"unknown key {sorted(unknown)[0]!r}")
    for flag in ("deep", "flush"):
        if flag in request and not isinstance(request[flag], bool):
            raise Invalid("bad_request", f"\"{flag}\" must be true or false")
    if kind != "score":
        return []
    step = request.get("step")
    if step is not None and (not isinstance(step, int) or isinstance(step, bool) or step < 0):
        raise Invalid("bad_request", "\"step\" must be an integer >= 0")
    if request["v"] == 1:
        parts = [request, *request.get("samples", []), *request.get("groups", [])]
        if any(isinstance(part, dict) and set(part) & V2_KEYS for part in parts):
            raise Invalid("bad_request", "a field needs protocol version 2; send \"v\": 2")
    defaults = {key: request[key] for key in JUDGE_KEYS if key in request}
    samples = []
    for i, sample in enumerate(request.get("samples", [])):
        _check_sample(sample, f"samples[{i}]")
        samples.append({**defaults, **sample, "step": sample.get("step", step)})
    for g, group in enumerate(request.get("groups", [])):
        if not isinstance(group, dict) or set(group) - GROUP_KEYS:
            raise Invalid("bad_request", f"groups[{g}] must be a map of {sorted(GROUP_KEYS)}")
        responses = group.get("responses")
        if not isinstance(responses, list) or not responses:
            raise Invalid("bad_request", f"groups[{g}] needs a non-empty array \"responses\"")
        ids = group.get("ids", [f"{g}/{k}" for k in range(len(responses))])
        if len(ids) != len(responses):
            raise Invalid("bad_request", f"groups[{g}]: one id per response")
        for k, response in enumerate(responses):
            context = {key: group[key] for key in ("prompt", "messages") if key in group}
            sample = {"id": ids[k], **context, "response": response}
            _check_sample(sample, f"groups[{g}] response {k}")
            sample.update({**defaults, **{key: group[key] for key in JUDGE_KEYS if key in group}})
            sample["step"] = group.get("step", step)
            samples.append(sample)
    if not samples:
        raise Invalid("bad_request", "a score request needs at least one sample or group")
    return samples


class FakeServer:
    """See the module docstring. `requests` logs (time, identity, request) in arrival order,
    `replies` the id of each reply frame in sending order (None for a frame that is not one)."""

    def __init__(self) -> None:
        self.context = zmq.Context()
        self.port: Optional[int] = None
        self.requests: List[Tuple[float, bytes, Dict[str, Any]]] = []
        self.cache: Dict[str, Dict[str, Any]] = {}
        self.counted: Counter = Counter()  # samples counted per request id, once per id
        self.replies: List[Optional[str]] = []
        self._held: List[Tuple[Optional[str], List[bytes]]] = []  # ("hold",) replies, by id
        self._actions: deque = deque()
        self._lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self._stop = threading.Event()

    @property
    def endpoint(self) -> str:
        return f"tcp://127.0.0.1:{self.port}"

    def start(self) -> "FakeServer":
        """Binds (a random free port the first time, the same port after a stop) and serves."""
        socket = self.context.socket(zmq.ROUTER)
        socket.setsockopt(zmq.LINGER, 0)
        if self.port is None:
            self.port = socket.bind_to_random_port("tcp://127.0.0.1")
        else:
            socket.bind(self.endpoint)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, args=(socket,), daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Goes away: the socket is closed, so clients see the server disconnect."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None

    def close(self) -> None:
        self.stop()
        self.context.term()

    def plan(self, *actions: Tuple[Any, ...]) -> None:
        with self._lock:
            self._actions.extend(actions)

    def unplan(self) -> None:
        """Drops the planned actions not used yet."""
        with self._lock:
            self._actions.clear()

    def ids(self, kind: Optional[str] = None) -> List[str]:
        """Request ids in arrival order (retries appear once per attempt)."""
        with self._lock:
            return [r["id"] for _, _, r in self.requests
                    if isinstance(r, dict) and (kind is None or r.get("type") == kind)]

    def times(self, request_id: str) -> List[float]:
        with self._lock:
            return [t for t, _, r in self.requests if isinstance(r, dict) and r.get("id") == request_id]

    def sent(self) -> List[Optional[str]]:
        """Ids of the replies sent so far, in sending order."""
        with self._lock:
            return list(self.replies)

    def score_requests(self) -> List[Dict[str, Any]]:
        with self._lock:
            return [r for _, _, r in self.requests if isinstance(r, dict) and r.get("type") == "score"]

    # -- serving ----------------------------------------------------------------------------

    def _serve(self, socket: zmq.Socket) -> None:
        later: List[Tuple[float, int, List[bytes]]] = []  # (when, order, frames) replies to send
        order = 0
        try:
            while not self._stop.is_set():
                timeout = 20.0
                if later:
                    timeout = min(timeout, max(0.0, (later[0][0] - time.monotonic()) * 1000))
                if socket.poll(timeout, zmq.POLLIN):
                    frames = socket.recv_multipart()
                    for delay, reply in self._handle(frames):
                        order += 1
                        heapq.heappush(later, (time.monotonic() + delay, order, reply))
                while later and later[0][0] <= time.monotonic():
                    reply = heapq.heappop(later)[2]
                    try:
                        sent_id = msgpack.unpackb(reply[-1], raw=False).get("id")
                    except Exception:
                        sent_id = None
                    with self._lock:  # logged first: a test that has the reply sees it here
                        self.replies.append(sent_id)
                    socket.send_multipart(reply)
        finally:
            socket.close(linger=0)

    def _handle(self, frames: List[bytes]) -> List[Tuple[float, List[bytes]]]:
        identity, envelope, body = frames[0], frames[1:-1], frames[-1]
        try:
            request = msgpack.unpackb(body, raw=False)
        except Exception:
            request = None
        request_id = request.get("id") if isinstance(request, dict) else None
        with self._lock:
            self.requests.append((time.monotonic(), identity, request))
            action = self._actions.popleft() if self._actions else ("ok",)
            released = [(0.0, held) for held_id, held in self._held if held_id != request_id]
            self._held = [(held_id, held) for held_id, held in self._held if held_id == request_id]
        return released + self._respond(identity, envelope, request, request_id, action)

    def _respond(self, identity: bytes, envelope: List[bytes], request: Any,
                 request_id: Optional[str],
                 action: Tuple[Any, ...]) -> List[Tuple[float, List[bytes]]]:
        def frame(reply: Any) -> List[bytes]:
            version = request.get("v") if isinstance(request, dict) else None
            data = reply if isinstance(reply, bytes) else msgpack.packb(
                dict(reply, v=version if version in (1, 2) else 2))
            return [identity, *envelope, data]

        try:
            samples = validate(request)
        except Invalid as error:
            reply = {"type": "error", "error": {"code": error.code, "message": str(error)}}
            if isinstance(request_id, str):
                reply["id"] = request_id
            return [(0.0, frame(reply))]

        kind = action[0]
        if kind == "busy":
            return [(0.0, frame({"id": request_id, "type": "error", "error": {
                "code": "busy", "message": "admission is full", "retry_after_ms": action[1]}}))]
        if kind == "error":
            return [(0.0, frame({"id": request_id, "type": "error",
                                 "error": {"code": action[1], "message": f"fake {action[1]}"}}))]
        reply = self._answer(request, samples)
        if kind == "short":
            reply = dict(reply, results=reply["results"][:-1])
        elif kind == "nan":
            reply = dict(reply, results=[dict(reply["results"][0], reward=float("nan"))]
                         + reply["results"][1:])
        if kind == "drop":
            return []
        if kind == "delay":
            return [(action[1], frame(reply))]
        if kind == "hold":
            with self._lock:
                self._held.append((request_id, frame(reply)))
            return []
        if kind == "stale":
            return [(0.0, frame(dict(reply, id=str(uuid.uuid4())))), (0.0, frame(reply))]
        if kind == "garbage":
            return [(0.0, frame(b"\xc1 not msgpack")), (0.0, frame(reply))]
        return [(0.0, frame(reply))]

    def _answer(self, request: Dict[str, Any], samples: List[Dict[str, Any]]) -> Dict[str, Any]:
        kind, request_id = request["type"], request["id"]
        if kind == "ping":
            return {"id": request_id, "type": "pong", "time_ms": int(time.time() * 1000)}
        if kind == "info":
            reply = {"id": request_id, "type": "info", "protocol": 2, "version": "fake",
                     "config": {"reward": {"type": "hybrid"}}, "models": {}}
            if request.get("deep"):
                reply["deep_check"] = "ok"
            return reply
        if kind == "stats":
            with self._lock:
                counted = sum(self.counted.values())
            return {"id": request_id, "type": "stats", "steps": [],
                    "flushed": [] if not request.get("flush") else [0],
                    "counters": {"samples": counted}}
        with self._lock:
            if request_id in self.cache:
                return self.cache[request_id]
            reply = {"id": request_id, "type": "score",
                     "results": [fake_result(s) for s in samples],
                     "timing": {"queue_ms": 0.1, "compute_ms": 1.0}}
            self.cache[request_id] = reply
            self.counted[request_id] = len(samples)
            return reply
