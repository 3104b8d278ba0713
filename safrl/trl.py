"""TRL reward functions backed by the safrl server (docs/trainers/trl.md).

    GRPOTrainer(model=..., reward_funcs=[safrl.trl.reward_func], ...)

TRL's GRPOTrainer calls a reward function as

    reward_func(prompts=..., completions=..., completion_ids=..., trainer_state=...,
                log_extra=..., log_metric=..., **dataset_columns)

and awaits it when it is a coroutine function (safrl.trl.async_reward_func). Prompts and
completions are strings (standard format) or lists of chat messages (conversational format). A
conversational prompt of more than one message (a system prompt, earlier turns) is sent as the
sample's "messages"; a prompt of one user message as its text. The response is the last
assistant message of the completion, with a reasoning trace that TRL's parser moved to
"reasoning_content" put back as a <think> block, and its tool calls as the sample's "tool_calls".
With tools, a completion holds the policy's earlier assistant turns and the tool results it got:
those join "messages" after the prompt, with "policy_turns_from" = the number of prompt messages
(tool results after the last assistant message, left by a run cut at max_completion_length, are
not sent). Consecutive one-message completions of the same prompt (TRL lays out each prompt's
num_generations completions together) are sent as one GRPO group, so the server renders the
prompt once; agent rollouts go as samples of the same call.

Reward channels (docs/trainers/trl.md, "Reward channels"): safrl_safety, safrl_refusal and
safrl_helpfulness return one named part of the reward each (the reply's "channels": P(safe) or
1/0, 1/0 for a refusal, H or None), for GRPOConfig(reward_weights=[...]) and
multi_objective_aggregation="normalize_then_sum" (GDPO). TRL calls each reward function in turn
with the same prompts, completions and completion_ids lists; the first call for those lists (the
same objects) sends the request and the others, reward_func included, read its results, so a
batch is scored once whatever the number of functions. The async_* twins share one request the
same way. A call without completion_ids (not TRL's) always sends its own.

The step is trainer_state.global_step when TRL passes trainer_state. When TRL passes log_extra
and log_metric (recent versions), the details go to the completions table and the metrics.
Every call logs the same columns and metrics: TRL gathers them across processes by name, and a
process logging a different set would leave the others waiting.

The clients are made on first use from $SAFRL_ENDPOINT (or safrl.configure()).
"""
from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from safrl import _chat, _default
from safrl._protocol import plain_step
from safrl.errors import BadRequest, ServerError

__all__ = ["reward_func", "async_reward_func", "safrl_safety", "safrl_refusal",
           "safrl_helpfulness", "async_safrl_safety", "async_safrl_refusal",
           "async_safrl_helpfulness"]

# Columns added to TRL's completions table, one value per completion.
EXTRA_COLUMNS = ("safrl_case", "safrl_answer_safety", "safrl_helpfulness")
# Metrics averaged by TRL over each logging step.
METRICS = ("safrl/safety_rate", "safrl/refusal_rate", "safrl/unparseable_rate")


def reward_func(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> List[float]:
    """One reward per completion, in order; raises a SafrlError when any cannot be had."""
    return [float(r["reward"]) for r in _batch.results(prompts, completions, kwargs)]


async def async_reward_func(prompts: Sequence[Any], completions: Sequence[Any],
                            **kwargs: Any) -> List[float]:
    """reward_func as a coroutine: TRL runs it concurrently with its other async rewards."""
    results = await _batch.async_results(prompts, completions, kwargs)
    return [float(r["reward"]) for r in results]


def safrl_safety(prompts: Sequence[Any], completions: Sequence[Any],
                 **kwargs: Any) -> List[float]:
    """The safety channel: 1 safe / 0 unsafe (reward.safety_signal: verdict) or P(safe)
    (expected), one per completion."""
    return _channel(_batch.results(prompts, completions, kwargs), "safety")


def safrl_refusal(prompts: Sequence[Any], completions: Sequence[Any],
                  **kwargs: Any) -> List[float]:
    """The refusal channel: 1 when the answer's verdict says Refusal: Yes, else 0."""
    return _channel(_batch.results(prompts, completions, kwargs), "refusal")


def safrl_helpfulness(prompts: Sequence[Any], completions: Sequence[Any],
                      **kwargs: Any) -> List[Optional[float]]:
    """The helpfulness channel: H, or None where the server computed none (TRL reads None as
    NaN and leaves it out of its sums and means)."""
    return _channel(_batch.results(prompts, completions, kwargs), "helpfulness")


async def async_safrl_safety(prompts: Sequence[Any], completions: Sequence[Any],
                             **kwargs: Any) -> List[float]:
    """safrl_safety as a coroutine (TRL logs it as safrl_safety)."""
    return _channel(await _batch.async_results(prompts, completions, kwargs), "safety")


async def async_safrl_refusal(prompts: Sequence[Any], completions: Sequence[Any],
                              **kwargs: Any) -> List[float]:
    """safrl_refusal as a coroutine (TRL logs it as safrl_refusal)."""
    return _channel(await _batch.async_results(prompts, completions, kwargs), "refusal")


async def async_safrl_helpfulness(prompts: Sequence[Any], completions: Sequence[Any],
                                  **kwargs: Any) -> List[Optional[float]]:
    """safrl_helpfulness as a coroutine (TRL logs it as safrl_helpfulness)."""
    return _channel(await _batch.async_results(prompts, completions, kwargs), "helpfulness")


# TRL names a reward function's metrics after its __name__ (rewards/<name>/mean): a channel logs
# under one name whichever twin computes it. __qualname__ stays, so the functions still pickle.
for _twin in (async_safrl_safety, async_safrl_refusal, async_safrl_helpfulness):
    _twin.__name__ = _twin.__name__[len("async_"):]


def _channel(results: List[Mapping[str, Any]], name: str) -> List[Optional[float]]:
    values = []
    for result in results:
        channels = result.get("channels")
        if not isinstance(channels, Mapping):
            raise ServerError("the server's results carry no reward channels; the channel reward "
                              "functions need a safrl server that sends them (upgrade it)")
        value = channels.get(name)
        values.append(None if value is None else float(value))
    return values


class _BatchResults:
    """The server's results of the batch TRL is scoring, shared by every safrl reward function.

    TRL passes each reward function the same prompts, completions and completion_ids lists for a
    batch, and new lists for the next one. The key is those three objects, kept alive here so
    their ids cannot be reused by another batch's lists while they are compared. A call with
    other lists (a new batch), or without completion_ids (not TRL's call), sends a new request.
    The call that sends also logs the batch's columns and metrics, once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple = ()
        self._results: Optional[List[Mapping[str, Any]]] = None
        self._pending: Optional[asyncio.Task] = None

    @staticmethod
    def _key_of(prompts: Sequence[Any], completions: Sequence[Any],
                kwargs: Mapping[str, Any]) -> tuple:
        ids = kwargs.get("completion_ids")
        return () if ids is None else (prompts, completions, ids)

    def _same_batch(self, key: tuple) -> bool:
        return bool(key) and len(self._key) == len(key) and all(
            a is b for a, b in zip(self._key, key))

    def results(self, prompts: Sequence[Any], completions: Sequence[Any],
                kwargs: Mapping[str, Any]) -> List[Mapping[str, Any]]:
        key = self._key_of(prompts, completions, kwargs)
        with self._lock:
            if self._same_batch(key) and self._results is not None:
                return self._results
            results = _score(prompts, completions, kwargs)
            self._key, self._results, self._pending = key, results, None
            return results

    async def async_results(self, prompts: Sequence[Any], completions: Sequence[Any],
                            kwargs: Mapping[str, Any]) -> List[Mapping[str, Any]]:
        # TRL gathers its async reward functions on one event loop, after its sync ones: the
        # first to run for a batch starts the request as a task and the others await it.
        key = self._key_of(prompts, completions, kwargs)
        if self._same_batch(key) and self._results is not None:
            return self._results
        loop = asyncio.get_running_loop()
        if not (self._same_batch(key) and self._pending is not None
                and self._pending.get_loop() is loop):
            self._key, self._results = key, None
            self._pending = loop.create_task(_async_score(prompts, completions, kwargs))
        pending = self._pending
        try:
            results = await asyncio.shield(pending)  # one caller's cancellation spares the rest
        except BaseException:
            if self._pending is pending:  # the next call sends the batch again
                self._key, self._pending = (), None
            raise
        if self._pending is pending:
            self._results = results
        return results


_batch = _BatchResults()


def _score(prompts: Sequence[Any], completions: Sequence[Any],
           kwargs: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    plan = _plan(prompts, completions)
    step = _step(kwargs.get("trainer_state"))
    client = _default.client()
    groups = client.score_groups(plan.prompts, plan.responses, step=step) if plan.prompts else []
    samples = client.score(plan.samples, step=step) if plan.samples else []
    return _log(plan.in_order(groups, samples), kwargs)


async def _async_score(prompts: Sequence[Any], completions: Sequence[Any],
                       kwargs: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    plan = _plan(prompts, completions)
    step = _step(kwargs.get("trainer_state"))
    client = _default.async_client()
    groups = await client.score_groups(plan.prompts, plan.responses, step=step) \
        if plan.prompts else []
    samples = await client.score(plan.samples, step=step) if plan.samples else []
    return _log(plan.in_order(groups, samples), kwargs)


@dataclass
class _Plan:
    """What one call sends: GRPO groups (prompt, responses) and agent-rollout samples, and where
    each completion's result is (("group", g, k) or ("sample", i))."""

    prompts: List[Any] = field(default_factory=list)
    responses: List[List[str]] = field(default_factory=list)
    samples: List[Dict[str, Any]] = field(default_factory=list)
    places: List[tuple] = field(default_factory=list)

    def in_order(self, groups: List[List[Mapping[str, Any]]],
                 samples: List[Mapping[str, Any]]) -> List[Mapping[str, Any]]:
        return [groups[place[1]][place[2]] if place[0] == "group" else samples[place[1]]
                for place in self.places]


def _plan(prompts: Sequence[Any], completions: Sequence[Any]) -> _Plan:
    """Runs of consecutive one-message completions with the same prompt become groups; a
    completion with tool turns or tool calls becomes a sample of its own."""
    if len(prompts) != len(completions):
        raise BadRequest(f"{len(prompts)} prompts but {len(completions)} completions")
    plan = _Plan()
    for i, (prompt, completion) in enumerate(zip(prompts, completions)):
        context = _chat.prompt_context(prompt, f"prompts[{i}]")
        if isinstance(completion, str):
            turns, last = [], None
        else:
            turns, last = _split_completion(completion, f"completions[{i}]")
        if turns or (last is not None and last.get("tool_calls")):
            plan.places.append(("sample", len(plan.samples)))
            # The policy's own earlier turns keep their reasoning as a think block, so that
            # judge: all_turns judges it (normalising drops reasoning_content).
            policy_turns = [dict(m, content=_chat.assistant_text(m))
                            if isinstance(m, Mapping) and m.get("role") == "assistant" else m
                            for m in turns]
            plan.samples.append(_chat.agent_sample(
                context, _chat.normalise_messages(policy_turns, f"completions[{i}]"), last))
            continue
        response = completion if last is None else _chat.assistant_text(last)
        if not (plan.prompts and plan.prompts[-1] == context):
            plan.prompts.append(context)
            plan.responses.append([])
        plan.places.append(("group", len(plan.prompts) - 1, len(plan.responses[-1])))
        plan.responses[-1].append(response)
    return plan


def _split_completion(completion: Any, where: str) -> tuple:
    """(the messages before the last assistant message, that message)."""
    try:
        messages = list(completion)
    except TypeError:
        messages = []
    last = _chat.last_of_role(messages, "assistant")
    if last is None:
        raise BadRequest(f"{where} must be a string or a list of chat messages with an "
                         f"assistant message, got {completion!r:.200}")
    return messages[:last], messages[last]


def _step(trainer_state: Any) -> Optional[int]:
    step = getattr(trainer_state, "global_step", None)
    return None if step is None else plain_step(step, "trainer_state.global_step")


def _log(results: List[Mapping[str, Any]], kwargs: Mapping[str, Any]) -> List[Mapping[str, Any]]:
    log_extra = kwargs.get("log_extra")
    if callable(log_extra):
        columns = _columns(results)
        for name in EXTRA_COLUMNS:
            log_extra(name, columns[name])
    log_metric = kwargs.get("log_metric")
    if callable(log_metric):
        count = max(len(results), 1)
        values = (sum(bool(r.get("safe")) for r in results) / count,
                  sum(bool(r.get("refusal")) for r in results) / count,
                  sum(r.get("case") == "unparseable" for r in results) / count)
        for name, value in zip(METRICS, values):
            log_metric(name, value)
    return results


def _columns(results: List[Mapping[str, Any]]) -> Dict[str, List[Any]]:
    return {
        "safrl_case": [r.get("case") for r in results],
        "safrl_answer_safety": [(r.get("answer") or {}).get("safety") for r in results],
        "safrl_helpfulness": [r.get("helpfulness") for r in results],
    }
