"""TRL reward functions backed by the safrl server (docs/trainers/trl.md).

    GRPOTrainer(model=..., reward_funcs=[safrl.trl.reward_func], ...)

TRL's GRPOTrainer calls a reward function as

    reward_func(prompts=..., completions=..., completion_ids=..., trainer_state=...,
                log_extra=..., log_metric=..., **dataset_columns)

and awaits it when it is a coroutine function (safrl.trl.async_reward_func). Prompts and
completions are strings (standard format) or lists of chat messages (conversational format): the
prompt is then the last user message and the response the last assistant message, with a
reasoning trace that TRL's parser moved to "reasoning_content" put back as a <think> block.
Consecutive completions of the same prompt (TRL lays out each prompt's num_generations
completions together) are sent as one GRPO group, so the server renders the prompt once.

The step is trainer_state.global_step when TRL passes trainer_state. When TRL passes log_extra
and log_metric (recent versions), the details go to the completions table and the metrics.
Every call logs the same columns and metrics: TRL gathers them across processes by name, and a
process logging a different set would leave the others waiting.

The clients are made on first use from $SAFRL_ENDPOINT (or safrl.configure()).
"""
from __future__ import annotations

from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple

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
    group_prompts, group_responses = _groups(prompts, completions)
    step = _step(kwargs.get("trainer_state"))
    groups = _default.client().score_groups(group_prompts, group_responses, step=step)
    return _finish([result for group in groups for result in group], kwargs)


async def async_reward_func(prompts: Sequence[Any], completions: Sequence[Any],
                            **kwargs: Any) -> List[float]:
    """reward_func as a coroutine: TRL runs it concurrently with its other async rewards."""
    group_prompts, group_responses = _groups(prompts, completions)
    step = _step(kwargs.get("trainer_state"))
    groups = await _default.async_client().score_groups(group_prompts, group_responses, step=step)
    return _finish([result for group in groups for result in group], kwargs)


def _groups(prompts: Sequence[Any],
            completions: Sequence[Any]) -> Tuple[List[str], List[List[str]]]:
    """Runs of consecutive completions with the same prompt text, as (prompts, responses)."""
    if len(prompts) != len(completions):
        raise BadRequest(f"{len(prompts)} prompts but {len(completions)} completions")
    group_prompts: List[str] = []
    group_responses: List[List[str]] = []
    for i, (prompt, completion) in enumerate(zip(prompts, completions)):
        text = _chat.prompt_text(prompt, f"prompts[{i}]")
        response = _chat.assistant_response(completion, f"completions[{i}]")
        if group_prompts and group_prompts[-1] == text:
            group_responses[-1].append(response)
        else:
            group_prompts.append(text)
            group_responses.append([response])
    return group_prompts, group_responses


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
