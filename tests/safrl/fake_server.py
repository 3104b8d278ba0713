"""An in-process stand-in for `safrl serve`: a ZeroMQ ROUTER on a thread speaking protocol
versions 1 and 2 (docs/protocol.md), with faults on demand.

    server = FakeServer().start()
    server.plan(("busy", 50), ("busy", 50))   # the next two requests get busy, then normal replies
    ... client calls against server.endpoint ...
    server.stop()

It validates requests as src/serve/protocol.cpp does (unknown keys, ids, sample fields, UTF-8),
with the server's messages (key paths as io::JsonReader spells them: samples[0].messages[1].role),
so a client that passes here sends what the real server accepts, and it keeps the real server's
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
import json
import threading
import time
import uuid
from collections import Counter, deque
from typing import Any, Dict, List, Optional, Tuple

import msgpack
import zmq

JUDGE_KEYS = ["judge", "judge_prompt", "judge_tool_results"]
# Keys only a version 2 request may carry, in the order the server checks them
# (kVersion2SampleKeys, kVersion2GroupKeys in src/serve/protocol.cpp).
V2_SAMPLE_KEYS = ["messages", "policy_turns_from", "tool_calls", *JUDGE_KEYS]
V2_GROUP_KEYS = ["messages", "policy_turns_from", *JUDGE_KEYS]
# The allowed keys in the order the server's messages list them (reward/sample.cpp's kFields,
# protocol.cpp's allow_keys calls).
SAMPLE_KEYS = ["id", "prompt", "messages", "response", "answer", "thinking", "tool_calls",
               "policy_turns_from", "judge", "judge_prompt", "judge_tool_results", "step", "meta"]
GROUP_KEYS = {1: ["prompt", "responses", "ids", "step"],
              2: ["prompt", "messages", "responses", "ids", "step", "policy_turns_from",
                  *JUDGE_KEYS]}
ROLES = ("system", "user", "assistant", "tool")
REQUEST_KEYS = {
    "ping": ["v", "id", "type"],
    "info": ["v", "id", "type", "deep"],
    "stats": ["v", "id", "type", "flush"],
    "score": ["v", "id", "type", "samples", "groups", "step", "deadline_ms", *JUDGE_KEYS,
              "token_safety"],
}
MAX_DEADLINE_MS = 24 * 3600 * 1000
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


def key_path(path: str, key: str) -> str:
    """`path` then `key`, spelled as io::JsonReader spells a key path: path.key, or path["key"]
    for a key other than ASCII letters, digits and _ not starting with a digit."""
    if key and not key[0].isdigit() and all(c.isascii() and (c.isalnum() or c == "_") for c in key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key, ensure_ascii=False)}]"


def describe(value: Any) -> str:
    """What a value is, as io::JsonReader::describe says it: "a number (5)", "an object"."""
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    kind = ("a boolean" if isinstance(value, bool) else "a string" if isinstance(value, str)
            else "a number")
    text = json.dumps(value, ensure_ascii=False)
    return kind if len(text.encode()) > 64 else f"{kind} ({text})"


def bad(path: str, problem: str) -> Invalid:
    """The server's bad_request message: "<path>: <problem>", or the problem alone at the root."""
    return Invalid("bad_request", f"{path}: {problem}" if path else problem)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _allow_keys(value: Any, path: str, allowed: List[str]) -> None:
    if not isinstance(value, dict):
        raise bad(path, f"must be an object, got {describe(value)}")
    for key in sorted(value):
        if key not in allowed:
            raise bad(key_path(path, key), f"unknown key; allowed here: {', '.join(allowed)}")


def _check_string(value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise bad(path, f"must be a string, got {describe(value)}")


def _check_step(value: Any, path: str) -> None:
    if not _is_int(value) or value < 0:
        raise bad(path, f"must be an integer >= 0, got {describe(value)}")


def _refuse_version_2_keys(value: Any, path: str, keys: List[str]) -> None:
    if isinstance(value, dict):
        for key in keys:
            if key in value:
                raise bad(key_path(path, key), 'needs protocol version 2; send "v": 2')


def _unsupported_field(role: str, key: str) -> str:
    """chat/message.cpp's unsupported_field."""
    hints = {"reasoning_content": "put the trace in a <think>...</think> block at the start of "
                                  "\"content\", or leave it out",
             "tool_calls": "only assistant messages make tool calls",
             "tool_call_id": "only tool messages carry it", "name": "only tool messages carry it"}
    hint = hints.get(key, "accepted fields: role, content, tool_calls (assistant), tool_call_id "
                          "and name (tool)")
    return f'unsupported field for role "{role}" ({hint})'


def _check_messages(messages: Any, path: str) -> None:
    """What the server's chat::read_messages refuses, closely enough, with its messages."""
    if not isinstance(messages, list):
        raise bad(path, 'must be an array of {"role", "content"} objects, got '
                        f"{describe(messages)}")
    if not messages:
        raise bad(path, "must not be empty; give at least one message")
    for i, message in enumerate(messages):
        at = f"{path}[{i}]"
        if not isinstance(message, dict):
            raise bad(at, f"must be an object, got {describe(message)}")
        if "role" not in message:
            raise bad(f"{at}.role", "missing")
        role = message["role"]
        _check_string(role, f"{at}.role")
        if role not in ROLES:
            raise bad(f"{at}.role", f'unknown role "{role}"; valid roles: {", ".join(ROLES)}')
        for key in sorted(message):
            allowed = (key in ("role", "content") or (key == "tool_calls" and role == "assistant")
                       or (key in ("tool_call_id", "name") and role == "tool"))
            if not allowed:
                raise bad(key_path(at, key), _unsupported_field(role, key))
        calls = message.get("tool_calls") or []
        for k, call in enumerate(calls):
            function = call.get("function", call) if isinstance(call, dict) else {}
            where = f"{at}.tool_calls[{k}]" + (".function" if "function" in call else "")
            arguments = function.get("arguments")
            if not isinstance(arguments, (str, dict)):
                raise bad(f"{where}.arguments", "must be a string (JSON text) or an object, got "
                                                f"{describe(arguments)}")
        content = message.get("content")
        if not isinstance(content, str):
            if not calls:
                if "content" not in message:
                    raise bad(f"{at}.content", "missing")
                null = " (null is allowed only with tool_calls)" if content is None else ""
                raise bad(f"{at}.content", f"must be a string, got {describe(content)}{null}")
            if content is not None:
                raise bad(f"{at}.content", f"must be a string or null, got {describe(content)}")
    last = messages[-1]["role"]
    if last not in ("user", "tool"):
        turn = "an assistant turn" if last == "assistant" else f"a {last} message"
        raise bad(f"{path}[{len(messages) - 1}].role",
                  f"messages ends with {turn}; the turn being judged goes in \"response\", and "
                  "messages must end with a user or tool message")


def _check_sample(sample: Any, path: str) -> None:
    """reward::sample_from_json's refusals, in its order and with its messages."""
    if not isinstance(sample, dict):
        raise bad(path, f"a sample must be a JSON object, got {describe(sample)}")
    _allow_keys(sample, path, SAMPLE_KEYS)
    if "id" not in sample:
        raise bad(f"{path}.id", "missing; give a string or an integer")
    if not isinstance(sample["id"], str) and not _is_int(sample["id"]):
        raise bad(f"{path}.id", f"must be a string or an integer, got {describe(sample['id'])}")
    if ("prompt" in sample) == ("messages" in sample):
        raise bad(path, 'give either "prompt" or "messages", not both' if "prompt" in sample
                  else 'missing "prompt" (or "messages")')
    if "prompt" in sample:
        _check_string(sample["prompt"], f"{path}.prompt")
    else:
        _check_messages(sample["messages"], f"{path}.messages")
    if ("response" in sample) == ("answer" in sample):
        raise bad(path, 'give either "response" or "answer", not both' if "response" in sample
                  else 'missing "response" (or "answer")')
    if "response" in sample:
        if "thinking" in sample:
            raise bad(f"{path}.thinking",
                      'goes with "answer"; with "response" the think block is split off')
        _check_string(sample["response"], f"{path}.response")
    else:
        _check_string(sample["answer"], f"{path}.answer")
    if sample.get("step") is not None:
        _check_step(sample["step"], f"{path}.step")


class NotUtf8:
    """A request with a string or key that is not UTF-8: where the server says it is."""

    def __init__(self, path: str, problem: str) -> None:
        self.path, self.problem = path, problem


def first_invalid_utf8(value: Any, path: str) -> Optional[Tuple[str, str]]:
    """The path and problem of the first string or key that is not UTF-8 in a request unpacked
    with raw=True, in the server's order (map keys sorted bytewise), or None."""
    def valid(text: bytes) -> bool:
        try:
            text.decode()
            return True
        except UnicodeDecodeError:
            return False

    if isinstance(value, bytes):
        return None if valid(value) else (path, "must be valid UTF-8")
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = first_invalid_utf8(item, f"{path}[{i}]")
            if found:
                return found
    if isinstance(value, dict):
        def as_bytes(key: Any) -> bytes:
            return key if isinstance(key, bytes) else str(key).encode()
        for key in sorted(value, key=as_bytes):
            child = key_path(path, as_bytes(key).decode(errors="replace"))
            if not valid(as_bytes(key)):
                return child, "this key must be valid UTF-8"
            found = first_invalid_utf8(value[key], child)
            if found:
                return found
    return None


def _check_version(request: Dict[str, Any]) -> None:
    """read_version: read first, as a newer client's request may differ in everything else."""
    version = request.get("v")
    if not _is_int(version):
        raise bad("v", f"must be an integer (the protocol version), got {describe(version)}")
    if version not in (1, 2):
        raise Invalid("unsupported_version", f"protocol version {version} is not spoken here; "
                                             "this server speaks versions 1 and 2")


def validate(request: Any) -> List[Dict[str, Any]]:
    """Raises Invalid as the real server would (src/serve/protocol.cpp's decode_request, with its
    messages); returns the samples of a score request."""
    if isinstance(request, NotUtf8):
        raise bad(request.path, request.problem)
    if not isinstance(request, dict):
        kind = {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(
            type(request), "number")
        raise bad("", f"a request must be a msgpack map, got {kind}")
    _check_version(request)
    request_id = request.get("id")
    if not isinstance(request_id, str) or not 1 <= len(request_id.encode()) <= 128:
        raise bad("id", "must be a string of 1 to 128 bytes")
    kind = request.get("type")
    if not isinstance(kind, str):
        raise bad("type", f"must be a string: score, ping, info or stats; got {describe(kind)}")
    if kind not in REQUEST_KEYS:
        raise bad("type", f'unknown type "{kind}"; use score, ping, info or stats')
    version = request["v"]
    allowed = REQUEST_KEYS[kind]
    if kind == "score" and version == 1:
        _refuse_version_2_keys(request, "", [*JUDGE_KEYS, "token_safety"])
        allowed = [key for key in allowed if key not in JUDGE_KEYS and key != "token_safety"]
    _allow_keys(request, "", allowed)
    for flag in ("deep", "flush", "token_safety"):
        if flag in request and not isinstance(request[flag], bool):
            raise bad(flag, f"must be true or false, got {describe(request[flag])}")
    if kind != "score":
        return []
    step = request.get("step")
    if step is not None:
        _check_step(step, "step")
    deadline = request.get("deadline_ms")
    if deadline is not None and (not _is_int(deadline) or not 1 <= deadline <= MAX_DEADLINE_MS):
        raise bad("deadline_ms",
                  f"must be an integer from 1 to {MAX_DEADLINE_MS}, got {describe(deadline)}")
    defaults = {key: request[key] for key in JUDGE_KEYS if key in request}
    samples = []
    if "samples" in request and not isinstance(request["samples"], list):
        raise bad("samples", f"must be an array, got {describe(request['samples'])}")
    for i, sample in enumerate(request.get("samples", [])):
        if version == 1:
            _refuse_version_2_keys(sample, f"samples[{i}]", V2_SAMPLE_KEYS)
        _check_sample(sample, f"samples[{i}]")
        samples.append({**defaults, **sample, "step": sample.get("step", step)})
    if "groups" in request and not isinstance(request["groups"], list):
        raise bad("groups", f"must be an array, got {describe(request['groups'])}")
    for g, group in enumerate(request.get("groups", [])):
        path = f"groups[{g}]"
        if version == 1:
            _refuse_version_2_keys(group, path, V2_GROUP_KEYS)
        _allow_keys(group, path, GROUP_KEYS[version])
        if ("prompt" in group) == ("messages" in group):
            raise bad(path, 'has both "prompt" and "messages"; give one' if "prompt" in group
                      else 'needs a string "prompt" or an array "messages"' if version >= 2
                      else 'needs a string "prompt"')
        if "responses" not in group:
            raise bad(f"{path}.responses", "missing; give a non-empty array of responses")
        responses = group["responses"]
        if not isinstance(responses, list) or not responses:
            got = "an empty one" if isinstance(responses, list) else describe(responses)
            raise bad(f"{path}.responses", f"must be a non-empty array, got {got}")
        ids = group.get("ids", [f"{g}/{k}" for k in range(len(responses))])
        if not isinstance(ids, list) or len(ids) != len(responses):
            got = f"an array of {len(ids)}" if isinstance(ids, list) else describe(ids)
            raise bad(f"{path}.ids", f"must be an array with one id per response "
                                     f"({len(responses)}), got {got}")
        for k, response in enumerate(responses):
            _check_string(response, f"{path}.responses[{k}]")
            if not isinstance(ids[k], str) and not _is_int(ids[k]):
                raise bad(f"{path}.ids[{k}]",
                          f"must be a string or an integer, got {describe(ids[k])}")
        if group.get("step") is not None:
            _check_step(group["step"], f"{path}.step")
        for k, response in enumerate(responses):
            context = {key: group[key] for key in ("prompt", "messages") if key in group}
            sample = {"id": ids[k], **context, "response": response}
            # The server reads each member as a sample named by its group.
            _check_sample(sample, path)
            sample.update({**defaults, **{key: group[key] for key in JUDGE_KEYS if key in group}})
            sample["step"] = group.get("step", step)
            samples.append(sample)
    if not samples:
        raise bad("", "a score request needs at least one sample or group")
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
        except UnicodeDecodeError:
            request = NotUtf8(*first_invalid_utf8(msgpack.unpackb(body, raw=True), ""))
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
