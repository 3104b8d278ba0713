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

The step is trainer_state.global_step when TRL passes trainer_state. When TRL passes log_extra
and log_metric (recent versions), the details go to the completions table and the metrics.
Every call logs the same columns and metrics: TRL gathers them across processes by name, and a
process logging a different set would leave the others waiting.

The clients are made on first use from $SAFRL_ENDPOINT (or safrl.configure()).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Sequence

from safrl import _chat, _default
from safrl._protocol import plain_step
from safrl.errors import BadRequest

__all__ = ["reward_func", "async_reward_func"]

# Columns added to TRL's completions table, one value per completion.
EXTRA_COLUMNS = ("safrl_case", "safrl_answer_safety", "safrl_helpfulness")
# Metrics averaged by TRL over each logging step.
METRICS = ("safrl/safety_rate", "safrl/refusal_rate", "safrl/unparseable_rate")


def reward_func(prompts: Sequence[Any], completions: Sequence[Any], **kwargs: Any) -> List[float]:
    """One reward per completion, in order; raises a SafrlError when any cannot be had."""
    plan = _plan(prompts, completions)
    step = _step(kwargs.get("trainer_state"))
    client = _default.client()
    groups = client.score_groups(plan.prompts, plan.responses, step=step) if plan.prompts else []
    samples = client.score(plan.samples, step=step) if plan.samples else []
    return _finish(plan.in_order(groups, samples), kwargs)


async def async_reward_func(prompts: Sequence[Any], completions: Sequence[Any],
                            **kwargs: Any) -> List[float]:
    """reward_func as a coroutine: TRL runs it concurrently with its other async rewards."""
    plan = _plan(prompts, completions)
    step = _step(kwargs.get("trainer_state"))
    client = _default.async_client()
    groups = await client.score_groups(plan.prompts, plan.responses, step=step) \
        if plan.prompts else []
    samples = await client.score(plan.samples, step=step) if plan.samples else []
    return _finish(plan.in_order(groups, samples), kwargs)


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
    last = max((j for j, m in enumerate(messages)
                if isinstance(m, Mapping) and m.get("role") == "assistant"), default=None)
    if last is None:
        raise BadRequest(f"{where} must be a string or a list of chat messages with an "
                         f"assistant message, got {completion!r:.200}")
    return messages[:last], messages[last]


def _step(trainer_state: Any) -> Optional[int]:
    step = getattr(trainer_state, "global_step", None)
    return None if step is None else plain_step(step, "trainer_state.global_step")


def _finish(results: List[Mapping[str, Any]], kwargs: Mapping[str, Any]) -> List[float]:
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
    return [float(r["reward"]) for r in results]


def _columns(results: List[Mapping[str, Any]]) -> Dict[str, List[Any]]:
    return {
        "safrl_case": [r.get("case") for r in results],
        "safrl_answer_safety": [(r.get("answer") or {}).get("safety") for r in results],
        "safrl_helpfulness": [r.get("helpfulness") for r in results],
    }
