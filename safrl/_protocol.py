"""What the sync and async clients share: endpoints, framing, reply checks, retries, batching.

Nothing here touches a socket. The wire format is docs/protocol.md, version 2: one msgpack map per
ZeroMQ frame, a client-chosen request id echoed in the reply. Version 2 adds conversations
("messages", tool calls, policy_turns_from) and the judge options; a server that speaks only
version 1 refuses every request with unsupported_version, which says to upgrade it.
"""
from __future__ import annotations

import logging
import math
import os
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

import msgpack

from safrl import _chat, curve
from safrl.errors import (WAITED_OUT_CODES, BadRequest, SafrlError, ServerBusy, ServerError, Timeout,
                          error_for_code)

PROTOCOL_VERSION = 2
DEFAULT_ENDPOINT = "tcp://127.0.0.1:5555"
ENDPOINT_ENV = "SAFRL_ENDPOINT"

# Failed attempts are logged here (WARNING; busy answers at DEBUG): a client that waits for a
# server that is not there says so while it waits, not only when it gives up.
log = logging.getLogger("safrl")

Endpoint = Union[str, Sequence[str], None]


def resolve_endpoints(endpoint: Endpoint) -> List[str]:
    """The endpoints to connect to: the argument, else $SAFRL_ENDPOINT, else the default.

    A string may hold several endpoints separated by commas, as the environment variable may.
    """
    if endpoint is None:
        endpoint = os.environ.get(ENDPOINT_ENV, "").strip() or DEFAULT_ENDPOINT
    if isinstance(endpoint, str):
        endpoints = [part.strip() for part in endpoint.split(",") if part.strip()]
    else:
        endpoints = list(endpoint)
        if not all(isinstance(item, str) and item.strip() for item in endpoints):
            raise ValueError(f"endpoints must be non-empty strings, got {endpoint!r}")
        endpoints = [item.strip() for item in endpoints]
    if not endpoints:
        raise ValueError(f"no endpoint in {endpoint!r}")
    for item in endpoints:
        if "://" not in item:
            raise ValueError(f"endpoint {item!r} is not a ZeroMQ address like tcp://host:5555")
    return endpoints


def new_request_id() -> str:
    return str(uuid.uuid4())


def encode(message: Mapping[str, Any]) -> bytes:
    """One request frame. A value msgpack cannot carry is the caller's error (BadRequest)."""
    try:
        return msgpack.packb({"v": PROTOCOL_VERSION, **message}, use_bin_type=True)
    except (TypeError, ValueError, OverflowError) as e:
        raise BadRequest(f"the request cannot be encoded as msgpack: {e}",
                         code=None, request_id=message.get("id")) from e


def decode(frames: Sequence[bytes]) -> Optional[Dict[str, Any]]:
    """The reply map of a multipart message, or None when it is not one.

    A DEALER receives the reply as its last frame (an empty delimiter may precede it). A frame that
    is not a msgpack map cannot be matched to a request, so it is dropped; the request it was meant
    for then times out and is retried.
    """
    if not frames:
        return None
    try:
        reply = msgpack.unpackb(frames[-1], raw=False)
    except (ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    return reply if isinstance(reply, dict) else None


@dataclass(frozen=True)
class Settings:
    """A client's timing and batching knobs and its CURVE keys (safrl.curve), validated once."""

    timeout: float = 60.0
    retries: int = 5
    backoff: float = 0.2
    max_backoff: float = 5.0
    max_samples_per_request: int = 256
    max_in_flight: int = 8
    busy_wait: float = 600.0
    connect_timeout: float = 10.0
    server_key: Any = None
    client_keys: Any = None

    def __post_init__(self) -> None:
        curve.resolve(self.server_key, self.client_keys, environ={})  # malformed keys fail here
        if not (self.timeout > 0 and math.isfinite(self.timeout)):
            raise ValueError(f"timeout must be a positive number of seconds, got {self.timeout!r}")
        if not (self.connect_timeout > 0 and math.isfinite(self.connect_timeout)):
            raise ValueError("connect_timeout must be a positive number of seconds, got "
                             f"{self.connect_timeout!r}")
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries!r}")
        if self.backoff < 0 or self.max_backoff < self.backoff:
            raise ValueError("backoff must be >= 0 and max_backoff >= backoff")
        if self.max_samples_per_request < 1 or self.max_in_flight < 1:
            raise ValueError("max_samples_per_request and max_in_flight must be >= 1")
        if not (self.busy_wait >= 0 and math.isfinite(self.busy_wait)):
            raise ValueError(f"busy_wait must be a number of seconds >= 0, got {self.busy_wait!r}")

    def backoff_delay(self, failures: int, retry_after_ms: Optional[int] = None) -> float:
        """Seconds to wait before retry number `failures` (1 for the first retry).

        Exponential (backoff * 2^(failures-1), capped at max_backoff) with jitter in [half, full]
        so that many clients refused at once do not come back at once. When the server says when
        to come back (retry_after_ms, from its measured throughput), that is the wait, plus up to
        10% jitter, however many times it said so: a busy server keeps the room of the first
        request it refused only until about twice that hint, so a client that stretched its waits
        would lose its place to newer requests.
        """
        if retry_after_ms is not None and retry_after_ms > 0:
            return retry_after_ms / 1000.0 * random.uniform(1.0, 1.1)
        base = min(self.max_backoff, self.backoff * (2.0 ** (failures - 1)))
        return base * random.uniform(0.5, 1.0)


class RetryState:
    """The retry budget of one logical request (one id, every attempt), from its first attempt.

    A `busy` answer means the server is up and will do the work, and so does `unavailable` (a
    model it calls, such as a vLLM helpfulness server, is down for now): they are waited out,
    each time at least as long as the server's retry_after_ms, until busy_wait seconds have passed
    since the request started, without counting against `retries`. Timeouts, deadline_exceeded
    and shutting_down count against `retries`. Each failed attempt is logged with what comes next.
    """

    def __init__(self, settings: Settings, request_id: str) -> None:
        self.settings = settings
        self.request_id = request_id
        self.failures = 0
        self.busy = 0
        self.started = time.monotonic()

    def accept_within(self) -> float:
        """Seconds the next attempt may wait for a server to take it.

        With ZMQ_IMMEDIATE a request is sent only once a server is connected, which takes
        milliseconds when one listens; so the first attempt gives up after connect_timeout, and a
        client pointed at the wrong endpoint says so within seconds. Later attempts wait the full
        timeout: by then a server may be restarting (loading its models), which takes longer.
        """
        first = self.failures == 0 and self.busy == 0
        return min(self.settings.connect_timeout, self.settings.timeout) if first \
            else self.settings.timeout

    def failed(self, error: SafrlError) -> float:
        """Records a failed attempt: the delay before the next one, or raises the final error."""
        if not isinstance(error, (ServerBusy, Timeout)):
            raise error
        settings = self.settings
        elapsed = time.monotonic() - self.started
        if error.code in WAITED_OUT_CODES:
            self.busy += 1
            delay = settings.backoff_delay(self.busy, error.retry_after_ms)
            if elapsed + delay <= settings.busy_wait:
                # A busy server is normal back-pressure (many answers a second under load);
                # a model the server calls being down is worth a warning.
                level = logging.DEBUG if error.code == "busy" else logging.WARNING
                log.log(level, "safrl: request %s: %s (answer %d after %.1f s, waited out for up "
                        "to busy_wait=%g s); retrying in %.1f s", self.request_id, error.message,
                        self.busy, elapsed, settings.busy_wait, delay)
                return delay
            limit = f"{error.code} for busy_wait={settings.busy_wait:g} s"
        else:
            self.failures += 1
            if self.failures <= settings.retries:
                delay = settings.backoff_delay(self.failures, getattr(error, "retry_after_ms", None))
                log.warning("safrl: request %s: attempt %d of %d failed after %.1f s: %s; "
                            "retrying in %.1f s", self.request_id, self.failures,
                            settings.retries + 1, elapsed, error.message, delay)
                return delay
            limit = f"retries={settings.retries}"
        attempts = self.failures + self.busy
        message = (f"{error.message}. Gave up after {attempts} attempt{'s' if attempts > 1 else ''} "
                   f"in {elapsed:.1f} s ({limit}; request {self.request_id})")
        if isinstance(error, ServerBusy):
            raise ServerBusy(message, code=error.code, request_id=self.request_id,
                             retry_after_ms=error.retry_after_ms)
        raise Timeout(message, code=error.code, request_id=self.request_id)


def timeout_error(request_id: str, endpoints: Sequence[str], waited: float,
                  sent: bool) -> Timeout:
    """The error of an attempt that got no reply; says what to check."""
    where = ", ".join(endpoints)
    if sent:
        text = (f"no reply from {where} within {waited:g} s (a server took the request: is it "
                f"overloaded or stopped? Check its log; raise `timeout` if scoring takes longer)")
    else:
        text = (f"no server at {where} accepted the request within {waited:g} s (is `safrl serve` "
                f"running at that endpoint? Start it with `safrl serve --config CONFIG --endpoint "
                f"{endpoints[0]}`, or give the client the endpoint it listens on)")
    return Timeout(text, request_id=request_id)


def check_reply(reply: Mapping[str, Any], expected_type: str) -> Mapping[str, Any]:
    """The reply when it is of the expected type; else the typed error it stands for."""
    request_id = reply.get("id")
    if reply.get("type") == "error":
        error = reply.get("error")
        if not isinstance(error, dict) or not isinstance(error.get("code"), str):
            raise ServerError(f"malformed error reply: {reply!r}", request_id=request_id)
        hint = error.get("retry_after_ms")
        hint = hint if isinstance(hint, int) and not isinstance(hint, bool) and hint >= 0 else None
        message = str(error.get("message", ""))
        if error["code"] == "unsupported_version":
            message += (f" (this client speaks protocol version {PROTOCOL_VERSION}: upgrade the "
                        f"server to a safrl that speaks it, docs/protocol.md \"Versions\")")
        raise error_for_code(error["code"], message, request_id, hint)
    if reply.get("v") != PROTOCOL_VERSION:
        raise ServerError(f"reply speaks protocol version {reply.get('v')!r}, this client speaks "
                          f"{PROTOCOL_VERSION}", request_id=request_id)
    if reply.get("type") != expected_type:
        raise ServerError(f"expected a {expected_type!r} reply, got type {reply.get('type')!r}",
                          request_id=request_id)
    return reply


def payload_of(reply: Mapping[str, Any]) -> Dict[str, Any]:
    """The reply without its envelope (v, id, type): what ping/info/stats return."""
    return {key: value for key, value in reply.items() if key not in ("v", "id", "type")}


@dataclass
class ScoreJob:
    """One `score` request of a larger call: what to send and where its results go."""

    message: Dict[str, Any]
    ids: List[Any]  # the result ids expected, in order
    slots: List[int]  # the position of each result in the call's flat output
    request_id: str = field(default_factory=new_request_id)

    def __post_init__(self) -> None:
        # The id goes first: the server reads it before the samples, so even a request refused
        # part-way (too large, too deep) is answered with its id instead of left to time out.
        rest = {key: value for key, value in self.message.items() if key != "id"}
        self.message = {"id": self.request_id, **rest}

    def check(self, reply: Mapping[str, Any]) -> List[Dict[str, Any]]:
        """The results of a score reply, checked one by one; a missing reward is an error."""
        check_reply(reply, "score")
        results = reply.get("results")
        if not isinstance(results, list) or len(results) != len(self.ids):
            count = len(results) if isinstance(results, list) else "no"
            raise ServerError(f"sent {len(self.ids)} samples, got {count} results",
                              request_id=self.request_id)
        for expected_id, result in zip(self.ids, results):
            if not isinstance(result, dict) or result.get("id") != expected_id:
                got = result.get("id") if isinstance(result, dict) else result
                raise ServerError(f"result for sample {expected_id!r} missing or out of order "
                                  f"(got {got!r})", request_id=self.request_id)
            reward = result.get("reward")
            if isinstance(reward, bool) or not isinstance(reward, (int, float)) \
                    or not math.isfinite(reward):
                raise ServerError(f"sample {expected_id!r} has no finite reward ({reward!r})",
                                  request_id=self.request_id)
        return results


JUDGE_MODES = ("last", "all_turns")


@dataclass(frozen=True)
class JudgeOptions:
    """The request-level judge options (docs/protocol.md): defaults for every sample and group
    that does not set its own; None leaves the server's config in charge."""

    judge: Optional[str] = None  # "last" or "all_turns"
    judge_prompt: Optional[bool] = None
    judge_tool_results: Optional[bool] = None
    # Every result gets "token_safety", the Stream guard's per-token labels of its answer
    # (docs/protocol.md); sent only when True, so a server without it is never asked.
    token_safety: bool = False

    def __post_init__(self) -> None:
        if self.judge is not None and self.judge not in JUDGE_MODES:
            raise BadRequest(f"judge must be one of {', '.join(JUDGE_MODES)}, got {self.judge!r}")
        for name in ("judge_prompt", "judge_tool_results"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, bool):
                raise BadRequest(f"{name} must be True, False or None, got {value!r}")
        if not isinstance(self.token_safety, bool):
            raise BadRequest(f"token_safety must be True or False, got {self.token_safety!r}")

    def fields(self) -> Dict[str, Any]:
        fields = {name: value for name, value in (("judge", self.judge),
                                                  ("judge_prompt", self.judge_prompt),
                                                  ("judge_tool_results", self.judge_tool_results))
                  if value is not None}
        if self.token_safety:
            fields["token_safety"] = True
        return fields


def _score_message(step: Optional[int], options: JudgeOptions) -> Dict[str, Any]:
    message: Dict[str, Any] = {"type": "score"}
    if step is not None:
        message["step"] = plain_step(step)
    message.update(options.fields())
    return message


def prepare_sample(sample: Mapping[str, Any], where: str) -> Dict[str, Any]:
    """A sample as sent: its messages and tool calls normalised (safrl._chat), integers plain.
    The caller's dict is not modified."""
    item = dict(sample)
    for key in ("step", "policy_turns_from"):
        if item.get(key) is not None:
            item[key] = plain_step(item[key], f"{where}[\"{key}\"]")
    if "messages" in item:
        item["messages"] = _chat.normalise_messages(item["messages"], f"{where}[\"messages\"]")
    if item.get("tool_calls") is not None:
        item["tool_calls"] = _chat.tool_calls_list(item["tool_calls"],
                                                   f"{where}[\"tool_calls\"]")
    return item


def plain_step(step: Any, what: str = "step") -> int:
    """A step as a plain int >= 0: trainers hand over numpy or torch integers, which msgpack
    cannot encode."""
    try:
        value = int(step)
    except (TypeError, ValueError):
        value = -1
    if value < 0 or value != step:
        raise BadRequest(f"{what} must be a non-negative integer, got {step!r}")
    return value


def plan_samples(samples: Sequence[Mapping[str, Any]], step: Optional[int],
                 max_per_request: int, options: JudgeOptions = JudgeOptions()) -> List[ScoreJob]:
    """Splits samples into score requests of at most max_per_request; ids added where missing.

    A sample without an id gets its position in the call. The caller's dicts are not modified.
    """
    prepared = []
    for index, sample in enumerate(samples):
        if not isinstance(sample, Mapping):
            raise BadRequest(f"samples[{index}] must be a dict, got {type(sample).__name__}")
        item = prepare_sample(sample, f"samples[{index}]")
        item.setdefault("id", index)
        prepared.append(item)
    jobs = []
    for start in range(0, len(prepared), max_per_request):
        chunk = prepared[start:start + max_per_request]
        message = _score_message(step, options)
        message["samples"] = chunk
        jobs.append(ScoreJob(message, [item["id"] for item in chunk],
                             list(range(start, start + len(chunk)))))
    return jobs


Prompt = Union[str, Sequence[Mapping[str, Any]]]


def group_context(prompt: Any, where: str) -> Dict[str, Any]:
    """A group's shared context: {"prompt": text} for a string, {"messages": [...]} (normalised)
    for a conversation."""
    if isinstance(prompt, str):
        return {"prompt": prompt}
    if prompt is None or isinstance(prompt, (bytes, Mapping)):
        raise BadRequest(f"{where} must be a string or a list of chat messages, "
                         f"got {type(prompt).__name__}")
    return {"messages": _chat.normalise_messages(prompt, where)}


def plan_groups(prompts: Sequence[Prompt], responses_per_prompt: Sequence[Sequence[str]],
                step: Optional[int], max_per_request: int,
                options: JudgeOptions = JudgeOptions()) -> List[ScoreJob]:
    """Packs GRPO groups into score requests of at most max_per_request responses.

    A prompt is a string (sent as the group's "prompt") or a list of chat messages, the
    conversation before the responses (sent as its "messages"). Whole groups are packed
    greedily; a group larger than the limit is sent as several groups with the same prompt.
    Members get the ids "<group>/<response>" counted over the whole call, so results are named
    the same however the call was split.
    """
    if len(prompts) != len(responses_per_prompt):
        raise BadRequest(f"{len(prompts)} prompts but {len(responses_per_prompt)} response lists")
    contexts = [group_context(prompt, f"prompts[{g}]") for g, prompt in enumerate(prompts)]
    pieces = []  # (group index, first response index, responses)
    for g, responses in enumerate(responses_per_prompt):
        if isinstance(responses, str) or len(responses) == 0:
            raise BadRequest(f"responses_per_prompt[{g}] must be a non-empty list of strings")
        for start in range(0, len(responses), max_per_request):
            pieces.append((g, start, list(responses[start:start + max_per_request])))
    offsets = [0]
    for responses in responses_per_prompt:
        offsets.append(offsets[-1] + len(responses))

    jobs: List[ScoreJob] = []
    groups: List[Dict[str, Any]] = []
    ids: List[Any] = []
    slots: List[int] = []

    def flush() -> None:
        message = _score_message(step, options)
        message["groups"] = list(groups)
        jobs.append(ScoreJob(message, list(ids), list(slots)))
        groups.clear()
        ids.clear()
        slots.clear()

    for g, start, responses in pieces:
        if len(ids) + len(responses) > max_per_request:
            flush()
        member_ids = [f"{g}/{start + k}" for k in range(len(responses))]
        groups.append({**contexts[g], "responses": responses, "ids": member_ids})
        ids.extend(member_ids)
        slots.extend(offsets[g] + start + k for k in range(len(responses)))
    if groups:
        flush()
    return jobs


def reshape(flat: List[Dict[str, Any]], sizes: Sequence[int]) -> List[List[Dict[str, Any]]]:
    out, start = [], 0
    for size in sizes:
        out.append(flat[start:start + size])
        start += size
    return out


def assemble(jobs: Sequence[ScoreJob], results: Sequence[List[Dict[str, Any]]],
             total: int) -> List[Dict[str, Any]]:
    """The results of every job put back into the call's order."""
    flat: List[Any] = [None] * total
    for job, job_results in zip(jobs, results):
        for slot, result in zip(job.slots, job_results):
            flat[slot] = result
    return flat


def simple_message(kind: str, **fields: Any) -> Dict[str, Any]:
    """A ping/info/stats request; fields left False are not sent."""
    message: Dict[str, Any] = {"type": kind, "id": new_request_id()}
    message.update({key: value for key, value in fields.items() if value})
    return message


REPLY_TYPES = {"score": "score", "ping": "pong", "info": "info", "stats": "stats"}
